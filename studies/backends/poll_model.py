"""The offline backend: a multilevel regression fitted on the poll, poststratified by the personas.

For an item linked to a poll question, the backend takes the question's stored model (fitted once
per question, data and model version; `polls/model/`), predicts each persona's answer probabilities
from its demographics, its state's partially pooled effect and the state's area-level predictors,
and draws the persona's answer from them. The draw is seeded by (run seed, the persona's position in
its population, the item's position in the study), never a database id, so the same population
spec, seed and run seed give the same answers in a fresh database. The population, drawn to the
census, is the poststratification: shares over personas are the MRP estimate.
"""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd

from personas.engine.profile import STRUCTURED_SOURCE, profile_doc, structured_narrative
from personas.models import Persona
from polls.model.features import design
from polls.model.store import poll_model_get
from polls.model.training import ModelDataError, QuestionFit
from polls.models import Response
from studies.backends.base import AnswerDraft, PersonaResult, backend_register
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


@backend_register
class PollModelBackend:
    name = "poll_model"
    label = "Offline: multilevel model of the poll, poststratified by the personas"
    concurrency = 1
    config_serializer = None

    @classmethod
    def estimate(cls, *, study: Study, population, config: dict) -> dict | None:
        return None  # no calls, no cost

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
                    "has no respondent answers to model."
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
        self.items = items
        self.positions = {item.id: i for i, item in enumerate(items)}
        self._models = {item.id: self._load(item) for item in items}
        self._codes = {o.id: o.code for item in items for o in item.options.all()}
        self._cache: dict[tuple, np.ndarray] = {}
        self._lock = threading.Lock()

    def _load(self, item: Item) -> tuple[QuestionFit, list[ItemOption]]:
        option_of = {o.poll_option_id: o for o in item.options.all() if o.poll_option_id}
        try:
            fitted = poll_model_get(item.poll_question, options=list(option_of))
        except ModelDataError as error:
            raise ValueError(
                f"Item '{item.code}': poll question {item.poll_question_id} cannot be modelled: "
                f"{error}"
            ) from None
        return fitted, [option_of[p] for p in fitted.options]

    def probabilities(self, persona: Persona, item: Item) -> np.ndarray:
        """The persona's modelled answer probabilities, in the order of the fit's options.

        Predicted a block of the population at a time (one query, one matrix product per item):
        a chunk asks for consecutive personas, so a block serves the next BLOCK of them.
        """
        key = (item.id, persona.index)
        found = self._cache.get(key)
        if found is None:
            self._predict_block(start=persona.index - persona.index % BLOCK)
            found = self._cache.get(key)
            if found is None:  # a persona outside the run's population: predict it alone
                fitted, _ = self._models[item.id]
                frame = pd.DataFrame([persona_profile(persona)])
                found = fitted.fit.predict(design(frame, fitted.spec))[0]
        return found

    def _predict_block(self, *, start: int) -> None:
        rows = list(
            Persona.objects.filter(
                population_id=self.run.population_id, index__gte=start, index__lt=start + BLOCK
            ).values_list(
                "index", "sex", "race_ethnicity", "education", "income", "area__state", "age"
            )
        )
        if not rows:
            return
        frame = pd.DataFrame(
            rows, columns=["index", "sex", "race_ethnicity", "education", "income", "state", "age"]
        )
        frame["age_min"] = frame["age_max"] = frame["age"]
        predicted = {
            item_id: fitted.fit.predict(design(frame, fitted.spec))
            for item_id, (fitted, _) in self._models.items()
        }
        with self._lock:
            for item_id, probs in predicted.items():
                for index, row in zip(frame["index"].tolist(), probs, strict=True):
                    self._cache[(item_id, index)] = row
            # Blocks already answered are not asked again: keep memory bounded on big runs.
            stale = [k for k in self._cache if k[1] < start - BLOCK]
            for k in stale:
                del self._cache[k]

    def answer(self, *, persona: Persona, item: Item) -> AnswerDraft:
        fitted, options = self._models[item.id]
        probs = self.probabilities(persona, item)
        rng = np.random.default_rng(
            [int(self.run.seed), int(persona.index), self.positions[item.id]]
        )
        chosen = options[int(rng.choice(len(options), p=probs / probs.sum()))]
        shares = {o.code: float(p) for o, p in zip(options, probs, strict=True)}
        return AnswerDraft(
            option_id=chosen.id,
            reasoning=reasoning(fitted, item=item, persona=persona, shares=shares, chosen=chosen),
            probabilities=shares,
        )

    def answer_persona(self, persona: Persona) -> PersonaResult:
        """Every item's answer, with a context worded from the structured profile (labelled so)."""
        answers = {item.id: self.answer(persona=persona, item=item) for item in self.items}
        doc = profile_doc(persona)
        codes = self._codes
        return PersonaResult(
            answers=answers,
            narrative_source=STRUCTURED_SOURCE,
            profile=doc.model_dump(mode="json"),
            context=structured_narrative(doc).model_dump(mode="json"),
            response={
                "responses": [
                    {"item": item.code, "answer": codes[d.option_id], "reasoning": d.reasoning}
                    for item, d in ((i, answers[i.id]) for i in self.items)
                ],
                "source": self.label,
            },
        )


def persona_profile(persona: Persona) -> dict:
    """The persona as a row of the model's profile frame (an exact age is a one-year range)."""
    return {
        "sex": persona.sex,
        "race_ethnicity": persona.race_ethnicity,
        "education": persona.education,
        "income": persona.income,
        "state": persona.area.state,
        "age_min": persona.age,
        "age_max": persona.age,
    }


def reasoning(fitted: QuestionFit, *, item: Item, persona: Persona, shares, chosen) -> str:
    assert item.poll_question is not None  # study_problems refuses unlinked items
    poll = item.poll_question.poll
    year = f", {poll.year}" if poll.year else ""
    spec = fitted.spec
    used = [DIMENSION_WORDS[d] for d in spec.dimensions]
    area = ["state and region effects (partially pooled)"]
    for predictor in spec.area_predictors.values():
        area.append(predictor["description"])
    odds = ", ".join(f"'{o}' {p:.0%}" for o, p in shares.items())
    text = (
        f"Modelled from {fitted.fit.n:,} respondents of {poll.title}{year}: a multilevel "
        f"regression on {', '.join(used)}, with {'; '.join(area)}. For this persona "
        f"({persona.area.state}) the model gives {odds}; the answer drawn is '{chosen.label}'."
    )
    if persona.area.state not in spec.states:
        text += f" The poll has no state effect for {persona.area.state}: national level used."
    return text
