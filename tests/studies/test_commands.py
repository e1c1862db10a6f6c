"""The command line: create populations, studies and runs, list them, export results; --json for
scripts, a progress bar on stderr, and exit codes that say what failed (config.cli.ExitCode)."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from config.cli import ExitCode
from personas.models import Population
from studies.models import Answer, Run, Study
from studies.services import run_estimate, run_start

pytestmark = pytest.mark.django_db

QUESTION = "cces-2018-abortion:employers-decline-abortion-coverage"


def _call(*args, **options) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def _exit_code(*args, **options) -> int:
    with pytest.raises(CommandError) as failed:
        _call(*args, **options)
    return failed.value.returncode


@pytest.fixture
def made():
    """A population and a study made through the commands, as a script would (--json)."""
    out, err = _call(
        "create_population", "phoenix_az_city", "--size", "30", "--seed", "3", "--json"
    )
    population = json.loads(out)
    assert "Generating 30 personas" in err and "done in" in err
    study = json.loads(_call("create_study", "Coverage", "-q", QUESTION, "--json")[0])
    return population, study


def test_create_population_and_study_print_json_matching_the_database(made):
    population, study = made
    stored = Population.objects.get(pk=population["id"])
    assert (population["size"], population["seed"], population["areas"]) == (
        stored.size,
        3,
        ["phoenix_az_city"],
    )
    assert stored.personas.count() == 30
    assert study["items"][0]["code"] == "employers-decline-abortion-coverage"
    assert study["items"][0]["poll_question"] is not None


def test_start_run_draws_progress_and_prints_the_runs_headline(made):
    population, study = made
    out, err = _call(
        "start_run",
        "--study",
        str(study["id"]),
        "--population",
        str(population["id"]),
        "--backend",
        "poll_cell",
        "--seed",
        "5",
        "--chunk-size",
        "10",
        "--json",
    )
    run = Run.objects.get(pk=json.loads(out)["id"])
    summary = json.loads(out)
    assert run.status == Run.Status.COMPLETED and summary["status"] == "completed"
    assert summary["items"][0]["options"][0]["share"] == pytest.approx(
        run.results["items"][0]["options"][0]["share"]
    )
    assert f"Run {run.id}: 30/30 (100%)" in err and f"Run {run.id}: done in" in err


def test_list_objects_lists_what_was_made(made):
    population, study = made
    listed = json.loads(_call("list_objects", "populations", "--json")[0])
    assert population["id"] in [p["id"] for p in listed]
    studies = json.loads(_call("list_objects", "studies", "--json")[0])
    listed_study = next(s for s in studies if s["id"] == study["id"])
    assert (listed_study["items"], listed_study["runs"]) == (1, 0)
    text = _call("list_objects", "studies")[0]
    assert "Coverage" in text


@pytest.fixture
def finished_run(made):
    population, study = made
    out, _ = _call(
        "start_run",
        "--study",
        str(study["id"]),
        "--population",
        str(population["id"]),
        "--backend",
        "poll_cell",
        "--json",
    )
    return Run.objects.get(pk=json.loads(out)["id"])


def test_export_run_writes_the_answer_table_as_csv_and_parquet(finished_run, tmp_path):
    path = tmp_path / "answers.csv"
    out, err = _call("export_run", str(finished_run.id), "--output", str(path), "--json")
    assert json.loads(out)["rows"] == 30 and "Exporting answers: done" in err
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    stored = dict(Answer.objects.filter(run=finished_run).values_list("persona_id", "option__code"))
    assert {int(r["persona_id"]): r["answer"] for r in rows} == stored
    parquet = tmp_path / "answers.parquet"
    _call("export_run", str(finished_run.id), "--format", "parquet", "-o", str(parquet))
    assert pq.read_table(parquet).column("answer").to_pylist() == [r["answer"] for r in rows]


def test_export_run_writes_result_tables_to_stdout(finished_run):
    out, _ = _call("export_run", str(finished_run.id), "--table", "results")
    rows = list(csv.DictReader(io.StringIO(out)))
    shares = {
        r["option"]: float(r["value"])
        for r in rows
        if r["group_by"] == "all" and r["statistic"] == "share"
    }
    assert shares == {
        o["code"]: pytest.approx(o["share"]) for o in finished_run.results["items"][0]["options"]
    }


def test_export_population_as_a_table(made, tmp_path):
    population, _ = made
    path = tmp_path / "population.csv"
    _call(
        "export_run",
        "--table",
        "population",
        "--population",
        str(population["id"]),
        "-o",
        str(path),
    )
    assert len(list(csv.DictReader(path.open(encoding="utf-8")))) == 30


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("create_population", "atlantis_xx_city", "--size", "10"), ExitCode.NOT_FOUND),
        (("create_population", "phoenix_az_city", "--size", "0"), ExitCode.INVALID),
        (("create_study", "X", "-q", "no-such-poll:q"), ExitCode.NOT_FOUND),
        (("create_study", "X", "-q", QUESTION, "--kind", "referendum"), ExitCode.INVALID),
        (("start_run", "--study", "999999", "--population", "1"), ExitCode.NOT_FOUND),
        (("export_run", "999999"), ExitCode.NOT_FOUND),
        (("list_objects", "runs", "--user", "nobody"), ExitCode.NOT_FOUND),
    ],
)
def test_each_failure_exits_with_the_code_that_names_it(args, code):
    assert _exit_code(*args) == code


def test_exporting_results_of_an_unfinished_run_exits_not_ready(made):
    population, study = made
    run = run_start(
        study=Study.objects.get(pk=study["id"]),
        population=Population.objects.get(pk=population["id"]),
        backend="poll_cell",
        executor="caller",
    )
    assert _exit_code("export_run", str(run.id), "--table", "results") == ExitCode.NOT_READY
    assert _exit_code("export_run", str(run.id), "--format", "parquet") == ExitCode.USAGE


def test_another_users_run_is_not_found_for_them(finished_run, django_user_model):
    django_user_model.objects.create_user("other", password="a-long-test-password")
    assert _exit_code("export_run", str(finished_run.id), "--user", "other") == ExitCode.NOT_FOUND


def test_load_polls_shows_its_progress_on_stderr():
    out, err = _call("load_polls", "--only", "anes-1996")
    assert "anes-1996" in out
    assert "Importing polls: 1/1 (100%)" in err and "Importing polls: done in" in err


def test_export_run_writes_the_comparisons_table(finished_run):
    out, _ = _call("export_run", str(finished_run.id), "--table", "comparisons")
    rows = list(csv.DictReader(io.StringIO(out)))
    tests = finished_run.results["items"][0]["comparisons"]["groups"]["tests"]
    assert [r["dimension"] for r in rows] == [t["dimension"] for t in tests]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--backend-config", "{not json"), "--backend-config is not valid JSON"),
        (("--backend-config", "[1, 2]"), "--backend-config must be a JSON object"),
        (("--budget", "lots"), "--budget must be a number"),
        (("--budget", "-1"), "--budget must be a positive amount"),
    ],
)
def test_a_bad_backend_config_or_budget_exits_invalid_saying_why(made, extra, message):
    population, study = made
    args = ("start_run", "--study", str(study["id"]), "--population", str(population["id"]))
    with pytest.raises(CommandError) as failed:
        _call(*args, *extra)
    assert failed.value.returncode == ExitCode.INVALID
    assert message in str(failed.value)
    assert not Run.objects.exists()


def test_a_backend_config_file_that_is_missing_exits_not_found(made, tmp_path):
    population, study = made
    missing = tmp_path / "absent.json"
    code = _exit_code(
        "start_run",
        "--study",
        str(study["id"]),
        "--population",
        str(population["id"]),
        "--backend-config",
        f"@{missing}",
    )
    assert code == ExitCode.NOT_FOUND


def test_an_llm_run_stopped_at_its_budget_exits_5_with_the_reason(
    made, model_server, price, tmp_path
):
    """The LLM backend from the shell, configured from a file, against the local provider server:
    the model is far wordier than estimated, the run stops at its budget and the command says so."""
    population, study = made
    config = {
        "llm": {
            "provider": "openai",
            "model": "gpt-test",
            "seed": 3,
            "base_url": model_server.openai_base_url,
        },
        "engine": {"concurrency": 1},
    }
    path = tmp_path / "llm.json"
    path.write_text(json.dumps(config))
    estimate = run_estimate(
        study=Study.objects.get(pk=study["id"]),
        population=Population.objects.get(pk=population["id"]),
        backend="llm",
        backend_config=config,
    )
    budget = Decimal(estimate["amount"]) * Decimal("1.1")
    model_server.responder_tokens = (20_000, 500)
    args = ("start_run", "--study", str(study["id"]), "--population", str(population["id"]))
    with pytest.raises(CommandError) as failed:
        _call(*args, "--backend", "llm", "--backend-config", f"@{path}", "--budget", str(budget))
    assert failed.value.returncode == ExitCode.RUN_NOT_COMPLETED
    run = Run.objects.get()
    assert run.status == Run.Status.STOPPED
    assert run.backend_config["llm"]["model"] == "gpt-test"
    assert f"Run {run.id} ended stopped" in str(failed.value) and "budget" in str(failed.value)
