"""Stored poll models: get the fit for a question, fitting and storing it only when missing."""

from __future__ import annotations

import hashlib
import io
import json
import threading

import numpy as np
from django.db import IntegrityError, transaction

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


def poll_model_get(
    question, *, options=None, area_predictors: bool = True, universe: bool = False
) -> QuestionFit:
    """The question's fitted model, from the store when its data and version are unchanged.

    With `universe`, the model of who belongs to the question's universe (who was asked it),
    fitted on every respondent of the poll; its second class is "inside"."""
    from polls.models import PollModelFit

    frame = universe_frame(question) if universe else question_frame(question, options=options)
    data = data_version(frame)
    key = _key(options=options, area_predictors=area_predictors, data=data, universe=universe)
    with _lock:  # threads of one process fit a question once
        row = PollModelFit.objects.filter(question=question, key=key).first()
        if row is None:
            fitted = fit_question(
                question, options=options, area_predictors=area_predictors, universe=universe
            )
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
