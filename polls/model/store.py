"""Stored poll models: get the fit for a question, fitting and storing it only when missing."""

from __future__ import annotations

import hashlib
import io
import json
import threading

import numpy as np
from django.db import IntegrityError, transaction
from django.db.models import Count, Max

from polls.model.features import Spec
from polls.model.fit import Fit
from polls.model.training import (
    MODEL_VERSION,
    QuestionFit,
    data_version,
    fit_question,
    question_frame,
    universe_frame,
)

_lock = threading.Lock()
_memo: dict[tuple, QuestionFit] = {}


def _key(*, options, area_predictors: bool, data: str, universe: bool) -> str:
    text = json.dumps(
        {
            "options": sorted(options) if options is not None else None,
            "area_predictors": area_predictors,
            "version": MODEL_VERSION,
            "data": data,
            "universe": universe,
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def _pack(fit: Fit) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, coef=fit.coef, intercept=fit.intercept, chol=fit.chol)
    return buffer.getvalue()


def _unpack(row) -> Fit:
    arrays = np.load(io.BytesIO(bytes(row.parameters)))
    return Fit(
        coef=arrays["coef"],
        intercept=arrays["intercept"],
        chol=arrays["chol"],
        log_evidence=row.diagnostics.get("log_evidence", float("nan")),
        n=row.respondents,
        seconds=row.fit_seconds,
        iterations=row.diagnostics.get("iterations", 0),
    )


def _fingerprint(question, options, universe: bool) -> tuple:
    """A cheap stand-in for the data hash within one process: the poll's import time and the
    count and last id of the rows the model reads (a re-import changes all three)."""
    from polls.models import Poll, PollModelFit, Respondent, Response

    if universe:
        seen = Respondent.objects.filter(poll_id=question.poll_id).aggregate(
            count=Count("id"), last=Max("id")
        )
    else:
        answers = Response.objects.filter(question_id=question.id)
        if options is not None:
            answers = answers.filter(option_id__in=list(options))
        seen = answers.aggregate(count=Count("id"), last=Max("id"))
    imported = Poll.objects.values_list("imported_at", flat=True).get(id=question.poll_id)
    # A stored fit deleted (to force a refit) or rolled back is not served from memory either.
    stored = PollModelFit.objects.filter(question_id=question.id).aggregate(last=Max("id"))
    return (imported, seen["count"], seen["last"], stored["last"])


def poll_model_get(
    question, *, options=None, area_predictors: bool = True, universe: bool = False
) -> QuestionFit:
    """The question's fitted model, from the store when its data and version are unchanged.

    With `universe`, the model of who belongs to the question's universe (who was asked it),
    fitted on every respondent of the poll; its second class is "inside". Within a process a fit
    is kept in memory while the rows it was fitted on are unchanged, so each chunk of a run does
    not read the question's respondents again."""
    memo_key = (
        question.id,
        tuple(sorted(options)) if options is not None else None,
        area_predictors,
        universe,
        _fingerprint(question, options, universe),
    )
    found = _memo.get(memo_key)
    if found is None:
        found = _stored_or_fitted(
            question, options=options, area_predictors=area_predictors, universe=universe
        )
        _memo[memo_key] = found
    return found


def _stored_or_fitted(question, *, options, area_predictors: bool, universe: bool) -> QuestionFit:
    from polls.models import PollModelFit

    frame = universe_frame(question) if universe else question_frame(question, options=options)
    data = data_version(frame)
    key = _key(options=options, area_predictors=area_predictors, data=data, universe=universe)
    with _lock:  # threads of one process fit a question once
        row = PollModelFit.objects.filter(question=question, key=key).first()
        if row is None:
            fitted = fit_question(question, frame=frame, area_predictors=area_predictors)
            try:
                with transaction.atomic():
                    row = PollModelFit.objects.create(
                        question=question,
                        key=key,
                        model_version=MODEL_VERSION,
                        data_version=fitted.data_version,
                        options=fitted.options,
                        spec=fitted.spec.as_dict(),
                        parameters=_pack(fitted.fit),
                        respondents=fitted.fit.n,
                        fit_seconds=fitted.seconds,
                        diagnostics={
                            "grid": fitted.grid,
                            "log_evidence": fitted.fit.log_evidence,
                            "iterations": fitted.fit.iterations,
                        },
                    )
            except IntegrityError:  # another worker stored the same fit first
                row = PollModelFit.objects.get(question=question, key=key)
            else:
                return fitted
    return QuestionFit(
        spec=Spec.from_dict(row.spec),
        fit=_unpack(row),
        options=list(row.options),
        data_version=row.data_version,
        grid=row.diagnostics.get("grid", []),
        seconds=row.fit_seconds,
    )
