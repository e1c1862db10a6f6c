"""Run a study over a population from the shell, with a progress bar."""

from __future__ import annotations

import json as jsonlib
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.core.management.base import BaseCommand

from config.cli import (
    BarReporter,
    ExitCode,
    ProgressBar,
    command_user,
    fail,
    lookup,
    refused,
    scoped,
    write_json,
)
from config.errors import DomainError
from personas.models import Population
from studies.backends.registry import BACKENDS
from studies.models import Run, Study
from studies.pipeline import run_execute
from studies.services import run_start


def run_summary(run: Run) -> dict:
    """A run's status and its headline: each item's overall option shares with intervals."""
    items = []
    for item in (run.results or {}).get("items", []):
        items.append(
            {
                "code": item["code"],
                "n": item.get("n"),
                "options": [
                    {k: o.get(k) for k in ("code", "label", "count", "share", "ci_low", "ci_high")}
                    for o in item.get("options", [])
                ],
            }
        )
    return {
        "id": run.id,
        "study": run.study_id,
        "population": run.population_id,
        "backend": run.backend,
        "seed": run.seed,
        "status": run.status,
        "personas_total": run.personas_total,
        "personas_done": run.personas_done,
        "personas_failed": run.personas_failed,
        "error_message": run.error_message,
        "items": items,
    }


def parse_backend_config(text: str | None) -> dict:
    """`--backend-config`: JSON text, or @FILE holding it; an object, else exit 4 saying why."""
    if not text:
        return {}
    source = "--backend-config"
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            text = path.read_text()
        except OSError as exc:
            raise fail(f"Cannot read {path}: {exc.strerror}.", ExitCode.NOT_FOUND) from exc
        source = str(path)
    try:
        config = jsonlib.loads(text)
    except ValueError as exc:
        raise fail(f"{source} is not valid JSON: {exc}.", ExitCode.INVALID) from exc
    if not isinstance(config, dict):
        raise fail(
            f'{source} must be a JSON object, like \'{{"llm": {{"model": ...}}}}\'.',
            ExitCode.INVALID,
        )
    return config


def parse_budget(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        budget = Decimal(text)
    except InvalidOperation as exc:
        raise fail(
            f"--budget must be a number, like 2.50; got {text!r}.", ExitCode.INVALID
        ) from exc
    if not budget.is_finite() or budget <= 0:
        raise fail(f"--budget must be a positive amount; got {text!r}.", ExitCode.INVALID)
    return budget


def run_in_foreground(run: Run, *, stream) -> Run:
    """Work through a run started with the ``caller`` executor, drawing its progress."""
    bar = ProgressBar(f"Run {run.id}", run.personas_total, stream=stream)
    run = run_execute(run_id=run.id, reporter=BarReporter(bar))
    bar.finish(run.status)
    return run


class Command(BaseCommand):
    help = (
        "Start a run of a study over a population and work through it here, with a progress "
        "bar (on stderr). Prints the results' headline; --json the run. Exits 5 when the run "
        "does not complete."
    )

    def add_arguments(self, parser):
        parser.add_argument("--study", type=int, required=True)
        parser.add_argument("--population", type=int, required=True)
        parser.add_argument("--backend", default="poll_model", choices=sorted(BACKENDS))
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument("--chunk-size", type=int, default=None)
        parser.add_argument(
            "--backend-config",
            help="the backend's configuration as JSON, or @FILE to read it from a file "
            '(the API\'s backend_config, e.g. \'{"llm": {"provider": "openai", "model": "gpt-4o-mini"}}\')',
        )
        parser.add_argument(
            "--budget", help="the most the run may spend, in the model price's currency (LLM runs)"
        )
        parser.add_argument("--user", help="act as this user (their objects only)")
        parser.add_argument("--json", action="store_true")

    def handle(
        self,
        *args,
        study,
        population,
        backend,
        seed,
        chunk_size,
        backend_config,
        budget,
        user,
        json,
        **options,
    ):
        owner = command_user(user)
        config = parse_backend_config(backend_config)
        limit = parse_budget(budget)
        study_obj = lookup(scoped(Study.objects.all(), owner), study, "study")
        population_obj = lookup(scoped(Population.objects.all(), owner), population, "population")
        try:
            run = run_start(
                study=study_obj,
                population=population_obj,
                backend=backend,
                seed=seed,
                chunk_size=chunk_size,
                backend_config=config,
                budget=limit,
                created_by=owner,
                executor="caller",
            )
        except DomainError as exc:
            raise refused(exc) from exc
        run = run_in_foreground(run, stream=self.stderr)
        summary = run_summary(run)
        if json:
            write_json(self.stdout, summary)
        else:
            self.stdout.write(f"Run {run.id} {run.status}: {run.personas_done} personas")
            for item in summary["items"]:
                shares = ", ".join(
                    f"{o['label']} {100 * o['share']:.1f}% ({100 * o['ci_low']:.1f}–"
                    f"{100 * o['ci_high']:.1f})"
                    for o in item["options"]
                    if o.get("share") is not None
                )
                self.stdout.write(f"  {item['code']}: {shares}")
        if run.status != Run.Status.COMPLETED:
            raise fail(
                f"Run {run.id} ended {run.status}: {run.error_message or 'no reason stored'}",
                ExitCode.RUN_NOT_COMPLETED,
            )
