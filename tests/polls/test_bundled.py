from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from polls.bundled import BUNDLED_DATASETS
from polls.models import Crosstab, Poll, Respondent

pytestmark = pytest.mark.django_db

# The session fixture already loads these two; loading the rest covers every mapping.
ALREADY_LOADED = {"cces-2018-abortion", "anes-1996"}


def test_every_bundled_mapping_and_file_exists():
    for dataset in BUNDLED_DATASETS:
        assert dataset.mapping_path.is_file(), dataset.name


def test_load_polls_imports_every_bundled_dataset_and_prints_counts():
    names = [d.name for d in BUNDLED_DATASETS if d.name not in ALREADY_LOADED]
    out = io.StringIO()
    call_command("load_polls", only=names, stdout=out)
    printed = out.getvalue()
    for name in names:
        assert name in printed
    # Row filters keep one fieldwork period of a pooled file.
    assert Respondent.objects.filter(poll__slug="wvs-1995-1997-usa").count() == 1377
    assert Respondent.objects.filter(poll__slug="gss-2018-abortion").count() == 2348
    # The Hispanic-origin flag takes precedence over race.
    assert (
        Respondent.objects.filter(poll__slug="gss-2018-abortion", race_ethnicity="hispanic").count()
        == 349
    )
    # Thermometer ranges group numeric answers into options.
    warm = Crosstab.objects.get(
        question__poll__slug="anes-2012-party-thermometers",
        question__code="democratic-party-thermometer", dimension="all", option__code="warm",
    )  # fmt: skip
    assert 0 < warm.share < 1
    # Toplines: one poll per row, published crosstab rows, no respondents.
    toplines = Poll.objects.filter(slug__startswith="fte-2016-pres-")
    assert toplines.count() == 431
    assert not Respondent.objects.filter(poll__in=toplines).exists()
    cell = Crosstab.objects.filter(question__poll__in=toplines, dimension="state").first()
    assert cell.origin == "published"


def test_load_polls_is_idempotent():
    call_command("load_polls", only=["wvs-1995-1997-usa"], stdout=io.StringIO())
    counts = (Poll.objects.count(), Respondent.objects.count(), Crosstab.objects.count())
    call_command("load_polls", only=["wvs-1995-1997-usa"], stdout=io.StringIO())
    assert (Poll.objects.count(), Respondent.objects.count(), Crosstab.objects.count()) == counts
