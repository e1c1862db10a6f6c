"""The Persona Lab side of the race (run with the project's .venv): N census-proportional personas
(with behavioural profiles) of one city answer a study of two items through the LLM backend (3
model calls a persona: context, experience, participation) against the local server given by
--base-url, with at most --in-flight calls at once, in one process: the embedded default (SQLite
in a fresh folder, no Redis, the inline executor, one chunk). The same run (study, population,
config, seed) is then started again: the cached re-run, answered from the response cache. Prints
one JSON line: wall, CPU and peak memory of each run and its completion figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
AREA = "dallas_tx_city"


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of the process
    return usage.ru_utime + usage.ru_stime


def _setup(workdir: Path) -> None:
    for name in ("DATABASE_URL", "REDIS_URL", "RUN_EXECUTOR", "LLM_REPLAY_ONLY"):
        os.environ.pop(name, None)
    for provider in ("OPENAI", "ANTHROPIC", "COMPATIBLE"):
        for suffix in ("CONCURRENCY", "RPM", "TPM"):
            os.environ.pop(f"LLM_{provider}_{suffix}", None)
    os.environ.update(
        PERSONALAB_VAR_DIR=str(workdir),
        SQLITE_PATH=str(workdir / "race.sqlite3"),
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DEBUG="False",  # DEBUG keeps every query in memory, which would skew the peak
        SECRET_KEY="race-only-" + uuid.uuid4().hex,
        OPENAI_API_KEY="sk-bench-not-a-real-key",
    )
    sys.path.insert(0, str(ROOT))


def _load_reference_data() -> None:
    """Areas and the poll, loaded by a child process (as an operator's `manage.py` would), so the
    measured process's peak memory is the run's, not the loaders'."""
    manage = [sys.executable, str(ROOT / "manage.py")]
    poll = ROOT / "polls" / "data" / "cces2018_abortion.csv"
    mapping = ROOT / "polls" / "mappings" / "cces2018_abortion.yaml"
    for command in (
        ["migrate", "--noinput", "-v0"],
        ["load_areas"],
        ["import_poll", "--csv", str(poll), "--mapping", str(mapping)],
    ):
        subprocess.run([*manage, *command], cwd=ROOT, check=True, capture_output=True)


def _load(personas: int, seed: int):
    from personas.services import AreaWeight, population_create
    from polls.models import Question
    from studies.services import ItemSpec, OptionSpec, study_create

    question = Question.objects.get(poll__slug="cces-2018-abortion")
    study = study_create(
        title="Employer coverage and a transit levy",
        description="Two questions on health coverage and paying for buses.",
        items=[
            ItemSpec(code="coverage", text=question.text, poll_question_id=question.id),
            ItemSpec(
                code="levy",
                text="Would you vote for a half-cent sales tax to pay for more buses?",
                options=[OptionSpec("yes", "Yes"), OptionSpec("no", "No")],
            ),
        ],
    )
    population = population_create(
        size=personas,
        areas=[AreaWeight(AREA)],
        seed=seed,
        name="race",
        include_behavioral_characteristics=True,
    )
    return study, population


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True, help="the server's OpenAI base URL (…/v1)")
    parser.add_argument("--personas", type=int, default=1000)
    parser.add_argument("--in-flight", type=int, default=50)
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="race-personalab-"))
    try:
        return _race(workdir, args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _race(workdir: Path, args: argparse.Namespace) -> int:
    _setup(workdir)
    _load_reference_data()
    import django

    django.setup()
    from studies.models import Run
    from studies.services import run_start

    study, population = _load(args.personas, args.seed)
    config = {
        "llm": {"provider": "openai", "model": "gpt-bench", "seed": 3, "base_url": args.base_url},
        "engine": {"concurrency": args.in_flight},
    }

    def run() -> dict:
        cpu, wall = _cpu_seconds(), time.perf_counter()
        started = run_start(
            study=study,
            population=population,
            backend="llm",
            backend_config=config,
            seed=1,
            chunk_size=args.personas,
            executor="inline",
        )
        finished = Run.objects.get(id=started.id)
        wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
        return {
            "wall_seconds": round(wall, 2),
            "cpu_seconds": round(cpu, 2),
            "status": finished.status,
            "personas_done": finished.personas_done,
            "personas_failed": finished.personas_failed,
            "llm_calls": finished.llm_calls,
            "cached_calls": finished.cached_calls,
        }

    first = run()
    cached = run()
    print(
        json.dumps(
            {
                "tool": "personalab",
                "deployment": "embedded default: one process, SQLite, inline executor, one chunk",
                "python": sys.version.split()[0],
                "first_run": first,
                "cached_rerun": cached,
                "peak_memory_mb": round(
                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
                ),
                "engine_concurrency": args.in_flight,
            }
        ),
        flush=True,
    )
    ok = first["status"] == cached["status"] == Run.Status.COMPLETED
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
