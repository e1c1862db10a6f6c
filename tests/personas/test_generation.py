from __future__ import annotations

import re

import pytest

from config.errors import DomainError
from environment.selectors import area_marginals
from personas.models import Persona
from personas.services import AreaWeight, population_create
from tests.conftest import DEMO_AREAS

pytestmark = pytest.mark.django_db

FIELDS = ("area_id", "age", "age_bracket", "sex", "race_ethnicity", "education", "income")


def _personas(population):
    return list(
        Persona.objects.filter(population=population).order_by("index").values_list(*FIELDS)
    )


def test_the_same_seed_gives_the_same_population():
    areas = [AreaWeight(a) for a in DEMO_AREAS]
    first = population_create(size=300, areas=areas, seed=7)
    second = population_create(size=300, areas=areas, seed=7)
    other = population_create(size=300, areas=areas, seed=8)
    assert _personas(first) == _personas(second)
    assert _personas(first) != _personas(other)


def test_areas_are_weighted_by_adult_population_unless_weights_are_given():
    population = population_create(size=1000, areas=[AreaWeight(a) for a in DEMO_AREAS], seed=1)
    counts = {pa.area_id: pa.personas for pa in population.areas.all()}
    assert sum(counts.values()) == 1000
    assert (
        counts["phoenix_az_city"]
        > counts["dallas_tx_city"]
        > counts["detroit_mi_city"]
        > counts["minneapolis_mn_city"]
    )
    explicit = population_create(
        size=100, areas=[AreaWeight("dallas_tx_city", 3), AreaWeight("detroit_mi_city", 1)], seed=1
    )
    assert {pa.area_id: pa.personas for pa in explicit.areas.all()} == {
        "dallas_tx_city": 75,
        "detroit_mi_city": 25,
    }


def test_sampled_shares_follow_the_area_marginals():
    population = population_create(size=6000, areas=[AreaWeight("dallas_tx_city")], seed=3)
    targets = area_marginals(area_ids=["dallas_tx_city"])["dallas_tx_city"]
    personas = Persona.objects.filter(population=population)
    for dimension, shares in targets.items():
        for category, share in shares.items():
            observed = personas.filter(**{dimension: category}).count() / 6000
            # 4 standard errors of a binomial share at n=6000 is at most 2.6 points
            assert observed == pytest.approx(share, abs=0.026), (dimension, category)
    ages = personas.values_list("age", "age_bracket")
    assert all(18 <= age <= 90 for age, _ in ages)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": 0, "areas": [AreaWeight("dallas_tx_city")]}, "between 1 and"),
        ({"size": 10**9, "areas": [AreaWeight("dallas_tx_city")]}, "POPULATION_MAX_SIZE"),
        (
            {"size": 10, "areas": [AreaWeight("atlantis_xx_city")]},
            "Unknown area(s): atlantis_xx_city",
        ),
        ({"size": 10, "areas": []}, "at least one area"),
        (
            {"size": 10, "areas": [AreaWeight("the_villages_fl_city")]},
            "cannot hold a population: no age/sex marginals for this city",
        ),
    ],
)
def test_bad_population_requests_are_refused_with_the_reason(kwargs, message):
    with pytest.raises(DomainError, match=re.escape(message)):
        population_create(**kwargs)
