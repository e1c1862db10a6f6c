"""A standing race against the peer: EDSL and Persona Lab on the same local OpenAI-compatible
server (bench/peers/server.py, a fixed latency per answer), the same workload (N personas, as many
model calls a persona as Persona Lab's engine makes: 4, its analyze, context, experience and
participation steps; EDSL asks 4 questions), the same limit of calls in flight, interleaved (the
order alternates each repetition), each tool in a fresh process every time. Writes
bench/results/peers.json with each one's wall, CPU, peak memory and cached re-run per repetition,
their medians and the ratios (EDSL / Persona Lab).

EDSL runs from its own virtual environment (bench/peers/.venv, made by `make bench-peers`; it is
not a project dependency); Persona Lab from the project's .venv, in its embedded default (one
process, SQLite): one process against one process.

    make bench-peers                                           # 1,000 personas, 3 repetitions
    .venv/bin/python -m bench.peers.race --personas 200 --repetitions 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PEERS = ROOT / "bench" / "peers"
PEER_PYTHON = PEERS / ".venv" / "bin" / "python"
RESULT = ROOT / "bench" / "results" / "peers.json"
CALLS_PER_PERSONA = 4
TARGETS = {"first_run_speedup": 3.0, "cached_rerun_speedup": 10.0}


def _stats(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/_stats?reset=1") as response:
        return json.loads(response.read())


def _side(tool: str, url: str, args: argparse.Namespace) -> dict:
    common = ["--base-url", f"{url}/v1", "--personas", str(args.personas)]
    common += ["--in-flight", str(args.in_flight)]
    if tool == "edsl":
        command = [str(PEER_PYTHON), str(PEERS / "edsl_side.py"), *common]
    else:
        command = [sys.executable, "-m", "bench.peers.personalab_side", *common]
    _stats(url)  # reset the server's counters
    load = os.getloadavg()
    started = time.perf_counter()
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"{tool} side failed ({out.returncode}):\n{out.stderr[-3000:]}")
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    server = _stats(url)
    figures["server"] = {"requests": server["requests"], "max_in_flight": server["max_in_flight"]}
    figures["process_seconds"] = round(time.perf_counter() - started, 1)
    figures["load_average_before"] = [round(x, 2) for x in load]
    return figures


def _problems(tool: str, figures: dict, args: argparse.Namespace) -> list[str]:
    problems = []
    calls = args.personas * CALLS_PER_PERSONA
    if figures["server"]["max_in_flight"] > args.in_flight:
        problems.append(f"{tool}: {figures['server']['max_in_flight']} calls in flight at once")
    if figures["server"]["requests"] != calls:
        problems.append(
            f"{tool}: the server answered {figures['server']['requests']} requests over both "
            f"runs, not the first run's {calls} (the cached re-run must send none)"
        )
    for run in ("first_run", "cached_rerun"):
        if tool == "edsl" and figures[run]["complete_interviews"] != args.personas:
            problems.append(f"edsl {run}: {figures[run]['complete_interviews']} complete")
        if tool == "personalab" and figures[run]["personas_done"] != args.personas:
            problems.append(f"personalab {run}: {figures[run]['personas_done']} done")
    return problems


def _median(runs: list[dict], *path: str) -> float:
    values = []
    for run in runs:
        value = run
        for key in path:
            value = value[key]
        values.append(value)
    return round(statistics.median(values), 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--personas", type=int, default=1000)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--in-flight", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.2)
    args = parser.parse_args()
    if not PEER_PYTHON.exists():
        print("bench/peers/.venv is missing: run `make bench-peers`", file=sys.stderr)
        return 2
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.peers.server", "--latency", str(args.latency)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    url = server.stdout.readline().strip()
    runs: dict[str, list[dict]] = {"edsl": [], "personalab": []}
    problems: list[str] = []
    try:
        for repetition in range(args.repetitions):
            order = ["edsl", "personalab"] if repetition % 2 == 0 else ["personalab", "edsl"]
            for tool in order:
                print(f"-- repetition {repetition + 1}: {tool}", flush=True)
                figures = _side(tool, url, args)
                figures["repetition"] = repetition + 1
                problems += _problems(tool, figures, args)
                runs[tool].append(figures)
                print(
                    json.dumps({k: figures[k] for k in ("first_run", "cached_rerun")}), flush=True
                )
    finally:
        server.terminate()
        server.wait(timeout=10)

    medians = {
        tool: {
            "first_run_wall_seconds": _median(r, "first_run", "wall_seconds"),
            "first_run_cpu_seconds": _median(r, "first_run", "cpu_seconds"),
            "cached_rerun_wall_seconds": _median(r, "cached_rerun", "wall_seconds"),
            "cached_rerun_cpu_seconds": _median(r, "cached_rerun", "cpu_seconds"),
            "peak_memory_mb": _median(r, "peak_memory_mb"),
        }
        for tool, r in runs.items()
    }
    e, p = medians["edsl"], medians["personalab"]
    calls = args.personas * CALLS_PER_PERSONA
    ratios = {
        "first_run_speedup": round(e["first_run_wall_seconds"] / p["first_run_wall_seconds"], 2),
        "cached_rerun_speedup": round(
            e["cached_rerun_wall_seconds"] / p["cached_rerun_wall_seconds"], 2
        ),
        "first_run_cpu_ratio": round(e["first_run_cpu_seconds"] / p["first_run_cpu_seconds"], 2),
        "peak_memory_ratio": round(e["peak_memory_mb"] / p["peak_memory_mb"], 2),
        "note": "EDSL's figure over Persona Lab's (medians): above 1 means Persona Lab is faster "
        "or lighter",
    }
    result = {
        "benchmark": "peers",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "workload": {
            "personas": args.personas,
            "calls_per_persona": CALLS_PER_PERSONA,
            "calls": calls,
            "server_latency_seconds": args.latency,
            "in_flight_limit": args.in_flight,
            "ideal_seconds": round(calls * args.latency / args.in_flight, 2),
            "repetitions": args.repetitions,
            "interleaved": "the order alternates each repetition; every run is a fresh process",
            "server": "bench/peers/server.py: the project's fake OpenAI-compatible server, its own "
            "process, TCP_NODELAY",
            "cpu_measured": "getrusage of the tool's process (all its threads), the run alone "
            "(data loading and imports outside it)",
            "memory_measured": "peak RSS of the tool's process (ru_maxrss), data loading included",
        },
        "peer": {"name": "edsl", "version": runs["edsl"][0]["version"] if runs["edsl"] else None},
        "medians": medians,
        "ratios": ratios,
        "targets": TARGETS,
        "targets_met": {name: ratios[name] >= target for name, target in TARGETS.items()},
        "runs": runs,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "shared": "the machine's 2 cores are shared with other engineers' work while this "
            "runs: each run records the load average before it",
        },
        "problems": problems,
    }
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"medians": medians, "ratios": ratios, "problems": problems}, indent=2))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
