"""The versions a validation run records, so that a change in any of them is a new point in the
accuracy series (`validation.targets` re-validates a target when one changes):

- model version: the version of every model the run scores (`polls.model.training.MODEL_VERSION`
  for the poll model; the LLM backend's model name when the run asks it);
- data version: a hash of the question's answers and the answering respondents' profiles, keyed by
  the respondents' ids in the source file (a re-import of the same file keeps it);
- code version: `VALIDATION_CODE_VERSION` (bumped when the scoring changes) and the deployed
  revision from the `CODE_VERSION` setting when set.
"""

from __future__ import annotations

import hashlib

from django.conf import settings

from polls.model.training import MODEL_VERSION, PROFILE_COLUMNS

# Bump when the split, the methods or the metrics change: every target is validated again.
VALIDATION_CODE_VERSION = "validation-3"


def code_version() -> str:
    revision = getattr(settings, "CODE_VERSION", "")
    return f"{VALIDATION_CODE_VERSION}+{revision}" if revision else VALIDATION_CODE_VERSION


def model_version(*, llm_model: str = "") -> str:
    version = f"poll_model:{MODEL_VERSION}"
    return f"{version};llm:{llm_model}" if llm_model else version


def data_version(question) -> str:
    """Hash of the question's answers with the profile and weight of each respondent."""
    from polls.models import Response

    rows = (
        Response.objects.filter(question=question)
        .order_by("respondent__external_id", "respondent_id")
        .values_list(
            "respondent__external_id",
            "option__code",
            *(f"respondent__{c}" for c in PROFILE_COLUMNS),
            "respondent__weight",
        )
    )
    digest = hashlib.sha256()
    for row in rows.iterator(chunk_size=5000):
        digest.update("\x1f".join("" if v is None else str(v) for v in row).encode())
        digest.update(b"\x1e")
    return digest.hexdigest()[:32]


def versions_of(question, *, llm_model: str = "") -> dict[str, str]:
    """The three versions of a validation of `question` run now."""
    return {
        "model_version": model_version(llm_model=llm_model),
        "data_version": data_version(question),
        "code_version": code_version(),
    }
