from __future__ import annotations

import json
import math
import random
from types import SimpleNamespace

import pytest

from environment.context import environmental_context
from personas.awareness import (
    PersonaView,
    conformity_tendency,
    conformity_tendency_detail,
    generate_llm_prompt_context,
    income_brackets,
    income_midpoint,
    nearby_personas,
    reference_groups,
    scenario_emphasis,
    social_pressures,
)
from personas.awareness.income import top_bracket_pareto
from personas.awareness.prompt import KIND_EMPHASIS
from personas.models import Persona, Population
from studies.models import Study
from tests.conftest import DEMO_AREAS

pytestmark = pytest.mark.django_db

# The base persona: a 40-year-old Black woman with some college and $25–50k income.
BASE = {
    "age": 40,
    "age_bracket": "35_44",
    "sex": "female",
    "race_ethnicity": "black",
    "education": "some_college",
    "income": "25_50k",
}
# A county whose context lacks election results, the income distribution and age brackets.
SPARSE_COUNTY = "aleutians_east_borough_ak_county"


def _view(area_id: str, **overrides) -> PersonaView:
    return PersonaView(area_id=area_id, **{**BASE, **overrides})


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


@pytest.fixture(scope="module")
def contexts(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        return {a: environmental_context(area_id=a) for a in ("dallas_tx_city", "detroit_mi_city")}


def _black_share(context: dict) -> float:
    return context["demographic_composition"]["racial_composition"]["shares"]["black"]


def _diversity(context: dict) -> float:
    return context["social_dynamics"]["cultural_diversity"]["value"]


def test_same_persona_feels_different_pressures_in_dallas_and_detroit(contexts):
    dallas = social_pressures(_view("dallas_tx_city"), contexts["dallas_tx_city"])
    detroit = social_pressures(_view("detroit_mi_city"), contexts["detroit_mi_city"])
    values = lambda p: [x.value for x in p.items() if x.value is not None]  # noqa: E731
    assert values(dallas) != values(detroit)
    # Every pressure except the political one (unknown party) is derivable in both cities.
    assert [p.name for p in dallas.items() if p.value is None] == ["political"]
    assert [p.name for p in detroit.items() if p.value is None] == ["political"]


def test_minority_solidarity_falls_where_her_group_is_a_larger_share(contexts):
    share = {a: _black_share(c) for a, c in contexts.items()}
    solidarity = {
        a: social_pressures(_view(a), c).minority_solidarity.value for a, c in contexts.items()
    }
    expected = -_sign(share["detroit_mi_city"] - share["dallas_tx_city"])
    assert expected != 0
    assert _sign(solidarity["detroit_mi_city"] - solidarity["dallas_tx_city"]) == expected
    for area in contexts:
        assert solidarity[area] == pytest.approx(1 - share[area])


def test_economic_pressure_follows_her_income_relative_to_the_local_median(contexts):
    midpoint = income_midpoint("25_50k")
    assert midpoint == 37_500  # the middle of $25,000–49,999
    expected, strain = {}, {}
    for area, context in contexts.items():
        median = context["demographic_composition"]["median_household_income"]["value"]
        unemployment = context["economic_indicators"]["unemployment_rate"]["value"]
        ratio = midpoint / median
        strain[area] = 1 / (1 + ratio)
        expected[area] = 1 - (1 - strain[area]) * (1 - unemployment / 100)
        pressure = social_pressures(_view(area), context).economic
        assert pressure.inputs["income_ratio"] == pytest.approx(ratio)
        assert pressure.inputs["income_strain"] == pytest.approx(strain[area])
        assert pressure.value == pytest.approx(expected[area])
    # A lower local median makes her relatively richer, so less income strain there.
    medians = {
        a: c["demographic_composition"]["median_household_income"]["value"]
        for a, c in contexts.items()
    }
    direction = _sign(medians["detroit_mi_city"] - medians["dallas_tx_city"])
    assert direction != 0
    assert _sign(strain["detroit_mi_city"] - strain["dallas_tx_city"]) == direction
    got = {a: social_pressures(_view(a), c).economic.value for a, c in contexts.items()}
    assert _sign(got["detroit_mi_city"] - got["dallas_tx_city"]) == _sign(
        expected["detroit_mi_city"] - expected["dallas_tx_city"]
    )


def test_cultural_and_conformity_pressures_follow_diversity_and_her_group_share(contexts):
    for area, context in contexts.items():
        share, diversity = _black_share(context), _diversity(context)
        pressures = social_pressures(_view(area), context)
        assert pressures.cultural.value == pytest.approx(diversity / 0.8 * (1 - share))
        # Neutral tendency 0.5 leaves the structural pull as it stands.
        assert pressures.conformity.value == pytest.approx(math.sqrt(share * (1 - diversity / 0.8)))
    dal, det = contexts["dallas_tx_city"], contexts["detroit_mi_city"]
    more_diverse_and_smaller = (_diversity(dal) - _diversity(det)) * (
        _black_share(det) - _black_share(dal)
    ) > 0
    assert more_diverse_and_smaller  # the real figures: Dallas is more diverse, her group smaller
    dallas = social_pressures(_view("dallas_tx_city"), dal)
    detroit = social_pressures(_view("detroit_mi_city"), det)
    assert dallas.cultural.value > detroit.cultural.value
    assert dallas.conformity.value < detroit.conformity.value


def test_political_pressure_grows_with_the_strength_of_an_opposing_lean(contexts):
    pressures = {}
    for area, context in contexts.items():
        political = context["political_context"]
        latest = political["recent_election_data"][max(political["recent_election_data"], key=int)]
        pressure = social_pressures(_view(area, party_identification="republican"), context)
        misalignment = 1.0 if political["political_lean"] == "democratic" else 0.0
        dominance = abs(latest["dem_share"] - latest["gop_share"])
        assert pressure.political.value == pytest.approx(misalignment * dominance)
        pressures[area] = (pressure.political.value, dominance)
        # A Democrat in a Democratic place is aligned: no political pressure.
        aligned = social_pressures(_view(area, party_identification="democrat"), context)
        assert aligned.political.value == (0.0 if misalignment == 1.0 else pytest.approx(dominance))
    (dal, dal_dom), (det, det_dom) = pressures["dallas_tx_city"], pressures["detroit_mi_city"]
    assert _sign(det - dal) == _sign(det_dom - dal_dom)


def test_unknown_party_makes_political_pressure_not_derivable(contexts):
    pressure = social_pressures(_view("dallas_tx_city"), contexts["dallas_tx_city"]).political
    assert pressure.value is None
    assert not pressure.derivable
    assert "party identification" in pressure.missing
    assert pressure.explanation.startswith("not derivable")


def test_ideology_alone_is_enough_for_political_pressure(contexts):
    liberal = _view("dallas_tx_city", political_ideology="liberal")
    conservative = _view("dallas_tx_city", political_ideology=7)
    context = contexts["dallas_tx_city"]
    assert social_pressures(liberal, context).political.value is not None
    assert (
        social_pressures(conservative, context).political.value
        > social_pressures(liberal, context).political.value
    )


def test_area_without_elections_reports_political_pressure_not_derivable():
    context = environmental_context(area_id=SPARSE_COUNTY)
    pressure = social_pressures(_view(SPARSE_COUNTY, party_identification="democrat"), context)
    assert pressure.political.value is None
    assert "the area's presidential election results" in pressure.political.missing


PERSONAS = [
    {},
    {"race_ethnicity": "white", "income": "150k_plus", "party_identification": "republican"},
    {"race_ethnicity": "hispanic", "income": "lt_25k", "political_ideology": 1},
    {
        "race_ethnicity": "asian",
        "party_identification": "independent",
        "traits": {"agreeableness": 100, "conscientiousness": 100, "openness": 0},
    },
    {"race_ethnicity": "other", "traits": {"conformity": 0}},
]


@pytest.mark.parametrize("area_id", [*DEMO_AREAS, "texas_state", SPARSE_COUNTY])
@pytest.mark.parametrize("overrides", PERSONAS)
def test_every_pressure_is_between_0_and_1(area_id, overrides):
    pressures = social_pressures(
        _view(area_id, **overrides), environmental_context(area_id=area_id)
    )
    for pressure in pressures.items():
        assert pressure.value is None or 0 <= pressure.value <= 1, pressure
        assert pressure.explanation and pressure.formula
    json.dumps(pressures.as_dict())  # JSON-ready at the boundary


def test_conformity_tendency_comes_from_big_five_or_is_neutral_with_a_note(contexts):
    plain = _view("detroit_mi_city")
    assert conformity_tendency(plain) == 0.5
    assert "neutral" in conformity_tendency_detail(plain).basis
    traits = {"agreeableness": 80, "conscientiousness": 70, "openness": 20}
    agreeable = _view("detroit_mi_city", traits=traits)
    assert conformity_tendency(agreeable) == pytest.approx((0.8 + 0.7 + 0.8) / 3)
    context = contexts["detroit_mi_city"]
    assert (
        social_pressures(agreeable, context).conformity.value
        > social_pressures(plain, context).conformity.value
    )
    missing = social_pressures(plain, context).missing_inputs
    assert any("conformity tendency" in m for m in missing)


def test_income_values_come_from_the_category_labels_and_a_fitted_top_tail():
    brackets = income_brackets()
    assert [(b.lower, b.upper) for b in brackets.values()] == [
        (0, 25_000),
        (25_000, 50_000),
        (50_000, 75_000),
        (75_000, 100_000),
        (100_000, 150_000),
        (150_000, None),
    ]
    tail = top_bracket_pareto()
    top = brackets["150k_plus"].representative
    assert top > 150_000
    # The bracket's median passes $200,000 exactly when most of its households are above it.
    above_half = tail["households_200k_plus"] > tail["households_150k_plus"] / 2
    assert (top > 200_000) == above_half


def test_political_scenario_prompt_cites_the_local_lean_and_election_year(contexts):
    context = contexts["detroit_mi_city"]
    text = generate_llm_prompt_context(
        _view("detroit_mi_city"),
        context,
        scenario="Should the state raise the minimum wage to $15?",
        scenario_type="policy_support",
    )
    political = context["political_context"]
    year = max(political["recent_election_data"], key=int)
    assert f"{political['political_lean']} lean of {political['political_strength']:.1f}" in text
    assert f"In the {year} presidential election" in text
    assert text.index("Politics here") < text.index("The local economy")
    assert "Political pressure: not known" in text
    assert "minimum wage" in text


def test_pricing_scenario_prompt_leads_with_the_median_income(contexts):
    context = contexts["dallas_tx_city"]
    median = context["demographic_composition"]["median_household_income"]
    text = generate_llm_prompt_context(
        _view("dallas_tx_city"),
        context,
        scenario="A meal-kit subscription at $59 a week.",
        scenario_type="product_pricing",
    )
    assert f"${median['value']:,.0f} [ACS 2022 1-year, {median['year']}]" in text
    assert text.index("The local economy") < text.index("Politics here")


def test_prompt_is_deterministic_and_in_the_second_person(contexts):
    view = _view("dallas_tx_city", party_identification="democrat")
    context = contexts["dallas_tx_city"]
    args = {"scenario": "A new city park.", "scenario_type": "multi_agent"}
    first = generate_llm_prompt_context(view, context, **args)
    assert first == generate_llm_prompt_context(view, context, **args)
    assert first.count("You are a 40-year-old") == 1
    assert "the persona" not in first.lower()
    assert first != generate_llm_prompt_context(
        view, context, scenario="A new city park.", scenario_type="political"
    )


def test_every_study_kind_has_an_emphasis_given_as_a_kind_or_its_value():
    assert set(KIND_EMPHASIS) == set(Study.Kind)
    for kind, emphasis in KIND_EMPHASIS.items():
        assert scenario_emphasis(kind) == scenario_emphasis(kind.value) == emphasis
    assert scenario_emphasis(" Pricing ") == "economic"
    assert scenario_emphasis("anything else") == "general"


def test_nearby_personas_prefer_the_same_area_then_similarity():
    me = _view("detroit_mi_city", persona_id=1)
    twin_elsewhere = _view("dallas_tx_city", persona_id=2)
    unlike_here = _view(
        "detroit_mi_city",
        persona_id=3,
        age=70,
        age_bracket="65_plus",
        sex="male",
        race_ethnicity="white",
        education="graduate",
        income="150k_plus",
    )
    like_here = _view("detroit_mi_city", persona_id=4, age=42)
    candidates = [twin_elsewhere, unlike_here, like_here, me]
    expected = [like_here, unlike_here, twin_elsewhere]
    assert nearby_personas(me, candidates, k=3) == expected
    shuffled = candidates[:]
    random.Random(5).shuffle(shuffled)
    assert nearby_personas(me, shuffled, k=3) == expected
    assert nearby_personas(me, candidates, k=1) == [like_here]


def test_reference_groups_give_her_local_standing(contexts):
    dallas = {
        g.kind: g for g in reference_groups(_view("dallas_tx_city"), contexts["dallas_tx_city"])
    }
    detroit = {
        g.kind: g
        for g in reference_groups(
            _view("detroit_mi_city", party_identification="democrat"), contexts["detroit_mi_city"]
        )
    }
    assert list(dallas) == ["age", "race_ethnicity", "education", "income", "political"]
    assert dallas["race_ethnicity"].local_share == _black_share(contexts["dallas_tx_city"])
    assert dallas["race_ethnicity"].standing == "minority"
    assert detroit["race_ethnicity"].standing == "majority"
    assert dallas["political"].standing == "unknown"
    assert detroit["political"].name == "Democratic voters"
    assert detroit["political"].standing == "majority"


def test_view_from_a_persona_row_reads_demographics_and_optional_fields():
    population = Population.objects.create(size=1, seed=1)
    row = Persona.objects.create(population=population, index=0, area_id="dallas_tx_city", **BASE)
    view = PersonaView.from_persona(row)
    assert (view.area_id, view.age, view.race_ethnicity, view.income) == (
        "dallas_tx_city",
        40,
        "black",
        "25_50k",
    )
    assert view.persona_id == row.pk
    # A persona carrying the optional fields (as the profile engineer's model will).
    richer = SimpleNamespace(
        **BASE,
        area_id="dallas_tx_city",
        pk=9,
        party_identification="republican",
        political_ideology="6",
        big_five={"agreeableness": 60, "openness": 40, "conscientiousness": 50},
    )
    view = PersonaView.from_persona(richer)
    assert view.party_code == "republican"
    assert view.ideology_point == 6
    assert view.traits["agreeableness"] == 60
    assert view.missing_inputs == ["Big Five traits: extraversion, neuroticism"]


def test_unknown_demographic_codes_are_refused():
    with pytest.raises(ValueError, match="income"):
        _view("dallas_tx_city", income="lots")
