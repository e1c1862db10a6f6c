"""What the persona engine's prompts show of one study: each item as a condition shows it (its
wording there, its options, how to answer), the condition itself, what every prompt of a condition
shares, and each step's messages rendered from its template (`personas.engine.prompts`, rendered
by `personas.engine.render`).
"""

from __future__ import annotations

from typing import Any

from llm.types import Message
from personas.engine.episodes import (
    NEUTRAL_BAND,
    VALENCE_MIX,
    VALENCE_RULES,
    episode_range,
    level_for,
)
from personas.engine.prompts import template_engine, template_sources
from personas.engine.render import PromptTemplate
from personas.engine.schemas import ItemShape

# How each item type asks for its answer (the participation prompt shows it under the item).
INSTRUCTIONS = {
    "single_choice": "Answer with one option code.",
    "likert": "Answer with the option code of one point of the scale.",
    "multiple_choice": "Choose every option that applies: a list of 1 to {most} option codes.",
    "ranking": "Rank all the options: a list of every option code, your first choice first.",
    "numeric": "Answer with {bounds}.",
    "free_text": "Answer in your own words.",
}


def _item_view(item: Any, condition_code: str | None) -> dict:
    """How the prompts show an item in a condition: its wording there, its options (Likert points
    with their scale value and anchor) and how to answer."""
    options = list(item.options.all())
    shown = []
    for position, o in enumerate(options, start=1):
        display = o.label
        if item.type == "likert":
            point = o.value if o.value is not None else position
            display = f"{point:g} = {o.label}"
        shown.append({"id": o.id, "code": o.code, "label": o.label, "display": display})
    most = min(item.max_choices or len(options), len(options))
    instruction = INSTRUCTIONS.get(item.type, INSTRUCTIONS["single_choice"]).format(
        most=most, bounds=item_shape(item).bounds_text() if item.type == "numeric" else ""
    )
    return {
        "id": item.id,
        "code": item.code,
        "type": item.type,
        "type_label": item.get_type_display(),
        "text": item.text_for(condition_code),
        "instruction": instruction,
        "unit": item.unit,
        "options": shown,
    }


def item_shape(item: Any) -> ItemShape:
    return ItemShape(
        code=item.code,
        type=item.type,
        options=tuple(o.code for o in item.options.all()),
        min_value=item.min_value,
        max_value=item.max_value,
        unit=item.unit or "",
        max_choices=item.max_choices,
    )


def _condition_view(condition: Any) -> dict | None:
    if condition is None:
        return None
    return {"code": condition.code, "label": condition.label, "stimulus": condition.stimulus}


class StudyPrompts:
    """A study's step prompts for one run: its templates compiled and its items' views per
    condition, built once; read-only after construction but for the per-condition parts, each
    built once when first needed."""

    def __init__(
        self,
        *,
        study: Any,
        items: list[Any],
        conditions: list[Any],
        scenario: str,
        depth: str,
        measures: tuple,
    ) -> None:
        self.study = study
        self.scenario = scenario
        self.depth = depth
        self.measures = measures
        engine = template_engine()
        self.templates = {
            name: PromptTemplate(engine.from_string(text))
            for name, text in template_sources(study.prompt_templates).items()
        }
        # The items as each condition shows them (None: no condition), built once for the run.
        self.item_views = {
            code: [_item_view(item, code) for item in items]
            for code in [None, *(c.code for c in conditions)]
        }
        self.item_view = self.item_views[None]
        self._shared_by_condition: dict[str | None, dict] = {}
        # The system prompt sees only the study, so it is the same for every call of the run.
        self.system = self.render("system")

    def _shared(self, condition: Any) -> dict:
        """What every prompt in the condition shows (the study, its items), built once each."""
        code = condition.code if condition is not None else None
        shared = self._shared_by_condition.get(code)
        if shared is None:
            shared = {
                "study_title": self.study.title,
                "study_kind": self.study.get_kind_display(),
                "scenario": self.scenario,
                "items": self.item_views.get(code, self.item_view),
                "condition": _condition_view(condition),
                "think_aloud": self.study.think_aloud,
                "time_on_task": self.study.time_on_task,
                "measures": self.measures,
                "depth": self.depth,
            }
            self._shared_by_condition[code] = shared
        return shared

    def render(self, name: str, condition: Any = None, **values: Any) -> str:
        code = condition.code if condition is not None else None
        # The same for every call in this condition; plain text, nothing HTML-escaped (a Context
        # escapes by default, whatever its engine says: "don't" became "don&#x27;t" until
        # 2026-12-07). See `personas.engine.render`.
        return self.templates[name].render(self._shared(condition), values, shape=code)

    def messages(self, name: str, condition: Any = None, **values: Any) -> list[Message]:
        return [
            {"role": "system", "content": self.system},
            {"role": "user", "content": self.render(name, condition, **values)},
        ]

    def experience_values(self, proficiency: str | None) -> dict:
        """What the experience prompt says of the episodes: how many, and the level's mix."""
        level = level_for(proficiency)
        lo, hi = episode_range(level, self.depth)
        return {
            "min_episodes": lo,
            "max_episodes": hi,
            "proficiency": level,
            "valence_mix": VALENCE_MIX[level],
            "valence_rule": VALENCE_RULES[level],
            "neutral_band": NEUTRAL_BAND,
        }
