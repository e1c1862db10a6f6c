"""The offline backend: a multilevel regression fitted on the poll, poststratified by the personas.

For an item linked to a poll question, the backend takes the question's stored model (fitted once
per question, data and model version; `polls/model/`), predicts each persona's answer probabilities
from its demographics, its state's partially pooled effect and the state's area-level predictors,
and draws the persona's answer from them. The draw is seeded by (run seed, the persona's position in
its population, the item's position in the study), never a database id, so the same population
spec, seed and run seed give the same answers in a fresh database. The population, drawn to the
census, is the poststratification: shares over personas are the MRP estimate.

When the question was asked of part of the sample only (`Question.universe`, e.g. likely voters),
a second model, fitted on every respondent of the poll, gives each persona's probability of
belonging to that universe; it is the persona's weight in the results, so they describe the
universe — unless the study asks for all adults.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import pandas as pd

from personas.models import Persona
from polls.model.features import design
from polls.model.store import poll_model_get
from polls.model.training import ModelDataError, QuestionFit
from studies.backends.base import AnswerDraft
from studies.backends.offline import OfflineBackend
from studies.models import Item, ItemOption, Run, Study

# Personas predicted at once (one query and one matrix product per item).
BLOCK = 500

DIMENSION_WORDS = {
    "sex": "sex",
    "race_ethnicity": "race/ethnicity",
    "education": "education",
    "income": "household income",
    "age": "age",
}
PROFILE_COLUMNS = ["sex", "race_ethnicity", "education", "income", "state", "age"]


@dataclass
class ItemModel:
    answers: QuestionFit
    options: list[ItemOption]  # in the order of the answer model's classes
    universe: QuestionFit | None  # who belongs to the question's universe, when it has one


class PollModelBackend(OfflineBackend):
    name = "poll_model"
    label = "Offline: multilevel model of the poll, poststratified by the personas"

    def __init__(self, run: Run, items: list[Item]) -> None:
        super().__init__(run, items)
        self._models = {item.id: self._load(item) for item in items}
        # (item id, persona id) -> (answer probabilities, weight); the persona's index beside it
        self._cache: dict[tuple[int, int], tuple[np.ndarray, float]] = {}
        self._index: dict[int, int] = {}
        self._lock = threading.Lock()

    def _load(self, item: Item) -> ItemModel:
        question = item.poll_question
        if question is None:  # study_problems refuses such an item before the run starts
            raise ValueError(f"item {item.code} has no poll question to model")
        option_of = {o.poll_option_id: o for o in item.options.all() if o.poll_option_id}
        try:
            answers = poll_model_get(question, options=list(option_of))
            universe = None
            if question.universe and self.run.study.universe == Study.Universe.QUESTION:
                universe = poll_model_get(question, universe=True)
        except ModelDataError as error:
            raise ValueError(
                f"Item '{item.code}': poll question {question.id} cannot be modelled: {error}"
            ) from None
        return ItemModel(
            answers=answers, options=[option_of[p] for p in answers.options], universe=universe
        )

    def predicted(self, persona: Persona, item: Item) -> tuple[np.ndarray, float]:
        """The persona's answer probabilities (in the order of the model's options) and weight.

        Predicted a block of the population at a time (one query, one matrix product per item):
        a chunk asks for consecutive personas, so a block serves the next BLOCK of them.
        """
        key = (item.id, persona.id)
        found = self._cache.get(key)
        if found is None:
            self._predict_block(start=persona.index - persona.index % BLOCK)
            found = self._cache.get(key)
        if found is None:  # a persona outside the run's population: predicted alone
            frame = pd.DataFrame(
                [[getattr(persona, c, None) for c in PROFILE_COLUMNS]], columns=PROFILE_COLUMNS
            )
            frame["state"] = persona.area.state
            found = next(iter(self._predict(frame, self._models[item.id])))
        return found

    def _predict(self, frame: pd.DataFrame, model: ItemModel):
        frame = frame.assign(age_min=frame["age"], age_max=frame["age"])
        probs = model.answers.fit.predict(design(frame, model.answers.spec))
        if model.universe is None:
            weights = np.ones(len(frame))
        else:
            weights = model.universe.fit.predict(design(frame, model.universe.spec))[:, 1]
        return zip(probs, weights.tolist(), strict=True)

    def _predict_block(self, *, start: int) -> None:
        rows = list(
            Persona.objects.filter(
                population_id=self.run.population_id, index__gte=start, index__lt=start + BLOCK
            ).values_list(
                "id", "index", *(c if c != "state" else "area__state" for c in PROFILE_COLUMNS)
            )
        )
        if not rows:
            return
        frame = pd.DataFrame(rows, columns=["id", "index", *PROFILE_COLUMNS])
        ids = frame["id"].tolist()
        predicted = {
            item_id: list(self._predict(frame, model)) for item_id, model in self._models.items()
        }
        with self._lock:
            for item_id, values in predicted.items():
                for persona_id, value in zip(ids, values, strict=True):
                    self._cache[(item_id, persona_id)] = value
            self._index.update(zip(ids, frame["index"].tolist(), strict=True))
            # Blocks already answered are not asked again: keep memory bounded on big runs.
            for key in [k for k in self._cache if self._index[k[1]] < start - BLOCK]:
                del self._cache[key]
                self._index.pop(key[1], None)

    def answer(self, *, persona: Persona, item: Item) -> AnswerDraft:
        model = self._models[item.id]
        probs, weight = self.predicted(persona, item)
        rng = np.random.default_rng(self.seed(persona, item))
        chosen = model.options[int(rng.choice(len(model.options), p=probs / probs.sum()))]
        shares = {o.code: float(p) for o, p in zip(model.options, probs, strict=True)}
        return AnswerDraft(
            option_id=chosen.id,
            reasoning=reasoning(
                model, item=item, persona=persona, shares=shares, chosen=chosen, weight=weight
            ),
            probabilities=shares,
            weight=float(weight),
        )


def reasoning(
    model: ItemModel, *, item: Item, persona: Persona, shares, chosen, weight: float
) -> str:
    question = item.poll_question
    assert question is not None  # _load refuses an unlinked item
    poll = question.poll
    year = f", {poll.year}" if poll.year else ""
    spec = model.answers.spec
    used = [DIMENSION_WORDS[d] for d in spec.dimensions]
    area = ["state and region effects (partially pooled)"] if spec.states else []
    area += [p["description"] for p in spec.area_predictors.values()]
    area = area or ["no area information (the poll recorded no state)"]
    odds = ", ".join(f"'{o}' {p:.0%}" for o, p in shares.items())
    text = (
        f"Modelled from {model.answers.fit.n:,} respondents of {poll.title}{year}: a multilevel "
        f"regression on {', '.join(used)}, with {'; '.join(area)}. For this persona "
        f"({persona.area.state}) the model gives {odds}; the answer drawn is '{chosen.label}'."
    )
    if not spec.states:
        text += " The poll recorded no respondent's state: this is a national estimate."
    elif persona.area.state not in spec.states:
        text += (
            f" The model has no state effect for {persona.area.state}: the national level is used."
        )
    elif not spec.state_respondents.get(persona.area.state):
        text += (
            f" No respondent of the poll lives in {persona.area.state}: its estimate comes from its "
            "region and the area predictors (partial pooling), not from its own respondents."
        )
    if model.universe is not None:
        text += (
            f" The question was asked of {question.universe}; this persona belongs to them with "
            f"modelled probability {weight:.0%}, its weight in the results."
        )
    return text
