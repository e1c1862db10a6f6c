"""The broker transport (config/broker.py): a worker closing its connection after losing Redis,
on a redis-server of the test's own that it kills and starts again (issue 18)."""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings
from kombu import Connection, Consumer, Exchange, Message, Queue
from kombu.common import ignore_errors

from tests.config.interpreter import child_env, run_python

PASSWORD = "broker-test-secret"
DATABASE = 3
# The transport the settings select, and kombu's own, which the subclass works around.
OURS = "config.broker:Transport"
KOMBUS = "kombu.transport.redis:Transport"


class OwnRedis:
    """A redis-server on a free port with a password, keeping nothing on disk, as production's:
    killed, it loses everything, and it starts again on the same port."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://:{PASSWORD}@127.0.0.1:{self.port}/{DATABASE}"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=2)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no"),
                *("--requirepass", PASSWORD, "--dir", str(self.workdir)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                if self.client().ping():
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = OwnRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


def _worker_losing_redis(server: OwnRedis, transport: str) -> tuple[Connection, Message]:
    """A connection in the state celery's worker has when Redis goes away: its default channel
    holds an unacknowledged task message and waits on BRPOP for the next; a second channel
    consumes the worker's pidbox (an auto-delete fanout queue). Then Redis is killed."""
    connection = Connection(
        server.url,
        transport=transport,
        # BRPOP blocks for 30 s instead of 1, so its reply is still pending when Redis dies.
        transport_options={**settings.CELERY_BROKER_TRANSPORT_OPTIONS, "polling_interval": 30},
    )
    tasks = Queue("celery", Exchange("celery"), "celery")
    connection.Producer().publish(
        {"task": "run_chunk"}, exchange=tasks.exchange, routing_key="celery", declare=[tasks]
    )
    received: list[Message] = []
    Consumer(
        connection, [tasks], callbacks=[lambda _body, m: received.append(m)], accept=["json"]
    ).consume()
    pidbox = Queue(
        "worker@host.celery.pidbox", Exchange("celery.pidbox", "fanout"), auto_delete=True
    )
    Consumer(connection.channel(), [pidbox], no_ack=True, accept=["json"]).consume()
    while not received:  # the pidbox's SUBSCRIBE reply may come first
        connection.drain_events(timeout=5)
    connection.transport.cycle.on_poll_start()  # the event loop's next tick: BRPOP, SUBSCRIBE
    channel = connection.default_channel
    assert len(received) == 1 and len(channel.qos._delivered) == 1
    assert channel._in_poll  # the BRPOP reply is pending

    server.kill()
    return connection, received[0]


def _close_as_the_worker_does(connection: Connection) -> None:
    """celery's Consumer.on_connection_error_after_connected (celery 5.7.0)."""
    channel = connection._default_channel
    with contextlib.suppress(Exception):  # celery ignores whatever collect() raises
        connection.collect(socket_timeout=2)
    # collect() stopped at the pidbox channel and dropped the transport's client: the default
    # channel is still open on a transport without one.
    assert not channel.closed
    assert channel.connection is not None and channel.connection.client is None
    ignore_errors(connection, connection.close)  # lets only connection errors through


def test_a_worker_closes_its_connection_after_losing_redis(own_redis: OwnRedis) -> None:
    connection, message = _worker_losing_redis(own_redis, OURS)

    _close_as_the_worker_does(connection)

    # Redis is back, empty (the test's server keeps nothing): the message the pool still runs is
    # acknowledged there, at the URL's database with its password, as on any other connection.
    own_redis.start()
    own_redis.client().hset("unacked", message.delivery_tag, "taken")
    message.ack()
    assert own_redis.client().hexists("unacked", message.delivery_tag) is False


def test_kombus_own_transport_stops_the_worker_there(own_redis: OwnRedis) -> None:
    """What config.broker works around. Once this fails, kombu has fixed it and the subclass can
    be dropped."""
    connection, _ = _worker_losing_redis(own_redis, KOMBUS)

    with pytest.raises(AttributeError, match="'NoneType' object has no attribute 'hostname'"):
        _close_as_the_worker_does(connection)


def test_the_transport_speaks_to_the_urls_host_port_database_with_its_password(
    own_redis: OwnRedis,
) -> None:
    queue = Queue("celery", Exchange("celery"), "celery")
    with Connection(own_redis.url, transport=OURS) as connection:
        connection.Producer().publish(
            {"n": 1}, exchange=queue.exchange, routing_key="celery", declare=[queue]
        )

    assert own_redis.client().llen("celery") == 1
    other = redis.Redis(host="127.0.0.1", port=own_redis.port, password=PASSWORD, db=0)
    assert other.llen("celery") == 0


_PRINT_BROKER = """
import json
from config.celery import app
connection = app.connection_for_write()
published_on = app.amqp.producer_pool.connections.connection
print(json.dumps([
    type(connection.transport).__module__,
    type(published_on.transport).__module__,
    connection.hostname, connection.port, connection.virtual_host, connection.password,
    bool(connection.ssl),
]))
"""


def test_with_redis_celery_publishes_and_consumes_through_the_transport(tmp_path: Path) -> None:
    url = "rediss://:secret@redis.example:6390/4?ssl_cert_reqs=required"
    env = child_env(tmp_path, "config.settings.local", REDIS_URL=url)
    result = run_python(_PRINT_BROKER, env)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    # The worker's connection and the producers the web processes publish with; the URL's parts,
    # its TLS included, still reach the connection.
    assert printed == ["config.broker", "config.broker", "redis.example", 6390, "4", "secret", True]

    result = run_python(_PRINT_BROKER, child_env(tmp_path, "config.settings.local"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])[:2] == ["kombu.transport.memory"] * 2
