"""Writes for policy analyses (`/api/v1/political/…`): the population, the study asking the policy
(with one condition per message) and its run, created together, with the record that says which
item asks the policy and how its options map to stances.

Offline, a policy has no poll item of its own: the poll question the relevance selector ranks
highest for the policy's description and topic stands in for it, when it is close enough
(PROXY_MIN_SCORE and PROXY_MIN_TEXT_SIMILARITY); otherwise the request is refused and pointed at
the LLM backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

from django.db import transaction

from config.errors import DomainError
from environment.models import Area
from personas.services import AreaWeight, population_create
from polls.models import Question
from polls.relevance import poll_select_relevant
from studies.analyzers.policy_stance import STANCES, infer_stance, stance_problems
from studies.backends.offline import OfflineBackend
from studies.backends.registry import BACKENDS
from studies.models import PolicyAnalysis, Study
from studies.services.runs import run_start
from studies.services.studies import ConditionSpec, ItemSpec, OptionSpec, study_create

#: The least relevance score (polls.relevance, 0..1) of a poll question standing in for a policy.
#: Topic match, cell coverage and recency alone reach 0.55 for any question on the topic, so a
#: proxy must also score on its wording ...
PROXY_MIN_SCORE: Final = 0.7
#: ... with a TF-IDF cosine to the policy's description of at least this: the question must ask
#: about the same thing, not merely the same subject ("a ban on abortion" is not "employers may
#: decline abortion coverage", though both are about abortion).
PROXY_MIN_TEXT_SIMILARITY: Final = 0.5
ITEM_CODE: Final = "policy"
CONTROL: Final = "control"
#: The options of the policy item the LLM backend answers, with their stances.
LLM_OPTIONS: Final = (
    ("support", "Support", "support"),
    ("neutral", "Neither support nor oppose", "neutral"),
    ("oppose", "Oppose", "oppose"),
)


@dataclass(frozen=True)
class PolicyRequest:
    policy_description: str
    policy_topic: str = ""
    target_areas: list[str] = field(default_factory=list)
    population_size: int = 1000
    demographic_constraints: dict = field(default_factory=dict)
    include_environmental_effects: bool = True
    include_social_conformity: bool = True
    messages: list[str] = field(default_factory=list)
    target_demographics: list[str] = field(default_factory=list)
    stances: dict[str, str] = field(default_factory=dict)
    poll_question: int | None = None
    backend: str = "poll_model"
    backend_config: dict = field(default_factory=dict)
    budget: Decimal | None = None
    seed: int | None = None


def national_areas() -> list[AreaWeight]:
    """The 50 states and DC, weighted by adult population: the areas of an analysis that names
    none (Puerto Rico lacks the census marginals personas are drawn from)."""
    ids = Area.objects.filter(kind=Area.Kind.STATE).exclude(state="PR").values_list("id", flat=True)
    return [AreaWeight(a) for a in ids.order_by("id")]


def policy_proxy(*, description: str, topic: str) -> dict:
    """The poll question standing in for a policy offline, with its wording and score; refuses
    (pointing to the LLM backend) when none is close enough."""
    ranked = poll_select_relevant(
        scenario=description, topics=[topic] if topic else None, budget_tokens=10**9, limit=1
    )
    best = ranked[0] if ranked else None
    if (
        best is None
        or best.score < PROXY_MIN_SCORE
        or best.parts.text_similarity < PROXY_MIN_TEXT_SIMILARITY
    ):
        found = (
            f"the closest, '{best.question_text}' (poll {best.poll_slug}), scores "
            f"{best.score:.2f} with a wording similarity of {best.parts.text_similarity:.2f}"
            if best
            else "no poll question shares its words or topic"
        )
        raise DomainError(
            "No poll question in the database asks about this policy closely enough to answer "
            f"it offline ({found}; a proxy needs a relevance score of at least {PROXY_MIN_SCORE} "
            f"and a wording similarity of at least {PROXY_MIN_TEXT_SIMILARITY}). Use the LLM "
            'backend: send "backend": "llm" with a "backend_config" naming the provider and '
            'model, or name a poll question that asks it ("poll_question").',
            code="no_offline_proxy",
            fields={"backend": ['use "llm" for a policy no poll question asks about']},
        )
    return {
        "question_id": best.question_id,
        "question_code": best.question_code,
        "wording": best.question_text,
        "poll": best.poll_slug,
        "poll_title": best.poll_title,
        "poll_year": best.poll_year,
        "score": best.score,
        "score_parts": best.parts.as_dict(),
        "matched_topics": list(best.matched_topics),
        "thresholds": {
            "score": PROXY_MIN_SCORE,
            "text_similarity": PROXY_MIN_TEXT_SIMILARITY,
        },
        "note": "Offline proxy: personas answer this poll question, not the policy as described.",
    }


def _poll_stances(question_id: int, given: dict[str, str]) -> tuple[dict[str, str], str]:
    question = Question.objects.prefetch_related("options").get(id=question_id)
    options = list(question.options.all())
    if given:
        stances, source = dict(given), "explicit"
    else:
        inferred = {o.code: infer_stance(o.label) for o in options}
        stances = {code: s for code, s in inferred.items() if s is not None}
        source = "inferred"
    problems = stance_problems(stances, [o.code for o in options])
    if problems:
        labels = ", ".join(f"{o.code} ('{o.label}')" for o in options)
        raise DomainError(
            f"The options of poll question {question_id} ({labels}) cannot be read as support "
            f"and opposition: {'; '.join(problems)}. Map each option code to one of "
            f'{", ".join(STANCES)} in "stances", or use the LLM backend ("backend": "llm").',
            code="stances_unmapped",
            fields={"stances": problems},
        )
    return stances, source


def _refuse_bad_request(request: PolicyRequest) -> None:
    if request.backend not in BACKENDS:
        raise DomainError(
            f"Unknown backend '{request.backend}'; available: {', '.join(sorted(BACKENDS))}.",
            code="unknown_backend",
            fields={"backend": ["unknown backend"]},
        )
    offline = issubclass(BACKENDS[request.backend], OfflineBackend)
    if request.messages and offline:
        raise DomainError(
            "Message tests need the LLM backend: the offline backend answers from poll data and "
            'cannot read a message, so every message would differ only by chance. Send "backend": '
            '"llm" or leave out "messages".',
            code="messages_need_llm",
            fields={"messages": ["need the llm backend"]},
        )
    if request.stances and not offline and request.poll_question is None:
        raise DomainError(
            "\"stances\" maps a poll question's options; with the LLM backend the policy item's "
            "options (support, neutral, oppose) already have their stances. Leave it out.",
            fields={"stances": ["only for the offline backend"]},
        )


@transaction.atomic
def policy_analysis_start(
    *, request: PolicyRequest, raw: dict, environmental: bool, created_by=None
) -> PolicyAnalysis:
    """Create the population, the study asking the policy and its run (all or nothing), and the
    analysis record; the run starts once the transaction commits."""
    _refuse_bad_request(request)
    description = request.policy_description.strip()
    offline = issubclass(BACKENDS[request.backend], OfflineBackend)
    proxy = None
    if offline or request.poll_question is not None:
        if request.poll_question is not None:
            if not Question.objects.filter(id=request.poll_question).exists():
                raise DomainError(
                    f"Poll question {request.poll_question} does not exist; find question ids at "
                    "/api/v1/polls/<id>/.",
                    code="unknown_poll_question",
                    fields={"poll_question": ["unknown poll question"]},
                )
            question_id = request.poll_question
        else:
            proxy = policy_proxy(description=description, topic=request.policy_topic)
            question_id = proxy["question_id"]
        stances, stance_source = _poll_stances(question_id, request.stances)
        item = ItemSpec(
            code=ITEM_CODE,
            text=Question.objects.values_list("text", flat=True).get(id=question_id),
            poll_question_id=question_id,
        )
    else:
        stances, stance_source = {code: s for code, _, s in LLM_OPTIONS}, "explicit"
        item = ItemSpec(
            code=ITEM_CODE,
            text=f"Do you support or oppose this policy? {description}",
            options=[OptionSpec(code, label) for code, label, _ in LLM_OPTIONS],
        )
    conditions = (
        [ConditionSpec(CONTROL, "Control (no message)")]
        + [
            ConditionSpec(f"message_{i}", f"Message {i}", stimulus=text)
            for i, text in enumerate(request.messages, start=1)
        ]
        if request.messages
        else []
    )
    areas = [AreaWeight(a) for a in request.target_areas] or national_areas()
    population = population_create(
        size=request.population_size,
        areas=areas,
        seed=request.seed,
        name=f"Policy: {description[:80]}",
        constraints=request.demographic_constraints or None,
        created_by=created_by,
    )
    study = study_create(
        title=f"Policy: {description[:180]}",
        description=description,
        kind=Study.Kind.MESSAGE_TEST if conditions else Study.Kind.POLICY_SUPPORT,
        items=[item],
        conditions=conditions,
        universe=Study.Universe.ALL_ADULTS,
        created_by=created_by,
    )
    run = run_start(
        study=study,
        population=population,
        backend=request.backend,
        backend_config=request.backend_config,
        budget=request.budget,
        seed=request.seed,
        created_by=created_by,
    )
    return PolicyAnalysis.objects.create(
        study=study,
        run=run,
        environmental=environmental,
        policy_description=description,
        policy_topic=request.policy_topic,
        item_code=ITEM_CODE,
        stances=stances,
        stance_source=stance_source,
        proxy=proxy,
        target_demographics=request.target_demographics,
        request=raw,
        created_by=created_by,
    )
