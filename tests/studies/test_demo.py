"""`make demo` run again finds what the first run loaded and made, and reuses it."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from personas.models import Population
from polls.bundled import BUNDLED_DATASETS
from polls.models import Poll
from polls.selectors import bundled_datasets_missing
from studies.models import Run, Study

pytestmark = pytest.mark.django_db

FTE = next(d for d in BUNDLED_DATASETS if d.name.startswith("fte-2016"))


def _poll(slug: str) -> Poll:
    return Poll.objects.create(
        slug=slug, title=slug, pollster="Test", population="Adults", source="test"
    )


def test_a_toplines_dataset_counts_as_loaded_by_its_mapping_slug_not_its_name():
    assert FTE in bundled_datasets_missing(BUNDLED_DATASETS)
    _poll("fte-2016-pres-12345")  # the mapping names each row's poll fte-2016-pres-<id>
    assert FTE not in bundled_datasets_missing(BUNDLED_DATASETS)


@pytest.fixture
def every_dataset_present():
    """A poll for each bundled dataset the session has not loaded (the demo's own item comes
    from the CCES poll, which is loaded for real)."""
    for dataset in bundled_datasets_missing(BUNDLED_DATASETS):
        _poll(dataset.slug_prefix.rstrip("-") + ("-1" if dataset.slug_prefix.endswith("-") else ""))


def test_a_second_demo_imports_nothing_and_reuses_its_study_and_population(
    every_dataset_present, settings, tmp_path
):
    settings.VAR_DIR = tmp_path
    polls = Poll.objects.count()
    first, second = io.StringIO(), io.StringIO()
    progress = io.StringIO()
    for out in (first, second):
        call_command("run_demo", size=40, seed=7, stdout=out, stderr=progress)
    assert Poll.objects.count() == polls
    assert "dataset" not in second.getvalue()  # load_polls' table header: nothing imported
    assert "Generating 40 personas" in progress.getvalue()  # the first demo only
    assert progress.getvalue().count("Generating") == 2  # its start and end lines
    assert progress.getvalue().count(": 40/40 (100%)") == 2  # each run's bar reached the end
    assert Study.objects.filter(title="Employers declining abortion coverage").count() == 1
    assert Population.objects.filter(name__startswith="Demo:").count() == 1
    runs = list(Run.objects.order_by("id"))
    assert len(runs) == 2 and all(r.status == Run.Status.COMPLETED for r in runs)
    # Same population and seed: the same answers.
    assert runs[0].results["items"][0]["options"] == runs[1].results["items"][0]["options"]
