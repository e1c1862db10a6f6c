"""A poll records the country it was fielded in: an ISO 3166-1 alpha-2 code, US by default."""

from __future__ import annotations

import importlib
import io
import re

import pandas as pd
import pytest
import yaml
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django.test import Client

from polls.bundled import BUNDLED_DATASETS
from polls.importers import (
    PollImportError,
    crosstab_table_plan,
    load_mapping,
    poll_import_plan,
    toplines_plans,
)
from polls.importers.geography import iso_countries
from polls.models import Poll


def _mapping(country=None, **changes) -> dict:
    poll = {
        "slug": "country-test-poll",
        "title": "Country test poll",
        "pollster": "Test",
        "population": "Adults",
        "source": "built in the test",
    }
    if country is not None:
        poll["country"] = country
    return {
        "poll": poll,
        "questions": [
            {
                "code": "q",
                "column": "answer",
                "text": "Yes or no?",
                "options": [
                    {"code": "yes", "label": "Yes", "codes": ["1"]},
                    {"code": "no", "label": "No", "codes": ["0"]},
                ],
            }
        ],
        **changes,
    }


FRAME = pd.DataFrame({"answer": ["1", "0"], "state": ["TX", "Ontario"]})


def test_the_iso_list_is_the_full_3166_1_list():
    countries = iso_countries()
    assert len(countries) == 249
    assert (countries["GB"], countries["CL"], countries["CA"]) == (
        "United Kingdom",
        "Chile",
        "Canada",
    )
    assert "UK" not in countries


@pytest.mark.parametrize(("given", "stored"), [(None, "US"), ("GB", "GB"), ("cl", "CL")])
def test_a_mapping_names_the_country_or_gets_the_default(given, stored):
    assert poll_import_plan(FRAME, _mapping(given)).poll["country"] == stored


@pytest.mark.parametrize(
    ("given", "hint"),
    [
        ("UK", ""),
        ("XX", ""),
        ("USA", "; for United States write US"),
        ("United Kingdom", "; for United Kingdom write GB"),
        ("Chile", "; for Chile write CL"),
    ],
)
def test_a_country_that_is_not_an_alpha_2_code_is_refused(given, hint):
    with pytest.raises(PollImportError) as info:
        poll_import_plan(FRAME, _mapping(given))
    assert info.value.problems == [
        f"mapping: poll country '{given}' is not an ISO 3166-1 alpha-2 code (US, GB, CA, CL, …)"
        f"{hint}"
    ]


def test_a_poll_fielded_abroad_cannot_link_respondents_to_us_states():
    mapping = _mapping("CA", demographics={"state": {"column": "state"}})
    with pytest.raises(
        PollImportError,
        match=re.escape("demographics.state links to US states, but the poll's country is CA"),
    ):
        poll_import_plan(FRAME, mapping)


def test_a_crosstab_table_records_its_country_and_refuses_state_rows_abroad():
    mapping = {
        "kind": "crosstabs",
        "poll": {**_mapping("GB")["poll"]},
        "questions": [{"code": "q", "text": "Q?", "options": [{"code": "yes", "label": "Yes"}]}],
    }
    table = pd.DataFrame(
        {
            "question_code": ["q", "q"],
            "dimension": ["all", "state"],
            "category": ["all", "TX"],
            "option_code": ["yes", "yes"],
            "share": ["1", "1"],
            "n": ["10", "5"],
        }
    )
    with pytest.raises(PollImportError, match="row 3: a 'state' row links to US states"):
        crosstab_table_plan(table, mapping)
    assert crosstab_table_plan(table[:1], mapping).poll["country"] == "GB"


def test_toplines_take_the_country_from_a_template_and_check_every_row():
    mapping = {
        "kind": "toplines",
        "poll": {**_mapping()["poll"], "slug": "topline-{id}", "country": "{country}"},
        "question": {
            "code": "q",
            "text": "Q?",
            "options": [{"code": "yes", "label": "Yes", "share_column": "yes"}],
        },
    }
    frame = pd.DataFrame(
        {"id": ["1", "2", "3"], "country": ["gb", "CA", "Narnia"], "yes": ["1"] * 3}
    )
    with pytest.raises(PollImportError) as info:
        toplines_plans(frame, mapping)
    assert info.value.problems == [
        "row 4: mapping: poll country 'Narnia' is not an ISO 3166-1 alpha-2 code (US, GB, CA, CL, …)"
    ]
    plans = toplines_plans(frame[:2], mapping)
    assert [p.poll["country"] for p in plans] == ["GB", "CA"]


# Each source's country as its own documentation gives it (see polls/data/PROVENANCE.md).
BUNDLED_COUNTRIES = {
    "cces-2018-abortion": "US",
    "anes-1996": "US",
    "ipsos-538-nonvoters-2020": "US",
    "anes-2012-party-thermometers": "US",
    "gss-2018-national-spending": "US",
    "gss-2018-abortion": "US",
    "chile-1988-plebiscite": "CL",
    "beps-1997-2001": "GB",
    "wvs-1995-1997-usa": "US",
    "fte-2016-state-presidential-toplines": "US",
}


@pytest.mark.parametrize("dataset", BUNDLED_DATASETS, ids=lambda d: d.name)
def test_every_bundled_mapping_names_its_country(dataset):
    assert load_mapping(dataset.mapping_path)["poll"]["country"] == BUNDLED_COUNTRIES[dataset.name]


@pytest.mark.django_db
def test_the_british_and_chilean_bundled_polls_are_stored_with_their_country():
    call_command(
        "load_polls",
        only=["beps-1997-2001", "chile-1988-plebiscite", "wvs-1995-1997-usa"],
        stdout=io.StringIO(),
    )
    countries = dict(
        Poll.objects.filter(
            slug__in=["beps-1997-2001", "chile-1988-plebiscite", "wvs-1995-1997-usa"]
        ).values_list("slug", "country")
    )
    assert countries == {
        "beps-1997-2001": "GB",
        "chile-1988-plebiscite": "CL",
        "wvs-1995-1997-usa": "US",
    }
    assert Poll.objects.get(slug="cces-2018-abortion").country == "US"


@pytest.mark.django_db
def test_the_migration_corrects_bundled_polls_loaded_before_it():
    for slug in ("beps-1997-2001", "chile-1988-plebiscite"):
        Poll.objects.create(slug=slug, title=slug, pollster="P", population="p", source="s")
    migration = importlib.import_module("polls.migrations.0003_poll_country")
    migration.bundled_polls_abroad(apps, None)
    assert Poll.objects.get(slug="beps-1997-2001").country == "GB"
    assert Poll.objects.get(slug="chile-1988-plebiscite").country == "CL"


@pytest.mark.django_db
def test_the_command_stores_the_country_and_refuses_a_wrong_one(tmp_path):
    csv = tmp_path / "poll.csv"
    csv.write_text("answer\n1\n0\n")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(yaml.safe_dump(_mapping("UK")))
    with pytest.raises(CommandError, match="poll country 'UK' is not an ISO 3166-1 alpha-2 code"):
        call_command("import_poll", csv=str(csv), mapping=mapping, stdout=io.StringIO())
    assert not Poll.objects.filter(slug="country-test-poll").exists()
    mapping.write_text(yaml.safe_dump(_mapping("GB")))
    call_command("import_poll", csv=str(csv), mapping=mapping, stdout=io.StringIO())
    assert Poll.objects.get(slug="country-test-poll").country == "GB"


@pytest.mark.django_db
def test_the_database_refuses_a_country_that_is_not_two_capitals():
    with pytest.raises(IntegrityError), transaction.atomic():
        Poll.objects.create(
            slug="bad-country", title="t", pollster="p", population="p", source="s", country="gb"
        )


@pytest.mark.django_db
def test_the_api_shows_the_country_in_the_list_and_the_detail(api):
    Poll.objects.filter(slug="anes-1996").update(country="GB")  # any non-default value
    listed = {p["slug"]: p["country"] for p in api.get("/api/v1/polls/").json()["results"]}
    assert listed["anes-1996"] == "GB" and listed["cces-2018-abortion"] == "US"
    poll = Poll.objects.get(slug="cces-2018-abortion")
    assert api.get(f"/api/v1/polls/{poll.id}/").json()["country"] == "US"


@pytest.mark.django_db
def test_the_admin_lists_filters_and_validates_the_country():
    get_user_model().objects.create_superuser("curator", "c@example.org", "a-long-test-password")
    client = Client()
    client.login(username="curator", password="a-long-test-password")
    listing = client.get("/admin/polls/poll/?country__exact=US")
    assert listing.status_code == 200
    assert b"cces-2018-abortion" in listing.content and b"column-country" in listing.content
    poll = Poll.objects.get(slug="anes-1996")
    page = client.get(f"/admin/polls/poll/{poll.id}/change/")
    assert b"United Kingdom (GB)" in page.content  # a choice among the ISO countries
