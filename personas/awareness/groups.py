"""Reference groups (who the persona compares itself with locally) and nearby personas (who it sits
with in a group setting)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

from environment.categories import DIMENSIONS, label
from personas.awareness import figures
from personas.awareness.view import PersonaView, political_position

Standing = Literal["majority", "largest group", "minority", "unknown"]

# (reference group kind, persona attribute, context table, how to name the group)
GROUP_TABLES: Final = (
    ("age", "age_bracket", "age_distribution", "people aged {label}"),
    ("race_ethnicity", "race_ethnicity", "racial_composition", "{label} residents"),
    ("education", "education", "education_levels", "people with {label_lower}"),
    ("income", "income", "income_distribution", "households with income {label_lower}"),
)
ORDINAL: Final = ("age_bracket", "education", "income")
NOMINAL: Final = ("sex", "race_ethnicity")


@dataclass(frozen=True)
class ReferenceGroup:
    kind: str
    category: str | None
    name: str
    local_share: float | None
    standing: Standing
    universe: str
    year: int | None
    source: str
    note: str = ""


def _standing(share: float, shares: Iterable[float]) -> Standing:
    if share > 0.5:
        return "majority"
    if share >= max(shares):
        return "largest group"
    return "minority"


def _political_group(persona: PersonaView, context: dict) -> ReferenceGroup:
    position = political_position(persona)
    election = figures.latest_election(context)
    if position.value is None:
        return ReferenceGroup(
            "political",
            None,
            "people who share your politics",
            None,
            "unknown",
            "",
            None,
            "",
            "party identification and ideology unknown",
        )
    if position.value == 0:
        side, name = None, "voters between the two parties"
    elif position.value < 0:
        side, name = "dem_share", "Democratic voters"
    else:
        side, name = "gop_share", "Republican voters"
    if election is None:
        return ReferenceGroup(
            "political",
            side,
            name,
            None,
            "unknown",
            "presidential votes",
            None,
            "",
            "the area has no presidential election results",
        )
    if side is None:
        return ReferenceGroup(
            "political",
            None,
            name,
            None,
            "unknown",
            "presidential votes",
            election["year"],
            election.get("source", ""),
            "the election results give no share for independents",
        )
    share = float(election[side])
    return ReferenceGroup(
        "political",
        side.removesuffix("_share"),
        name,
        share,
        _standing(share, [election["dem_share"], election["gop_share"]]),
        "all presidential votes cast"
        + (f", {election['geography']}" if election.get("geography") else ""),
        election["year"],
        election.get("source", ""),
    )


def reference_groups(persona: PersonaView, context: dict) -> list[ReferenceGroup]:
    """The persona's own age, race/ethnicity, education and income groups with their local shares,
    then its political side with the side's local vote share. A figure the area lacks gives a group
    with share None and a note, so the list always has the same five kinds in the same order."""
    groups = []
    for kind, attribute, table_key, template in GROUP_TABLES:
        code = getattr(persona, attribute)
        text = label(attribute, code)
        name = template.format(label=text, label_lower=text[0].lower() + text[1:])
        table = figures.composition(context, table_key)
        if table is None or code not in table["shares"]:
            groups.append(
                ReferenceGroup(
                    kind,
                    code,
                    name,
                    None,
                    "unknown",
                    "",
                    None,
                    "",
                    f"the area has no {table_key.replace('_', ' ')}",
                )
            )
            continue
        share = float(table["shares"][code])
        note = ""
        if kind == "education" and persona.age < 25 and "25" in table.get("universe", ""):
            note = "the education figures count adults 25 and over; the persona is younger"
        groups.append(
            ReferenceGroup(
                kind,
                code,
                name,
                share,
                _standing(share, table["shares"].values()),
                table.get("universe", ""),
                table.get("year"),
                table.get("source", ""),
                note,
            )
        )
    groups.append(_political_group(persona, context))
    return groups


def demographic_similarity(a: PersonaView, b: PersonaView) -> float:
    """1 - mean distance over five demographics, on [0, 1].

    Ordinal dimensions (age bracket, education, income) count the distance between the two
    categories' ranks divided by the widest possible; nominal ones (sex, race/ethnicity) count 0 for
    a match and 1 otherwise. Equal weights: no bundled data says which demographic brings people
    together more.
    """
    distances = []
    for dimension in ORDINAL:
        order = list(DIMENSIONS[dimension])
        gap = abs(order.index(getattr(a, dimension)) - order.index(getattr(b, dimension)))
        distances.append(gap / (len(order) - 1))
    for dimension in NOMINAL:
        distances.append(0.0 if getattr(a, dimension) == getattr(b, dimension) else 1.0)
    return 1 - sum(distances) / len(distances)


def nearby_personas(
    persona: PersonaView, candidates: Iterable[PersonaView], k: int
) -> list[PersonaView]:
    """The k candidates a persona would meet first in a group setting: those of its own area before
    any other, then the most demographically similar, then the closest in age; remaining ties by
    area and persona id, so the answer never depends on the order of ``candidates``. The persona
    itself (same persona_id, or the same object) is left out."""
    if k <= 0:
        return []

    def key(other: PersonaView) -> tuple:
        return (
            other.area_id != persona.area_id,
            -demographic_similarity(persona, other),
            abs(other.age - persona.age),
            other.area_id,
            other.persona_id if other.persona_id is not None else -1,
            other.age,
            other.sex,
            other.race_ethnicity,
            other.education,
            other.income,
        )

    others = [
        c
        for c in candidates
        if c is not persona and (persona.persona_id is None or c.persona_id != persona.persona_id)
    ]
    return sorted(others, key=key)[:k]
