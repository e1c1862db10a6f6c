"""The JSON schemas of the persona engine's steps, as pydantic models.

The gateway sends each model's JSON Schema to the provider and validates the reply against it; a reply
that fails validation goes back to the model with the error. Everything a step must respect that
depends on the persona or the study (the episode count and valence mix for this persona, each item's
answer type, option codes, bounds and choice counts) is written into models built per persona and
study by `experience_model` and `participation_model`: the JSON Schema the model reads states it,
and the validation error it reads after a bad reply names the exact rule it broke.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model, model_validator

from personas.engine.episodes import valence_problems

Depth = Literal["shallow", "standard", "deep"]
DEPTHS: tuple[str, ...] = ("shallow", "standard", "deep")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- profile (built from the generated persona, never by a model) -------------------------------


class Demographics(_Strict):
    name: str
    age: int = Field(ge=18, le=120)
    age_bracket: str
    sex: str
    race_ethnicity: str
    education: str
    income: str
    occupation: str | None = None
    employment_status: str | None = None
    area_id: str
    area_name: str
    state: str


class TechProfile(_Strict):
    proficiency: str
    devices: list[str] = Field(default_factory=list)
    apps: list[str] = Field(default_factory=list)
    attitude: str


class PersonaProfileDoc(_Strict):
    """profile.json: who the persona is, as generated from the census and the poll-fitted models."""

    persona_id: int
    demographics: Demographics
    big_five: dict[str, int] = Field(description="0-100 per trait")
    tech_profile: TechProfile | None
    behavioural_characteristics: dict[str, str | int]
    # Seed 004 §3.1's own name: the analyze step's answer, {name: {"value", "relevance"}}.
    studyRelevantAttributes: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="Attributes the study makes relevant, with why"
    )
    sources: dict[str, str] = Field(default_factory=dict)


# --- step 1: analyze (seed 004 §2 step 1) --------------------------------------------------------


class StudyAttribute(_Strict):
    name: str = Field(
        pattern=r"^[a-z][a-z0-9_]{1,39}$",
        description="snake_case name of the attribute, e.g. commute_mode",
    )
    value: str = Field(
        min_length=1, max_length=300, description="This person's value, consistent with the profile"
    )
    relevance: str = Field(
        min_length=10, max_length=400, description="Why the study needs this attribute"
    )


class StudyAnalysis(_Strict):
    """Which attributes beyond the profile this persona needs for the study, with its values."""

    attributes: list[StudyAttribute] = Field(min_length=1, max_length=8)

    @model_validator(mode="after")
    def _distinct(self) -> StudyAnalysis:
        names = [a.name for a in self.attributes]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"each attribute once; repeated: {repeated}")
        return self

    def as_profile_attributes(self) -> dict[str, dict[str, str]]:
        """The profile's `studyRelevantAttributes`."""
        return {a.name: {"value": a.value, "relevance": a.relevance} for a in self.attributes}


# --- step 2: context engineering -----------------------------------------------------------------


class PersonaContext(_Strict):
    """context.md: built top-down, the narrative first and everything else consistent with it."""

    life_narrative: str = Field(
        min_length=80, description="A first-person-free biography of a few paragraphs"
    )
    relevant_habits: list[str] = Field(min_length=1, max_length=8)
    attitudes_and_opinions: list[str] = Field(min_length=1, max_length=8)
    pain_points: list[str] = Field(min_length=1, max_length=8)
    motivations: list[str] = Field(min_length=1, max_length=8)


class ConsistencyReport(_Strict):
    """The optional check after context engineering: does the context contradict the profile?"""

    consistent: bool
    issues: list[str] = Field(
        default_factory=list, description="Each contradiction between profile and context"
    )


# --- step 3: experience engineering ----------------------------------------------------------------


class Episode(_Strict):
    number: int = Field(ge=1, description="1 for the earliest episode, in chronological order")
    timeframe: str = Field(min_length=2, description="When it happened, e.g. 'spring 2019'")
    scenario: str = Field(min_length=10)
    reaction: str = Field(min_length=5)
    takeaway: str = Field(min_length=5)
    valence: float = Field(ge=-1, le=1, description="-1 very negative … 1 very positive")
    refers_to: list[int] = Field(
        default_factory=list, description="Numbers of earlier episodes this one builds on"
    )
    creates_strong_opinion: bool = Field(
        description="True when this episode left a strong opinion the person carries into the "
        "study (at least one episode must)"
    )
    strong_opinion: str | None = Field(
        default=None, description="That opinion, in a sentence, when creates_strong_opinion"
    )

    @model_validator(mode="after")
    def _opinion_stated(self) -> Episode:
        if self.creates_strong_opinion and len((self.strong_opinion or "").strip()) < 5:
            raise ValueError(
                f"episode {self.number} creates a strong opinion: state it in strong_opinion"
            )
        return self


class Experience(_Strict):
    """experience.md: chronological episodes, then what they left behind."""

    episodes: list[Episode]
    synthesized_memory: str = Field(min_length=20)
    emotional_residue: str = Field(min_length=5)
    learned_behaviours: list[str] = Field(min_length=1, max_length=8)

    @model_validator(mode="after")
    def _chronological(self) -> Experience:
        numbers = [e.number for e in self.episodes]
        if numbers != list(range(1, len(numbers) + 1)):
            raise ValueError(f"episodes must be numbered 1, 2, 3 … in order; got {numbers}")
        for episode in self.episodes:
            later = [r for r in episode.refers_to if r >= episode.number]
            if later:
                raise ValueError(
                    f"episode {episode.number} refers to {later}, which are not earlier episodes; "
                    "refer only to episodes with a smaller number"
                )
        if len(self.episodes) > 1 and not any(e.refers_to for e in self.episodes[1:]):
            raise ValueError("at least one later episode must refer back to an earlier one")
        if self.episodes and not any(e.creates_strong_opinion for e in self.episodes):
            raise ValueError(
                "at least one episode must create a strong opinion the person carries into the "
                "study (creates_strong_opinion: true, with the opinion in strong_opinion)"
            )
        return self


# JSON Schema's way of saying "at least one episode is flagged", for models that read the schema.
_ONE_STRONG_OPINION = {
    "contains": {
        "type": "object",
        "properties": {"creates_strong_opinion": {"const": True}},
        "required": ["creates_strong_opinion"],
    }
}


@functools.lru_cache(maxsize=128)
def experience_model(*, min_episodes: int, max_episodes: int, level: str) -> type[Experience]:
    """Experience with this persona's episode count and its level's valence mix written into the
    schema (one model per count range and level: personas share it, and the gateway builds its
    JSON Schema once)."""

    def valences_fit(self: Experience) -> Experience:
        problems = valence_problems(level, [e.valence for e in self.episodes])
        if problems:
            raise ValueError("; ".join(problems))
        return self

    return create_model(
        "Experience",
        __base__=Experience,
        __validators__={"_valence_mix": model_validator(mode="after")(valences_fit)},
        episodes=(
            list[Episode],
            Field(
                min_length=min_episodes,
                max_length=max_episodes,
                json_schema_extra=_ONE_STRONG_OPINION,
            ),
        ),
    )


# --- step 4: participation -------------------------------------------------------------------------

ITEM_TYPES = ("single_choice", "multiple_choice", "likert", "numeric", "ranking", "free_text")
FREE_TEXT_MAX = 4000

# Behavioural data a study may ask for per item (`Study.behavioral_measures`), besides time on
# task: each measure's type and what the persona is asked.
BEHAVIOURAL_MEASURES: dict[str, tuple[Any, str]] = {
    "errors": (
        Annotated[int, Field(ge=0, le=50)],
        "How many mistakes you would make on this item (misreading it, a slip you then correct); "
        "0 if none",
    ),
    "hesitations": (
        Annotated[int, Field(ge=0, le=50)],
        "How many times you would pause, re-read or change your mind before answering; 0 if none",
    ),
    "abandonment": (
        bool,
        "Whether you would give up on this item rather than finish it (answer with what you "
        "would lean to all the same)",
    ),
}


@dataclass(frozen=True)
class ItemShape:
    """What the participation schema needs to know of one item (from `studies.models.Item`)."""

    code: str
    type: str
    options: tuple[str, ...] = ()
    min_value: float | None = None
    max_value: float | None = None
    unit: str = ""
    max_choices: int | None = None

    def bounds_text(self) -> str:
        """A numeric item's range in words, with its unit: "a number from 0 to 100 USD"."""
        unit = f" {self.unit}" if self.unit else ""
        if self.min_value is not None and self.max_value is not None:
            return f"a number from {self.min_value:g} to {self.max_value:g}{unit}"
        if self.min_value is not None:
            return f"a number of at least {self.min_value:g}{unit}"
        if self.max_value is not None:
            return f"a number of at most {self.max_value:g}{unit}"
        return f"a number{unit}"


def _codes(options: tuple[str, ...]) -> Any:
    return Literal.__getitem__(options)


def _distinct(value: list[str]) -> list[str]:
    repeated = sorted({v for v in value if value.count(v) > 1})
    if repeated:
        raise ValueError(f"choose each option at most once; repeated: {repeated}")
    return value


def _permutation_of(options: tuple[str, ...]) -> Callable[[list[str]], list[str]]:
    def check(value: list[str]) -> list[str]:
        repeated = sorted({v for v in value if value.count(v) > 1})
        missing = [o for o in options if o not in value]
        if repeated or missing:
            raise ValueError(
                f"rank every option exactly once ({', '.join(options)}); "
                f"repeated: {repeated}, missing: {missing}"
            )
        return value

    return check


def answer_field(item: ItemShape) -> tuple[Any, Any]:
    """The (type, Field) of one item's `answer`, by its item type."""
    if item.type in ("single_choice", "likert"):
        return _codes(item.options), Field(
            description=f"One option code: {', '.join(item.options)}"
        )
    if item.type == "multiple_choice":
        most = min(item.max_choices or len(item.options), len(item.options))
        return Annotated[list[_codes(item.options)], AfterValidator(_distinct)], Field(  # type: ignore[misc]
            min_length=1,
            max_length=most,
            json_schema_extra={"uniqueItems": True},
            description=f"The option codes you choose, 1 to {most}, each once",
        )
    if item.type == "ranking":
        n = len(item.options)
        return Annotated[
            list[_codes(item.options)],  # type: ignore[misc]
            AfterValidator(_permutation_of(item.options)),
        ], Field(
            min_length=n,
            max_length=n,
            json_schema_extra={"uniqueItems": True},
            description="Every option code exactly once, your first choice first",
        )
    if item.type == "numeric":
        return float, Field(
            ge=item.min_value,
            le=item.max_value,
            allow_inf_nan=False,
            description="A" + item.bounds_text()[1:],
        )
    if item.type == "free_text":
        return str, Field(
            min_length=1, max_length=FREE_TEXT_MAX, description="Your answer in your own words"
        )
    raise ValueError(
        f"item {item.code!r}: unknown item type {item.type!r}; use one of {ITEM_TYPES}"
    )


class Participation(_Strict):
    """response.json: `responses` holds one answer per item, keyed by the item's code."""

    responses: Any


def participation_model(
    *,
    items: list[ItemShape],
    think_aloud: bool,
    time_on_task: bool,
    measures: tuple[str, ...] = (),
) -> type[Participation]:
    """Participation for this study: one answer object per item code, each typed by the item
    (an option code, distinct codes, a permutation, a bounded number or text), with reasoning and
    what else the study asks (think-aloud, time on task, behavioural measures)."""
    unknown = [m for m in measures if m not in BEHAVIOURAL_MEASURES]
    if unknown:
        raise ValueError(
            f"unknown behavioural measure(s) {unknown}; use: {', '.join(BEHAVIOURAL_MEASURES)}"
        )
    behaviour = None
    if measures:
        behaviour = create_model(
            "BehavioralData",
            __base__=_Strict,
            **{
                m: (BEHAVIOURAL_MEASURES[m][0], Field(description=BEHAVIOURAL_MEASURES[m][1]))
                for m in measures
            },
        )
    fields: dict[str, Any] = {}
    for index, item in enumerate(items):
        extra: dict[str, Any] = {}
        if think_aloud:
            extra["think_aloud"] = (
                str,
                Field(min_length=1, description="What goes through your head, first person"),
            )
        if time_on_task:
            extra["time_on_task_seconds"] = (
                float,
                Field(gt=0, le=3600, description="Seconds you would take over this item"),
            )
        if behaviour is not None:
            extra["behavior"] = (behaviour, Field(description="How you would go about the item"))
        answer_model = create_model(
            f"Item{index + 1}Answer",
            __base__=_Strict,
            answer=answer_field(item),
            reasoning=(str, Field(min_length=10, description="Why you answer so, in your voice")),
            **extra,
        )
        fields[f"item_{index}"] = (answer_model, Field(alias=item.code))
    responses = create_model("Responses", __base__=_Strict, **fields)
    return create_model(
        "Participation",
        __base__=Participation,
        responses=(responses, Field(description="One answer per item, keyed by the item code")),
    )
