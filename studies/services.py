"""Writes for studies and runs: creating studies, starting, processing, finishing and cancelling runs."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Count, F
from django.db.models.functions import Least
from django.utils import timezone

from config.api import ConflictError, DomainError
from personas.models import Persona, Population
from polls.models import Question
from studies.backends.base import backend_get, backend_names
from studies.models import Answer, Item, ItemOption, Run, Study
from studies.progress import Reporter
from studies.results import run_results_compute

logger = logging.getLogger(__name__)

ANSWER_BATCH = 50  # personas written per transaction
CANCEL_CHECK_SECONDS = 0.5


@dataclass(frozen=True)
class OptionSpec:
    code: str
    label: str


@dataclass(frozen=True)
class ItemSpec:
    code: str
    text: str
    poll_question_id: int | None = None
    options: list[OptionSpec] = field(default_factory=list)


def _item_options(spec: ItemSpec, position: int) -> list[tuple[OptionSpec, int | None]]:
    where = f"items[{position}] ('{spec.code}')"
    if spec.poll_question_id is None:
        if len(spec.options) < 2:
            raise DomainError(
                f"{where} needs at least two options, or a poll_question whose options it takes.",
                code="item_without_options",
                fields={f"items[{position}].options": ["needs at least two options"]},
            )
        return [(o, None) for o in spec.options]
    question = Question.objects.filter(id=spec.poll_question_id).prefetch_related("options").first()
    if question is None:
        raise DomainError(
            f"{where}: poll question {spec.poll_question_id} does not exist; find question ids at "
            "/api/v1/polls/<id>/.",
            code="unknown_poll_question",
            fields={f"items[{position}].poll_question": ["unknown poll question"]},
        )
    poll_options = {o.code: o for o in question.options.all()}
    if not spec.options:
        return [(OptionSpec(o.code, o.label), o.id) for o in poll_options.values()]
    unknown = [o.code for o in spec.options if o.code not in poll_options]
    if unknown:
        raise DomainError(
            f"{where}: option code(s) {', '.join(unknown)} are not options of poll question "
            f"{question.id} ({', '.join(poll_options)}); use those codes or omit options.",
            code="unknown_option",
            fields={f"items[{position}].options": [f"unknown code {u}" for u in unknown]},
        )
    return [(o, poll_options[o.code].id) for o in spec.options]


@transaction.atomic
def study_create(
    *,
    title: str,
    description: str = "",
    kind: str = Study.Kind.POLICY_SUPPORT,
    items: list[ItemSpec],
    created_by=None,
) -> Study:
    """Create a study with its single-choice items and options, all or nothing."""
    if not items:
        raise DomainError(
            "A study needs at least one item (a question to ask the personas).",
            code="study_without_items",
            fields={"items": ["empty"]},
        )
    codes = [i.code for i in items]
    if len(set(codes)) != len(codes):
        raise DomainError(
            "Item codes must be unique within a study.", fields={"items": ["duplicate code"]}
        )
    planned = [(spec, _item_options(spec, pos)) for pos, spec in enumerate(items)]
    study = Study.objects.create(
        title=title, description=description, kind=kind, created_by=created_by
    )
    for order, (spec, options) in enumerate(planned):
        item = Item.objects.create(
            study=study,
            order=order,
            code=spec.code,
            text=spec.text,
            poll_question_id=spec.poll_question_id,
        )
        option_codes = [o.code for o, _ in options]
        if len(set(option_codes)) != len(option_codes):
            raise DomainError(
                f"items[{order}] ('{spec.code}') repeats an option code.",
                fields={f"items[{order}].options": ["duplicate code"]},
            )
        ItemOption.objects.bulk_create(
            [
                ItemOption(
                    item=item, order=i, code=o.code, label=o.label, poll_option_id=poll_option
                )
                for i, (o, poll_option) in enumerate(options)
            ]
        )
    return study


def run_start(
    *,
    study: Study,
    population: Population,
    backend: str = "poll_cell",
    seed: int | None = None,
    chunk_size: int | None = None,
    created_by=None,
    executor: str | None = None,
) -> Run:
    """Create a queued run and, once committed, hand its chunks to the executor.

    `executor` overrides settings.RUN_EXECUTOR (the demo command runs inline).
    """
    from studies.dispatch import run_dispatch

    try:
        backend_cls = backend_get(backend)
    except KeyError:
        raise DomainError(
            f"Unknown backend '{backend}'; available: {', '.join(backend_names())}.",
            code="unknown_backend",
            fields={"backend": ["unknown backend"]},
        ) from None
    problems = backend_cls.study_problems(study)
    if problems:
        raise DomainError(
            "The backend refuses this study: " + " ".join(problems),
            code="backend_refused",
            fields={"study": problems},
        )
    chunk_size = chunk_size or settings.RUN_CHUNK_SIZE
    if chunk_size < 1:
        raise DomainError("chunk_size must be at least 1.", fields={"chunk_size": ["must be >= 1"]})
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**63))
    with transaction.atomic():
        run = Run.objects.create(
            study=study,
            population=population,
            backend=backend,
            seed=seed,
            personas_total=population.personas.count(),
            chunk_size=chunk_size,
            created_by=created_by,
        )
        transaction.on_commit(lambda: run_dispatch(run_id=run.id, executor=executor))
    return run


def run_resume(*, run: Run, executor: str | None = None) -> Run:
    """Hand an unfinished run to the executor again; chunks skip the personas already answered.

    For runs whose worker or web process died (e.g. the embedded default's server was stopped).
    """
    from studies.dispatch import run_dispatch

    if run.is_finished:
        raise ConflictError(
            f"Run {run.id} is already {run.status}; only queued or running runs can be resumed.",
            code="run_finished",
        )
    transaction.on_commit(lambda: run_dispatch(run_id=run.id, executor=executor))
    return run


def run_chunks(*, run: Run) -> list[tuple[int, int]]:
    """Half-open persona index ranges, one per chunk task."""
    return [
        (start, min(start + run.chunk_size, run.personas_total))
        for start in range(0, run.personas_total, run.chunk_size)
    ]


def _is_cancelled(run_id: int) -> bool:
    # Any finished state stops a chunk: cancelled, or failed (or completed) by another worker.
    return Run.objects.filter(id=run_id, status__in=Run.FINISHED).exists()


def run_process_chunk(*, run_id: int, start: int, end: int, reporter: Reporter) -> int:
    """Answer every item for the personas with index in [start, end); skip work already stored.

    Returns the number of personas newly answered. Safe to call twice for the same chunk.
    """
    run = Run.objects.select_related("study", "population").get(id=run_id)
    if run.is_finished:
        return 0
    Run.objects.filter(id=run_id, status=Run.Status.QUEUED).update(
        status=Run.Status.RUNNING, started_at=timezone.now()
    )
    items = list(
        Item.objects.filter(study_id=run.study_id)
        .select_related("poll_question__poll")
        .prefetch_related("options")
    )
    personas = list(
        Persona.objects.filter(population_id=run.population_id, index__gte=start, index__lt=end)
        .select_related("area")
        .order_by("index")
    )
    finished = set(
        Answer.objects.filter(run_id=run_id, persona__in=personas)
        .values("persona_id")
        .annotate(n=Count("id"))
        .filter(n=len(items))
        .values_list("persona_id", flat=True)
    )
    todo = [p for p in personas if p.id not in finished]
    if not todo:
        return 0
    backend = backend_get(run.backend)(run, items)

    written = 0
    pending: list[Answer] = []
    pending_personas = 0
    last_check = time.monotonic()

    def flush() -> None:
        nonlocal pending, pending_personas, written
        if not pending_personas:
            return
        with transaction.atomic():
            Answer.objects.bulk_create(pending, ignore_conflicts=True)
            Run.objects.filter(id=run_id).update(
                personas_done=Least(F("personas_done") + pending_personas, F("personas_total"))
            )
        written += pending_personas
        pending, pending_personas = [], 0
        current = Run.objects.values_list("status", "personas_done", "personas_total").get(
            id=run_id
        )
        reporter.progress(status=current[0], done=current[1], total=current[2])

    for persona in todo:
        if time.monotonic() - last_check > CANCEL_CHECK_SECONDS:
            last_check = time.monotonic()
            if _is_cancelled(run_id):
                flush()
                return written
        for item in items:
            draft = backend.answer(persona=persona, item=item)
            pending.append(
                Answer(
                    run_id=run_id,
                    persona=persona,
                    item=item,
                    option_id=draft.option_id,
                    reasoning=draft.reasoning,
                    probabilities=draft.probabilities,
                )
            )
        pending_personas += 1
        if pending_personas >= ANSWER_BATCH:
            flush()
    flush()
    return written


def run_finalize(*, run_id: int, reporter: Reporter) -> Run:
    """Aggregate the stored answers into results and mark the run completed."""
    run = Run.objects.get(id=run_id)
    if run.status in (Run.Status.FAILED, Run.Status.CANCELLED):
        return run
    results = run_results_compute(run=run)
    done = results["personas_answered"]
    updated = Run.objects.filter(
        id=run_id, status__in=[Run.Status.QUEUED, Run.Status.RUNNING]
    ).update(
        status=Run.Status.COMPLETED, personas_done=done, results=results, finished_at=timezone.now()
    )
    run.refresh_from_db()
    if updated:
        reporter.completion(status=run.status, done=run.personas_done, total=run.personas_total)
    return run


def run_fail(*, run_id: int, message: str, reporter: Reporter) -> None:
    """Record a failure with its message; a finished run keeps its final state."""
    updated = Run.objects.filter(
        id=run_id, status__in=[Run.Status.QUEUED, Run.Status.RUNNING]
    ).update(status=Run.Status.FAILED, error_message=message[:4000], finished_at=timezone.now())
    if updated:
        run = Run.objects.get(id=run_id)
        reporter.error(message=message, done=run.personas_done, total=run.personas_total)


def run_cancel(*, run: Run, reporter: Reporter) -> Run:
    """Stop a queued or running run; answers already stored are kept."""
    updated = Run.objects.filter(
        id=run.id, status__in=[Run.Status.QUEUED, Run.Status.RUNNING]
    ).update(status=Run.Status.CANCELLED, finished_at=timezone.now())
    run.refresh_from_db()
    if not updated:
        raise ConflictError(
            f"Run {run.id} is already {run.status} and cannot be cancelled.", code="run_finished"
        )
    reporter.completion(status=run.status, done=run.personas_done, total=run.personas_total)
    return run
