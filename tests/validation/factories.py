"""Small polls made for a test, each with the property it exercises."""

from __future__ import annotations

import numpy as np

from environment.models import ElectionResult
from polls.model.area import state_regions
from polls.models import Option, Poll, Question, Respondent, Response

VOTE_STATES = ["CA", "TX", "FL", "NY", "PA", "OH", "GA", "MI", "WA", "AZ"]


def _poll(slug: str, year: int = 2017) -> Poll:
    return Poll.objects.create(
        slug=slug, title=slug, pollster="t", population="US adults", source="t", year=year
    )


def _binary(poll: Poll, code: str, first: str, second: str) -> tuple[Question, Option, Option]:
    question = Question.objects.create(poll=poll, code=code, text=f"{code}?")
    a = Option.objects.create(question=question, code=first, label=first, order=0)
    b = Option.objects.create(question=question, code=second, label=second, order=1)
    return question, a, b


def vote_poll(n: int = 4000) -> Question:
    """Respondents whose vote follows each state's real 2016 two-party result."""
    rng = np.random.default_rng(3)
    share = {
        r.area.state: r.dem_share / (r.dem_share + r.gop_share)
        for r in ElectionResult.objects.filter(
            year=2016, area__kind="state", area__state__in=VOTE_STATES
        ).select_related("area")
    }
    poll = _poll("vote-2016")
    question, dem, gop = _binary(poll, "vote", "dem", "gop")
    Respondent.objects.bulk_create(
        Respondent(
            poll=poll,
            external_id=str(i),
            sex=str(rng.choice(["female", "male"])),
            state=VOTE_STATES[i % len(VOTE_STATES)],
            age_min=40,
            age_max=40,
        )
        for i in range(n)
    )
    Response.objects.bulk_create(
        Response(
            respondent=r,
            question=question,
            option=dem if rng.random() < share[r.state] else gop,
        )
        for r in Respondent.objects.filter(poll=poll)
    )
    return question


def weighted_poll(n: int = 8000, *, share: float = 0.3, states: int = 40) -> Question:
    """Everyone answers "yes" with the same probability, whatever their state or weight; 15 % of
    respondents carry a survey weight of 12, the rest 1 (Kish's effective n is about 31 % of n)."""
    rng = np.random.default_rng(5)
    codes = sorted(state_regions())[:states]
    poll = _poll("weighted")
    question, yes, no = _binary(poll, "item", "yes", "no")
    Respondent.objects.bulk_create(
        Respondent(
            poll=poll,
            external_id=str(i),
            sex=str(rng.choice(["female", "male"])),
            state=codes[i % len(codes)],
            weight=12.0 if rng.random() < 0.15 else 1.0,
        )
        for i in range(n)
    )
    Response.objects.bulk_create(
        Response(respondent=r, question=question, option=yes if rng.random() < share else no)
        for r in Respondent.objects.filter(poll=poll)
    )
    return question


def bare_poll(n: int = 300) -> Question:
    """A poll that recorded nothing about its respondents."""
    rng = np.random.default_rng(7)
    poll = _poll("bare")
    question, yes, no = _binary(poll, "item", "yes", "no")
    Respondent.objects.bulk_create(Respondent(poll=poll, external_id=str(i)) for i in range(n))
    Response.objects.bulk_create(
        Response(respondent=r, question=question, option=yes if rng.random() < 0.6 else no)
        for r in Respondent.objects.filter(poll=poll)
    )
    return question


def full_profile_poll(n: int = 600) -> Question:
    """Respondents with every census dimension a persona needs (the CCES extract has no income),
    whose answer leans on their education."""
    from environment.categories import DIMENSIONS

    rng = np.random.default_rng(11)
    poll = _poll("full-profile")
    question, yes, no = _binary(poll, "item", "yes", "no")
    educations = list(DIMENSIONS["education"])
    Respondent.objects.bulk_create(
        Respondent(
            poll=poll,
            external_id=str(i),
            sex=str(rng.choice(list(DIMENSIONS["sex"]))),
            race_ethnicity=str(rng.choice(list(DIMENSIONS["race_ethnicity"]))),
            education=educations[i % len(educations)],
            income=str(rng.choice(list(DIMENSIONS["income"]))),
            state=VOTE_STATES[i % len(VOTE_STATES)],
            age_min=(age := int(rng.integers(20, 80))),
            age_max=age,
        )
        for i in range(n)
    )
    Response.objects.bulk_create(
        Response(
            respondent=r,
            question=question,
            option=yes if rng.random() < 0.3 + 0.1 * educations.index(r.education) else no,
        )
        for r in Respondent.objects.filter(poll=poll)
    )
    return question
