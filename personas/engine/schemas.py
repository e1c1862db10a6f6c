"""The JSON schemas of the persona engine's steps, as pydantic models.

The gateway sends each model's JSON Schema to the provider and validates the reply against it; a reply
that fails validation goes back to the model with the error. Everything a step must respect that a
plain schema cannot say (the episode count for this persona, the option codes of this study, earlier
episodes referred to by number) is expressed in models built per persona and study by
`experience_model` and `participation_model`, so the validation error the model reads names the
exact rule it broke.
"""

from __future__ import annotations

import functools
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

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
    study_attributes: dict[str, str | int | float] = Field(
        default_factory=dict, description="Attributes the study's topic makes relevant"
    )
    sources: dict[str, str] = Field(default_factory=dict)


# --- step 1: context engineering -----------------------------------------------------------------


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


# --- step 2: experience engineering ----------------------------------------------------------------


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
        return self


@functools.lru_cache(maxsize=128)
def experience_model(*, min_episodes: int, max_episodes: int) -> type[Experience]:
    """Experience with this persona's episode count written into the schema (one model per
    count range: personas share it, and the gateway builds its JSON Schema once)."""
    return create_model(
        "Experience",
        __base__=Experience,
        episodes=(list[Episode], Field(min_length=min_episodes, max_length=max_episodes)),
    )


# --- step 3: participation -------------------------------------------------------------------------


class ItemResponse(_Strict):
    item: str
    answer: str
    reasoning: str = Field(min_length=10)
    think_aloud: str | None = None
    time_on_task_seconds: float | None = Field(default=None, gt=0, le=3600)


class Participation(_Strict):
    """response.json: one answer per item, each with its reasoning."""

    responses: list[ItemResponse]


def participation_model(
    *, options: dict[str, list[str]], think_aloud: bool, time_on_task: bool
) -> type[Participation]:
    """Participation whose answers must be the study's option codes, one per item, in order."""
    codes = list(options)

    def check(self: Participation) -> Participation:
        got = [r.item for r in self.responses]
        if got != codes:
            raise ValueError(f"answer every item once, in this order: {codes}; got {got}")
        for r in self.responses:
            if r.answer not in options[r.item]:
                raise ValueError(
                    f"item {r.item!r}: answer {r.answer!r} is not one of {options[r.item]}"
                )
            if think_aloud and not (r.think_aloud or "").strip():
                raise ValueError(f"item {r.item!r}: the study asks for think_aloud text")
            if time_on_task and r.time_on_task_seconds is None:
                raise ValueError(f"item {r.item!r}: the study asks for time_on_task_seconds")
        return self

    return create_model(
        "Participation",
        __base__=Participation,
        __validators__={"_matches_study": model_validator(mode="after")(check)},
    )
