"""A respondent's state: names, USPS and FIPS codes are recognised; anything else is reported."""

from __future__ import annotations

import io

import pandas as pd
import pytest
import yaml
from django.core.management import CommandError, call_command

from polls.importers import PollImportError, poll_import_plan
from polls.importers.geography import us_states
from polls.models import Poll, Respondent


def _mapping(**state) -> dict:
    return {
        "poll": {
            "slug": "state-test-poll",
            "title": "State test poll",
            "pollster": "Test",
            "population": "US adults",
            "source": "built in the test",
        },
        "missing": ["", "NA"],
        "demographics": {"state": {"column": "state", **state}},
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
    }


def _frame(states: list) -> pd.DataFrame:
    return pd.DataFrame({"state": states, "answer": ["1"] * len(states)})


def _states(plan) -> list[str]:
    return [r.state for r in plan.respondents]


def test_the_state_table_is_the_environments_50_states_dc_and_puerto_rico():
    states = us_states()
    assert len(states.codes) == 52
    assert (states.names["CA"], states.fips["CA"]) == ("California", "06")
    assert (states.names["DC"], states.names["PR"]) == ("District of Columbia", "Puerto Rico")


@pytest.mark.parametrize(
    ("value", "usps"),
    [
        ("CALIFORNIA", "CA"),
        ("California", "CA"),
        ("new york", "NY"),
        ("  New   York ", "NY"),
        ("District of Columbia", "DC"),
        ("ca", "CA"),
        ("TX", "TX"),
        ("06", "CA"),
        ("6", "CA"),
        (6, "CA"),
        (6.0, "CA"),
        ("72", "PR"),
    ],
)
def test_names_in_any_case_usps_and_fips_codes_are_recognised(value, usps):
    assert _states(poll_import_plan(_frame([value]), _mapping())) == [usps]


def test_a_numeric_fips_column_is_recognised():
    frame = pd.DataFrame({"state": [6, 36, 11, 1], "answer": ["1", "0", "1", "0"]})
    assert _states(poll_import_plan(frame, _mapping())) == ["CA", "NY", "DC", "AL"]


def test_the_codes_map_is_honoured_before_names_and_codes():
    plan = poll_import_plan(
        _frame(["Washington DC", "Abroad", "California", "CA-north", "NA"]),
        _mapping(codes={"Washington DC": "DC", "Abroad": None, "CA-north": "ca"}),
    )
    assert _states(plan) == ["DC", "", "CA", "CA", ""]
    assert len(plan.respondents) == 5


def test_a_codes_map_to_something_that_is_not_a_state_is_refused():
    with pytest.raises(PollImportError, match="state code 'Ontario' maps to 'ON', not a USPS code"):
        poll_import_plan(_frame(["Ontario"]), _mapping(codes={"Ontario": "ON"}))


def test_unrecognised_states_are_named_with_their_count_and_rows():
    frame = _frame(["CALIFORNIA", "Ontario", "Guam", "Ontario", "81", "TX"])
    with pytest.raises(PollImportError) as info:
        poll_import_plan(frame, _mapping())
    problems = info.value.problems
    assert (
        "column 'state': 'Ontario' is not a US state name, USPS code or FIPS code (2 rows 3, 5)"
        in problems
    )
    assert "column 'state': 'Guam' is not a US state name, USPS code or FIPS code (1 row 4)" in (
        problems
    )
    assert any("'81' is not a US state" in p for p in problems)
    hint = problems[-1]
    assert hint.startswith("column 'state': 4 respondents have a state that is not recognised")
    assert "'codes'" in hint and "'missing'" in hint and "'unrecognised: drop'" in hint


@pytest.mark.parametrize("policy", ["ignore", "keep"])
def test_an_unknown_unrecognised_policy_is_refused(policy):
    with pytest.raises(PollImportError, match="state 'unrecognised' must be one of error, drop"):
        poll_import_plan(_frame(["TX"]), _mapping(unrecognised=policy))


def test_unrecognised_drop_leaves_those_respondents_out_and_says_so():
    frame = pd.DataFrame(
        {
            "state": ["New York", "Ontario", "Ontario", "TX", "Guam"],
            # A dropped respondent's other columns are not checked: it is not imported.
            "answer": ["1", "0", "7", "1", "0"],
        }
    )
    plan = poll_import_plan(frame, _mapping(unrecognised="drop"))
    assert _states(plan) == ["NY", "TX"]
    assert plan.rows_read == 5
    assert plan.dropped_summary == (
        "3 respondents whose state is not recognised: 'Ontario' 2, 'Guam' 1 "
        "(state unrecognised: drop)"
    )


def test_dropping_every_respondent_is_an_error():
    with pytest.raises(PollImportError, match="leaves every respondent of the file out"):
        poll_import_plan(_frame(["Ontario", "Quebec"]), _mapping(unrecognised="drop"))


@pytest.mark.django_db
def test_full_state_names_are_imported_with_their_area_linked(tmp_path):
    csv = tmp_path / "poll.csv"
    csv.write_text("state,answer\nCALIFORNIA,1\nNew York,0\n48,1\n")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(yaml.safe_dump(_mapping()))
    call_command("import_poll", csv=str(csv), mapping=mapping, stdout=io.StringIO())
    people = Respondent.objects.filter(poll__slug="state-test-poll").order_by("external_id")
    assert list(people.values_list("state", "area_id")) == [
        ("CA", "california_state"),
        ("NY", "new_york_state"),
        ("TX", "texas_state"),
    ]


@pytest.mark.django_db
def test_an_unrecognised_state_stores_nothing(tmp_path):
    csv = tmp_path / "poll.csv"
    csv.write_text("state,answer\nCALIFORNIA,1\nOntario,0\n")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(yaml.safe_dump(_mapping()))
    with pytest.raises(CommandError) as info:
        call_command("import_poll", csv=str(csv), mapping=mapping, stdout=io.StringIO())
    assert "Nothing was imported" in str(info.value)
    assert "'Ontario' is not a US state name, USPS code or FIPS code (1 row 3)" in str(info.value)
    assert not Poll.objects.filter(slug="state-test-poll").exists()


@pytest.mark.django_db
def test_the_import_summary_counts_the_respondents_left_out(tmp_path):
    csv = tmp_path / "poll.csv"
    csv.write_text("state,answer\nCALIFORNIA,1\nOntario,0\nTX,1\n")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(yaml.safe_dump(_mapping(unrecognised="drop")))
    out = io.StringIO()
    call_command("import_poll", csv=str(csv), mapping=mapping, stdout=out)
    assert "2 respondents" in out.getvalue()
    assert (
        "Left out as the mapping says: 1 respondent whose state is not recognised: 'Ontario' 1 "
        "(state unrecognised: drop)." in out.getvalue()
    )
    assert Respondent.objects.filter(poll__slug="state-test-poll").count() == 2


def test_a_respondent_left_out_for_age_is_neither_checked_nor_counted_for_state():
    mapping = _mapping(unrecognised="drop")
    mapping["demographics"]["age"] = {"column": "age", "numeric": True, "min_age": 18,
                                      "below_min": "drop"}  # fmt: skip
    frame = pd.DataFrame(
        {"state": ["TX", "Ontario", "Ontario", "CA"], "age": ["40", "15", "40", "16"],
         "answer": ["1", "0", "1", "0"]}
    )  # fmt: skip
    plan = poll_import_plan(frame, mapping)
    assert _states(plan) == ["TX"]
    assert plan.dropped_summary == (
        "2 respondents younger than 18 (age below_min: drop); 1 respondent whose state is not "
        "recognised: 'Ontario' 1 (state unrecognised: drop)"
    )
    mapping["demographics"]["state"].pop("unrecognised")
    with pytest.raises(PollImportError, match="1 respondent has a state that is not recognised"):
        poll_import_plan(frame, mapping)
