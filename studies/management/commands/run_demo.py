"""The README's first command: load real data, run a real study offline, print the results."""

from __future__ import annotations

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from accounts.services import token_create
from config.cli import ExitCode, StepTimer, fail
from environment.categories import DIMENSIONS
from environment.models import ElectionResult
from personas.models import Population
from personas.services import AreaWeight, population_create
from polls.bundled import BUNDLED_DATASETS
from polls.models import Question
from polls.selectors import bundled_datasets_missing
from studies.management.commands.start_run import run_in_foreground
from studies.models import Run, Study
from studies.services import ItemSpec, run_start, study_create

DEMO_AREAS = ["dallas_tx_city", "detroit_mi_city", "minneapolis_mn_city", "phoenix_az_city"]
DEMO_STUDY_TITLE = "Employers declining abortion coverage"
DEMO_POPULATION_NAME = "Demo: Dallas, Detroit, Minneapolis, Phoenix"
BREAKDOWNS = ["area", "sex", "age_bracket", "race_ethnicity", "education", "income"]


def _pct(x: float) -> str:
    return f"{100 * x:5.1f}%"


class Command(BaseCommand):
    help = "Load areas and polls, run a study over Dallas, Detroit, Minneapolis and Phoenix, print results."

    def add_arguments(self, parser):
        parser.add_argument("--size", type=int, default=1000)
        parser.add_argument("--seed", type=int, default=2018)
        parser.add_argument("--reload", action="store_true", help="re-import data already loaded")

    def handle(self, *args, size: int, seed: int, reload: bool, **options):
        # Load what is missing; --reload loads everything again (both loads are idempotent).
        if reload or not ElectionResult.objects.filter(area_id__in=DEMO_AREAS).exists():
            with StepTimer("Loading areas, census marginals and elections", stream=self.stderr):
                call_command("load_areas", stdout=self.stdout)
        # Only the datasets not loaded yet (a dataset's polls are found by its mapping's slug,
        # which for the 2016 toplines is not its name).
        missing = list(BUNDLED_DATASETS) if reload else bundled_datasets_missing(BUNDLED_DATASETS)
        if missing:
            call_command("load_polls", only=[d.name for d in missing], stdout=self.stdout)
        question = Question.objects.select_related("poll").get(
            poll__slug="cces-2018-abortion", code="employers-decline-abortion-coverage"
        )
        study = self._study(question)
        population = self._population(size=size, seed=seed)
        # Worked through here ("caller"), so the progress bar follows it on stderr.
        run = run_start(study=study, population=population, seed=seed, executor="caller")
        run = run_in_foreground(run, stream=self.stderr)
        if run.status != Run.Status.COMPLETED:
            raise fail(
                f"Run {run.id} ended {run.status}: {run.error_message}", ExitCode.RUN_NOT_COMPLETED
            )
        self._print_results(run)
        self._print_access(run)

    def _study(self, question: Question) -> Study:
        """The demo study: the one an earlier demo made, or a new one."""
        existing = Study.objects.filter(
            title=DEMO_STUDY_TITLE, created_by=None, items__poll_question=question
        ).first()
        if existing is not None:
            return existing
        return study_create(
            title=DEMO_STUDY_TITLE,
            description="Would residents of four large cities support letting employers decline "
            "coverage of abortions in insurance plans?",
            items=[
                ItemSpec(
                    code="employer-abortion-coverage",
                    text=question.text,
                    poll_question_id=question.id,
                )
            ],
        )

    def _population(self, *, size: int, seed: int) -> Population:
        """The demo population of this size and seed: an earlier demo's, or a new one (the same
        spec and seed give the same personas, so reusing it changes nothing but the time)."""
        existing = Population.objects.filter(
            name=DEMO_POPULATION_NAME, size=size, seed=seed, created_by=None
        ).first()
        if existing is not None:
            return existing
        with StepTimer(f"Generating {size:,} personas", stream=self.stderr):
            return population_create(
                size=size,
                areas=[AreaWeight(a) for a in DEMO_AREAS],
                seed=seed,
                name=DEMO_POPULATION_NAME,
            )

    def _print_results(self, run: Run) -> None:
        out = self.stdout.write
        results = run.results
        out("")
        out(
            f"Study: {run.study.title} — run #{run.id}, backend {run.backend}, "
            f"{results['personas_answered']} personas, seed {run.seed}"
        )
        for item in results["items"]:
            out(f"Question: {item['text']}")
            out(
                "Grounded in: "
                + Question.objects.get(
                    id=run.study.items.get(code=item["code"]).poll_question_id
                ).poll.title
            )
            out("")
            out(f"{'Option':<12} {'n':>6} {'share':>7}   95% interval")
            for o in item["options"]:
                out(
                    f"{o['label']:<12} {o['count']:>6} {_pct(o['share'])}   {_pct(o['ci_low'])} – {_pct(o['ci_high'])}"
                )
            for dimension in BREAKDOWNS:
                groups = item["breakdowns"].get(dimension, [])
                title = "area" if dimension == "area" else dimension.replace("_", " ")
                out("")
                header = f"By {title:<34} {'n':>5}  " + "  ".join(
                    f"{o['label'] + ' (95% interval)':<26}" for o in item["options"]
                )
                out(header)
                for g in groups:
                    cells = "  ".join(
                        f"{_pct(o['share'])} ({_pct(o['ci_low'])}–{_pct(o['ci_high'])})".ljust(26)
                        for o in g["options"]
                    )
                    out(f"   {g['label']:<34} {g['n']:>5}  {cells}")
            model = item.get("model_estimate")
            if model:
                out("")
                out(
                    f"Model-based estimate ({model['describes']}), 95% interval with the model's uncertainty:"
                )
                for o in model["options"]:
                    out(
                        f"   {o['label']:<12} {_pct(o['share'])}   {_pct(o['ci_low'])} – {_pct(o['ci_high'])}"
                    )
                for g in model["breakdowns"]["area"]:
                    cells = "  ".join(
                        f"{o['label']} {_pct(o['share'])} ({_pct(o['ci_low'])}–{_pct(o['ci_high'])})"
                        for o in g["options"]
                    )
                    out(f"   {g['label']:<34} {g['n']:>5}  {cells}")
        out("")
        out(results["method"])
        if any(item.get("model_estimate") for item in results["items"]):
            out(results["items"][0]["model_estimate"]["method"])
        assert set(BREAKDOWNS[1:]) <= set(DIMENSIONS)

    def _print_access(self, run: Run) -> None:
        user_model = get_user_model()
        secret_file = Path(settings.VAR_DIR) / "demo-admin-password.txt"
        user = user_model.objects.filter(username="admin").first()
        if user is None or not secret_file.exists():
            password = secrets.token_urlsafe(12)
            if user is None:
                user = user_model.objects.create_superuser("admin", "admin@example.com", password)
            else:
                user.set_password(password)
                user.save()
            secret_file.write_text(password)
        password = secret_file.read_text().strip()
        # Only a token's hash is stored: a fresh one each demo, its key shown here once.
        _, token_key = token_create(user=user)
        out = self.stdout.write
        out("")
        out("Next:")
        out("  make serve                      then open http://127.0.0.1:8000/")
        out(f"  watch this run live:            http://127.0.0.1:8000/runs/{run.id}/")
        out(
            f"  admin:                          http://127.0.0.1:8000/admin/  user admin, password {password}"
        )
        out(
            f"  API (token auth):               curl -H 'Authorization: Token {token_key}' "
            f"http://127.0.0.1:8000/api/v1/runs/{run.id}/results/"
        )
        out("  API docs:                       http://127.0.0.1:8000/api/v1/docs/")
