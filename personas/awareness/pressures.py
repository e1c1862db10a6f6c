"""The five social pressures a persona feels in its area, each on [0, 1] from a stated formula.

The formulas are deliberately simple and monotone in the figures they read, so a reader can say
which way a pressure moves when a figure moves, and a test can check it against the real figures.
They are modelling choices, not measured effects: no bundled data measures felt pressure, so none of
the constants is fitted. personas/awareness_README.md gives each formula with its reasons.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from environment.categories import label
from personas.awareness import figures
from personas.awareness.income import income_brackets
from personas.awareness.view import PersonaView, conformity_tendency_detail, political_position

CONFORMITY_FORMULA: Final = (
    "min(1, sqrt(own_share * homogeneity) * (0.5 + tendency)), homogeneity = 1 - diversity / 0.8"
)
SOLIDARITY_FORMULA: Final = "1 - own_share"
ECONOMIC_FORMULA: Final = (
    "1 - (1 - income_strain) * (1 - unemployment / 100), income_strain = 1 / (1 + r), "
    "r = bracket value / local median household income"
)
CULTURAL_FORMULA: Final = "(diversity / 0.8) * (1 - own_share)"
POLITICAL_FORMULA: Final = (
    "(1 - position * lean_sign) / 2 * |dem_share - gop_share|, position on -1 (Democratic) .. +1 "
    "(Republican), lean_sign -1 democratic / +1 republican / 0 even"
)
LEAN_SIGN: Final = {"democratic": -1.0, "republican": 1.0, "even": 0.0}


@dataclass(frozen=True)
class Pressure:
    """One pressure: its value (None when it cannot be derived), inputs, formula and a reason."""

    name: str
    value: float | None
    inputs: dict[str, Any]
    formula: str
    explanation: str
    missing: list[str] = field(default_factory=list)

    @property
    def derivable(self) -> bool:
        return self.value is not None


@dataclass(frozen=True)
class Pressures:
    conformity: Pressure
    minority_solidarity: Pressure
    economic: Pressure
    cultural: Pressure
    political: Pressure

    def items(self) -> list[Pressure]:
        return [
            self.conformity,
            self.minority_solidarity,
            self.economic,
            self.cultural,
            self.political,
        ]

    @property
    def missing_inputs(self) -> list[str]:
        """Every missing input, named once, in the order the pressures were computed."""
        seen: dict[str, None] = {}
        for pressure in self.items():
            for item in pressure.missing:
                seen.setdefault(item, None)
        return list(seen)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: {name: {value, derivable, inputs, formula, explanation, missing}}."""
        return {p.name: {**asdict(p), "derivable": p.derivable} for p in self.items()} | {
            "missing_inputs": self.missing_inputs
        }


def _clip(value: float) -> float:
    return min(1.0, max(0.0, value))


def _own_group(persona: PersonaView, context: dict) -> tuple[figures.Figure | None, list[str]]:
    own = figures.share(context, "racial_composition", persona.race_ethnicity)
    missing = [] if own else ["the area's racial composition"]
    return own, missing


def conformity_pressure(persona: PersonaView, context: dict) -> Pressure:
    """min(1, sqrt(own_share * homogeneity) * (0.5 + tendency)), homogeneity = 1 - diversity / 0.8.

    own_share is the local share of the persona's race/ethnicity group; diversity the Gini-Simpson
    index over the five groups, divided by its five-group maximum 0.8 so homogeneity spans [0, 1].
    The pull to conform is strong only when the place is homogeneous *and* the persona belongs to the
    group that makes it so: the geometric mean is high only when both are. The persona's conformity
    tendency (0.5 when unknown) scales it by 0.5x to 1.5x, so a neutral persona feels the structural
    pull as it stands.
    """
    tendency = conformity_tendency_detail(persona)
    own, missing = _own_group(persona, context)
    diversity = figures.diversity(context)
    if diversity is None:
        missing.append("the area's cultural diversity index")
    if tendency.missing:
        missing.append("traits for conformity tendency: " + ", ".join(tendency.missing))
    if own is None or diversity is None:
        return Pressure(
            "conformity",
            None,
            {},
            CONFORMITY_FORMULA,
            "not derivable: the area has no racial composition",
            missing,
        )
    homogeneity = _clip(1 - diversity.value / figures.MAX_DIVERSITY)
    structural = math.sqrt(own.value * homogeneity)
    value = _clip(structural * (0.5 + tendency.value))
    group = label("race_ethnicity", persona.race_ethnicity)
    return Pressure(
        "conformity",
        value,
        {
            "own_group": persona.race_ethnicity,
            "own_share": own.as_dict(),
            "diversity": diversity.as_dict(),
            "homogeneity": homogeneity,
            "structural_pull": structural,
            "conformity_tendency": tendency.value,
            "conformity_tendency_basis": tendency.basis,
        },
        CONFORMITY_FORMULA,
        f"{group} residents are {own.value:.0%} of the area and its homogeneity is "
        f"{homogeneity:.2f} (0 = five equal groups, 1 = one group); conformity tendency "
        f"{tendency.value:.2f}",
        missing,
    )


def minority_solidarity(persona: PersonaView, context: dict) -> Pressure:
    """1 - own_share: the share of residents outside the persona's race/ethnicity group.

    Solidarity with one's own group rises as the group becomes a smaller part of the place. No
    rescaling is needed, since the share already spans [0, 1]. A plurality group in a majority-
    minority city still scores above 0.5, because it is a minority there too.
    """
    own, missing = _own_group(persona, context)
    if own is None:
        return Pressure(
            "minority_solidarity",
            None,
            {},
            SOLIDARITY_FORMULA,
            "not derivable: the area has no racial composition",
            missing,
        )
    group = label("race_ethnicity", persona.race_ethnicity)
    position = "the local majority" if own.value > 0.5 else "a local minority"
    return Pressure(
        "minority_solidarity",
        _clip(1 - own.value),
        {"own_group": persona.race_ethnicity, "own_share": own.as_dict()},
        SOLIDARITY_FORMULA,
        f"{group} residents are {own.value:.0%} of the area {own.cite}, {position}",
        missing,
    )


def economic_pressure(persona: PersonaView, context: dict) -> Pressure:
    """1 - (1 - income_strain) * (1 - unemployment / 100), income_strain = 1 / (1 + r).

    r is the persona's bracket value (income.py: midpoint, or the Pareto median of the open top
    bracket) over the local median household income. 1 / (1 + r) is the logistic of -ln r: 0.5 at
    the local median, toward 1 far below it, toward 0 far above it, symmetric in the log of the
    ratio and with no constant to choose. Unemployment enters at face value, as the chance a local
    worker is jobless, and the two strains combine as independent chances ("either one bites"). No
    local median income: not derivable. No unemployment rate: the income strain alone, noted.
    """
    bracket = income_brackets()[persona.income]
    median = figures.median_household_income(context)
    unemployment = figures.unemployment_rate(context)
    missing = []
    if median is None:
        missing.append("the area's median household income")
    if unemployment is None:
        missing.append("the area's unemployment rate")
    if median is None or median.value <= 0:
        return Pressure(
            "economic",
            None,
            {"income_bracket": persona.income, "bracket_value": bracket.representative},
            ECONOMIC_FORMULA,
            "not derivable: the area has no median household income",
            missing,
        )
    ratio = bracket.representative / median.value
    strain = 1 / (1 + ratio)
    jobless = unemployment.value / 100 if unemployment else 0.0
    value = _clip(1 - (1 - strain) * (1 - jobless))
    inputs: dict[str, Any] = {
        "income_bracket": persona.income,
        "bracket_value": bracket.representative,
        "bracket_value_method": bracket.method,
        "median_household_income": median.as_dict(),
        "income_ratio": ratio,
        "income_strain": strain,
        "unemployment_rate": unemployment.as_dict() if unemployment else None,
    }
    jobs = (
        f"; local unemployment {unemployment.value:.1f}% {unemployment.cite}"
        if unemployment
        else "; no local unemployment rate"
    )
    return Pressure(
        "economic",
        value,
        inputs,
        ECONOMIC_FORMULA,
        f"household income around ${bracket.representative:,.0f} is {ratio:.2f} times the local "
        f"median of ${median.value:,.0f} {median.cite}{jobs}",
        missing,
    )


def cultural_pressure(persona: PersonaView, context: dict) -> Pressure:
    """(diversity / 0.8) * (1 - own_share).

    The demand to move between cultures is high where the place is diverse (diversity, divided by
    its five-group maximum 0.8 to span [0, 1]) and where the persona's own group is a small part of
    it: the product is high only when both are.
    """
    own, missing = _own_group(persona, context)
    diversity = figures.diversity(context)
    if diversity is None:
        missing.append("the area's cultural diversity index")
    if own is None or diversity is None:
        return Pressure(
            "cultural",
            None,
            {},
            CULTURAL_FORMULA,
            "not derivable: the area has no racial composition",
            missing,
        )
    scaled = _clip(diversity.value / figures.MAX_DIVERSITY)
    group = label("race_ethnicity", persona.race_ethnicity)
    return Pressure(
        "cultural",
        _clip(scaled * (1 - own.value)),
        {
            "own_group": persona.race_ethnicity,
            "own_share": own.as_dict(),
            "diversity": diversity.as_dict(),
            "diversity_scaled": scaled,
        },
        CULTURAL_FORMULA,
        f"diversity index {diversity.value:.2f} {diversity.cite} ({scaled:.0%} of the maximum) "
        f"with {group} residents {own.value:.0%} of the area",
        missing,
    )


def political_pressure(persona: PersonaView, context: dict) -> Pressure:
    """(1 - position * lean_sign) / 2 * |dem_share - gop_share| in the latest presidential election.

    position is the persona's place on the -1 (Democratic) .. +1 (Republican) axis (view.py:
    political_position); lean_sign is -1 for a Democratic area, +1 Republican, 0 even. The first
    factor is misalignment: 0 for a persona on the winning side, 1 for one fully on the losing side,
    0.5 for an independent. The second is the lean's strength as a share of all votes: a dead heat
    presses on no one, a one-party place presses hard on its dissenters.
    Unknown party and ideology: not derivable (value None), never a neutral guess, because a
    guessed 0.5 would look like a real independent.
    """
    position = political_position(persona)
    election = figures.latest_election(context)
    missing = list(position.missing)
    if election is None:
        missing.append("the area's presidential election results")
    if position.value is None:
        return Pressure(
            "political",
            None,
            position.inputs,
            POLITICAL_FORMULA,
            "not derivable: party identification and ideology are unknown",
            missing,
        )
    if election is None:
        return Pressure(
            "political",
            None,
            position.inputs,
            POLITICAL_FORMULA,
            "not derivable: the area has no presidential election results",
            missing,
        )
    lean = (context.get("political_context") or {}).get("political_lean") or "even"
    sign = LEAN_SIGN.get(lean, 0.0)
    misalignment = (1 - position.value * sign) / 2
    dominance = abs(election["dem_share"] - election["gop_share"])
    source = figures.Figure(dominance, election["year"], election.get("source", ""))
    return Pressure(
        "political",
        _clip(misalignment * dominance),
        {
            **position.inputs,
            "position": position.value,
            "political_lean": lean,
            "election_year": election["year"],
            "dem_share": election["dem_share"],
            "gop_share": election["gop_share"],
            "dominance": dominance,
            "misalignment": misalignment,
            "geography": election.get("geography", ""),
            "source": election.get("source", ""),
        },
        POLITICAL_FORMULA,
        f"the area leans {lean} by {dominance * 100:.1f} points in {election['year']} "
        f"{source.cite}; political position {position.value:+.2f} (-1 Democratic, +1 "
        f"Republican) gives misalignment "
        f"{misalignment:.2f}",
        missing,
    )


def social_pressures(persona: PersonaView, context: dict) -> Pressures:
    """The five social pressures of a persona in its area context (environmental_context)."""
    return Pressures(
        conformity=conformity_pressure(persona, context),
        minority_solidarity=minority_solidarity(persona, context),
        economic=economic_pressure(persona, context),
        cultural=cultural_pressure(persona, context),
        political=political_pressure(persona, context),
    )
