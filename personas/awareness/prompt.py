"""The text a language model reads about a persona's environment and the pressures it feels.

Written in the second person ("You live in ..."), because the model answers as the persona. Every
figure carries its year and a short source name. The scenario type decides the order and the depth
of the sections: the context that matters to the scenario comes first and in full, the rest in brief.
The same inputs always give the same text (no clock, no randomness, sorted iteration).
"""

from __future__ import annotations

from typing import Final, Literal

from environment.categories import PARTY, label
from personas.awareness import figures
from personas.awareness.income import income_brackets
from personas.awareness.pressures import Pressure, Pressures, social_pressures
from personas.awareness.view import PersonaView
from studies.models import Study

Emphasis = Literal["political", "economic", "social", "general"]

# The context each kind of study emphasizes (a test keeps every kind listed).
KIND_EMPHASIS: Final[dict[Study.Kind, Emphasis]] = {
    Study.Kind.POLICY_SUPPORT: "political",
    Study.Kind.MESSAGE_TEST: "political",
    Study.Kind.PRODUCT_PRICING: "economic",
    Study.Kind.FEATURE_PREFERENCE: "economic",
    Study.Kind.QUESTIONNAIRE: "general",
    Study.Kind.MULTI_AGENT: "social",
}
# Plain words a caller may give instead of a study kind (the persona API's `scenario_type`). A
# word or kind not listed is treated as "general": every section in full.
WORD_EMPHASIS: Final[dict[str, Emphasis]] = {
    "political": "political",
    "policy": "political",
    "election": "political",
    "voting": "political",
    "economic": "economic",
    "pricing": "economic",
    "product": "economic",
    "purchase": "economic",
    "social": "social",
    "cultural": "social",
    "community": "social",
    "general": "general",
}
SECTION_ORDER: Final[dict[Emphasis, tuple[str, ...]]] = {
    "political": ("political", "economic", "social"),
    "economic": ("economic", "social", "political"),
    "social": ("social", "political", "economic"),
    "general": ("social", "political", "economic"),
}
PRESSURE_FOR_SECTION: Final = {
    "political": ("political",),
    "economic": ("economic",),
    "social": ("minority_solidarity", "cultural", "conformity"),
}
PRESSURE_NAMES: Final = {
    "conformity": "Pressure to conform",
    "minority_solidarity": "Minority solidarity",
    "economic": "Economic pressure",
    "cultural": "Cultural pressure",
    "political": "Political pressure",
}


def scenario_emphasis(scenario_type: str) -> Emphasis:
    """The emphasis of a study kind (`Study.Kind` or its value) or of a plain word."""
    key = scenario_type.strip().lower()
    if key in Study.Kind.values:
        return KIND_EMPHASIS[Study.Kind(key)]
    return WORD_EMPHASIS.get(key, "general")


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _who(persona: PersonaView, place: str) -> str:
    noun = {"female": "woman", "male": "man"}[persona.sex]
    race = label("race_ethnicity", persona.race_ethnicity)
    education = _lower_first(label("education", persona.education))
    income = label("income", persona.income)
    text = (
        f"You are a {persona.age}-year-old {race} {noun} living in {place}. Your highest education "
        f"is {education}, and your household income is {income} a year."
    )
    politics = []
    if persona.party_code is not None:
        politics.append(f"you identify as {PARTY[persona.party_code]}")
    if persona.ideology_point is not None:
        politics.append(
            f"you place yourself at {persona.ideology_point} on a 1 (extremely liberal) to 7 "
            "(extremely conservative) scale"
        )
    if politics:
        text += " Politically, " + " and ".join(politics) + "."
    return text


def _political(context: dict, detail: bool) -> list[str]:
    election = figures.latest_election(context)
    if election is None:
        return ["No presidential election results are available for this area."]
    political = context.get("political_context") or {}
    lean = political.get("political_lean") or "even"
    cite = figures.Figure(0, election["year"], election.get("source", "")).cite
    where = f" ({election['geography']})" if election.get("geography") else ""
    lines = [
        f"In the {election['year']} presidential election, voters here{where} gave "
        f"{election['dem_share']:.1%} to the Democrat and {election['gop_share']:.1%} to the "
        f"Republican: a {lean} lean of {abs(election['margin_points']):.1f} points {cite}."
    ]
    if not detail:
        return lines
    elections = political.get("recent_election_data") or {}
    earlier = [elections[y] for y in sorted(elections, key=int) if elections[y] is not election]
    if earlier:
        parts = []
        for e in earlier:
            side = "D" if e["margin_points"] > 0 else "R" if e["margin_points"] < 0 else "even"
            margin = f"{side}+{abs(e['margin_points']):.1f}" if side != "even" else "even"
            parts.append(f"{e['year']} {margin} {figures.Figure(0, e['year'], e['source']).cite}")
        lines.append("Earlier presidential margins: " + "; ".join(parts) + ".")
    trend = political.get("trend")
    if trend:
        lines.append(
            f"From {trend['from_year']} to {trend['to_year']} the margin moved "
            f"{abs(trend['margin_change_points']):.1f} points {trend['direction']}."
        )
    competitiveness = (context.get("social_dynamics") or {}).get("political_competitiveness")
    if competitiveness:
        lines.append(
            f"Political competitiveness is {competitiveness['value']:.2f} on a 0 (one party took "
            "every vote) to 1 (dead heat) scale."
        )
    return lines


def _economic(persona: PersonaView, context: dict, detail: bool) -> list[str]:
    lines = []
    median = figures.median_household_income(context)
    bracket = income_brackets()[persona.income]
    if median is None:
        lines.append("No median household income is available for this area.")
    else:
        ratio = bracket.representative / median.value
        lines.append(
            f"The median household income here is ${median.value:,.0f} {median.cite}; a household "
            f"in your bracket ({bracket.label}, about ${bracket.representative:,.0f}) has "
            f"{ratio:.2f} times that."
        )
    unemployment = figures.unemployment_rate(context)
    if unemployment is not None:
        where = f" in {unemployment_geo}" if (unemployment_geo := _geo(context)) else ""
        lines.append(f"Unemployment{where} is {unemployment.value:.1f}% {unemployment.cite}.")
    if not detail:
        return lines
    distribution = figures.composition(context, "income_distribution")
    if distribution and persona.income in distribution["shares"]:
        cite = figures.Figure(0, distribution.get("year"), distribution.get("source", "")).cite
        lines.append(
            f"{distribution['shares'][persona.income]:.0%} of households here are in your income "
            f"bracket {cite}."
        )
    trends = (context.get("economic_indicators") or {}).get("economic_trend") or {}
    jobs = trends.get("unemployment_rate")
    if jobs:
        lines.append(
            f"Unemployment went from {jobs['from_value']:.1f}% ({jobs['from_year']}) to "
            f"{jobs['to_value']:.1f}% ({jobs['to_year']}); {jobs['note']}."
        )
    position = (context.get("social_dynamics") or {}).get("economic_position") or {}
    for key, whom in (
        ("relative_to_state", context.get("state_name")),
        ("relative_to_nation", "the US"),
    ):
        item = position.get(key)
        if not item or not whom:
            continue
        caveat = f"; {item['caveat']}" if item.get("caveat") else ""
        lines.append(
            f"The area's median household income is {item['ratio']:.2f} times {whom}'s "
            f"(${item['reference_value']:,.0f} in {item['reference_year']}){caveat}."
        )
    return lines


def _geo(context: dict) -> str:
    item = (context.get("economic_indicators") or {}).get("unemployment_rate") or {}
    return item.get("geography") or ""


def _social(persona: PersonaView, context: dict, detail: bool) -> list[str]:
    lines = []
    race = figures.composition(context, "racial_composition")
    if race is None:
        lines.append("No racial composition is available for this area.")
    else:
        cite = figures.Figure(0, race.get("year"), race.get("source", "")).cite
        shares = race["shares"]
        ordered = sorted(shares, key=lambda c: (-shares[c], c))
        if detail:
            listing = ", ".join(f"{label('race_ethnicity', c)} {shares[c]:.0%}" for c in ordered)
            lines.append(f"Residents by race/ethnicity: {listing} {cite}.")
        else:
            own = shares.get(persona.race_ethnicity)
            largest = ordered[0]
            own_text = (
                f"{label('race_ethnicity', persona.race_ethnicity)} residents are {own:.0%} of "
                "the area"
                if own is not None
                else "Your group's share is not available"
            )
            lines.append(
                f"{own_text}; the largest group is {label('race_ethnicity', largest)} at "
                f"{shares[largest]:.0%} {cite}."
            )
    diversity = figures.diversity(context)
    if diversity is not None:
        lines.append(
            f"The cultural diversity index is {diversity.value:.2f}: the chance that two residents "
            f"drawn at random belong to different groups {diversity.cite}."
        )
    if not detail:
        return lines
    for key, attribute, what in (
        ("age_distribution", "age_bracket", "people aged {}"),
        ("education_levels", "education", "people whose highest education is {}"),
    ):
        table = figures.composition(context, key)
        if table is None or getattr(persona, attribute) not in table["shares"]:
            continue
        code = getattr(persona, attribute)
        text = what.format(_lower_first(label(attribute, code)))
        cite = figures.Figure(0, table.get("year"), table.get("source", "")).cite
        lines.append(
            f"{text[:1].upper() + text[1:]} are {table['shares'][code]:.0%} of "
            f"{table.get('universe', 'residents')} here {cite}."
        )
    return lines


SECTION_TITLES: Final = {
    "political": "Politics here",
    "economic": "The local economy",
    "social": "Who lives here",
}


def _pressure_line(pressure: Pressure) -> str:
    name = PRESSURE_NAMES[pressure.name]
    if pressure.value is None:
        return f"- {name}: not known ({pressure.explanation.removeprefix('not derivable: ')})."
    return f"- {name}: {pressure.value:.2f} — {pressure.explanation}."


def generate_llm_prompt_context(
    persona: PersonaView,
    context: dict,
    *,
    scenario: str,
    scenario_type: str,
    pressures: Pressures | None = None,
) -> str:
    """The environment-and-pressures text a language model reads for this persona and scenario."""
    emphasis = scenario_emphasis(scenario_type)
    pressures = pressures if pressures is not None else social_pressures(persona, context)
    place = figures.place_name(context)
    order = SECTION_ORDER[emphasis]
    builders = {
        "political": lambda detail: _political(context, detail),
        "economic": lambda detail: _economic(persona, context, detail),
        "social": lambda detail: _social(persona, context, detail),
    }
    blocks = [f"Your local environment: {place}", _who(persona, place)]
    for index, section in enumerate(order):
        detail = emphasis == "general" or index == 0
        lines = builders[section](detail)
        blocks.append(SECTION_TITLES[section] + ":\n" + "\n".join(f"- {line}" for line in lines))

    # The pressures the scenario's emphasis points at come first.
    first = [n for s in order for n in PRESSURE_FOR_SECTION[s]]
    by_name = {p.name: p for p in pressures.items()}
    blocks.append(
        "Social pressures you feel here (0 = none, 1 = strongest):\n"
        + "\n".join(_pressure_line(by_name[n]) for n in first)
    )
    gaps = figures.not_available(context)
    if gaps:
        blocks.append(
            "Not measured for this area:\n"
            + "\n".join(f"- {g['figure'].replace('_', ' ')}: {g['reason']}" for g in gaps)
        )
    blocks.append(
        "These figures describe your area, not you; weigh them as a resident would.\n"
        f"Scenario ({scenario_type}): {scenario.strip()}"
    )
    return "\n\n".join(blocks) + "\n"
