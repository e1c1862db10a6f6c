"""The offline backend: a multilevel regression fitted on the poll, poststratified by the personas.

For an item linked to a poll question, the backend takes the question's stored model (fitted once
per question, data and model version; `polls/model/`), predicts each persona's answer probabilities
from its demographics, its state's partially pooled effect and the state's area-level predictors,
and draws the persona's answer from them. The draw is keyed by (run seed, the persona's position in
its population, the item's position in the study), never a database id, through a counter-based
hash (`position_uniforms`), so the same population spec, seed and run seed give the same answers in a
fresh database, whatever the chunks, and a chunk draws all its answers at once (`answer_frame`). The population, drawn to the
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

# Personas predicted at once (one query and one matrix product per item) persona by persona.
BLOCK = 500
# Personas per chunk task by default.
CHUNK_SIZE = 10_000

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

    @classmethod
    def default_chunk_size(cls, config: dict) -> int | None:
        # A chunk is answered column-wise (studies/pipeline_offline.py) at tens of thousands of
        # personas a second: large chunks keep the per-chunk set-up (models, queries) small.
        return CHUNK_SIZE

    def __init__(self, run: Run, items: list[Item]) -> None:
        super().__init__(run, items)
        self._models = {item.id: self._load(item) for item in items}
        self._wording = {item.id: Wording(self._models[item.id], item) for item in items}
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
            probs, weights = self.predict_frame(frame, item.id)
            found = (probs[0], float(weights[0]))
        return found

    def predict_frame(self, frame: pd.DataFrame, item_id: int) -> tuple[np.ndarray, np.ndarray]:
        """Answer probabilities (rows × the model's options) and weights for a frame of profiles
        (PROFILE_COLUMNS, exact ages): one design matrix and one matrix product per model."""
        model = self._models[item_id]
        frame = frame.assign(age_min=frame["age"], age_max=frame["age"])
        probs = model.answers.fit.predict(design(frame, model.answers.spec))
        if model.universe is None:
            weights = np.ones(len(frame))
        else:
            weights = model.universe.fit.predict(design(frame, model.universe.spec))[:, 1]
        return probs, weights

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
        predicted = {}
        for item_id in self._models:
            probs, weights = self.predict_frame(frame, item_id)
            predicted[item_id] = list(zip(probs, weights.tolist(), strict=True))
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
        """One persona's answer: the same draw as `answer_frame` gives it in a chunk."""
        model = self._models[item.id]
        probs, weight = self.predicted(persona, item)
        u = position_uniforms(self.run.seed, [persona.index], self.positions[item.id])
        chosen = model.options[int(inverse_cdf(probs[None, :], u)[0])]
        shares = {o.code: float(p) for o, p in zip(model.options, probs, strict=True)}
        return AnswerDraft(
            option_id=chosen.id,
            reasoning=self._wording[item.id].reasoning(
                state=persona.area.state, shares=shares, chosen=chosen, weight=float(weight)
            ),
            probabilities=shares,
            weight=float(weight),
        )

    def answer_frame(self, frame: pd.DataFrame, item: Item) -> ItemAnswers:
        """Every persona of a frame (PROFILE_COLUMNS and `index`, the position in the population)
        answers `item` at once: one prediction, one vector of uniforms, one inverse-CDF look-up.
        Row for row the same answers as `answer` gives persona by persona."""
        model = self._models[item.id]
        probs, weights = self.predict_frame(frame, item.id)
        u = position_uniforms(self.run.seed, frame["index"].to_numpy(), self.positions[item.id])
        chosen = inverse_cdf(probs, u)
        wording = self._wording[item.id]
        codes = [o.code for o in model.options]
        option_ids = [model.options[c].id for c in chosen.tolist()]
        probabilities, reasonings = [], []
        for row, c, w, state in zip(
            probs.tolist(), chosen.tolist(), weights.tolist(), frame["state"].tolist(), strict=True
        ):
            shares = dict(zip(codes, row, strict=True))
            probabilities.append(shares)
            reasonings.append(
                wording.reasoning(state=state, shares=shares, chosen=model.options[c], weight=w)
            )
        return ItemAnswers(
            option_ids=option_ids,
            probabilities=probabilities,
            weights=weights.tolist(),
            reasonings=reasonings,
        )


@dataclass
class ItemAnswers:
    """One item's answers for a frame of personas, row for row."""

    option_ids: list[int]
    probabilities: list[dict[str, float]]
    weights: list[float]
    reasonings: list[str]


# SplitMix64's finaliser (Steele, Lea & Flood 2014): a bijection of 64-bit words whose outputs
# pass BigCrush, so hashing (run seed, position, item) gives independent uniforms.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def position_uniforms(seed: int, positions, item_position: int) -> np.ndarray:
    """A uniform in [0, 1) for each position: a counter-based draw keyed by (run seed, the
    persona's position in its population, the item's position in the study), so a persona's
    answer depends on neither the chunk it is in nor the order chunks run in, and a bulk draw
    equals the persona-by-persona one."""
    with np.errstate(over="ignore"):
        key = _mix(np.array([int(seed) & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64) + _GOLDEN)
        key = _mix(key ^ (np.uint64(item_position) * _GOLDEN + _GOLDEN))
        counter = np.asarray(positions, dtype=np.int64).astype(np.uint64)
        bits = _mix(key ^ _mix(counter + _GOLDEN))
    return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def inverse_cdf(probs: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The option each row draws: the first whose cumulative probability exceeds the row's
    uniform (rows renormalised to sum to one)."""
    cdf = np.cumsum(probs, axis=1)
    cdf /= cdf[:, -1:]
    return np.minimum((u[:, None] >= cdf).sum(axis=1), probs.shape[1] - 1)


class Wording:
    """An item's reasoning text, with what every persona shares worded once."""

    def __init__(self, model: ItemModel, item: Item) -> None:
        question = item.poll_question
        assert question is not None  # _load refuses an unlinked item
        poll = question.poll
        year = f", {poll.year}" if poll.year else ""
        spec = model.answers.spec
        used = [DIMENSION_WORDS[d] for d in spec.dimensions]
        area = ["state and region effects (partially pooled)"] if spec.states else []
        area += [p["description"] for p in spec.area_predictors.values()]
        area = area or ["no area information (the poll recorded no state)"]
        self.head = (
            f"Modelled from {model.answers.fit.n:,} respondents of {poll.title}{year}: a "
            f"multilevel regression on {', '.join(used)}, with {'; '.join(area)}. For this persona "
        )
        self.states = set(spec.states)
        self.pooled = {s for s in spec.states if not spec.state_respondents.get(s)}
        self.universe = question.universe if model.universe is not None else None

    def reasoning(self, *, state: str, shares: dict[str, float], chosen, weight: float) -> str:
        odds = ", ".join(f"'{o}' {p:.0%}" for o, p in shares.items())
        text = f"{self.head}({state}) the model gives {odds}; the answer drawn is '{chosen.label}'."
        if not self.states:
            text += " The poll recorded no respondent's state: this is a national estimate."
        elif state not in self.states:
            text += f" The model has no state effect for {state}: the national level is used."
        elif state in self.pooled:
            text += (
                f" No respondent of the poll lives in {state}: its estimate comes from its "
                "region and the area predictors (partial pooling), not from its own respondents."
            )
        if self.universe is not None:
            text += (
                f" The question was asked of {self.universe}; this persona belongs to them with "
                f"modelled probability {weight:.0%}, its weight in the results."
            )
        return text
