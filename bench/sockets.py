"""1,000 authenticated WebSockets on one web process, following one run's progress.

Starts the services stack of the integration tests (tests/stack.py: a fresh PostgreSQL database,
Redis as broker and channel layer, a Celery worker, one daphne process), runs a small study to
completion, then opens SOCKETS sockets to the run's progress channel (HANDSHAKES_IN_FLIGHT
handshakes at a time) and holds them all open together, each signed in with the stack's token
(``?token=``). Every socket must be accepted and receive the run's stored state; then one progress message is published to the run's group through the Redis channel
layer, as a worker's reporter does, and every socket must receive it. Repeated with the pool of
redis-py's default size (CHANNEL_LAYER_MAX_CONNECTIONS=100, as before) for comparison.

Run as `python -m bench.sockets [--sockets N]` (PostgreSQL and Redis on the machine, as for
tests/integration); writes bench/results/sockets.json with the figures and the machine's load.
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
from pathlib import Path

import websockets

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "bench" / "results" / "sockets.json"
SOCKETS = 1000
# A Redis database of its own: the integration tests flush theirs (11).
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
CONNECT_TIMEOUT_S = 60.0
# Handshakes in flight at once: daphne drops a socket its application has not accepted within
# 5 s (websocket_connect_timeout), and each accept queues database reads on the process's few
# sync threads; clients arrive over a few seconds, not all in one instant. The sockets stay open
# together: the figure is concurrent sockets, not concurrent handshakes.
HANDSHAKES_IN_FLIGHT = 50


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _open(
    url: str, origin: str, gate: asyncio.Semaphore
) -> tuple[object, float, dict | None, str | None]:
    async with gate:
        return await _handshake(url, origin)


async def _handshake(url: str, origin: str) -> tuple[object, float, dict | None, str | None]:
    started = time.perf_counter()
    try:
        socket = await websockets.connect(
            url, origin=origin, open_timeout=CONNECT_TIMEOUT_S, max_queue=None
        )
        first = json.loads(await asyncio.wait_for(socket.recv(), CONNECT_TIMEOUT_S))
        return socket, time.perf_counter() - started, first, None
    except Exception as exc:  # counted: the bench reports every failure, it does not stop
        return None, time.perf_counter() - started, None, f"{type(exc).__name__}: {exc}"


async def _round(stack, run_id: int, sockets: int) -> dict:
    from channels_redis.core import RedisChannelLayer

    from studies.progress import run_group_name, run_message

    url = f"{stack.ws_base}/ws/runs/{run_id}/?token={stack.token}"
    server_pid = stack.processes[-1].pid
    rss_before = _rss_mb(server_pid)
    started = time.perf_counter()
    gate = asyncio.Semaphore(HANDSHAKES_IN_FLIGHT)
    opened = await asyncio.gather(*(_open(url, stack.base_url, gate) for _ in range(sockets)))
    connect_s = time.perf_counter() - started
    live = [socket for socket, _, first, _ in opened if socket is not None and first]
    errors: dict[str, int] = {}
    for _, _, first, error in opened:
        if error:
            key = error[:120]
            errors[key] = errors.get(key, 0) + 1
        elif first and first.get("run_id") != run_id:
            errors["wrong first message"] = errors.get("wrong first message", 0) + 1
    latencies = sorted(latency for socket, latency, first, _ in opened if socket and first)

    # One progress message through the Redis layer, as a worker publishes it.
    layer = RedisChannelLayer(hosts=[REDIS_URL])
    payload = run_message(
        kind="progress", run_id=run_id, status="running", done=1, total=2, message="bench"
    )
    sent = time.perf_counter()
    await layer.group_send(run_group_name(run_id), {"type": "run.event", "payload": payload})

    async def _progress(socket) -> bool:
        try:
            message = json.loads(await asyncio.wait_for(socket.recv(), CONNECT_TIMEOUT_S))
            return message.get("message") == "bench"
        except Exception:
            return False

    received = await asyncio.gather(*(_progress(socket) for socket in live))
    fan_out_s = time.perf_counter() - sent
    rss_during = _rss_mb(server_pid)
    await asyncio.gather(*(socket.close() for socket in live), return_exceptions=True)
    await layer.flush()
    return {
        "sockets": sockets,
        "handshakes_in_flight": HANDSHAKES_IN_FLIGHT,
        "connected_with_state": len(live),
        "received_progress": sum(received),
        "errors": errors,
        "connect_all_s": round(connect_s, 2),
        "connect_latency_s": {
            "median": round(statistics.median(latencies), 3) if latencies else None,
            "p95": round(latencies[int(0.95 * (len(latencies) - 1))], 3) if latencies else None,
            "max": round(latencies[-1], 3) if latencies else None,
        },
        "progress_fan_out_s": round(fan_out_s, 3),
        "daphne_rss_mb": {"before": round(rss_before, 1), "with_sockets": round(rss_during, 1)},
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
    }


def _with_stack(max_connections: int | None, sockets: int) -> dict:
    from tests.stack import Stack

    extra = (
        {} if max_connections is None else {"CHANNEL_LAYER_MAX_CONNECTIONS": str(max_connections)}
    )
    stack = Stack(
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
        figures = asyncio.run(_round(stack, run["id"], sockets))
        figures["channel_layer_max_connections"] = max_connections or "setting's default"
        figures["server_log_500s"] = stack.log_text("server").count(" 500 ")
        return figures
    finally:
        stack.stop()


def main(sockets: int = SOCKETS) -> dict:
    sys.path.insert(0, str(ROOT))
    # One process holds every client socket: raise its open-file limit (daphne inherits it).
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
            "load_avg_before": [round(x, 2) for x in os.getloadavg()],
        },
        "method": __doc__.split("\n\n")[1].replace("\n", " "),
        "sized_pool": _with_stack(None, sockets),
        "default_pool_100": _with_stack(100, sockets),
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=SOCKETS)
    print(json.dumps(main(parser.parse_args().sockets), indent=2))
