"""Writes for studies: creating a study with its items and options."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.template import Engine, TemplateSyntaxError

from config.errors import DomainError
from personas.engine.prompts import TEMPLATE_NAMES
from polls.models import Question
from studies.models import Item, ItemOption, Study


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


def prompt_template_problems(templates: dict[str, str]) -> list[str]:
    """What is wrong with a study's own prompt templates: unknown steps, or text that is not a
    valid Django template (the persona engine renders them with Django's template language)."""
    problems = []
    for name, text in templates.items():
        if name not in TEMPLATE_NAMES:
            problems.append(
                f"'{name}' is not a step; a study may supply: {', '.join(TEMPLATE_NAMES)}."
            )
        elif not isinstance(text, str) or not text.strip():
            problems.append(f"'{name}' must be non-empty template text.")
        else:
            try:
                Engine(autoescape=False).from_string(text)
            except TemplateSyntaxError as exc:
                problems.append(f"'{name}' is not a valid template: {exc}.")
    return problems


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
    think_aloud: bool = False,
    time_on_task: bool = False,
    prompt_templates: dict[str, str] | None = None,
    universe: str = Study.Universe.QUESTION,
    allow_foreign_polls: bool = False,
    created_by=None,
) -> Study:
    """Create a study with its single-choice items and options, all or nothing."""
    prompt_templates = prompt_templates or {}
    problems = prompt_template_problems(prompt_templates)
    if problems:
        raise DomainError(
            "prompt_templates: " + " ".join(problems),
            code="invalid_prompt_templates",
            fields={"prompt_templates": problems},
        )
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
        title=title,
        description=description,
        kind=kind,
        think_aloud=think_aloud,
        time_on_task=time_on_task,
        prompt_templates=prompt_templates,
        universe=universe,
        allow_foreign_polls=allow_foreign_polls,
        created_by=created_by,
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


# The platform's populations are drawn from US census tables.
POPULATION_COUNTRY = "US"


def study_foreign_poll_problems(study: Study) -> list[str]:
    """Items grounded in a poll of another country than the personas', unless the study allows it
    (whatever the backend: their answers would describe another country's people)."""
    if study.allow_foreign_polls:
        return []
    problems = []
    for item in study.items.select_related("poll_question__poll"):
        question = item.poll_question
        if question is not None and question.poll.country != POPULATION_COUNTRY:
            problems.append(
                f"Item '{item.code}' is grounded in '{question.poll.title}', a poll of country "
                f"{question.poll.country}, and the personas are drawn from {POPULATION_COUNTRY} "
                "census tables: its answers would describe another country's people. Link a "
                f"{POPULATION_COUNTRY} poll's question, or set allow_foreign_polls on the study if "
                "that is what you mean."
            )
    return problems
