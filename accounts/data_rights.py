"""A user's rights over their data: export everything they own in one archive, delete it, and
the operator's retention policy for old runs (seed 000's ``anonymize_historical_data``).

What a user owns: populations (with personas), studies, runs (answers, per-persona records),
held runs, policy and market analyses, multi-agent simulations, validation runs and API keys.
Audit events are kept when data is deleted (they name objects, not their contents), so the
deletion itself stays on record.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import ApiKey, AuditEvent
from accounts.services import audit_record


def _json(value) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False)


def _write_json_array(archive: zipfile.ZipFile, name: str, rows: Iterable[dict]) -> None:
    """A JSON array written a row at a time, so a run of a million personas is never one string."""
    with archive.open(name, "w") as raw, io.TextIOWrapper(raw, encoding="utf-8") as out:
        out.write("[")
        for i, row in enumerate(rows):
            out.write(",\n" if i else "\n")
            out.write(json.dumps(row, cls=DjangoJSONEncoder, ensure_ascii=False))
        out.write("\n]\n")


def user_data_export(*, user, actor=None, request=None, via: str = "api") -> bytes:
    """One zip of everything `user` owns: ``populations/<id>.json`` (personas.json layout),
    ``studies.json``, ``runs/<id>/run.json``, ``runs/<id>/answers.csv`` and
    ``runs/<id>/personas.json`` (each persona's artefacts), ``held_runs.json``,
    ``policy_analyses.json`` and ``market_analyses.json`` (each as its endpoint reports it, with
    the request), ``influence_simulations.json`` (settings, results and every persona's answers),
    ``validation_runs.json``, ``api_keys.json`` (no secrets) and ``audit.json``."""
    from accounts.selectors import audit_event_list
    from personas.models import Population
    from personas.profile.export import pool_to_json
    from personas.selectors import persona_list, persona_rows
    from studies.api.held_runs.serializers import HeldRunSerializer
    from studies.api.market.report import market_report
    from studies.api.political.report import analysis_report
    from studies.api.serializers import RunPersonaSerializer, RunSerializer, StudySerializer
    from studies.exports import answers_csv_lines
    from studies.models import HeldRun, InfluenceSimulation, MarketAnalysis, PolicyAnalysis, Run
    from studies.selectors import run_persona_list, study_list
    from validation.api.serializers import ValidationRunSerializer
    from validation.models import ValidationRun

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for population in Population.objects.filter(created_by=user).order_by("id"):
            rows = persona_rows(persona_list(population=population, filters={}))
            archive.writestr(f"populations/{population.id}.json", pool_to_json(rows))
        studies = study_list(user=user).filter(created_by=user)
        archive.writestr("studies.json", _json(StudySerializer(studies, many=True).data))
        for run in Run.objects.filter(created_by=user).order_by("id"):
            archive.writestr(f"runs/{run.id}/run.json", _json(RunSerializer(run).data))
            archive.writestr(f"runs/{run.id}/answers.csv", "".join(answers_csv_lines(run)))
            records = run_persona_list(run_id=run.id).iterator(chunk_size=500)
            _write_json_array(
                archive,
                f"runs/{run.id}/personas.json",
                (RunPersonaSerializer(record).data for record in records),
            )
        held_runs = HeldRun.objects.filter(created_by=user).order_by("id")
        archive.writestr("held_runs.json", _json(HeldRunSerializer(held_runs, many=True).data))
        policies = PolicyAnalysis.objects.filter(created_by=user).select_related("run")
        archive.writestr(
            "policy_analyses.json",
            _json([analysis_report(a) | {"request": a.request} for a in policies.order_by("id")]),
        )
        markets = MarketAnalysis.objects.filter(created_by=user).select_related("run")
        archive.writestr(
            "market_analyses.json",
            _json([market_report(a) | {"request": a.request} for a in markets.order_by("id")]),
        )
        simulations = InfluenceSimulation.objects.filter(created_by=user).order_by("id")
        _write_json_array(
            archive,
            "influence_simulations.json",
            simulations.values(
                "id",
                "run_id",
                "scenario_description",
                "enable_peer_influence",
                "parameters",
                "results",
                "responses",
                "created_at",
            ).iterator(chunk_size=100),
        )
        validations = ValidationRun.objects.filter(created_by=user).order_by("id")
        archive.writestr(
            "validation_runs.json", _json(ValidationRunSerializer(validations, many=True).data)
        )
        keys = ApiKey.objects.filter(user=user).values(
            "id", "name", "prefix", "scope", "created_at", "last_used_at", "revoked_at"
        )
        archive.writestr("api_keys.json", _json(list(keys)))
        events = audit_event_list(user=user).values(
            "created_at", "actor_name", "action", "object_type", "object_id", "object_repr", "via"
        )
        archive.writestr("audit.json", _json(list(events)))
    audit_record(
        actor=actor or user,
        action=AuditEvent.Action.DATA_EXPORT,
        owner=user,
        via=via,
        request=request,
        detail={"user": user.get_username()},
    )
    return buffer.getvalue()


@dataclass
class DeletionReport:
    runs: int = 0
    held_runs: int = 0
    studies: int = 0
    populations: int = 0
    validation_runs: int = 0
    api_keys: int = 0
    account: bool = False
    counts: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "runs": self.runs,
            "held_runs": self.held_runs,
            "studies": self.studies,
            "populations": self.populations,
            "validation_runs": self.validation_runs,
            "api_keys": self.api_keys,
            "account_deleted": self.account,
        }


def user_data_delete(
    *, user, actor=None, delete_account: bool = False, request=None, via: str = "api"
) -> DeletionReport:
    """Delete everything `user` owns, all or nothing (one transaction), runs first (a population
    is protected while a run uses it); the audit entry is written in the same transaction."""
    from personas.models import Population
    from studies.models import HeldRun, Run, Study
    from validation.models import ValidationRun

    report = DeletionReport()
    username = user.get_username()
    with transaction.atomic():
        report.runs = Run.objects.filter(created_by=user).delete()[1].get("studies.Run", 0)
        # Held on the user's behalf; others' held on this user's studies or populations go with
        # those (cascade).
        report.held_runs = (
            HeldRun.objects.filter(created_by=user).delete()[1].get("studies.HeldRun", 0)
        )
        # Runs of other users on this user's studies or populations go with them (staff may have
        # run them); a population is PROTECTed by its runs, so those runs are deleted first.
        Run.objects.filter(population__created_by=user).delete()
        report.studies = Study.objects.filter(created_by=user).delete()[1].get("studies.Study", 0)
        report.populations = (
            Population.objects.filter(created_by=user).delete()[1].get("personas.Population", 0)
        )
        report.validation_runs = (
            ValidationRun.objects.filter(created_by=user)
            .delete()[1]
            .get("validation.ValidationRun", 0)
        )
        report.api_keys = ApiKey.objects.filter(user=user).delete()[1].get("accounts.ApiKey", 0)
        audit_record(
            # The actor's name is kept as text; the link goes when the account does.
            actor=actor or user,
            action=AuditEvent.Action.DATA_DELETE,
            owner=None if delete_account else user,
            via=via,
            request=request,
            detail={"user": username, **report.as_dict(), "account_deleted": delete_account},
        )
        if delete_account:
            user.delete()
            report.account = True
    return report


@dataclass
class RetentionReport:
    mode: str
    cutoff: str
    runs: int = 0
    populations: int = 0

    def as_dict(self) -> dict:
        return {
            "mode": self.mode,
            "cutoff": self.cutoff,
            "runs": self.runs,
            "populations": self.populations,
        }


def _deliberation_reasoning_removed(runs) -> set[int]:
    """The reasoning group simulations kept from each persona's last deliberation round
    (`InfluenceSimulation.responses[].reasoning_after`, the model's words as the persona), emptied
    for `runs`; the answers before and after stay. The runs changed.

    Only simulations flagged `holds_reasoning` are read, and the flag is cleared as each is done,
    so a daily pass does not read every old simulation's responses again."""
    from studies.models import InfluenceSimulation

    changed = set()
    had_none = []
    simulations = InfluenceSimulation.objects.filter(run__in=runs, holds_reasoning=True)
    for simulation in simulations.only("id", "run_id", "responses").iterator(chunk_size=100):
        responses = simulation.responses or []
        if not any(r.get("reasoning_after") for r in responses):
            had_none.append(simulation.id)  # flagged below, without rewriting its responses
            continue
        simulation.responses = [
            {**r, "reasoning_after": ""} if r.get("reasoning_after") else r for r in responses
        ]
        simulation.holds_reasoning = False
        simulation.save(update_fields=["responses", "holds_reasoning"])
        changed.add(simulation.run_id)
    InfluenceSimulation.objects.filter(id__in=had_none).update(holds_reasoning=False)
    return changed


PSEUDONYM_BATCH = 2_000


def _population_anonymised(population) -> None:
    """Names become pseudonyms and full profiles are dropped, a batch of personas at a time (a
    population of a million is never in memory at once; the profiles are not even read)."""
    from personas.models import Persona
    from personas.profile.export import pseudonym

    personas = Persona.objects.filter(population=population).only("id", "name").order_by("id")
    batch: list = []
    for persona in personas.iterator(chunk_size=PSEUDONYM_BATCH):
        persona.name = pseudonym(f"{persona.id}|{persona.name}", salt=settings.SECRET_KEY)
        persona.profile = None
        batch.append(persona)
        if len(batch) == PSEUDONYM_BATCH:
            Persona.objects.bulk_update(batch, ["name", "profile"])
            batch = []
    if batch:
        Persona.objects.bulk_update(batch, ["name", "profile"])
    population.name = f"[anonymized] {population.name}"[:200]
    population.save(update_fields=["name"])


def retention_apply(
    *, days: int | None = None, mode: str | None = None, now=None
) -> RetentionReport | None:
    """Runs finished more than `days` ago (``RETENTION_DAYS``; off when unset) are deleted
    (``RETENTION_MODE=delete``) or anonymised (``anonymize``, the default): their per-persona
    records (profiles, narratives, reasoning), the answers' reasoning and a group simulation's
    deliberation reasoning are removed, the answers and results stay. Populations older than the
    cutoff that no newer run uses are deleted, or anonymised (names become pseudonyms, the full
    profiles dropped, exact ages kept for analysis as the answers need them)."""
    from personas.models import Population
    from studies.models import Answer, Run, RunPersona

    days = settings.RETENTION_DAYS if days is None else days
    mode = mode or settings.RETENTION_MODE
    if not days:
        return None
    if mode not in ("anonymize", "delete"):
        raise ValueError(f"RETENTION_MODE must be anonymize or delete, not {mode!r}.")
    cutoff = (now or timezone.now()) - timedelta(days=days)
    report = RetentionReport(mode=mode, cutoff=cutoff.isoformat())
    old_runs = Run.objects.filter(status__in=Run.FINISHED, finished_at__lt=cutoff)
    recent_runs = Run.objects.exclude(id__in=old_runs.values("id"))
    old_populations = Population.objects.filter(created_at__lt=cutoff).exclude(
        id__in=recent_runs.values("population_id")
    )
    with transaction.atomic():
        if mode == "delete":
            report.runs = old_runs.delete()[1].get("studies.Run", 0)
            report.populations = old_populations.delete()[1].get("personas.Population", 0)
        else:
            # Only runs that still hold something to remove: the job is idempotent and its
            # report counts what it changed.
            pending = old_runs.filter(
                Q(persona_records__isnull=False) | Q(answers__reasoning__gt="")
            ).distinct()
            run_ids = list(pending.values_list("id", flat=True))
            RunPersona.objects.filter(run_id__in=run_ids).delete()
            Answer.objects.filter(run_id__in=run_ids).update(reasoning="", think_aloud="")
            deliberated = _deliberation_reasoning_removed(old_runs)
            report.runs = len(set(run_ids) | deliberated)
            populations = list(old_populations.exclude(name__startswith="[anonymized]"))
            for population in populations:
                _population_anonymised(population)
            report.populations = len(populations)
        audit_record(
            actor=None,
            action=AuditEvent.Action.RETENTION,
            via="system",
            detail=report.as_dict(),
        )
    return report
