"""The offline backend, first version: answers drawn from the most similar poll respondents.

For a persona and an item linked to a poll question, the backend takes the respondents who answered
that question and share the persona's demographic cell (sex, race/ethnicity, age, education, income,
state — whichever the poll measured). While fewer than POLL_CELL_MIN_RESPONDENTS remain it widens the
cell by dropping dimensions in a fixed order, then draws one respondent with probability proportional
to survey weight and gives that respondent's answer. The draw is seeded by (run seed, persona, item),
so a re-delivered chunk gives the same answers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.conf import settings

from environment.categories import AGE_BRACKETS
from personas.models import Persona
from polls.cells import DIMENSION_NAMES, DROP_ORDER, MATCH_ORDER, persona_describe, persona_value
from polls.models import Response
from studies.backends.base import AnswerDraft, backend_register
from studies.models import Item, Run, Study


@dataclass
class _QuestionData:
    poll_title: str
    poll_year: int | None
    option_of_poll_option: dict[int, int]
    labels: dict[int, str]
    codes: dict[int, str]
    item_options: np.ndarray  # item option id per respondent
    weights: np.ndarray
    columns: dict[str, np.ndarray]
    age_min: np.ndarray
    age_max: np.ndarray
    dimensions: tuple[str, ...]  # dimensions this poll measured


@backend_register
class PollCellBackend:
    name = "poll_cell"
    label = "Offline: poll respondents of the same demographic cell"

    @classmethod
    def study_problems(cls, study: Study) -> list[str]:
        problems = []
        for item in study.items.all():
            if item.poll_question_id is None:
                problems.append(
                    f"Item '{item.code}' is not linked to a poll question, and the offline backend "
                    "answers only from real poll data: link it with poll_question (see "
                    "/api/v1/polls/) or choose another backend."
                )
                continue
            if not Response.objects.filter(question_id=item.poll_question_id).exists():
                problems.append(
                    f"Item '{item.code}' is linked to poll question {item.poll_question_id}, which "
                    "has no respondent answers to draw from."
                )
            unlinked = [o.code for o in item.options.all() if o.poll_option_id is None]
            if unlinked:
                problems.append(
                    f"Item '{item.code}' has options with no poll option behind them: "
                    f"{', '.join(unlinked)}."
                )
        return problems

    def __init__(self, run: Run, items: list[Item]) -> None:
        self.run = run
        self.min_cell = settings.POLL_CELL_MIN_RESPONDENTS
        self._data = {item.id: self._load(item) for item in items}
        self._mask_cache: dict[tuple, np.ndarray] = {}

    def _load(self, item: Item) -> _QuestionData:
        question = item.poll_question
        poll = question.poll
        option_of = {o.poll_option_id: o.id for o in item.options.all() if o.poll_option_id}
        rows = list(
            Response.objects.filter(question=question, option_id__in=list(option_of)).values_list(
                "option_id",
                "respondent__weight",
                "respondent__sex",
                "respondent__race_ethnicity",
                "respondent__education",
                "respondent__income",
                "respondent__state",
                "respondent__age_min",
                "respondent__age_max",
            )
        )
        if not rows:
            raise ValueError(f"poll question {question.id} has no usable respondent answers")
        arr = list(zip(*rows, strict=True))
        columns = {
            "sex": np.array(arr[2], dtype=object),
            "race_ethnicity": np.array(arr[3], dtype=object),
            "education": np.array(arr[4], dtype=object),
            "income": np.array(arr[5], dtype=object),
            "state": np.array(arr[6], dtype=object),
        }
        age_min = np.array([-1 if v is None else v for v in arr[7]])
        age_max = np.array([-1 if v is None else v for v in arr[8]])
        measured = [d for d, col in columns.items() if (col != "").any()]
        if (age_min >= 0).any():
            measured.append("age")
        return _QuestionData(
            poll_title=poll.title,
            poll_year=poll.year,
            option_of_poll_option=option_of,
            labels={o.id: o.label for o in item.options.all()},
            codes={o.id: o.code for o in item.options.all()},
            item_options=np.array([option_of[o] for o in arr[0]]),
            weights=np.array(arr[1], dtype=float),
            columns=columns,
            age_min=age_min,
            age_max=age_max,
            dimensions=tuple(d for d in MATCH_ORDER if d in measured),
        )

    def _mask(
        self, item_id: int, data: _QuestionData, dimension: str, persona: Persona
    ) -> np.ndarray:
        if dimension == "age":
            key = (item_id, "age", persona.age)
        else:
            key = (item_id, dimension, persona_value(persona, dimension))
        cached = self._mask_cache.get(key)
        if cached is not None:
            return cached
        if dimension == "age":
            lo, hi = AGE_BRACKETS[persona.age_bracket]
            in_range = (data.age_min <= persona.age) & (persona.age <= data.age_max)
            # A respondent with an exact age matches anywhere in the persona's census bracket.
            exact = (data.age_min == data.age_max) & (data.age_min >= lo) & (data.age_min <= hi)
            mask = (data.age_min >= 0) & (in_range | exact)
        else:
            value = key[2]
            col = data.columns[dimension]
            mask = np.fromiter(
                (value in v.split("|") if v else False for v in col), dtype=bool, count=len(col)
            )
        self._mask_cache[key] = mask
        return mask

    def answer(self, *, persona: Persona, item: Item) -> AnswerDraft:
        data = self._data[item.id]
        used = list(data.dimensions)
        dropped: list[str] = []
        while True:
            mask = np.ones(len(data.weights), dtype=bool)
            for dimension in used:
                mask &= self._mask(item.id, data, dimension, persona)
            count = int(mask.sum())
            if count >= self.min_cell or not used:
                break
            drop = next(d for d in DROP_ORDER if d in used)
            used.remove(drop)
            dropped.append(drop)
        if count == 0:  # cannot happen with at least one respondent, but say so if it does
            raise ValueError(f"no respondents to draw from for item {item.code}")

        weights = data.weights[mask]
        options = data.item_options[mask]
        rng = np.random.default_rng([int(self.run.seed), int(persona.id), int(item.id)])
        chosen = int(options[rng.choice(len(weights), p=weights / weights.sum())])
        shares = {
            data.codes[o]: float(weights[options == o].sum() / weights.sum()) for o in data.labels
        }
        cell = (
            ", ".join(f"{DIMENSION_NAMES[d]} {persona_describe(persona, d)}" for d in used)
            or "no demographic filter"
        )
        year = f", {data.poll_year}" if data.poll_year else ""
        reasoning = (
            f"Drawn from {count} respondents of {data.poll_title}{year} who match this persona on "
            f"{cell}. In that cell {shares[data.codes[chosen]]:.0%} (weighted) answered "
            f"'{data.labels[chosen]}'."
        )
        if dropped:
            reasoning += (
                " Cell widened to reach at least "
                f"{self.min_cell} respondents by ignoring {', '.join(DIMENSION_NAMES[d] for d in dropped)}."
            )
        return AnswerDraft(option_id=chosen, reasoning=reasoning, probabilities=shares)
