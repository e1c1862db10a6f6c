from __future__ import annotations

import io

import pandas as pd
import pytest
import yaml
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction

from polls.importers import crosstabs_compute, poll_import_plan
from polls.models import Crosstab, Poll
from polls.selectors import poll_data_problems

pytestmark = pytest.mark.django_db

MAPPING = {
    "poll": {"slug": "tiny", "title": "Tiny", "pollster": "Test", "population": "test",
             "source": "written in the test"},
    "weight_column": "w",
    "demographics": {
        "age": {"column": "age", "brackets": {"18-29": [18, 29], "20-24": [20, 24], "70+": [70, 120]}},
        "race_ethnicity": {"column": "race", "codes": {"W": "white", "O": ["asian", "other"]}},
    },
    "questions": [{"code": "q", "column": "q", "text": "Q?", "options": [
        {"code": "yes", "label": "Yes", "codes": ["1"]}, {"code": "no", "label": "No", "codes": ["0"]}]}],
}  # fmt: skip


def _cells(frame: pd.DataFrame) -> dict:
    plan = poll_import_plan(frame, MAPPING)
    return {(d, c, o): (s, n) for _, d, c, o, s, n in crosstabs_compute(plan)}


def test_shares_are_weighted_and_n_is_the_unweighted_group_base():
    frame = pd.DataFrame(
        {"w": ["3", "1", "1"], "age": ["20-24", "20-24", "70+"], "race": ["W", "W", "O"],
         "q": ["1", "0", "0"]}
    )  # fmt: skip
    cells = _cells(frame)
    assert cells[("all", "all", "yes")] == (pytest.approx(3 / 5), 3)
    assert cells[("race_ethnicity", "white", "yes")] == (pytest.approx(3 / 4), 2)
    # A category spanning several platform categories is its own group, not split.
    assert cells[("race_ethnicity", "asian|other", "no")] == (pytest.approx(1.0), 1)
    assert cells[("race_ethnicity", "asian|other", "yes")] == (0.0, 1)


def test_age_ranges_map_to_a_census_bracket_only_when_inside_one():
    frame = pd.DataFrame(
        {"w": ["1"] * 3, "age": ["18-29", "20-24", "70+"], "race": ["W"] * 3, "q": ["1", "0", "1"]}
    )
    categories = {c for d, c, _ in _cells(frame) if d == "age_bracket"}
    # 18-29 spans 18_24 and 25_34, so it is left out; 70+ lies inside the open-ended 65+.
    assert categories == {"18_24", "65_plus"}


def test_cces_import_computes_crosstabs_for_every_measured_dimension():
    poll = Poll.objects.get(slug="cces-2018-abortion")
    rows = Crosstab.objects.filter(question__poll=poll)
    dims = set(rows.values_list("dimension", flat=True))
    assert dims == {"all", "age_bracket", "sex", "race_ethnicity", "education", "party", "state"}
    overall = rows.get(dimension="all", option__code="support")
    assert overall.n == 59_756
    assert 0 < overall.share < 1
    assert rows.filter(dimension="race_ethnicity", category="asian|other").exists()
    assert poll_data_problems(poll) == []


def test_database_refuses_a_share_above_one(cces_question):
    option = cces_question.options.first()
    with pytest.raises(IntegrityError), transaction.atomic():
        Crosstab.objects.create(
            question=cces_question, dimension="sex", category="x", option=option, share=1.5, n=1
        )


def test_data_problems_report_shares_not_summing_to_one_and_empty_groups(cces_question):
    Crosstab.objects.filter(question=cces_question, dimension="sex", category="male").update(
        share=0.2, n=0
    )
    problems = poll_data_problems(cces_question.poll)
    assert any("sex=male: shares sum to 0.400" in p for p in problems)
    assert any("sex=male: n is 0" in p for p in problems)


def _table_mapping(tmp_path):
    mapping = {
        "kind": "crosstabs",
        "poll": {"slug": "published-table", "title": "A published table", "pollster": "P",
                 "population": "US adults", "source": "test", "field_start": "2020-01-01",
                 "field_end": "2020-01-05"},
        "share_scale": 100,
        "questions": [{"code": "approve", "text": "Approve?", "topic_tags": ["approval"],
                       "options": [{"code": "yes", "label": "Yes"}, {"code": "no", "label": "No"}]}],
    }  # fmt: skip
    path = tmp_path / "table.yaml"
    path.write_text(yaml.safe_dump(mapping))
    return path


HEAD = "question_code,dimension,category,option_code,share,n"


def test_a_published_crosstab_table_imports_as_published_rows(tmp_path):
    csv = tmp_path / "table.csv"
    csv.write_text(
        f"{HEAD}\napprove,all,all,yes,55,1000\napprove,all,all,no,45,1000\n"
        "approve,party,democrat,yes,80,400\napprove,party,democrat,no,20,400\n"
        "approve,state,TX,yes,50,100\napprove,state,TX,no,50,100\n"
    )
    call_command(
        "import_poll", csv=str(csv), mapping=_table_mapping(tmp_path), stdout=io.StringIO()
    )
    rows = Crosstab.objects.filter(question__poll__slug="published-table")
    assert rows.count() == 6
    assert rows.get(dimension="party", option__code="yes").share == pytest.approx(0.8)
    assert set(rows.values_list("origin", flat=True)) == {"published"}


def test_a_bad_crosstab_table_names_every_row_and_writes_nothing(tmp_path):
    csv = tmp_path / "table.csv"
    csv.write_text(
        f"{HEAD}\napprove,all,all,yes,55,1000\napprove,colour,blue,yes,45,1000\n"
        "approve,party,martian,maybe,180,-3\napprove,all,all,yes,55,1000\n"
    )
    with pytest.raises(CommandError) as info:
        call_command(
            "import_poll",
            csv=str(csv),
            mapping=_table_mapping(tmp_path),
            stdout=io.StringIO(),
        )
    message = str(info.value)
    assert "row 3: dimension 'colour' is not one of" in message
    assert "row 4: option code 'maybe' is not an option of question 'approve'" in message
    assert "'martian' is not a party category" in message
    assert "share '180' must be a number between 0 and 100" in message
    assert "row 5: repeats the cell of row 2" in message
    assert not Poll.objects.filter(slug="published-table").exists()


def test_reimport_replaces_crosstabs_instead_of_adding(tmp_path):
    poll = Poll.objects.get(slug="cces-2018-abortion")
    before = Crosstab.objects.filter(question__poll=poll).count()
    from tests.conftest import CCES_CSV, CCES_MAPPING

    call_command("import_poll", csv=str(CCES_CSV), mapping=CCES_MAPPING, stdout=io.StringIO())
    assert Crosstab.objects.filter(question__poll=poll).count() == before
