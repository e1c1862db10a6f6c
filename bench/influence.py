"""Benchmark: peer influence over 100,000 personas of one area, 10 Friedkin–Johnsen rounds.

Runs in its own Python process against a fresh SQLite database: loads the areas and the CCES 2018
poll, generates 100,000 personas of one area with their full profile (party, Big Five), then times
the offline influence step as a multi-agent run does it once its answers are stored:

- ``x0``: the personas read from the database and their answer probabilities predicted by the
  poll model (the poll-model backend's own calls: stored fit, design matrix, prediction), their
  conformity tendencies and categories (``studies.influence.compute.group_from_personas``);
- ``simulate``: the homophily network, 10 rounds (the round limit; the tolerance is 0 so every
  round runs) and every measure (``studies.influence.simulate.influence_simulate``), timed for
  three group sizes (the whole area, neighbourhoods of 500, councils of 12).

The target (issue #15) is network + 10 rounds for 100,000 personas under 10 s; the machine's load
average is recorded beside the times, since the machine is shared. Results go to
``bench/results/influence.json``.

    .venv/bin/python -m bench.influence
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

from bench.common import worker_run

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "influence.json"
SIZE = 100_000
AREA = "dallas_tx_city"
ROUNDS = 10
GROUP_SIZES = (None, 500, 12)
TARGET = {"personas": SIZE, "rounds": ROUNDS, "wall_seconds": 10}


def _worker() -> dict:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    django.setup()
    import numpy as np
    import pandas as pd
    from django.conf import settings
    from django.core.management import call_command

    from personas.models import Persona
    from personas.services import AreaWeight, population_create
    from polls.model.features import design
    from polls.model.store import poll_model_get
    from polls.models import Question
    from studies.backends.poll_model import PROFILE_COLUMNS
    from studies.influence.compute import PERSONA_COLUMNS, group_from_personas
    from studies.influence.simulate import InfluenceParams, influence_simulate

    with open(os.devnull, "w") as quiet:
        call_command("migrate", verbosity=0, stdout=quiet)
        call_command("load_areas", stdout=quiet)
        call_command(
            "import_poll",
            csv=str(ROOT / "polls" / "data" / "cces2018_abortion.csv"),
            mapping=str(ROOT / "polls" / "mappings" / "cces2018_abortion.yaml"),
            stdout=quiet,
        )
    settings.POPULATION_MAX_SIZE = max(settings.POPULATION_MAX_SIZE, SIZE)
    population = population_create(
        size=SIZE,
        areas=[AreaWeight(AREA)],
        seed=20241215,
        name="bench influence",
        include_behavioral_characteristics=True,
    )
    question = Question.objects.filter(poll__slug="cces-2018-abortion").order_by("id").first()
    assert question is not None
    poll_options = list(question.options.order_by("order"))
    fit = poll_model_get(question, options=[o.id for o in poll_options])  # fitted once, untimed
    load_before = os.getloadavg()

    started = time.perf_counter()
    personas = list(
        Persona.objects.filter(population=population).order_by("index").values(*PERSONA_COLUMNS)
    )
    frame = pd.DataFrame(
        Persona.objects.filter(population=population)
        .order_by("index")
        .values_list(*(c if c != "state" else "area__state" for c in PROFILE_COLUMNS)),
        columns=PROFILE_COLUMNS,
    )
    frame = frame.assign(age_min=frame["age"], age_max=frame["age"])
    initial = fit.fit.predict(design(frame, fit.spec))
    codes = {o.id: o.code for o in poll_options}
    group = group_from_personas(
        personas, initial=np.asarray(initial), options=[codes[i] for i in fit.options]
    )
    x0_seconds = time.perf_counter() - started

    runs = []
    for group_size in GROUP_SIZES:
        params = InfluenceParams(group_size=group_size, max_rounds=ROUNDS, tolerance=0.0, seed=1)
        started = time.perf_counter()
        outcome = influence_simulate(group, params)
        seconds = time.perf_counter() - started
        results = outcome.results
        runs.append(
            {
                "group_size": group_size or "whole area",
                "simulate_seconds": round(seconds, 2),
                "with_x0_seconds": round(seconds + x0_seconds, 2),
                "rounds": results["dynamics"]["rounds"],
                "ties": results["network"]["ties"],
                "mean_degree": round(results["network"]["mean_degree"], 2),
                "average_influence": round(
                    results["peer_influence_effects"]["average_influence"], 4
                ),
                "share_change": {
                    k: round(v, 4)
                    for k, v in results["peer_influence_effects"]["share_change"].items()
                },
                "meets_target": seconds + x0_seconds < TARGET["wall_seconds"],
            }
        )
    return {
        "personas": group.size,
        "area": AREA,
        "question": f"{question.poll.slug}:{question.code}",
        "x0_seconds": round(x0_seconds, 2),
        "runs": runs,
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
    }


def main() -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-influence-") as tmp:
        env = {
            "SQLITE_PATH": str(Path(tmp) / "bench.sqlite3"),
            "DATABASE_URL": "",
            "DEBUG": "False",
        }
        measured = worker_run("bench.influence", env=env)
    result = {
        "benchmark": "influence",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "target": TARGET,
        "timed": "x0 = personas read + poll-model probabilities + conformity; simulate = "
        "network + 10 rounds + measures (the poll model's one-off fit and the population's "
        "generation are not timed)",
        **measured,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] == "--worker":
        print(json.dumps(_worker()))
    else:
        main()
