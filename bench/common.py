"""What the benchmarks that run the platform in a process of their own share: the child process
that measures, the environment of a throwaway deployment, the machine's busy CPU time and the
processes' CPU and memory (from /proc), and the local fake LLM server."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAKE_SERVER_MAIN = "from tests.llm.fake_llm_server import main; main()"


def worker_run(module: str, *args: str, env: dict[str, str]) -> dict:
    """`python -m <module> --worker <args>` in a fresh process (its own memory high-water mark and
    caches) with `env` added to this one's: the JSON object its last line of output prints, or
    {"error": the end of its stderr} when it fails."""
    completed = subprocess.run(
        [sys.executable, "-m", module, "--worker", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        return {"error": completed.stderr[-2000:]}
    return json.loads(completed.stdout.strip().splitlines()[-1])


def bench_environment(workdir: Path) -> None:
    """Settings for a throwaway deployment writing under `workdir`: the local settings without
    DEBUG (it keeps every query in memory), a fresh secret key, none of the caller's database,
    Redis, replay, executor or provider rate-limit settings, and a placeholder OpenAI key (the
    fake server takes any). The caller chooses the database: SQLITE_PATH or DATABASE_URL."""
    os.environ["PERSONALAB_VAR_DIR"] = str(workdir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ["DEBUG"] = "False"
    os.environ["SECRET_KEY"] = "bench-only-" + uuid.uuid4().hex
    for name in ("DATABASE_URL", "REDIS_URL", "LLM_REPLAY_ONLY", "RUN_EXECUTOR"):
        os.environ.pop(name, None)
    for provider in ("OPENAI", "ANTHROPIC", "COMPATIBLE"):
        for suffix in ("CONCURRENCY", "RPM", "TPM"):
            os.environ.pop(f"LLM_{provider}_{suffix}", None)
    os.environ["OPENAI_API_KEY"] = "sk-bench-not-a-real-key"
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def busy_cpu_seconds() -> float:
    """Seconds the machine's CPUs have spent busy since boot (all cores, from /proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of a live process; 0 once it has gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def process_memory_mb(pid: int, field: str = "VmRSS") -> float:
    """A memory figure of /proc/<pid>/status in MB: VmRSS now, or VmHWM, its peak."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def own_peak_memory_mb() -> float:
    """This process's peak resident memory in MB (ru_maxrss: kilobytes on Linux, bytes on
    macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def children(pid: int) -> list[int]:
    """The process's direct children."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (a supervisor and its worker processes)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        queue += children(current)
    return found


def postgres_cpu_seconds() -> float:
    """CPU seconds of the PostgreSQL server: every live postgres process, plus what the postmaster
    has collected from backends that have already exited (cutime + cstime)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() != "postgres":
                continue
            stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            postmaster = stat[1] == "1" or (proc / "cmdline").read_bytes().find(b"-D") != -1
        except OSError:
            continue  # exited while we looked (a backend: the postmaster reaps its time)
        total += int(stat[11]) + int(stat[12])
        if postmaster:
            total += int(stat[13]) + int(stat[14])  # its reaped children
    return total / tick


def start_fake_server(latency_s: float) -> tuple[subprocess.Popen, str]:
    """tests/llm/fake_llm_server.py in a process of its own, answering as the stand-in personas
    after `latency_s`; returns the process and its base URL."""
    server = subprocess.Popen(
        [sys.executable, "-c", FAKE_SERVER_MAIN, "--latency", str(latency_s), "--persona"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    url = server.stdout.readline().strip()
    if not url.startswith("http://"):
        server.terminate()
        raise RuntimeError(f"the fake LLM server did not start (printed {url!r})")
    return server, url
