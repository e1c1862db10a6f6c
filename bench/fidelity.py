"""Benchmark: the poll model's accuracy on the real task, its fit time and its run throughput.

In a fresh SQLite database with the real areas and the bundled CCES 2018 item (59,756 respondents):

- the MRP case-study design: five seeded subsamples of 5,000 respondents, each fitted and
  poststratified to every state's census table, compared with the full sample's state shares in
  the states with at least 500 respondents (MAE in points, coverage of the 95 % intervals), beside
  the raw subsample's state shares;
- leave-areas-out: five seeds, each holding out five such states, fitted with and without the
  area-level predictor (the 2016 presidential vote, the latest election before the poll): the
  environmental lift is the difference in the held-out states' MAE;
- the fit time of the full question (a cold store) and the offline run's throughput for 100,000
  personas over the four demo cities.

Results go to ``bench/results/fidelity.json``.

    .venv/bin/python -m bench.fidelity
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "fidelity.json"
QUESTION = ("cces-2018-abortion", "employers-decline-abortion-coverage")
AREAS = ("dallas_tx_city", "detroit_mi_city", "minneapolis_mn_city", "phoenix_az_city")
SEEDS = range(5)
PERSONAS = 100_000
TARGET = {
    "subsample_state_mae_points": 2.5,
    "subsample_coverage": [0.90, 0.97],
    "fit_seconds": 60,
}


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/fidelity.sqlite3"
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        from personas.services import AreaWeight, population_create
        from polls.model.store import poll_model_get
        from polls.models import Question
        from studies.models import Run
        from studies.services import ItemSpec, run_start, study_create
        from validation.area import leave_areas_out, subsample_design

        with open(os.devnull, "w") as quiet:
            call_command("migrate", verbosity=0, stdout=quiet)
            call_command("load_areas", stdout=quiet)
            call_command("load_polls", only=[QUESTION[0]], stdout=quiet)
        question = Question.objects.select_related("poll").get(
            poll__slug=QUESTION[0], code=QUESTION[1]
        )
        started = time.perf_counter()
        fitted = poll_model_get(question)
        fit_seconds = time.perf_counter() - started

        started = time.perf_counter()
        subsample = subsample_design(question, seeds=SEEDS)
        subsample["seconds"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        held_out = leave_areas_out(question, seeds=SEEDS)
        held_out["seconds"] = round(time.perf_counter() - started, 1)

        settings.POPULATION_MAX_SIZE = max(settings.POPULATION_MAX_SIZE, PERSONAS)
        population = population_create(
            size=PERSONAS, areas=[AreaWeight(a) for a in AREAS], seed=2018, name="bench"
        )
        study = study_create(
            title="bench",
            description="fidelity bench",
            items=[ItemSpec(code="item", text=question.text, poll_question_id=question.id)],
        )
        started = time.perf_counter()
        run = run_start(
            study=study, population=population, seed=2018, executor="inline", backend="poll_model"
        )
        run_seconds = time.perf_counter() - started
        run.refresh_from_db()
        if run.status != Run.Status.COMPLETED:
            print(f"run ended {run.status}: {run.error_message}", file=sys.stderr)
            return 1

    model = subsample["summary"]["model"]
    lo, hi = TARGET["subsample_coverage"]
    result = {
        "benchmark": "fidelity",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "question": "/".join(QUESTION),
        "target": TARGET,
        "met": {
            "subsample_state_mae": model["mae_points_mean"] <= TARGET["subsample_state_mae_points"],
            "subsample_coverage": lo <= model["coverage_mean"] <= hi,
            "fit_seconds": fit_seconds <= TARGET["fit_seconds"],
        },
        "fit": {
            "respondents": fitted.fit.n,
            "seconds": round(fit_seconds, 2),
            "grid": fitted.grid,
            "chosen_scales": {
                "state": fitted.spec.state_scale,
                "interaction": fitted.spec.interaction_scale,
            },
            "area_predictors": {
                k: {"dated": v["dated"], "description": v["description"]}
                for k, v in fitted.spec.area_predictors.items()
            },
        },
        "subsample_design": subsample,
        "leave_areas_out": held_out,
        "run": {
            "personas": PERSONAS,
            "backend": "poll_model",
            "database": "sqlite",
            "seconds": round(run_seconds, 1),
            "personas_per_second": round(PERSONAS / run_seconds, 1),
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("met", "run")}, indent=2))
    print(
        f"subsample MAE {model['mae_points_mean']:.2f} (raw "
        f"{subsample['summary']['raw_subsample']['mae_points_mean']:.2f}), coverage "
        f"{model['coverage_mean']:.2f}; lift {held_out['summary']['lift_points_mean']:.2f} points"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
