"""1,000 authenticated WebSockets on one web process, following one run's progress.

Starts the services stack of the integration tests (tests/stack.py: a fresh PostgreSQL database,
Redis as broker and channel layer, a Celery worker) with its web server as production runs it
(uvicorn, config.asgi) but one process instead of two (--workers 1), so every socket lands on the
process measured; runs a small study to completion, then opens SOCKETS sockets to the run's progress
channel, IN_FLIGHT handshakes at a time, and holds them all open together, each signed in with the
stack's token (``?token=``). Every socket must be accepted and receive the run's stored state; then
one progress message is published to the run's group through the Redis channel layer, as a worker's
reporter does, and every socket must receive it; then all sockets close at once and the run's group
must be empty again (each disconnect removes its channel). Each connect and disconnect takes a
connection of the web process's channel-layer pool for its group change, so a burst of more
handshakes or closes than the pool holds is what tests its size. Measured with the configured pool
(CHANNEL_LAYER_MAX_CONNECTIONS, 2,000) and with redis-py's default of 100 (the setting before).

Run as `python -m bench.sockets [--sockets N] [--in-flight N ...] [--pools configured 100 ...]`
(PostgreSQL and Redis on the machine, as for tests/integration); writes
bench/results/sockets.json with the figures and the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bench.common import process_memory_mb

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "bench" / "results" / "sockets.json"
SOCKETS = 1000
# Handshakes in flight: 50 (the old figure, clients arriving over a few seconds) passed with the
# pool of 100 too; a burst larger than the old pool is what shows whether its size matters.
IN_FLIGHT = (50, 300, 1000)
POOLS = ("configured", "100")
# A Redis database of its own: the integration tests flush theirs (11).
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
CONNECT_TIMEOUT_S = 60.0
GROUP_SETTLE_S = 20.0


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[int(q * (len(ordered) - 1))], 3)

    return {
        "median": round(statistics.median(ordered), 3),
        "p95": at(0.95),
        "p99": at(0.99),
        "max": round(ordered[-1], 3),
    }


def _error_name(exc: BaseException) -> str:
    if isinstance(exc, InvalidStatus):
        return f"refused: HTTP {exc.response.status_code}"
    if isinstance(exc, ConnectionClosed):
        code = exc.rcvd.code if exc.rcvd else None
        return f"closed by the server: {code}"
    if isinstance(exc, TimeoutError):
        return "TimeoutError"
    return f"{type(exc).__name__}: {exc}"[:120]


def _stack_class():
    from tests.stack import Stack

    class OneWebProcessStack(Stack):
        """The integration stack with one uvicorn process instead of its two: the figure is
        sockets per web process, and with two the kernel would share them between both."""

        web_processes = 1

    return OneWebProcessStack


class _Socket:
    """One client: the handshake, then the first message (the run's stored state)."""

    def __init__(self) -> None:
        self.connection: Any = None
        self.accepted_s: float | None = None
        self.state_s: float | None = None
        self.state: dict | None = None
        self.error: str | None = None

    async def open(self, url: str, origin: str, gate: asyncio.Semaphore) -> None:
        async with gate:
            started = time.perf_counter()
            try:
                self.connection = await websockets.connect(
                    url, origin=origin, open_timeout=CONNECT_TIMEOUT_S, max_queue=None
                )
                self.accepted_s = time.perf_counter() - started
                message = await asyncio.wait_for(self.connection.recv(), CONNECT_TIMEOUT_S)
                self.state = json.loads(message)
                self.state_s = time.perf_counter() - started
            except Exception as exc:  # counted: the bench reports every failure, it does not stop
                self.error = _error_name(exc)

    async def progress(self) -> bool:
        try:
            message = await asyncio.wait_for(self.connection.recv(), CONNECT_TIMEOUT_S)
            return json.loads(message).get("message") == "bench"
        except Exception:
            return False


def _server_log_errors(text: str) -> dict[str, int]:
    """Exceptions the web process logged, and where: the pool refusing a connection raises
    redis-py's MaxConnectionsError inside the consumer's group change."""
    return {
        "exceptions": text.count("Exception in ASGI application"),
        "too_many_connections": text.count("MaxConnectionsError: Too many connections"),
        "in_group_add": text.count("in group_add"),
        "in_group_discard": text.count("in group_discard"),
    }


async def _group_size_settled(client: Any, key: str) -> tuple[int, float]:
    """The group's members once the server has handled the closes: 0, or where it stops."""
    started = last_change = time.perf_counter()
    size = await client.zcard(key)
    while size and time.perf_counter() - started < GROUP_SETTLE_S:
        await asyncio.sleep(0.25)
        now = await client.zcard(key)
        if now != size:
            size, last_change = now, time.perf_counter()
        elif time.perf_counter() - last_change > 5:
            break
    return size, round(last_change - started, 2)


async def _round(stack: Any, run_id: int, sockets: int, in_flight: int) -> dict:
    import redis.asyncio as aioredis
    from channels_redis.core import RedisChannelLayer

    from studies.progress import run_group_name, run_message

    url = f"{stack.ws_base}/ws/runs/{run_id}/?token={stack.token}"
    server_pid = stack.processes[-1].pid
    log_start = len(stack.log_text("server"))
    load_before, rss_before = _load(), round(process_memory_mb(server_pid), 1)
    layer = RedisChannelLayer(hosts=[REDIS_URL])
    group_key = layer._group_key(run_group_name(run_id))
    client = aioredis.Redis.from_url(REDIS_URL)
    await client.delete(group_key)  # a round starts with no member a round before left behind

    started = time.perf_counter()
    gate = asyncio.Semaphore(in_flight)
    clients = [_Socket() for _ in range(sockets)]
    await asyncio.gather(*(c.open(url, stack.base_url, gate) for c in clients))
    connect_s = time.perf_counter() - started
    errors: dict[str, int] = {}
    for c in clients:
        if c.error:
            errors[c.error] = errors.get(c.error, 0) + 1
        elif not c.state or c.state.get("run_id") != run_id:
            errors["wrong first message"] = errors.get("wrong first message", 0) + 1
    live = [c for c in clients if c.state and c.state.get("run_id") == run_id]
    in_group = await client.zcard(group_key)

    # One progress message through the Redis layer, as a worker publishes it.
    payload = run_message(
        kind="progress", run_id=run_id, status="running", done=1, total=2, message="bench"
    )
    sent = time.perf_counter()
    await layer.group_send(run_group_name(run_id), {"type": "run.event", "payload": payload})
    received = await asyncio.gather(*(c.progress() for c in live))
    fan_out_s = time.perf_counter() - sent
    rss_during = round(process_memory_mb(server_pid), 1)
    log_connect = stack.log_text("server")[log_start:]

    # Every socket closes at once: each disconnect takes a pooled connection to leave the group.
    await asyncio.gather(
        *(c.connection.close() for c in clients if c.connection), return_exceptions=True
    )
    left, settle_s = await _group_size_settled(client, group_key)
    log_close = stack.log_text("server")[log_start + len(log_connect) :]
    await client.delete(group_key)
    await client.aclose()
    await layer.flush()
    return {
        "sockets": sockets,
        "handshakes_in_flight": in_flight,
        "accepted": sum(1 for c in clients if c.accepted_s is not None),
        "got_state": len(live),
        "in_group_while_open": in_group,
        "got_progress": sum(received),
        "client_errors": errors,
        "server_log_while_connecting": _server_log_errors(log_connect),
        "left_in_group_after_close": left,
        "group_settled_after_s": settle_s,
        "server_log_while_closing": _server_log_errors(log_close),
        "connect_all_s": round(connect_s, 2),
        "handshake_s": _percentiles([c.accepted_s for c in clients if c.accepted_s is not None]),
        "handshake_and_state_s": _percentiles([c.state_s for c in live if c.state_s]),
        "progress_fan_out_s": round(fan_out_s, 3),
        "web_process_rss_mb": {
            "before": rss_before,
            "with_sockets": rss_during,
            "peak": round(process_memory_mb(server_pid, "VmHWM"), 1),
        },
        "load_avg_before": load_before,
        "load_avg_after": _load(),
    }


def _with_stack(pool: str, sockets: int, in_flight: list[int]) -> dict:
    extra = {} if pool == "configured" else {"CHANNEL_LAYER_MAX_CONNECTIONS": pool}
    stack = _stack_class()(
        "services",
        workdir=Path(tempfile.mkdtemp(prefix="bench-sockets-")),
        redis_url=REDIS_URL,
        extra_env=extra,
    )
    stack.start()
    try:
        run = stack.start_run(size=20, chunk_size=10)
        finished = stack.wait_for_run(run["id"])
        assert finished["status"] == "completed", finished
        rounds = []
        for n in in_flight:
            figures = asyncio.run(_round(stack, run["id"], sockets, n))
            print(json.dumps(figures), file=sys.stderr)
            rounds.append(figures)
        return {
            "channel_layer_max_connections": (
                "configured (2,000)" if pool == "configured" else int(pool)
            ),
            "rounds": rounds,
        }
    finally:
        stack.stop()


def _findings(pools: list[dict]) -> list[str]:
    """What each pool's rounds show, in a sentence each, from the figures alone."""
    lines = []
    for pool in pools:
        rounds = pool["rounds"]
        bursts = ", ".join(str(r["handshakes_in_flight"]) for r in rounds)
        full = all(
            r["accepted"] == r["got_state"] == r["got_progress"] == r["sockets"] for r in rounds
        )
        connect_errors = sum(
            sum(r["client_errors"].values()) + r["server_log_while_connecting"]["exceptions"]
            for r in rounds
        )
        left = [r["left_in_group_after_close"] for r in rounds]
        failed_closes = [r["server_log_while_closing"]["exceptions"] for r in rounds]
        lines.append(
            f"pool {pool['channel_layer_max_connections']}: with {bursts} handshakes in flight, "
            + (
                "every socket was accepted, got the state and the progress message"
                if full
                else "NOT every socket was accepted and got the state and the progress message"
            )
            + f" ({connect_errors} errors while connecting); closing them all at once, "
            + f"{failed_closes} disconnects raised in the server and {left} channels stayed in "
            + "the run's group"
        )
    return lines


def main(
    sockets: int = SOCKETS, in_flight: list[int] | None = None, pools: list[str] | None = None
) -> dict:
    sys.path.insert(0, str(ROOT))
    # One process holds every client socket: raise its open-file limit (uvicorn inherits it).
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    result = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_before": _load(),
        },
        "server": (
            f"uvicorn {version('uvicorn')} (websockets {version('websockets')}), one process "
            f"(--workers 1); channels {version('channels')}, channels_redis "
            f"{version('channels_redis')}, redis-py {version('redis')}"
        ),
        "method": " ".join(__doc__.split("\n\n")[1].split()),
        "pools": [
            _with_stack(pool, sockets, list(in_flight or IN_FLIGHT)) for pool in pools or POOLS
        ],
    }
    result["machine"]["load_avg_after"] = _load()
    result["findings"] = _findings(result["pools"])
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=SOCKETS)
    parser.add_argument(
        "--in-flight",
        type=int,
        nargs="+",
        default=list(IN_FLIGHT),
        help="handshakes in flight at once; one round per value, on the same stack",
    )
    parser.add_argument(
        "--pools",
        nargs="+",
        default=list(POOLS),
        help="channel-layer pool sizes: 'configured' (the setting's default) or a number",
    )
    args = parser.parse_args()
    print(json.dumps(main(args.sockets, args.in_flight, args.pools), indent=2))
