"""Writes for studies: creating a study with its items (of every type), options, conditions,
participant criteria and quotas, all validated before anything is stored."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from django.db import transaction
from django.template import Engine, TemplateSyntaxError

from config.errors import DomainError
from personas.engine.prompts import TEMPLATE_NAMES
from polls.models import Question
from studies.models import Condition, Item, ItemOption, Study
from studies.selection import balance_problems, quota_problems, rule_problems


@dataclass(frozen=True)
class OptionSpec:
    code: str
    label: str
    #: Likert: the option's point on the scale (default: its position, 1..n).
    value: float | None = None
    #: Poll-linked items: the code of the poll option this option stands for (default: its own
    #: code), so a Likert item's points map explicitly onto an ordinal poll question's answers.
    poll_option: str | None = None


@dataclass(frozen=True)
class ItemSpec:
    code: str
    text: str
    poll_question_id: int | None = None
    options: list[OptionSpec] = field(default_factory=list)
    type: str = Item.Type.SINGLE_CHOICE
    variants: dict[str, str] = field(default_factory=dict)
    min_value: float | None = None
    max_value: float | None = None
    unit: str = ""
    max_choices: int | None = None


@dataclass(frozen=True)
class ConditionSpec:
    code: str
    label: str
    stimulus: str = ""


# Item types a poll question (always a single choice among its options) can ground.
POLL_GROUNDED_TYPES = frozenset({Item.Type.SINGLE_CHOICE, Item.Type.LIKERT})


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
    if spec.type not in Item.WITH_OPTIONS:
        return []  # _item_problems refused a poll question or options on such an item
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
        if spec.type == Item.Type.LIKERT:
            unordered = [o.code for o in poll_options.values() if o.ordinal_value is None]
            if unordered:
                raise DomainError(
                    f"{where}: poll question {question.id} is not an ordinal scale (option(s) "
                    f"{', '.join(unordered)} have no position on one), so it cannot ground a "
                    "Likert item by itself: give the item's options with their values and the "
                    "poll_option each stands for.",
                    code="poll_question_not_ordinal",
                    fields={f"items[{position}].options": ["map them onto the poll's options"]},
                )
            return [
                (OptionSpec(o.code, o.label, value=o.ordinal_value), o.id)
                for o in sorted(poll_options.values(), key=lambda o: o.ordinal_value or 0)
            ]
        return [(OptionSpec(o.code, o.label), o.id) for o in poll_options.values()]
    targets = [o.poll_option or o.code for o in spec.options]
    unknown = [t for t in targets if t not in poll_options]
    if unknown:
        raise DomainError(
            f"{where}: option code(s) {', '.join(unknown)} are not options of poll question "
            f"{question.id} ({', '.join(poll_options)}); use those codes (or map each option to "
            "one with poll_option) or omit options.",
            code="unknown_option",
            fields={f"items[{position}].options": [f"unknown code {u}" for u in unknown]},
        )
    if len(set(targets)) != len(targets):
        raise DomainError(
            f"{where}: two options map to the same poll option; map each to a different one.",
            code="unknown_option",
            fields={f"items[{position}].options": ["poll option mapped twice"]},
        )
    return [(o, poll_options[t].id) for o, t in zip(spec.options, targets, strict=True)]


def _item_problems(spec: ItemSpec, position: int, conditions: set[str]) -> dict[str, list[str]]:
    """What is wrong with an item's type-specific fields, by API field name."""
    problems: dict[str, list[str]] = {}
    if spec.type not in Item.Type.values:
        found = [("type", f"unknown type '{spec.type}'; use one of {', '.join(Item.Type.values)}")]
    else:
        found = _option_problems(spec) + _bound_problems(spec)
        if spec.poll_question_id is not None and spec.type not in POLL_GROUNDED_TYPES:
            found.append(
                (
                    "poll_question",
                    f"a {Item.Type(spec.type).label.lower()} item cannot be grounded in a poll "
                    "question, which is a single choice among its options: only single-choice "
                    "and Likert items can. Remove poll_question (the LLM backend answers it) or "
                    "make the item one of those types",
                )
            )
    unknown = sorted(set(spec.variants) - conditions)
    if unknown:
        found.append(
            (
                "variants",
                f"{', '.join(unknown)} not a condition of the study"
                + (f" ({', '.join(sorted(conditions))})" if conditions else " (it has none)"),
            )
        )
    for name, message in found:
        problems.setdefault(f"items[{position}].{name}", []).append(message)
    return problems


def _option_problems(spec: ItemSpec) -> list[tuple[str, str]]:
    kind, found = spec.type, []
    if kind in Item.WITH_OPTIONS:
        if spec.poll_question_id is None and len(spec.options) < 2:
            found.append(
                ("options", "needs at least two options, or a poll_question whose options it takes")
            )
    elif spec.options:
        found.append(("options", f"a {kind} item has no options"))
    values = [o.value for o in spec.options]
    given = [v for v in values if v is not None]
    if kind != Item.Type.LIKERT and given:
        found.append(
            ("options", "option values are Likert scale points; this item is not a Likert item")
        )
    elif given and len(given) != len(values):
        found.append(("options", "give every Likert point a value, or none (they are then 1..n)"))
    elif any(b <= a for a, b in itertools.pairwise(given)):
        found.append(("options", "Likert values must increase from the first option to the last"))
    return found


def _bound_problems(spec: ItemSpec) -> list[tuple[str, str]]:
    kind, found = spec.type, []
    if kind == Item.Type.NUMERIC:
        if spec.min_value is None or spec.max_value is None:
            found.append(("min_value", "a numeric item needs min_value and max_value (its bounds)"))
        elif spec.min_value >= spec.max_value:
            found.append(("max_value", f"must be above min_value ({spec.min_value})"))
    elif spec.min_value is not None or spec.max_value is not None or spec.unit:
        found.append(("min_value", "bounds and unit belong to numeric items only"))
    if spec.max_choices is not None:
        if kind != Item.Type.MULTIPLE_CHOICE:
            found.append(("max_choices", "belongs to multiple-selection items only"))
        elif spec.max_choices < 1 or (spec.options and spec.max_choices > len(spec.options)):
            found.append(
                (
                    "max_choices",
                    f"must be between 1 and the number of options ({len(spec.options)})",
                )
            )
    return found


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
    conditions: list[ConditionSpec] | None = None,
    assignment: str = Study.Assignment.RANDOM,
    balance_on: list[str] | None = None,
    inclusion: list[dict] | None = None,
    exclusion: list[dict] | None = None,
    quotas: dict[str, dict[str, int]] | None = None,
    depth: str = Study.Depth.STANDARD,
    behavioral_measures: list[str] | None = None,
    created_by=None,
) -> Study:
    """Create a study with its items, options and conditions, all or nothing."""
    prompt_templates = prompt_templates or {}
    conditions = conditions or []
    balance_on, inclusion, exclusion = balance_on or [], inclusion or [], exclusion or []
    quotas, behavioral_measures = quotas or {}, behavioral_measures or []
    problems = prompt_template_problems(prompt_templates)
    if problems:
        raise DomainError(
            "prompt_templates: " + " ".join(problems),
            code="invalid_prompt_templates",
            fields={"prompt_templates": problems},
        )
    design = _design_problems(
        conditions=conditions,
        assignment=assignment,
        balance_on=balance_on,
        inclusion=inclusion,
        exclusion=exclusion,
        quotas=quotas,
        behavioral_measures=behavioral_measures,
    )
    if design:
        raise DomainError(
            " ".join(m for messages in design.values() for m in messages),
            code="invalid_design",
            fields=design,
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
    condition_codes = {c.code for c in conditions}
    item_problems: dict[str, list[str]] = {}
    for pos, spec in enumerate(items):
        item_problems |= _item_problems(spec, pos, condition_codes)
    if item_problems:
        raise DomainError(
            "; ".join(f"{k}: {', '.join(v)}" for k, v in item_problems.items()) + ".",
            code="invalid_item",
            fields=item_problems,
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
        assignment=assignment,
        balance_on=balance_on,
        inclusion=inclusion,
        exclusion=exclusion,
        quotas=quotas,
        depth=depth,
        behavioral_measures=behavioral_measures,
        created_by=created_by,
    )
    Condition.objects.bulk_create(
        [
            Condition(study=study, order=i, code=c.code, label=c.label, stimulus=c.stimulus)
            for i, c in enumerate(conditions)
        ]
    )
    for order, (spec, options) in enumerate(planned):
        item = Item.objects.create(
            study=study,
            order=order,
            code=spec.code,
            type=spec.type,
            text=spec.text,
            variants=spec.variants,
            min_value=spec.min_value,
            max_value=spec.max_value,
            unit=spec.unit,
            max_choices=spec.max_choices,
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
                    item=item,
                    order=i,
                    code=o.code,
                    label=o.label,
                    value=(o.value if o.value is not None else i + 1)
                    if spec.type == Item.Type.LIKERT
                    else None,
                    poll_option_id=poll_option,
                )
                for i, (o, poll_option) in enumerate(options)
            ]
        )
    return study


BEHAVIORAL_MEASURES = ("errors", "hesitations", "abandonment")


def _design_problems(
    *,
    conditions: list[ConditionSpec],
    assignment: str,
    balance_on: list[str],
    inclusion: list[dict],
    exclusion: list[dict],
    quotas: dict,
    behavioral_measures: list[str],
) -> dict[str, list[str]]:
    """What is wrong with a study's conditions, criteria, quotas and measures, by field."""
    problems: dict[str, list[str]] = {}
    codes = [c.code for c in conditions]
    if len(conditions) == 1:
        problems["conditions"] = ["a study with conditions needs at least two (e.g. control, A)."]
    elif len(set(codes)) != len(codes):
        problems["conditions"] = ["condition codes must be unique."]
    if assignment not in Study.Assignment.values:
        problems["assignment"] = [f"use one of {', '.join(Study.Assignment.values)}."]
    if balance_on and assignment != Study.Assignment.BALANCED:
        problems["balance_on"] = ["balance_on applies to a balanced assignment only."]
    for name, found in (
        ("balance_on", balance_problems(balance_on)),
        ("inclusion", rule_problems(inclusion, "inclusion")),
        ("exclusion", rule_problems(exclusion, "exclusion")),
        ("quotas", quota_problems(quotas)),
    ):
        if found:
            problems.setdefault(name, []).extend(found)
    unknown = [m for m in behavioral_measures if m not in BEHAVIORAL_MEASURES]
    if unknown:
        problems["behavioral_measures"] = [
            f"{', '.join(unknown)} not a measure; use any of {', '.join(BEHAVIORAL_MEASURES)} "
            "(time on task has its own switch, time_on_task)."
        ]
    return problems


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
