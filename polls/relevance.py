"""Poll relevance: the poll questions most relevant to a scenario and a persona, within a budget.

Every question in the database is scored against the scenario by four parts, each in [0, 1]:

- ``text_similarity`` — cosine between TF-IDF vectors (scikit-learn, English stop words, sublinear tf,
  IDF fitted on the question corpus) of the scenario and of the question's text, option labels and
  topic tags. Plural endings are folded ("abortions" = "abortion") so wording differences cost less.
- ``topic_match`` — overlap coefficient |S ∩ T| / min(|S|, |T|) between the scenario's topics S and
  the question's tags T; the poll's tags count at POLL_TAG_FACTOR. Topics are those given, or else
  the corpus's tags whose every word appears in the scenario.
- ``cell_coverage`` — min(1, n / COVERAGE_TARGET), n = respondents to the question who share the
  persona's demographic cell on every dimension the poll measured, before any widening (the rule of
  ``polls.cells``, which the offline backend draws from); with no persona, the whole sample.
- ``recency`` — 0.5 ** (years before the newest poll in the corpus / RECENCY_HALF_LIFE_YEARS), dated
  by field end, else field start, else mid-year of the poll's year; undated polls get RECENCY_UNDATED.

``score = Σ WEIGHTS[part] × part``. A question with no text similarity and no topic match is not
relevant and is left out. The rest are ranked by score and taken greedily while their grounding text
fits the token budget; the ones that do not fit are reported in ``skipped``, never dropped silently.

Queries are bounded whatever the size of the corpus: the persona's area, the questions, their
options, and one read of the relevant questions' answers with their respondents' demographics, in
which the cells are matched in memory.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date
from typing import Final, Literal

import numpy as np
from django.conf import settings
from django.db.models import Prefetch

from config.errors import DomainError
from personas.models import Persona
from polls.cells import (
    DIMENSION_NAMES,
    CellProfile,
    CellSummary,
    cell_summaries,
    persona_describe,
)
from polls.models import Option, Poll, Question


@dataclass(frozen=True)
class ScoreParts:
    """The four parts of a relevance score (or their weights), each in [0, 1]."""

    text_similarity: float
    topic_match: float
    cell_coverage: float
    recency: float

    def as_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# Text carries most of the signal; topic tags are curated but coarse; coverage and recency break ties
# between questions on the same subject in favour of the better-grounded and the more current one.
WEIGHTS: Final = ScoreParts(
    text_similarity=0.45, topic_match=0.25, cell_coverage=0.15, recency=0.15
)
# A cell of 100 respondents pins a weighted share to about ±10 points (95%); more adds little.
COVERAGE_TARGET: Final = 100
# Two presidential cycles: a poll eight years older than the newest counts half.
RECENCY_HALF_LIFE_YEARS: Final = 8.0
RECENCY_UNDATED: Final = 0.5
# A tag on the poll but not on the question is weaker evidence that the question is on topic.
POLL_TAG_FACTOR: Final = 0.5
# The usual rule of thumb for English with GPT-style BPE tokenizers; no tokenizer ships offline.
CHARS_PER_TOKEN: Final = 4


@dataclass(frozen=True)
class AnswerShare:
    option_code: str
    label: str
    share: float  # weighted, among the respondents the grounding text cites


@dataclass(frozen=True)
class RelevantQuestion:
    question_id: int
    question_code: str
    question_text: str
    poll_slug: str
    poll_title: str
    poll_year: int | None
    score: float
    parts: ScoreParts
    weights: ScoreParts
    matched_topics: tuple[str, ...]
    cell_respondents: int  # respondents in the persona's full cell (the whole sample without one)
    grounding_respondents: int  # respondents behind the shares, after widening a small cell
    cell_dimensions: tuple[str, ...]  # dimensions the shares are matched on
    cell_widened_by: tuple[str, ...]  # measured dimensions ignored to reach the minimum cell
    answer_shares: tuple[AnswerShare, ...]
    tokens: int
    grounding_text: str


@dataclass(frozen=True)
class SkippedQuestion:
    question_id: int
    question_code: str
    poll_title: str
    score: float
    tokens: int
    reason: Literal["larger_than_budget", "budget_spent", "limit"]
    message: str


class RelevantQuestions(list[RelevantQuestion]):
    """The selected questions, best first, with what was left out and why."""

    def __init__(
        self,
        selected: Iterable[RelevantQuestion] = (),
        *,
        skipped: list[SkippedQuestion] | None = None,
        topics: list[str] | None = None,
        topics_source: Literal["given", "inferred"] = "inferred",
        budget_tokens: int = 0,
    ) -> None:
        super().__init__(selected)
        self.skipped = skipped or []
        self.topics = topics or []
        self.topics_source = topics_source
        self.budget_tokens = budget_tokens

    @property
    def tokens_used(self) -> int:
        return sum(q.tokens for q in self)


def poll_select_relevant(
    *,
    scenario: str,
    persona: Persona | None = None,
    topics: list[str] | None = None,
    budget_tokens: int = 1500,
    limit: int | None = None,
) -> RelevantQuestions:
    """Rank poll questions by relevance to a scenario and persona, trimmed to a token budget."""
    scenario = (scenario or "").strip()
    if not scenario:
        raise DomainError(
            "Describe the scenario in a few words, e.g. 'a state law banning abortion after six weeks'.",
            fields={"scenario": ["may not be blank"]},
        )
    if budget_tokens < 1:
        raise DomainError(
            f"budget_tokens must be a positive number of tokens; got {budget_tokens}.",
            fields={"budget_tokens": ["must be at least 1"]},
        )
    if limit is not None and limit < 1:
        raise DomainError(
            f"limit must be at least 1 when given; got {limit}.", fields={"limit": ["must be >= 1"]}
        )

    questions = list(
        Question.objects.select_related("poll").prefetch_related(
            Prefetch("options", queryset=Option.objects.order_by("order", "id"))
        )
    )
    topic_keys = _topics_given(topics) if topics else _topics_inferred(scenario, questions)
    result = RelevantQuestions(
        topics=[t for t in topic_keys.values()],
        topics_source="given" if topics else "inferred",
        budget_tokens=budget_tokens,
    )
    if not questions:
        return result

    similarity = _text_similarity(scenario, questions)
    candidates = []
    for question, text_sim in zip(questions, similarity, strict=True):
        topic, matched = _topic_match(set(topic_keys), question)
        if text_sim > 0 or topic > 0:
            candidates.append((question, float(text_sim), topic, [topic_keys[k] for k in matched]))
    if not candidates:
        return result

    recency = _recency({q.poll_id: q.poll for q in questions}.values())
    profile = CellProfile.of_persona(persona) if persona is not None else None
    cells = cell_summaries((c[0].id for c in candidates), profile)
    ranked = []
    for question, text_sim, topic, matched in candidates:
        cell = cells[question.id]
        parts = ScoreParts(
            text_similarity=min(1.0, text_sim),
            topic_match=topic,
            cell_coverage=min(1.0, cell.exact_count / COVERAGE_TARGET),
            recency=recency[question.poll_id],
        )
        shares = tuple(
            AnswerShare(o.code, o.label, cell.shares.get(o.id, 0.0)) for o in question.options.all()
        )
        grounding_text = _render(question, persona, cell, shares)
        ranked.append(
            RelevantQuestion(
                question_id=question.id,
                question_code=question.code,
                question_text=question.text,
                poll_slug=question.poll.slug,
                poll_title=question.poll.title,
                poll_year=question.poll.year,
                score=_weighted(parts),
                parts=parts,
                weights=WEIGHTS,
                matched_topics=tuple(matched),
                cell_respondents=cell.exact_count,
                grounding_respondents=cell.count,
                cell_dimensions=cell.dimensions,
                cell_widened_by=cell.widened_by,
                answer_shares=shares,
                tokens=math.ceil(len(grounding_text) / CHARS_PER_TOKEN),
                grounding_text=grounding_text,
            )
        )
    ranked.sort(key=lambda q: (-q.score, q.question_id))
    _trim(ranked, result, limit)
    return result


def _weighted(parts: ScoreParts) -> float:
    return sum(getattr(WEIGHTS, name) * value for name, value in parts.as_dict().items())


def _trim(ranked: list[RelevantQuestion], result: RelevantQuestions, limit: int | None) -> None:
    budget = result.budget_tokens
    remaining = budget
    for question in ranked:
        reason = message = None
        if limit is not None and len(result) >= limit:
            reason, message = "limit", f"the limit of {limit} questions was reached"
        elif question.tokens > budget:
            reason = "larger_than_budget"
            message = (
                f"its grounding text alone needs {question.tokens} tokens, more than the whole "
                f"budget of {budget}"
            )
        elif question.tokens > remaining:
            reason = "budget_spent"
            message = (
                f"its grounding text needs {question.tokens} tokens and only {remaining} of the "
                f"{budget}-token budget were left"
            )
        if reason is None:
            result.append(question)
            remaining -= question.tokens
        else:
            result.skipped.append(
                SkippedQuestion(
                    question_id=question.question_id,
                    question_code=question.question_code,
                    poll_title=question.poll_title,
                    score=question.score,
                    tokens=question.tokens,
                    reason=reason,
                    message=message,
                )
            )


# --- text and topics --------------------------------------------------------------------------

_WORD = re.compile(r"(?u)\b\w\w+\b")


def _fold(word: str) -> str:
    """Fold a plural ending so that 'abortions', 'taxes' and 'policies' meet their singulars."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("xes", "ches", "shes", "sses")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _terms(text: str) -> list[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return [_fold(w) for w in _WORD.findall(text.lower()) if w not in ENGLISH_STOP_WORDS]


def _topic_key(tag: str) -> tuple[str, ...]:
    return tuple(_terms(str(tag)))


def _document(question: Question) -> str:
    labels = " ".join(o.label for o in question.options.all())
    tags = " ".join(str(t) for t in question.topic_tags or [])
    return f"{question.text} {labels} {tags}"


def _text_similarity(scenario: str, questions: list[Question]) -> np.ndarray:
    # Imported here: scikit-learn takes over a second to import, and only this read needs it.
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(analyzer=_terms, sublinear_tf=True)
    try:
        corpus = vectorizer.fit_transform([_document(q) for q in questions])
    except ValueError:  # every document is stop words only: nothing to compare
        return np.zeros(len(questions))
    query = vectorizer.transform([scenario])
    # Rows are L2-normalised, so the dot product is the cosine.
    return np.asarray((corpus @ query.T).todense()).ravel().clip(0.0, 1.0)


def _topics_given(topics: list[str]) -> dict[tuple[str, ...], str]:
    keys: dict[tuple[str, ...], str] = {}
    for topic in topics:
        key = _topic_key(topic)
        if key:
            keys.setdefault(key, str(topic).strip())
    return keys


def _topics_inferred(scenario: str, questions: list[Question]) -> dict[tuple[str, ...], str]:
    words = set(_terms(scenario))
    keys: dict[tuple[str, ...], str] = {}
    for question in questions:
        for tag in [*(question.topic_tags or []), *(question.poll.topic_tags or [])]:
            key = _topic_key(tag)
            if key and key not in keys and set(key) <= words:
                keys[key] = str(tag).strip()
    return keys


def _overlap(a: set, b: set) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def _topic_match(
    topics: set[tuple[str, ...]], question: Question
) -> tuple[float, set[tuple[str, ...]]]:
    own = {k for k in map(_topic_key, question.topic_tags or []) if k}
    poll = {k for k in map(_topic_key, question.poll.topic_tags or []) if k}
    score = max(_overlap(topics, own), POLL_TAG_FACTOR * _overlap(topics, poll))
    return score, topics & (own | poll)


# --- recency ----------------------------------------------------------------------------------


def _poll_date(poll: Poll) -> date | None:
    if poll.field_end or poll.field_start:
        return poll.field_end or poll.field_start
    return date(poll.year, 7, 1) if poll.year else None


def _recency(polls: Iterable[Poll]) -> dict[int, float]:
    dated = {p.id: _poll_date(p) for p in polls}
    known = [d for d in dated.values() if d]
    newest = max(known) if known else None
    scores = {}
    for poll_id, when in dated.items():
        if when is None or newest is None:
            scores[poll_id] = RECENCY_UNDATED
        else:
            years = (newest - when).days / 365.25
            scores[poll_id] = 0.5 ** (years / RECENCY_HALF_LIFE_YEARS)
    return scores


# --- the grounding text -----------------------------------------------------------------------


def _render(
    question: Question, persona: Persona | None, cell: CellSummary, shares: tuple[AnswerShare, ...]
) -> str:
    poll = question.poll
    when = str(poll.year) if poll.year else "undated"
    if poll.field_start and poll.field_end:
        when += f", fielded {poll.field_start:%Y-%m-%d} to {poll.field_end:%Y-%m-%d}"
    lines = [f"Poll: {poll.title} ({when})", f"Question: {question.text}"]
    if not cell.count:
        options = "; ".join(s.label for s in shares)
        lines.append(f"Options: {options}. No respondent-level answers are stored for it.")
        return "\n".join(lines)
    if persona is None:
        who = f"all {cell.count:,} respondents"
    elif cell.dimensions:
        matched = ", ".join(
            f"{DIMENSION_NAMES[d]} {persona_describe(persona, d)}" for d in cell.dimensions
        )
        who = f"{cell.count:,} respondents matching this persona on {matched}"
    else:
        who = f"all {cell.count:,} respondents (no demographic match)"
    answers = "; ".join(f"{s.label} {s.share:.0%}" for s in shares)
    lines.append(f"Answers (weighted) among {who}: {answers}.")
    if persona is not None and cell.widened_by:
        ignored = ", ".join(DIMENSION_NAMES[d] for d in cell.widened_by)
        lines.append(
            f"Cell widened to reach {settings.POLL_CELL_MIN_RESPONDENTS} by ignoring {ignored}."
        )
    return "\n".join(lines)
