"""A user exports everything they own in one archive and deletes it; retention ages runs out."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.data_rights import retention_apply
from accounts.models import AuditEvent
from accounts.services import api_key_create
from personas.models import Persona, Population
from personas.services import AreaWeight, population_create
from studies.influence.services import influence_simulation_start
from studies.influence.simulate import InfluenceParams
from studies.models import (
    Answer,
    HeldRun,
    InfluenceSimulation,
    MarketAnalysis,
    PolicyAnalysis,
    Run,
    RunPersona,
    Study,
)
from studies.pipeline import run_finalize, run_process_chunk
from studies.services import ItemSpec, run_start, study_create
from studies.services.held_runs import held_run_create
from studies.services.market import MarketRequest, market_analysis_start
from studies.services.political import PolicyRequest, policy_analysis_start

pytestmark = pytest.mark.django_db


class _Silent:
    def progress(self, **kw): ...
    def completion(self, **kw): ...
    def error(self, **kw): ...


def _finish(run: Run) -> Run:
    run_process_chunk(run_id=run.id, start=0, end=run.personas_total, reporter=_Silent())
    return run_finalize(run_id=run.id, reporter=_Silent())


def _finished_run(owner, question, *, seed: int = 1) -> Run:
    population = population_create(
        size=12, areas=[AreaWeight("phoenix_az_city")], seed=seed, created_by=owner
    )
    study = study_create(
        title=f"Owned {seed}",
        items=[ItemSpec(code="q", text=question.text, poll_question_id=question.id)],
        created_by=owner,
    )
    run = run_start(
        study=study, population=population, seed=seed, backend="poll_cell", created_by=owner
    )
    return _finish(run)


def _analyses(owner, question, llm_base_url: str, *, seed: int):
    """A finished policy analysis, a market analysis (queued: it needs the LLM) and a finished
    multi-agent simulation of `owner`."""
    policy = policy_analysis_start(
        request=PolicyRequest(
            policy_description="Let employers decline abortion coverage",
            poll_question=question.id,
            target_areas=["phoenix_az_city"],
            population_size=12,
            backend="poll_cell",
            seed=seed,
        ),
        raw={"policy_description": "Let employers decline abortion coverage"},
        environmental=False,
        created_by=owner,
    )
    _finish(policy.run)
    market = market_analysis_start(
        request=MarketRequest(
            product_name=f"Gadget {seed}",
            price_points=[10.0, 20.0],
            target_areas=["phoenix_az_city"],
            population_size=4,
            backend_config={
                "llm": {"provider": "openai", "model": "gpt-test", "base_url": llm_base_url}
            },
            seed=seed,
        ),
        raw={"product_name": f"Gadget {seed}"},
        created_by=owner,
    )
    group = population_create(
        size=12,
        areas=[AreaWeight("phoenix_az_city")],
        seed=seed,
        include_behavioral_characteristics=True,
        created_by=owner,
    )
    simulation = influence_simulation_start(
        scenario_description=f"Council vote {seed}",
        question=question,
        population=group,
        params=InfluenceParams(seed=seed),
        created_by=owner,
    )
    _finish(simulation.run)
    return policy, market, simulation


def _held_run(owner, run: Run):
    """A run `owner` holds on a population of theirs still being built."""
    building = population_create(
        size=12, areas=[AreaWeight("phoenix_az_city")], seed=3, created_by=owner, defer=True
    )
    return held_run_create(
        study=run.study,
        population=building,
        backend="poll_cell",
        backend_config={},
        budget=None,
        created_by=owner,
    )


def test_the_export_holds_everything_the_user_owns_and_nothing_else(
    api, user, cces_question, django_user_model, llm_env, fake_llm
):
    mine = _finished_run(user, cces_question)
    other = django_user_model.objects.create_user("other", password="x" * 20)
    theirs = _finished_run(other, cces_question, seed=2)
    held = _held_run(user, mine)
    _held_run(other, theirs)
    policy, market, simulation = _analyses(user, cces_question, fake_llm.openai_base_url, seed=1)
    their_policy, _, _ = _analyses(other, cces_question, fake_llm.openai_base_url, seed=2)
    api_key_create(user=user, name="laptop")
    response = api.get("/api/v1/me/export/")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = set(archive.namelist())
    assert f"populations/{mine.population_id}.json" in names
    assert f"runs/{mine.id}/answers.csv" in names and f"runs/{mine.id}/run.json" in names
    assert f"runs/{theirs.id}/run.json" not in names
    assert f"populations/{theirs.population_id}.json" not in names
    studies = json.loads(archive.read("studies.json"))
    assert sorted(s["id"] for s in studies) == sorted(
        [mine.study_id, policy.study_id, market.study_id, simulation.run.study_id]
    )
    answers = archive.read(f"runs/{mine.id}/answers.csv").decode().strip().splitlines()
    assert len(answers) == 1 + Answer.objects.filter(run=mine).count()
    held_runs = json.loads(archive.read("held_runs.json"))
    assert [(h["id"], h["study"], h["status"]) for h in held_runs] == [
        (held.id, mine.study_id, "held")
    ]
    keys = json.loads(archive.read("api_keys.json"))
    assert [k["name"] for k in keys] == ["laptop"] and "hashed_secret" not in keys[0]

    # Each persona's artefacts, for the user's runs only.
    records = json.loads(archive.read(f"runs/{mine.id}/personas.json"))
    stored = RunPersona.objects.filter(run=mine).order_by("persona__index")
    assert [r["persona"] for r in records] == [r.persona_id for r in stored]
    assert len(records) == mine.personas_total
    assert all(r["status"] == "ok" and r["profile"] and r["response"] for r in records)
    assert f"runs/{their_policy.run_id}/personas.json" not in names
    # The analyses as their endpoints report them (figures included), with the request.
    policies = json.loads(archive.read("policy_analyses.json"))
    assert [p["analysis_id"] for p in policies] == [policy.id]
    report = api.get(f"/api/v1/political/analyses/{policy.id}/").json()
    assert policies[0] == report | {"request": policy.request}
    assert policies[0]["status"] == "completed" and policies[0]["sample_size"] == 12
    markets = json.loads(archive.read("market_analyses.json"))
    assert [(m["analysis_id"], m["request"]) for m in markets] == [
        (market.id, {"product_name": "Gadget 1"})
    ]
    simulations = json.loads(archive.read("influence_simulations.json"))
    simulation.refresh_from_db()
    assert [(s["id"], s["run_id"]) for s in simulations] == [(simulation.id, simulation.run_id)]
    assert simulations[0]["results"] == json.loads(json.dumps(simulation.results))
    assert len(simulations[0]["responses"]) == 12
    assert AuditEvent.objects.filter(action="data_export", owner=user).count() == 1


def test_deleting_removes_everything_owned_keeps_others_and_the_audit_entry(
    api, user, cces_question, django_user_model, llm_env, fake_llm
):
    mine = _finished_run(user, cces_question)
    other = django_user_model.objects.create_user("other", password="x" * 20)
    theirs = _finished_run(other, cces_question, seed=2)
    held = _held_run(user, mine)
    their_held = _held_run(other, theirs)
    analyses = _analyses(user, cces_question, fake_llm.openai_base_url, seed=1)
    their_analyses = _analyses(other, cces_question, fake_llm.openai_base_url, seed=2)
    assert RunPersona.objects.filter(run=mine).exists()
    refused = api.post("/api/v1/me/delete/", {"confirm": "someone-else"}, format="json")
    assert refused.status_code == 400 and "confirm" in refused.json()["error"]["fields"]
    assert Run.objects.filter(id=mine.id).exists()

    response = api.post("/api/v1/me/delete/", {"confirm": user.username}, format="json")
    assert response.status_code == 200
    # The analyses' and the simulation's runs, studies and populations are the user's too.
    assert response.json() == {
        "runs": 4,
        "held_runs": 1,
        "studies": 4,
        "populations": 5,
        "validation_runs": 0,
        "api_keys": 0,
        "account_deleted": False,
    }
    assert not Run.objects.filter(id=mine.id).exists()
    assert not Population.objects.filter(id=mine.population_id).exists()
    assert not Persona.objects.filter(population_id=mine.population_id).exists()
    assert not Study.objects.filter(id=mine.study_id).exists()
    assert not HeldRun.objects.filter(id=held.id).exists()
    assert HeldRun.objects.filter(id=their_held.id).exists()
    assert Run.objects.filter(id=theirs.id).exists() and Answer.objects.filter(run=theirs).exists()
    # The analyses, the simulation and the per-persona artefacts go with their runs; the other
    # user's stay.
    policy, market, simulation = analyses
    assert not PolicyAnalysis.objects.filter(id=policy.id).exists()
    assert not MarketAnalysis.objects.filter(id=market.id).exists()
    assert not InfluenceSimulation.objects.filter(id=simulation.id).exists()
    assert not RunPersona.objects.filter(run_id__in=[mine.id, policy.run_id]).exists()
    their_policy, their_market, their_simulation = their_analyses
    assert PolicyAnalysis.objects.filter(id=their_policy.id).exists()
    assert MarketAnalysis.objects.filter(id=their_market.id).exists()
    assert InfluenceSimulation.objects.filter(id=their_simulation.id).exists()
    assert RunPersona.objects.filter(run_id__in=[theirs.id, their_policy.run_id]).count() == 24
    entry = AuditEvent.objects.get(action="data_delete")
    assert entry.detail["runs"] == 4 and entry.actor == user


def test_deleting_the_account_keeps_the_audit_trail(user, cces_question, django_user_model):
    _finished_run(user, cces_question)
    call_command("delete_user_data", user.username, "--account", "--yes", stdout=io.StringIO())
    assert not django_user_model.objects.filter(username=user.username).exists()
    entry = AuditEvent.objects.get(action="data_delete")
    assert entry.detail["user"] == user.username and entry.detail["account_deleted"] is True
    # The entry outlives the account it records, naming it as text.
    assert entry.actor is None and entry.owner is None
    assert entry.actor_name == user.username


def test_the_command_refuses_without_yes_and_names_unknown_users(user):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--yes"):
        call_command("delete_user_data", user.username, stdout=io.StringIO())
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        call_command("export_user_data", "ghost", "--output", "/tmp/x.zip")


def test_export_command_writes_the_zip(user, cces_question, tmp_path):
    run = _finished_run(user, cces_question)
    out = tmp_path / "mine.zip"
    call_command("export_user_data", user.username, "--output", str(out), stdout=io.StringIO())
    assert f"runs/{run.id}/answers.csv" in zipfile.ZipFile(out).namelist()


def test_retention_anonymizes_old_runs_and_keeps_their_results(
    user, cces_question, settings, monkeypatch
):
    monkeypatch.setattr("accounts.data_rights.PSEUDONYM_BATCH", 5)  # 12 personas: 5, 5 and 2
    old = _finished_run(user, cces_question)
    recent = _finished_run(user, cces_question, seed=2)
    Run.objects.filter(id=old.id).update(finished_at=timezone.now() - timedelta(days=40))
    Population.objects.filter(id=old.population_id).update(
        created_at=timezone.now() - timedelta(days=40)
    )
    answers_before = Answer.objects.filter(run=old).count()
    assert RunPersona.objects.filter(run=old).exists()
    said = [{"persona_id": 1, "answer": "a", "answer_after": "b", "reasoning_after": "My sister…"}]
    deliberated, deliberated_recently = (
        InfluenceSimulation.objects.create(run=run, scenario_description="s", responses=said)
        for run in (old, recent)
    )
    # An old run of the poll model's influence: nothing to empty, but it is checked once too.
    said_without = [{"persona_id": 1, "answer": "a", "answer_after": "b"}]
    undeliberated = InfluenceSimulation.objects.create(
        run=_finished_run(user, cces_question, seed=3),
        scenario_description="s",
        responses=said_without,
    )
    Run.objects.filter(id=undeliberated.run_id).update(
        finished_at=timezone.now() - timedelta(days=40)
    )

    report = retention_apply(days=30, mode="anonymize")
    # Both old runs (their per-persona records go); the old population only (the third run's is
    # recent).
    assert report is not None and report.runs == 2 and report.populations == 1
    deliberated.refresh_from_db()
    assert deliberated.responses == [{**said[0], "reasoning_after": ""}]  # the answers stay
    assert InfluenceSimulation.objects.get(id=deliberated_recently.id).responses == said
    assert not RunPersona.objects.filter(run=old).exists()
    assert Answer.objects.filter(run=old).count() == answers_before
    assert not Answer.objects.filter(run=old).exclude(reasoning="").exists()
    assert Run.objects.get(id=old.id).results is not None
    personas = Persona.objects.filter(population_id=old.population_id)
    assert len(personas) == 12
    assert all(p.name.startswith("persona-") and p.profile is None for p in personas)
    # The recent run is untouched, and a second pass changes nothing and reads no simulation's
    # responses again (the old one's flag was cleared, the recent one is not due).
    assert RunPersona.objects.filter(run=recent).exists()
    assert not InfluenceSimulation.objects.get(id=deliberated.id).holds_reasoning
    undeliberated.refresh_from_db()
    assert not undeliberated.holds_reasoning and undeliberated.responses == said_without
    assert InfluenceSimulation.objects.get(id=deliberated_recently.id).holds_reasoning
    with CaptureQueriesContext(connection) as queries:
        again = retention_apply(days=30, mode="anonymize")
    assert again is not None and again.runs == 0 and again.populations == 0
    read = [q["sql"] for q in queries if '"responses"' in q["sql"]]
    assert read == [] or all("holds_reasoning" in sql for sql in read), read
    assert AuditEvent.objects.filter(action="retention").count() == 2


def test_retention_delete_mode_and_off_by_default(user, cces_question, settings):
    old = _finished_run(user, cces_question)
    Run.objects.filter(id=old.id).update(finished_at=timezone.now() - timedelta(days=40))
    settings.RETENTION_DAYS = None
    assert retention_apply() is None and Run.objects.filter(id=old.id).exists()
    report = retention_apply(days=30, mode="delete")
    assert report is not None and report.runs == 1
    assert not Run.objects.filter(id=old.id).exists()


@pytest.mark.parametrize("mode", ["anonymize", "delete"])
def test_the_daily_retention_task_ages_out_old_runs_per_the_settings(
    user, cces_question, settings, mode
):
    from config.celery import app

    # The task beat sends, found by its name in the schedule as a worker finds it.
    app.loader.import_default_modules()
    task = app.tasks[settings.CELERY_BEAT_SCHEDULE["retention-apply"]["task"]]
    old = _finished_run(user, cces_question)
    recent = _finished_run(user, cces_question, seed=2)
    long_ago = timezone.now() - timedelta(days=40)
    Run.objects.filter(id=old.id).update(finished_at=long_ago)
    Population.objects.filter(id=old.population_id).update(created_at=long_ago)
    recent_names = sorted(
        Persona.objects.filter(population_id=recent.population_id).values_list("name", flat=True)
    )
    answers_before = Answer.objects.filter(run=old).count()

    settings.RETENTION_DAYS = None
    assert task.apply().get() is None
    assert RunPersona.objects.filter(run=old).exists()
    assert not AuditEvent.objects.filter(action="retention").exists()

    settings.RETENTION_DAYS, settings.RETENTION_MODE = 30, mode
    report = task.apply().get()
    assert (report["mode"], report["runs"], report["populations"]) == (mode, 1, 1)
    if mode == "delete":
        assert not Run.objects.filter(id=old.id).exists()
        assert not Population.objects.filter(id=old.population_id).exists()
        assert not Answer.objects.filter(run_id=old.id).exists()
    else:
        assert not RunPersona.objects.filter(run=old).exists()
        assert Answer.objects.filter(run=old).count() == answers_before
        assert not Answer.objects.filter(run=old).exclude(reasoning="").exists()
        personas = Persona.objects.filter(population_id=old.population_id)
        assert all(p.name.startswith("persona-") and p.profile is None for p in personas)
    # The recent run and its population are kept as they were.
    assert RunPersona.objects.filter(run=recent).count() == recent.personas_total
    assert Answer.objects.filter(run=recent).exclude(reasoning="").exists()
    assert (
        sorted(
            Persona.objects.filter(population_id=recent.population_id).values_list(
                "name", flat=True
            )
        )
        == recent_names
    )
    entry = AuditEvent.objects.get(action="retention")
    assert (entry.actor, entry.via, entry.detail) == (None, "system", report)
