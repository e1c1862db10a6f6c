"""The frames the quality report (`studies.quality`) reads from the database: the run's answers
with each persona's demographics and party, and a poll question's respondents with their answers
mapped onto an item's options (the respondents kept per process while the poll is unchanged)."""

from __future__ import annotations

import pandas as pd
from django.db.models import Count, Max

from environment.categories import DIMENSIONS
from polls.importers.crosstabs import age_bracket_of
from polls.models import Response
from studies.analyzers.questionnaire import answers_frame, answers_frame_is_shared
from studies.models import Answer, Run

#: The persona profile field that carries party identification (personas.profile).
PERSONA_PARTY_FIELD = "party_identification"

_ANSWER_DIMENSIONS = tuple(DIMENSIONS)
_RESPONDENT_DIMENSIONS = ("sex", "race_ethnicity", "education", "income", "party")


def answers_with_demographics(run: Run) -> pd.DataFrame:
    """Every stored answer of the run with its persona's demographics and party (one query)."""
    columns = ["persona_id", "item_id", "option_id", "number", "weight", "condition"]
    if answers_frame_is_shared(run):
        # The results have read the answers already (studies.results): the profile's party among
        # them. Re-reading a large run's rows was a tenth of its results' time.
        frame = answers_frame(run)[[*columns, *_ANSWER_DIMENSIONS, "party"]]
        return frame[frame["weight"] > 0]
    fields = [*columns, *(f"persona__{d}" for d in _ANSWER_DIMENSIONS)]
    fields.append(f"persona__profile__{PERSONA_PARTY_FIELD}")
    frame = pd.DataFrame.from_records(
        list(Answer.objects.filter(run=run).values_list(*fields)),
        columns=[*columns, *_ANSWER_DIMENSIONS, "party"],
    )
    # A zero weight puts the persona outside the question's universe: it does not count.
    return frame[frame["weight"] > 0]


#: (question id, its answers' fingerprint) -> the respondents frame, item options not mapped yet.
_POLL_FRAMES: dict[tuple, pd.DataFrame] = {}
_POLL_FRAMES_KEPT = 16


def _respondents_frame(question_id: int) -> pd.DataFrame:
    """The poll question's respondents with their answer, survey weight and demographics: read
    once per process while the poll is unchanged (it is reference data; when its data last
    changed, by an import or an admin's edit, and the count and last id of the question's
    responses fingerprint it)."""
    responses = Response.objects.filter(question_id=question_id)
    seen = responses.aggregate(
        count=Count("id"), last=Max("id"), imported=Max("question__poll__data_changed_at")
    )
    key = (question_id, seen["imported"], seen["count"], seen["last"])
    frame = _POLL_FRAMES.get(key)
    if frame is None:
        frame = pd.DataFrame.from_records(
            list(
                responses.values_list(
                    "option_id",
                    "respondent__weight",
                    "respondent__age_min",
                    "respondent__age_max",
                    *(f"respondent__{d}" for d in _RESPONDENT_DIMENSIONS),
                )
            ),
            columns=["poll_option_id", "weight", "age_min", "age_max", *_RESPONDENT_DIMENSIONS],
        )
        frame["age_bracket"] = age_bracket_of(frame["age_min"], frame["age_max"])
        for stale in [k for k in _POLL_FRAMES if k[0] == question_id]:
            del _POLL_FRAMES[stale]
        while len(_POLL_FRAMES) >= _POLL_FRAMES_KEPT:
            del _POLL_FRAMES[next(iter(_POLL_FRAMES))]
        _POLL_FRAMES[key] = frame
    return frame


def poll_frame(question_id: int, item_option_of: dict[int, int]) -> tuple[pd.DataFrame, int]:
    """The poll question's respondents with their answer mapped onto the item's options, survey
    weight and demographics, and how many answered an option the item does not map."""
    frame = _respondents_frame(question_id).copy()
    frame["option_id"] = frame["poll_option_id"].map(item_option_of)
    unmapped = int(frame["option_id"].isna().sum())
    frame = frame[frame["option_id"].notna()].copy()
    frame["option_id"] = frame["option_id"].astype(int)
    return frame, unmapped
