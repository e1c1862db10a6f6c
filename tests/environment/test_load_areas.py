from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db.models import Sum

from environment.categories import DIMENSIONS
from environment.models import Area, DemographicMarginal

pytestmark = pytest.mark.django_db


def test_every_state_dc_and_city_of_the_files_is_loaded():
    states = Area.objects.filter(kind="state")
    assert states.exclude(state="PR").count() == 51  # 50 states + DC
    assert states.filter(state="DC").exists()
    assert Area.objects.filter(kind="city").count() == 646


@pytest.mark.parametrize(
    ("area_id", "population"),
    [  # the checked figures of shared/data/README.md
        ("texas_state", 28_701_845),
        ("dallas_tx_city", 1_299_553),
        ("detroit_mi_city", 620_410),
        ("minneapolis_mn_city", 425_104),
        ("phoenix_az_city", 1_644_403),
    ],
)
def test_population_figures_match_the_census_files(area_id, population):
    assert Area.objects.get(id=area_id).population == population


@pytest.mark.parametrize("area_id", ["dallas_tx_city", "detroit_mi_city", "texas_state"])
def test_marginals_cover_every_dimension_and_sum_to_one(area_id):
    for dimension, categories in DIMENSIONS.items():
        rows = DemographicMarginal.objects.filter(area_id=area_id, dimension=dimension)
        assert set(rows.values_list("category", flat=True)) == set(categories)
        assert rows.aggregate(total=Sum("share"))["total"] == pytest.approx(1.0)
        assert all(r.source and r.year for r in rows)


def test_city_education_comes_from_its_county_and_says_so():
    marginal = DemographicMarginal.objects.get(
        area_id="detroit_mi_city", dimension="education", category="lt_hs"
    )
    assert "county 26163" in marginal.source  # Wayne County, MI
    assert marginal.universe == "adults 25+"


def test_suppressed_race_categories_are_filled_from_state_shares_and_labelled():
    marginal = DemographicMarginal.objects.get(
        area_id="hialeah_fl_city", dimension="race_ethnicity", category="white"
    )
    assert "suppressed" in marginal.source


def test_a_second_load_updates_and_never_duplicates():
    before = (Area.objects.count(), DemographicMarginal.objects.count())
    call_command("load_areas", stdout=io.StringIO())
    assert (Area.objects.count(), DemographicMarginal.objects.count()) == before
