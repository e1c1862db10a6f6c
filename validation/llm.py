"""Asking the LLM backend the held-out respondents' question, as personas with their own profile.

Each held-out respondent becomes an unsaved persona with the respondent's age, sex,
race/ethnicity, education, income and state (its area), and goes through the persona engine
(`personas.engine.engine.PersonaEngine`, as the LLM backend runs it) with the poll question as the
one item. The engine's poll grounding is switched off: it would show the model the held-out
respondents' own answers. Respondents missing their state, age or one of sex, race/ethnicity,
education and income cannot be personas (the engine needs each) and are not asked; personas the
engine fails on are counted and left out of every method's scores.

The persona's answer is its forecast: one-hot on the option chosen (or the answer's own option
probabilities when the engine reports them).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pandas as pd

from config.errors import DomainError
from environment.categories import AGE_BRACKETS, DIMENSIONS

LLM_METHOD = "llm"
LLM_LABEL = (
    "llm: the LLM backend (persona engine) asked as each held-out respondent, with their "
    "demographics and state; its answer is its forecast"
)
MAX_PERSONAS = 500


@dataclass
class LLMPrediction:
    rows: np.ndarray  # positions in the held-out frame that were answered
    probabilities: np.ndarray  # answered rows × options
    about: dict


def _bracket(age: int) -> str:
    for bracket, (lo, hi) in AGE_BRACKETS.items():
        if lo <= age <= hi:
            return bracket
    return ""


def llm_config_checked(raw: dict) -> object:
    """The LLM backend's own validation of a run config (provider, model, API key)."""
    from studies.backends.base import BackendConfigError
    from studies.backends.llm import parse_config

    try:
        config = parse_config(raw)
    except BackendConfigError as error:
        raise DomainError(
            str(error), code="invalid_llm_config", fields={"llm": [str(error)]}
        ) from None
    return config


class _PollItem:
    """The held-out question as an unsaved single-choice study item: the persona engine reads
    an item's fields and methods (delegated to `Item`) and `options.all()`, the poll's options."""

    def __init__(self, question, options: list) -> None:
        from studies.models import Item

        self._item = Item(
            id=question.id, code=question.code, text=question.text, type=Item.Type.SINGLE_CHOICE
        )
        self.options = SimpleNamespace(all=lambda: options)

    def __getattr__(self, name: str):
        return getattr(self._item, name)


def llm_predict(
    question, test: pd.DataFrame, option_ids: list[int], *, config: dict, limit: int, seed: int
) -> LLMPrediction:
    """Ask up to `limit` held-out respondents (a seeded sample of those who can be personas)."""
    from environment.models import Area
    from personas.engine.engine import PersonaEngine
    from personas.models import Persona
    from studies.models import Study

    parsed = llm_config_checked(config)
    engine_options = parsed.engine.model_copy(update={"grounding_questions": 0})  # type: ignore[attr-defined]
    states = Area.objects.filter(kind=Area.Kind.STATE, state__in=set(test["state"]) - {""})
    area_of = {a.state: a for a in states}
    # A persona has every census dimension: respondents missing one cannot be asked as one.
    can_be_persona = test["state"].isin(list(area_of)) & test["age_min"].notna()
    for dimension in ("sex", "race_ethnicity", "education", "income"):
        can_be_persona &= test[dimension].isin(list(DIMENSIONS[dimension]))
    eligible = np.flatnonzero(can_be_persona.to_numpy())
    rng = np.random.default_rng(seed)
    asked = np.sort(rng.permutation(eligible)[:limit])
    options = list(question.options.order_by("order", "id"))
    item = _PollItem(question, options)
    study = Study(
        title=f"Validation of {question.poll.slug}:{question.code}", description=question.text
    )
    engine = PersonaEngine(config=parsed.llm, study=study, items=[item], options=engine_options)  # type: ignore[attr-defined]
    codes = [o.code for o in options]
    rows, forecasts, failures = [], [], {}
    for index, position in enumerate(asked):
        r = test.iloc[position]
        age = int((r["age_min"] + r["age_max"]) // 2)
        persona = Persona(
            id=int(r["respondent_id"]), index=index, area=area_of[r["state"]], age=max(age, 18),
            age_bracket=_bracket(age), sex=r["sex"] or "", race_ethnicity=r["race_ethnicity"] or "",
            education=r["education"] or "", income=r["income"] or "", name="", profile=None,
        )  # fmt: skip
        result = engine.run(persona)
        draft = result.answers.get(question.id)
        if not result.ok or draft is None or draft.option_id is None:
            failures[int(r["respondent_id"])] = result.failure or "no answer"
            continue
        if draft.probabilities:
            vector = np.array([draft.probabilities.get(c, 0.0) for c in codes], dtype=float)
        else:
            vector = np.zeros(len(option_ids))
            vector[option_ids.index(draft.option_id)] = 1.0
        rows.append(position)
        forecasts.append(vector / vector.sum())
    if not rows:
        first = next(
            iter(failures.values()),
            (
                f"none of the {len(test)} held-out respondents has a state, an age and all "
                "of sex, race/ethnicity, education and income (a persona needs every one)"
            ),
        )
        raise DomainError(
            f"The LLM answered none of the {len(asked)} held-out respondents asked: {first}",
            code="llm_validation_failed",
        )
    return LLMPrediction(
        rows=np.array(rows),
        probabilities=np.stack(forecasts),
        about={
            "provider": parsed.llm.provider,  # type: ignore[attr-defined]
            "model": parsed.llm.model,  # type: ignore[attr-defined]
            "asked": len(asked),
            "answered": len(rows),
            "failed": len(failures),
            "failures": dict(list(failures.items())[:20]),
            "not_personas": int(len(test) - len(eligible)),
            "not_personas_reason": "no state, age, or one of sex, race/ethnicity, education, "
            "income recorded",
            "grounding": "off (it would show the held-out answers)",
        },
    )
