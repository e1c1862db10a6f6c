"""The environmental context a persona sees: one area's demographic make-up, political lean and
its trend, economy and its position against the state and the nation, each figure with its year and
source, and what no bundled file measures said so (`not_available`) rather than invented. Read by
the persona engine, the persona and environment APIs (through `environment.selectors`' cache of the
rendered context) and the policy analyzer.
"""

from __future__ import annotations

import itertools

from django.db.models import Prefetch

from environment.models import Area, DemographicMarginal, EconomicIndicator, ElectionResult

# The elections the context describes: the lean, its strength, the trend and competitiveness are
# read from these, whatever older years are stored for the poll model.
CONTEXT_ELECTION_YEARS = (2016, 2020, 2024)

# A public figure the seed names that no bundled file measures; said so rather than invented.
ALWAYS_MISSING = {
    "social_cohesion": (
        "no bundled file measures trust, civic participation or neighbourhood ties for areas"
    ),
}
DIVERSITY_FORMULA = (
    "1 - sum(share^2) over the five race/ethnicity shares of all residents (Gini-Simpson index: "
    "the chance two residents drawn at random differ)"
)
COMPETITIVENESS_FORMULA = (
    "1 - |Democratic share - Republican share| in the latest presidential election, shares of "
    "all votes cast (1 = dead heat, 0 = one party took every vote)"
)
NATIONAL_INCOME_METHOD = (
    "population-weighted mean of the 50 states' and DC's median household incomes (ACS 2018 "
    "1-year, the state table); an approximation of the national median, which no bundled file "
    "gives"
)
MARGINAL_FIGURES = {
    "race_ethnicity": "racial_composition",
    "age_bracket": "age_distribution",
    "education": "education_levels",
    "income": "income_distribution",
}
INCOME = EconomicIndicator.Indicator.MEDIAN_HOUSEHOLD_INCOME
UNEMPLOYMENT = EconomicIndicator.Indicator.UNEMPLOYMENT_RATE


def _figure(row: EconomicIndicator | None) -> dict | None:
    if row is None:
        return None
    return {
        "value": row.value,
        "unit": row.unit,
        "year": row.year,
        "geography": row.geography,
        "source": row.source,
    }


def _trend(rows: list[EconomicIndicator]) -> dict | None:
    if len(rows) < 2:
        return None
    first, last = rows[0], rows[-1]
    return {
        "from_year": first.year,
        "to_year": last.year,
        "from_value": first.value,
        "to_value": last.value,
        "change": last.value - first.value,
        "unit": last.unit,
        "geography": last.geography,
        "note": (
            "overlapping ACS 5-year periods (2012-16 vs 2013-17) share four years, so the change "
            "understates year-to-year movement; dollars are nominal"
            if {first.year, last.year} == {2016, 2017}
            else "dollars are nominal"
        ),
        "sources": [first.source, last.source],
    }


def _election(row: ElectionResult) -> dict:
    two_party = row.dem_share + row.gop_share
    margin = (row.dem_share - row.gop_share) * 100
    return {
        "year": row.year,
        "dem_share": row.dem_share,
        "gop_share": row.gop_share,
        "dem_two_party_share": row.dem_share / two_party if two_party else None,
        "margin_points": margin,
        "total_votes": row.total_votes,
        "method": row.method,
        "geography": row.geography,
        "source": row.source,
    }


def _lean(margin: float) -> str:
    return "democratic" if margin > 0 else "republican" if margin < 0 else "even"


def _political_context(results: list[ElectionResult]) -> dict:
    elections = [_election(r) for r in results]
    if not elections:
        return {
            "political_lean": None,
            "political_strength": None,
            "basis": "",
            "recent_election_data": {},
            "trend": None,
        }
    latest = elections[-1]
    trend = None
    if len(elections) >= 2:
        changes = [
            {
                "from_year": a["year"],
                "to_year": b["year"],
                "margin_change_points": b["margin_points"] - a["margin_points"],
            }
            for a, b in itertools.pairwise(elections)
        ]
        total = latest["margin_points"] - elections[0]["margin_points"]
        trend = {
            "from_year": elections[0]["year"],
            "to_year": latest["year"],
            "margin_change_points": total,
            "direction": "toward democratic"
            if total > 0
            else "toward republican"
            if total < 0
            else "unchanged",
            "by_period": changes,
            "method": "change in (Democratic - Republican share) x 100 between elections",
        }
    return {
        "political_lean": _lean(latest["margin_points"]),
        "political_strength": abs(latest["margin_points"]),
        "basis": (
            f"{latest['year']} presidential margin (Democratic - Republican share of all votes, "
            "in points); strength is its absolute value"
        ),
        "recent_election_data": {str(e["year"]): e for e in elections},
        "trend": trend,
    }


def _position(
    income: EconomicIndicator | None, reference: tuple[float, int] | None, method: str
) -> dict | None:
    """The area's median household income against a reference (value, year)."""
    if income is None or reference is None or not reference[0]:
        return None
    reference_value, ref_year = reference
    same_year = income.year == ref_year
    return {
        "ratio": income.value / reference_value,
        "area_value": income.value,
        "area_year": income.year,
        "reference_value": reference_value,
        "reference_year": ref_year,
        "reference_method": method,
        "same_year": same_year,
        "caveat": ""
        if same_year
        else (
            f"nominal dollars of {income.year} against {ref_year}, not adjusted for inflation "
            "(no price index is bundled), so price growth between the years moves the ratio"
        ),
    }


def _income_references(state: str) -> tuple[tuple[float, int] | None, tuple[float, int] | None]:
    """(value, year) of the state's and of the nation's median household income, from one query
    over every state's latest figure with its population. The nation's is there only when every
    state's figure is of the same year."""
    state_rows = list(
        EconomicIndicator.objects.filter(area__kind=Area.Kind.STATE, indicator=INCOME)
        .exclude(area__state="PR")  # not part of the national figures
        .values_list("area__state", "year", "value", "area__population")
    )
    national = None
    years = {row[1] for row in state_rows}
    if state_rows and len(years) == 1:
        weight = sum(row[3] for row in state_rows)
        national = (sum(row[2] * row[3] for row in state_rows) / weight, years.pop())
    own_state = next((row for row in state_rows if row[0] == state), None)
    return (own_state[2], own_state[1]) if own_state else None, national


def _economic_position(area: Area, income: EconomicIndicator | None) -> tuple[dict, dict[str, str]]:
    """The area's income relative to its state and to the nation, and the figures of it that are
    not available with the reason."""
    state_income, national_income = _income_references(area.state)
    missing: dict[str, str] = {}
    if area.kind == Area.Kind.STATE:
        relative_state = None
        missing["economic_position.relative_to_state"] = "the area is itself a state"
    else:
        relative_state = _position(
            income,
            state_income,
            f"the state's median household income ({area.state}, state table)",
        )
    relative_nation = _position(income, national_income, NATIONAL_INCOME_METHOD)
    if income is None:
        missing["economic_position"] = "no median household income for the area"
    return {"relative_to_state": relative_state, "relative_to_nation": relative_nation}, missing


def _economic_trend(
    by_indicator: dict[EconomicIndicator.Indicator, list[EconomicIndicator]], gaps: dict[str, str]
) -> tuple[dict, dict[str, str]]:
    """The change of unemployment and income over the bundled years, and for a figure with fewer
    than two years the reason it is not available."""
    trend = {
        "unemployment_rate": _trend(by_indicator[UNEMPLOYMENT]),
        "median_household_income": _trend(by_indicator[INCOME]),
    }
    missing: dict[str, str] = {}
    for name, figure in trend.items():
        if figure is None:
            rows = by_indicator[INCOME if name.startswith("median") else UNEMPLOYMENT]
            missing[f"economic_trend.{name}"] = gaps.get(
                "economic_trend",
                f"only one year of this figure in the bundled files ({rows[0].year}, "
                f"{rows[0].source})"
                if rows
                else "no figure in the bundled files",
            )
    return trend, missing


def _described_gaps(gaps: dict[str, str]) -> dict[str, str]:
    """The recorded data gaps of figures the context describes: not of an election year it does
    not show, nor the economic trend's, which `_economic_trend` words per figure."""
    context_elections = {f"election_{year}" for year in CONTEXT_ELECTION_YEARS}
    return {
        figure: reason
        for figure, reason in gaps.items()
        if figure != "economic_trend"
        and (figure in context_elections or not figure.startswith("election_"))
    }


def _diversity(race: dict | None) -> dict | None:
    if not race:
        return None
    return {
        "value": 1 - sum(s * s for s in race["shares"].values()),
        "formula": DIVERSITY_FORMULA,
        "year": race["year"],
        "source": race["source"],
    }


def _competitiveness(political: dict) -> dict | None:
    if not political["recent_election_data"]:
        return None
    latest = list(political["recent_election_data"].values())[-1]
    return {
        "value": 1 - abs(latest["dem_share"] - latest["gop_share"]),
        "formula": COMPETITIVENESS_FORMULA,
        "year": latest["year"],
        "source": latest["source"],
    }


def _sources(
    area: Area, marginals: list[DemographicMarginal], indicators: list[EconomicIndicator]
) -> list[dict]:
    """Every source the context reads, with its year and the figures it was used for."""
    sources: dict[tuple[str, int], set[str]] = {}

    def cite(source: str, year: int, used_for: str) -> None:
        sources.setdefault((source, year), set()).add(used_for)

    cite(area.source, area.year, "population, adults, citizens of voting age")
    for m in marginals:
        cite(m.source, m.year, MARGINAL_FIGURES.get(m.dimension, m.dimension))
    for e in area.election_results.all():
        cite(e.source, e.year, f"presidential election {e.year}")
    for i in indicators:
        cite(i.source, i.year, i.indicator)
    return [
        {"source": source, "year": year, "used_for": sorted(uses)}
        for (source, year), uses in sorted(sources.items(), key=lambda kv: (kv[0][1], kv[0][0]))
    ]


def _composition(marginals: list[DemographicMarginal], dimension: str) -> dict | None:
    rows = [m for m in marginals if m.dimension == dimension]
    if not rows:
        return None
    return {
        "shares": {m.category: m.share for m in rows},
        "universe": rows[0].universe,
        "year": rows[0].year,
        "source": rows[0].source,
    }


def environmental_context(*, area_id: str) -> dict:
    """The environmental context of one area; raises Area.DoesNotExist. A bounded number of
    queries: the area with its four kinds of rows, and one for the state income table."""
    area = Area.objects.prefetch_related(
        Prefetch("marginals", queryset=DemographicMarginal.objects.order_by("dimension", "id")),
        Prefetch(
            "election_results",
            queryset=ElectionResult.objects.filter(year__in=CONTEXT_ELECTION_YEARS).order_by(
                "year"
            ),
        ),
        Prefetch(
            "economic_indicators", queryset=EconomicIndicator.objects.order_by("indicator", "year")
        ),
        "data_gaps",
    ).get(id=area_id)
    marginals = list(area.marginals.all())
    indicators = list(area.economic_indicators.all())
    gaps = {g.figure: g.reason for g in area.data_gaps.all()}
    by_indicator = {
        kind: [i for i in indicators if i.indicator == kind] for kind in (INCOME, UNEMPLOYMENT)
    }
    income = by_indicator[INCOME][-1] if by_indicator[INCOME] else None
    unemployment = by_indicator[UNEMPLOYMENT][-1] if by_indicator[UNEMPLOYMENT] else None

    demographic = {
        key: _composition(marginals, dimension) for dimension, key in MARGINAL_FIGURES.items()
    }
    political = _political_context(list(area.election_results.all()))
    economic_position, position_missing = _economic_position(area, income)
    economic_trend, trend_missing = _economic_trend(by_indicator, gaps)
    not_available = {**ALWAYS_MISSING, **position_missing, **trend_missing}
    for figure, reason in _described_gaps(gaps).items():
        not_available.setdefault(figure, reason)

    return {
        "area_id": area.id,
        "location_name": area.name,
        "kind": area.kind,
        "state": area.state,
        "state_name": area.state_name,
        "demographic_composition": {
            **demographic,
            "median_household_income": _figure(income),
            "adults": _count(area.adult_population, area),
            "citizens_voting_age": _count(area.citizens_voting_age, area),
        },
        "political_context": political,
        "social_dynamics": {
            "cultural_diversity": _diversity(demographic["racial_composition"]),
            "political_competitiveness": _competitiveness(political),
            "economic_position": economic_position,
        },
        "economic_indicators": {
            "unemployment_rate": _figure(unemployment),
            "median_income": _figure(income),
            "economic_trend": economic_trend,
        },
        "sources": _sources(area, marginals, indicators),
        "not_available": [
            {"figure": figure, "reason": reason} for figure, reason in sorted(not_available.items())
        ],
    }


def _count(value: int | None, area: Area) -> dict | None:
    if value is None:
        return None
    return {"value": value, "year": area.year, "source": area.source}
