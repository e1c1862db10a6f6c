"""The persona as the awareness functions see it: demographics, and what is known of its politics and
personality.

Party identification, ideology and the Big Five are optional: a persona generated before those fields
existed, or by a profile that could not estimate them, still gets every pressure that does not need
them, and the missing inputs are named.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from environment.categories import DIMENSIONS, PARTY

BIG_FIVE: Final = ("openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism")
# Traits are read on 0-100, the scale personas/profile/sources.py bfi_scores draws them on.
TRAIT_SCALE: Final = 100.0
NEUTRAL_TENDENCY: Final = 0.5

# Party on the left-right axis the local lean is measured on (negative = Democratic side). Independents
# and other parties sit at the centre: they belong to neither side of a Democratic-Republican margin.
PARTY_POSITION: Final = {"democrat": -1.0, "republican": 1.0, "independent": 0.0, "other": 0.0}

# Ideology on the seven-point scale of the GSS (polviews) and ANES (selfLR): 1 extremely liberal ...
# 4 moderate ... 7 extremely conservative. Labels are accepted as well as the numbers.
IDEOLOGY_POINTS: Final = {
    "extremely liberal": 1,
    "very liberal": 1,
    "liberal": 2,
    "slightly liberal": 3,
    "moderate": 4,
    "middle of the road": 4,
    "slightly conservative": 5,
    "conservative": 6,
    "very conservative": 7,
    "extremely conservative": 7,
}
# Persona attributes that may hold traits, merged in this order (a later mapping wins a clash).
TRAIT_ATTRIBUTES: Final = (
    "profile",  # personas.models.Persona.profile (personas.profile.PROFILE_FIELDS)
    "traits",
    "big_five",
    "personality",
    "behavioral_traits",
    "behavioural_traits",
    "behavioral_characteristics",
    "behavioural_characteristics",
)


@dataclass(frozen=True)
class PersonaView:
    """A persona's demographics (platform codes) and, when known, its politics and traits."""

    area_id: str
    age: int
    age_bracket: str
    sex: str
    race_ethnicity: str
    education: str
    income: str
    persona_id: int | None = None
    party_identification: str | None = None  # a code of environment.categories.PARTY
    political_ideology: str | int | None = None  # 1-7 or a label of IDEOLOGY_POINTS
    traits: Mapping[str, float] = field(default_factory=dict)  # 0-100 per trait

    def __post_init__(self) -> None:
        for dimension in ("age_bracket", "sex", "race_ethnicity", "education", "income"):
            code = getattr(self, dimension)
            if code not in DIMENSIONS[dimension]:
                allowed = ", ".join(DIMENSIONS[dimension])
                raise ValueError(f"{dimension}: {code!r} is not one of {allowed}")

    @classmethod
    def from_persona(cls, persona: Any) -> PersonaView:
        """A view of a personas.models.Persona; optional fields are read when the model has them."""
        traits: dict[str, float] = {}
        for name in TRAIT_ATTRIBUTES:
            value = getattr(persona, name, None)
            if isinstance(value, Mapping):
                traits.update({str(k): v for k, v in value.items() if _is_number(v)})
        for trait in (*BIG_FIVE, "conformity"):
            value = getattr(persona, trait, None)
            if _is_number(value):
                traits[trait] = value
        profile = getattr(persona, "profile", None)
        profile = profile if isinstance(profile, Mapping) else {}
        party = (
            getattr(persona, "party_identification", None)
            or getattr(persona, "party", None)
            or profile.get("party_identification")
        )
        ideology = (
            getattr(persona, "political_ideology", None)
            or getattr(persona, "ideology", None)
            or profile.get("political_ideology")
        )
        return cls(
            area_id=persona.area_id,
            age=persona.age,
            age_bracket=persona.age_bracket,
            sex=persona.sex,
            race_ethnicity=persona.race_ethnicity,
            education=persona.education,
            income=persona.income,
            persona_id=persona.pk,
            party_identification=party or None,
            political_ideology=ideology if ideology not in ("", None) else None,
            traits=traits,
        )

    @property
    def party_code(self) -> str | None:
        """The party as a platform code, or None when unknown or not a code of PARTY."""
        if self.party_identification is None:
            return None
        code = str(self.party_identification).strip().lower()
        return code if code in PARTY else None

    @property
    def ideology_point(self) -> int | None:
        """Ideology on the 1-7 scale, or None when unknown or unreadable."""
        value = self.political_ideology
        if value is None:
            return None
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float) or str(value).strip().isdigit():
            point = int(float(value))
            return point if 1 <= point <= 7 else None
        label = " ".join(str(value).lower().replace("_", " ").replace("-", " ").split())
        return IDEOLOGY_POINTS.get(label)

    def trait(self, name: str) -> float | None:
        """A trait on [0, 1] (its 0-100 score / 100), or None when absent or out of range."""
        value = self.traits.get(name)
        if not _is_number(value) or not 0 <= value <= TRAIT_SCALE:
            return None
        return value / TRAIT_SCALE

    @property
    def missing_inputs(self) -> list[str]:
        """The optional inputs this persona lacks, each with why it matters."""
        missing = []
        if self.party_identification is not None and self.party_code is None:
            missing.append(
                f"party identification {self.party_identification!r} is not a known code"
            )
        elif self.party_code is None:
            missing.append("party identification")
        if self.political_ideology is not None and self.ideology_point is None:
            missing.append(
                f"political ideology {self.political_ideology!r} is not on the 1-7 scale"
            )
        elif self.political_ideology is None:
            missing.append("political ideology")
        absent = [t for t in BIG_FIVE if t not in self.traits]
        if absent:
            missing.append("Big Five traits: " + ", ".join(absent))
        bad = sorted(t for t, v in self.traits.items() if not _is_number(v) or not 0 <= v <= 100)
        if bad:
            missing.append("traits outside 0-100, ignored: " + ", ".join(bad))
        return missing


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class PoliticalPosition:
    """Where the persona sits on the Democratic (-1) to Republican (+1) axis, and from what."""

    value: float | None
    inputs: dict[str, Any]
    missing: list[str]


def political_position(persona: PersonaView) -> PoliticalPosition:
    """Position = party score (Democrat -1, Republican +1, independent or other 0), or ideology score
    (point - 4) / 3, or their mean when both are known: two readings of one left-right position, with
    no bundled data to say which to trust more. None when neither is known."""
    inputs: dict[str, Any] = {}
    scores = []
    party = persona.party_code
    if party is not None:
        inputs["party_identification"] = party
        inputs["party_score"] = PARTY_POSITION[party]
        scores.append(PARTY_POSITION[party])
    point = persona.ideology_point
    if point is not None:
        inputs["ideology_point"] = point
        inputs["ideology_score"] = (point - 4) / 3
        scores.append((point - 4) / 3)
    missing = [m for m in persona.missing_inputs if m.startswith(("party", "political ideology"))]
    return PoliticalPosition(sum(scores) / len(scores) if scores else None, inputs, missing)


@dataclass(frozen=True)
class TraitEstimate:
    value: float
    inputs: dict[str, float]
    basis: str
    missing: list[str]


def conformity_tendency_detail(persona: PersonaView) -> TraitEstimate:
    """The persona's disposition to conform, on [0, 1], with its inputs.

    A behavioural ``conformity`` score, when the persona has one, is used as it stands (/100).
    Otherwise tendency = mean(agreeableness, conscientiousness, 1 - openness) over those present,
    each on [0, 1]. Why: conformity rises with the "stability" traits (agreeableness,
    conscientiousness) and falls with openness (DeYoung, Peterson & Higgins 2002, "Higher-order
    factors of the Big Five predict conformity", Personality and Individual Differences 33). Equal
    weights because no bundled data estimates the weights. With none of them, the neutral 0.5.
    """
    direct = persona.trait("conformity")
    if direct is not None:
        return TraitEstimate(direct, {"conformity": direct}, "behavioural conformity trait", [])
    parts = {
        "agreeableness": persona.trait("agreeableness"),
        "conscientiousness": persona.trait("conscientiousness"),
        "1 - openness": None
        if persona.trait("openness") is None
        else 1 - persona.trait("openness"),
    }
    known = {k: v for k, v in parts.items() if v is not None}
    missing = [k.removeprefix("1 - ") for k, v in parts.items() if v is None]
    if not known:
        return TraitEstimate(
            NEUTRAL_TENDENCY,
            {},
            "neutral 0.5: no agreeableness, conscientiousness or openness for this persona",
            missing,
        )
    return TraitEstimate(
        sum(known.values()) / len(known),
        known,
        "mean of " + ", ".join(known) + " (Big Five, 0-1)",
        missing,
    )


def conformity_tendency(persona: PersonaView) -> float:
    """The persona's disposition to conform on [0, 1]; 0.5 when its traits are unknown."""
    return conformity_tendency_detail(persona).value
