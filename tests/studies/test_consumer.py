from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from accounts.models import Token
from config.asgi import application
from environment.models import Area
from personas.models import Population
from studies.models import Run, Study
from studies.progress import ChannelsProgressReporter

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def _make_run() -> tuple[Run, str]:
    from django.contrib.auth.models import User

    user = User.objects.create_user("watcher", password="a-long-test-password")
    token = Token.objects.create(user=user).key
    Area.objects.get_or_create(
        id="tiny_tx_city",
        defaults=dict(
            name="Tiny",
            kind="city",
            state="TX",
            state_name="Texas",
            fips="4800001",
            population=10,
            adult_population=8,
            source="test fixture",
            year=2022,
        ),
    )
    population = Population.objects.create(size=8, seed=1, created_by=user)
    study = Study.objects.create(title="Socket", created_by=user)
    run = Run.objects.create(
        created_by=user,
        study=study,
        population=population,
        backend="poll_cell",
        seed=1,
        personas_total=8,
        personas_done=3,
        chunk_size=4,
        status="running",
    )
    return run, token


def _communicator(path: str) -> WebsocketCommunicator:
    return WebsocketCommunicator(
        application, path, headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")]
    )


@pytest.mark.parametrize("query", ["", "?token=not-a-real-token"])
async def test_an_anonymous_socket_is_refused_with_4401(query):
    run, _ = await sync_to_async(_make_run)()
    communicator = _communicator(f"/ws/runs/{run.id}/{query}")
    connected, code = await communicator.connect()
    # Refused before the handshake completes, with the code a client reads as "log in first".
    assert connected is False
    assert code == 4401
    await communicator.wait()


async def test_a_socket_for_a_missing_run_is_closed_with_4404():
    run, token = await sync_to_async(_make_run)()
    communicator = _communicator(f"/ws/runs/{run.id + 1000}/?token={token}")
    connected, _ = await communicator.connect()
    assert connected
    message = await communicator.receive_json_from()
    assert message["type"] == "error" and "does not exist" in message["message"]
    closed = await communicator.receive_output()
    assert closed == {"type": "websocket.close", "code": 4404}


async def test_a_socket_gets_the_stored_state_first_then_relays_progress():
    run, token = await sync_to_async(_make_run)()
    communicator = _communicator(f"/ws/runs/{run.id}/?token={token}")
    connected, _ = await communicator.connect()
    assert connected
    snapshot = await communicator.receive_json_from()
    assert snapshot == {
        "type": "progress",
        "run_id": run.id,
        "status": "running",
        "personas_completed": 3,
        "total_personas": 8,
        "percent": 37.5,
    }
    # The reporter runs in sync code (a worker); publish from a thread as it would.
    await sync_to_async(ChannelsProgressReporter(run.id).progress)(
        status="running", done=6, total=8
    )
    assert (await communicator.receive_json_from())["personas_completed"] == 6
    await sync_to_async(ChannelsProgressReporter(run.id).completion)(
        status="completed", done=8, total=8
    )
    message = await communicator.receive_json_from()
    assert (
        message["type"] == "completion"
        and message["results_url"] == f"/api/v1/runs/{run.id}/results/"
    )
    await communicator.disconnect()
    assert get_channel_layer() is not None


def _token_of(username: str, *, staff: bool = False) -> str:
    from django.contrib.auth.models import User

    other = User.objects.create_user(username, password="a-long-test-password", is_staff=staff)
    return Token.objects.create(user=other).key


async def test_another_users_run_is_closed_with_4404_as_if_it_did_not_exist():
    run, _ = await sync_to_async(_make_run)()
    stranger = await sync_to_async(_token_of)("stranger")
    communicator = _communicator(f"/ws/runs/{run.id}/?token={stranger}")
    connected, _ = await communicator.connect()
    assert connected
    message = await communicator.receive_json_from()
    assert message == {
        "type": "error",
        "run_id": run.id,
        "message": f"Run {run.id} does not exist.",
    }
    assert (await communicator.receive_output()) == {"type": "websocket.close", "code": 4404}
    # Progress of that run never reaches the stranger's socket: it joined no group.
    await sync_to_async(ChannelsProgressReporter(run.id).progress)(
        status="running", done=6, total=8
    )
    assert await communicator.receive_nothing(timeout=0.3)


async def test_staff_follow_any_run():
    run, _ = await sync_to_async(_make_run)()
    operator = await sync_to_async(_token_of)("operator", staff=True)
    communicator = _communicator(f"/ws/runs/{run.id}/?token={operator}")
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_json_from())["type"] == "progress"
    await communicator.disconnect()
