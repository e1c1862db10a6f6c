from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest

from config.errors import DomainError
from environment.categories import AGE_BRACKETS, DIMENSIONS
from environment.models import Area
from environment.selectors import area_marginals
from personas.joint import DIMS, Constraints, seed_for
from personas.models import Persona
from personas.services import AreaWeight, population_create
from tests.conftest import DEMO_AREAS

pytestmark = pytest.mark.django_db

DALLAS = "dallas_tx_city"
FIELDS = ("area_id", "age", *DIMENSIONS)


def _rows(population) -> list[tuple]:
    return list(
        Persona.objects.filter(population=population).order_by("index").values_list(*FIELDS)
    )


def _shares(population, dimension: str) -> dict[str, float]:
    values = Persona.objects.filter(population=population).values_list(dimension, flat=True)
    counts = Counter(values)
    total = sum(counts.values())
    return {c: counts.get(c, 0) / total for c in DIMENSIONS[dimension]}


def test_dallas_1000_matches_every_census_marginal_within_one_point():
    population = population_create(size=1000, areas=[AreaWeight(DALLAS)], seed=4)
    targets = area_marginals(area_ids=[DALLAS])[DALLAS]

    report = population.validation_report["overall"]
    assert report["personas"] == 1000
    assert report["within_goal"] is True
    for dimension in DIMENSIONS:
        block = report["dimensions"][dimension]
        assert block["max_abs_deviation_points"] <= 1.0, dimension
        assert block["total_variation_distance"] <= 0.01, dimension
        # Recounted from the stored personas, against the census figures themselves.
        achieved = _shares(population, dimension)
        for category, share in targets[dimension].items():
            assert achieved[category] == pytest.approx(share, abs=0.01), (dimension, category)
            row = next(r for r in block["categories"] if r["category"] == category)
            assert row["achieved"] == pytest.approx(achieved[category], abs=1e-6)
            assert row["target"] == pytest.approx(share, abs=1e-6)
    assert "misterP" in population.method and "IPF" in population.method
    dallas = population.validation_report["areas"][DALLAS]
    assert dallas["ipf_converged"] is True and dallas["integerised_exactly"] is True
    assert dallas["seed_table"].endswith(", TX")


def _seed_table(area_id: str, constraints: Constraints | None = None) -> np.ndarray:
    area = Area.objects.get(pk=area_id)
    race = area_marginals(area_ids=[area_id])[area_id]["race_ethnicity"]
    return seed_for(
        state=area.state,
        state_name=area.state_name,
        asian_share_of_other=race["asian"] / (race["asian"] + race["other"]),
        constraints=constraints or Constraints(),
    ).table


def _crosstab(population, row: str, column: str) -> dict[tuple[str, str], int]:
    pairs = Persona.objects.filter(population=population).values_list(row, column)
    return Counter(pairs)


def test_degrees_rise_with_income_as_in_the_seed():
    population = population_create(size=3000, areas=[AreaWeight(DALLAS)], seed=9)
    table = _crosstab(population, "income", "education")
    incomes = list(DIMENSIONS["income"])

    def degree_share(income: str) -> float:
        total = sum(n for (i, _), n in table.items() if i == income)
        degrees = table[(income, "bachelors")] + table[(income, "graduate")]
        return degrees / total

    shares = [degree_share(i) for i in incomes]
    seed = _seed_table(DALLAS).sum(axis=(0, 1, 2))  # education x income
    seed_shares = seed[3:].sum(axis=0) / seed.sum(axis=0)
    # The seed says degrees rise across every income bracket; the population keeps that.
    assert all(np.diff(seed_shares) > 0)
    assert all(b > a for a, b in itertools.pairwise(shares)), shares
    assert shares[-1] > 3 * shares[0]


def test_older_adults_lack_a_diploma_more_often_as_in_the_seed():
    population = population_create(size=3000, areas=[AreaWeight(DALLAS)], seed=9)
    table = _crosstab(population, "age_bracket", "education")

    def lt_hs_share(bracket: str) -> float:
        total = sum(n for (b, _), n in table.items() if b == bracket)
        return table[(bracket, "lt_hs")] / total

    seed = _seed_table(DALLAS).sum(axis=(1, 2, 4))  # age x education
    seed_share = dict(zip(DIMENSIONS["age_bracket"], seed[:, 0] / seed.sum(axis=1), strict=True))
    for older in ("55_64", "65_plus"):
        assert seed_share[older] > seed_share["25_34"]
        assert lt_hs_share(older) > lt_hs_share("25_34"), older


def test_constraints_are_respected():
    constraints = {"age_min": 30, "age_max": 50, "income": ["lt_25k", "25_50k"]}
    population = population_create(
        size=2000, areas=[AreaWeight(DALLAS)], seed=5, constraints=constraints
    )
    personas = Persona.objects.filter(population=population)
    assert personas.count() == 2000
    assert set(personas.values_list("income", flat=True)) == {"lt_25k", "25_50k"}
    ages = list(personas.values_list("age", "age_bracket"))
    assert min(a for a, _ in ages) == 30 and max(a for a, _ in ages) == 50
    assert all(AGE_BRACKETS[b][0] <= a <= AGE_BRACKETS[b][1] for a, b in ages)
    assert population.constraints == constraints
    report = population.validation_report["overall"]
    assert report["max_abs_deviation_points"] <= 1.0
    for dimension in DIMENSIONS:
        achieved = _shares(population, dimension)
        for row in report["dimensions"][dimension]["categories"]:
            assert row["achieved"] == pytest.approx(achieved[row["category"]], abs=1e-6)


def _slice_shares(population, dimension: str, **lookup) -> dict[str, float]:
    values = Persona.objects.filter(population=population, **lookup).values_list(
        dimension, flat=True
    )
    counts = Counter(values)
    total = sum(counts.values())
    return {c: counts.get(c, 0) / total for c in DIMENSIONS[dimension]}


@pytest.mark.parametrize(
    ("constraints", "lookup"),
    [
        ({"age_max": 24}, {"age_bracket": "18_24"}),
        ({"age_min": 65}, {"age_bracket": "65_plus"}),
        ({"income": ["150k_plus"]}, {"income": "150k_plus"}),
        (
            {"age_min": 25, "age_max": 44, "sex": ["female"]},
            {"age_bracket__in": ["25_34", "35_44"], "sex": "female"},
        ),
    ],
)
def test_a_constrained_population_looks_like_the_same_slice_of_the_whole_area(constraints, lookup):
    whole = population_create(size=20_000, areas=[AreaWeight(DALLAS)], seed=8)
    constrained = population_create(
        size=2000, areas=[AreaWeight(DALLAS)], seed=8, constraints=constraints
    )
    report = constrained.validation_report["overall"]["dimensions"]
    for dimension in DIMENSIONS:
        expected = _slice_shares(whole, dimension, **lookup)
        achieved = _shares(constrained, dimension)
        targets = {r["category"]: r["target"] for r in report[dimension]["categories"]}
        for category in DIMENSIONS[dimension]:
            # Conditional on the constraint, every dimension's mix is the slice's own.
            assert achieved[category] == pytest.approx(expected[category], abs=0.015), (
                dimension,
                category,
            )
            # And the validation report measures the population against those shares.
            assert targets[category] == pytest.approx(expected[category], abs=0.015), (
                dimension,
                category,
            )


def test_young_adults_get_the_education_mix_of_young_adults_not_of_all_adults():
    census = area_marginals(area_ids=[DALLAS])[DALLAS]["education"]
    young = population_create(
        size=2000, areas=[AreaWeight(DALLAS)], seed=6, constraints={"age_max": 24}
    )
    # The seed: graduate degrees are far rarer among 18-24 year olds than among all adults.
    seed = _seed_table(DALLAS).sum(axis=(1, 2, 4))  # age x education
    graduate = list(DIMENSIONS["education"]).index("graduate")
    seed_young = seed[0, graduate] / seed[0].sum()
    seed_all = seed[:, graduate].sum() / seed.sum()
    assert seed_young < seed_all / 2

    achieved = _shares(young, "education")["graduate"]
    assert achieved < census["graduate"] / 2
    target = next(
        r["target"]
        for r in young.validation_report["overall"]["dimensions"]["education"]["categories"]
        if r["category"] == "graduate"
    )
    assert target == pytest.approx(achieved, abs=0.01)
    assert target < census["graduate"] / 2


def test_the_same_spec_and_seed_give_identical_personas():
    spec = {
        "size": 400,
        "areas": [AreaWeight(a) for a in DEMO_AREAS],
        "constraints": {"education": ["bachelors", "graduate"], "age_min": 25},
    }
    first = population_create(seed=77, **spec)
    second = population_create(seed=77, **spec)
    other = population_create(seed=78, **spec)
    assert _rows(first) == _rows(second)
    assert _rows(first) != _rows(other)
    assert first.validation_report == second.validation_report


def test_several_areas_each_match_their_own_marginals():
    population = population_create(size=2000, areas=[AreaWeight(a) for a in DEMO_AREAS], seed=3)
    report = population.validation_report
    assert set(report["areas"]) == set(DEMO_AREAS)
    allocated = {pa.area_id: pa.personas for pa in population.areas.all()}
    census = area_marginals(area_ids=DEMO_AREAS)
    for area_id, comparison in report["areas"].items():
        assert comparison["personas"] == allocated[area_id]
        assert comparison["max_abs_deviation_points"] <= 1.0
        education = Counter(
            Persona.objects.filter(population=population, area_id=area_id).values_list(
                "education", flat=True
            )
        )
        for category, share in census[area_id]["education"].items():
            assert education[category] / allocated[area_id] == pytest.approx(share, abs=0.01)
    assert report["overall"]["max_abs_deviation_points"] <= 1.0


@pytest.mark.parametrize(
    ("constraints", "message"),
    [
        ({"age_min": 60, "age_max": 40}, "age_min <= age_max"),
        ({"age_min": 95}, "leaves nobody"),
        ({"income": []}, "allows no category"),
        ({"income": ["a_million"]}, "Unknown income categories: a_million"),
        ({"religion": ["any"]}, "Unknown constraint 'religion'"),
        # Nobody aged 18-21 is in the 55-64 bracket.
        ({"age_max": 21, "age_bracket": ["55_64"]}, "No adults of dallas_tx_city meet the age"),
    ],
)
def test_an_impossible_constraint_is_refused_with_the_reason(constraints, message):
    with pytest.raises(DomainError, match=message):
        population_create(size=100, areas=[AreaWeight(DALLAS)], seed=1, constraints=constraints)


def test_the_seed_is_cut_to_the_constraints_before_fitting():
    window = Constraints.from_spec({"age_min": 30, "age_max": 34, "sex": ["female"]})
    table = _seed_table(DALLAS, window)
    by_age = table.sum(axis=tuple(range(1, len(DIMS))))
    assert list(np.flatnonzero(by_age)) == [list(DIMENSIONS["age_bracket"]).index("25_34")]
    assert table[:, 1].sum() == 0  # male
