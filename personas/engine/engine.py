"""The persona engine: context engineering → (consistency check) → experience engineering →
participation, each a structured call through the LLM gateway.

One `PersonaEngine` serves a whole run (it holds the study, the templates, the poll grounding and
the area contexts, all read once) and `run(persona)` takes one persona through the steps. It is
safe to call from many threads at once: everything it shares is read-only after construction
except the area-context cache and the poll grounding (loaded when first needed), each filled under
a lock.

A step whose answers stay invalid after the gateway's fed-back retries, or whose provider gives up,
fails that persona (with the step and the reason) and the run goes on; a missing API key or a
replay-only cache miss concerns every persona and is raised for the run to fail.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.db import connection
from django.template import Context
from pydantic import BaseModel, Field, ValidationError

from environment.selectors import environmental_context
from llm.errors import ProviderError, StructuredOutputError
from llm.gateway import CallBuffer, PriceBook, complete_structured
from llm.types import LLMConfig, StructuredResult
from personas.awareness import PersonaView, generate_llm_prompt_context
from personas.engine.estimate import CHARS_PER_TOKEN, OUTPUT_TOKENS, run_cost
from personas.engine.grounding import DEFAULT_QUESTIONS, Grounding
from personas.engine.persona_sheet import describe, profile_doc
from personas.engine.prompts import (
    context_as_text,
    experience_as_text,
    template_engine,
    template_sources,
)
from personas.engine.results import AnswerDraft, PersonaResult
from personas.engine.schemas import (
    ConsistencyReport,
    Depth,
    PersonaContext,
    experience_model,
    participation_model,
)

logger = logging.getLogger(__name__)

# Episodes per persona by technology proficiency and depth, (fewest, most). The seed's own table
# is not in this repository; these counts keep its rule — the more proficient the user, the more
# technology-related history to draw on — and are an assumption, stated as such in the docs.
EPISODES: dict[str, dict[str, tuple[int, int]]] = {
    "novice": {"shallow": (1, 2), "standard": (2, 3), "deep": (3, 5)},
    "basic": {"shallow": (1, 2), "standard": (2, 4), "deep": (4, 6)},
    "intermediate": {"shallow": (2, 3), "standard": (3, 5), "deep": (5, 7)},
    "advanced": {"shallow": (2, 3), "standard": (4, 6), "deep": (6, 8)},
    "expert": {"shallow": (2, 4), "standard": (5, 7), "deep": (7, 10)},
}
# A persona made without a tech profile counts as intermediate.
DEFAULT_PROFICIENCY = "intermediate"


class EngineOptions(BaseModel):
    """How deep the engine goes, chosen per run."""

    depth: Depth = "standard"
    consistency_check: bool = False
    concurrency: int = Field(default=8, ge=1, le=200)
    max_attempts: int = Field(default=3, ge=1, le=6)
    grounding_questions: int = Field(default=DEFAULT_QUESTIONS, ge=0, le=12)


class _StepFailed(Exception):
    def __init__(self, step: str, reason: str) -> None:
        super().__init__(reason)
        self.step = step
        self.reason = reason


def episode_range(proficiency: str | None, depth: str) -> tuple[int, int]:
    return EPISODES.get(proficiency or DEFAULT_PROFICIENCY, EPISODES[DEFAULT_PROFICIENCY])[depth]


class PersonaEngine:
    def __init__(
        self,
        *,
        config: LLMConfig,
        study: Any,
        items: list[Any],
        options: EngineOptions | None = None,
        run_id: int | None = None,
        for_estimate: bool = False,
    ) -> None:
        """`for_estimate`: the engine only sizes prompts (`estimate`), so the polls' answers are not
        read."""
        self.config = config
        self.study = study
        self.items = items
        self.options = options or EngineOptions()
        self.run_id = run_id
        self.scenario = (study.description or study.title).strip()
        engine = template_engine()
        self.templates = {
            name: engine.from_string(text)
            for name, text in template_sources(study.prompt_templates).items()
        }
        self.item_view = [
            {
                "id": item.id,
                "code": item.code,
                "text": item.text,
                "options": [
                    {"id": o.id, "code": o.code, "label": o.label} for o in item.options.all()
                ],
            }
            for item in items
        ]
        self.option_id = {
            (item["code"], o["code"]): o["id"] for item in self.item_view for o in item["options"]
        }
        self.participation_schema = participation_model(
            options={i["code"]: [o["code"] for o in i["options"]] for i in self.item_view},
            think_aloud=study.think_aloud,
            time_on_task=study.time_on_task,
        )
        self._linked_questions = [i.poll_question_id for i in items if i.poll_question_id]
        self._grounding: Grounding | None = None
        self._grounding_lock = threading.Lock()
        self._sized_grounding: Grounding | None = None
        if (
            self.options.grounding_questions
            and not for_estimate
            and self.options.concurrency > 1
            # A caller's open transaction holds rows another connection cannot see (tests).
            and not connection.in_atomic_block
        ):
            threading.Thread(
                target=self._load_grounding_in_background, name="engine-grounding", daemon=True
            ).start()
        self._areas: dict[str, dict] = {}
        self._lock = threading.Lock()
        # Read once for the run: every call of it is costed at the same price, and a price query
        # per call was a measurable share of the CPU 50 threads share.
        self.prices = PriceBook(config)
        # The system prompt sees only the study, so it is the same for every call of the run.
        self._system = self._render("system")

    # --- prompts ------------------------------------------------------------------------------

    def _new_grounding(self, *, load_answers: bool) -> Grounding:
        return Grounding(
            scenario=self.scenario,
            linked_question_ids=self._linked_questions,
            questions=self.options.grounding_questions,
            load_answers=load_answers,
        )

    def _load_grounding(self) -> Grounding:
        with self._grounding_lock:
            if self._grounding is None:
                self._grounding = self._new_grounding(load_answers=True)
            return self._grounding

    def _load_grounding_in_background(self) -> None:
        # Loading the polls' answers takes a few tenths of a second: on a thread of its own it
        # overlaps the personas' first calls instead of holding up their participation steps.
        try:
            self._load_grounding()
        except Exception:  # the persona that needs it loads it again and fails with the reason
            logger.warning("Loading the poll grounding failed", exc_info=True)
        finally:
            connection.close()  # this thread's own database connection

    def _grounding_size_text(self, persona: Any) -> str:
        if not self.options.grounding_questions:
            return ""
        with self._grounding_lock:
            if self._sized_grounding is None:
                self._sized_grounding = self._new_grounding(load_answers=False)
        return self._sized_grounding.sized_text(persona)

    def _grounding_text(self, persona: Any) -> str:
        """The persona's poll grounding (the polls' answers are loaded once, when first needed if
        no background load is under way)."""
        if not self.options.grounding_questions:
            return ""
        grounding = self._grounding or self._load_grounding()
        return grounding.text(persona)

    def _render(self, name: str, **values: Any) -> str:
        base = {
            "study_title": self.study.title,
            "study_kind": self.study.get_kind_display(),
            "scenario": self.scenario,
            "items": self.item_view,
            "think_aloud": self.study.think_aloud,
            "time_on_task": self.study.time_on_task,
            "depth": self.options.depth,
        }
        return self.templates[name].render(Context({**base, **values})).strip()

    def _messages(self, name: str, **values: Any) -> list[dict]:
        return [
            {"role": "system", "content": self._system},
            {"role": "user", "content": self._render(name, **values)},
        ]

    def _environment(self, persona: Any) -> str:
        with self._lock:
            context = self._areas.get(persona.area_id)
        if context is None:
            context = environmental_context(area_id=persona.area_id)
            with self._lock:
                self._areas[persona.area_id] = context
        return generate_llm_prompt_context(
            PersonaView.from_persona(persona),
            context,
            scenario=self.scenario,
            scenario_type=self.study.kind,
        )

    # --- steps --------------------------------------------------------------------------------

    def _call(
        self,
        step: str,
        persona: Any,
        messages: list[dict],
        schema,
        result: PersonaResult,
        calls: CallBuffer,
    ):
        try:
            structured: StructuredResult = complete_structured(
                config=self.config,
                messages=messages,
                schema=schema,
                max_attempts=self.options.max_attempts,
                label=step,
                run_id=self.run_id,
                persona_id=persona.id,
                prices=self.prices,
                buffer=calls,
            )
        except StructuredOutputError as exc:
            result.add_usage(exc.attempts)
            raise _StepFailed(step, f"{exc.message} ({'; '.join(exc.reasons)})") from exc
        except ProviderError as exc:
            if exc.http_status in (400, 401, 403, 404):
                raise  # the request itself is wrong for every persona: the run fails
            raise _StepFailed(step, exc.message) from exc
        result.add_usage(structured.attempts)
        return structured.value

    def run(self, persona: Any) -> PersonaResult:
        """Take one persona through the steps.

        Its call-log rows and cache entries come back unwritten in `result.calls`, for the caller
        to write with the persona's record (`CallBuffer.flush()`), so a persona costs one write
        instead of two per call. When a step raises for the whole run (a missing key, a
        replay-only miss, a refused request), what was tried is written before the error goes on.
        """
        calls = CallBuffer()
        try:
            result = self._run(persona, calls)
        except BaseException:
            calls.flush()
            raise
        result.calls = calls
        return result

    def _run(self, persona: Any, calls: CallBuffer) -> PersonaResult:
        doc = profile_doc(persona)
        result = PersonaResult(narrative_source="llm", profile=doc.model_dump(mode="json"))
        profile_text = describe(doc)
        try:
            environment = self._environment(persona)
            pool_context = (persona.profile or {}).get("context")
            if pool_context:
                context = PersonaContext.model_validate(pool_context)
                result.narrative_source = "pool"
            else:
                context = self._call(
                    "context",
                    persona,
                    self._messages("context", profile_text=profile_text, environment=environment),
                    PersonaContext,
                    result,
                    calls,
                )
            result.context = context.model_dump(mode="json")
            context_text = context_as_text(context)
            if self.options.consistency_check:
                report = self._call(
                    "consistency",
                    persona,
                    self._messages(
                        "consistency", profile_text=profile_text, context_text=context_text
                    ),
                    ConsistencyReport,
                    result,
                    calls,
                )
                result.consistency = report.model_dump(mode="json")
            proficiency = doc.tech_profile.proficiency if doc.tech_profile else None
            lo, hi = episode_range(proficiency, self.options.depth)
            experience = self._call(
                "experience",
                persona,
                self._messages(
                    "experience",
                    profile_text=profile_text,
                    context_text=context_text,
                    min_episodes=lo,
                    max_episodes=hi,
                    proficiency=proficiency or DEFAULT_PROFICIENCY,
                ),
                experience_model(min_episodes=lo, max_episodes=hi),
                result,
                calls,
            )
            result.experience = experience.model_dump(mode="json")
            participation = self._call(
                "participation",
                persona,
                self._messages(
                    "participation",
                    profile_text=profile_text,
                    context_text=context_text,
                    experience_text=experience_as_text(result.experience),
                    environment=environment,
                    grounding=self._grounding_text(persona),
                ),
                self.participation_schema,
                result,
                calls,
            )
        except _StepFailed as failed:
            result.failed_step, result.failure = failed.step, failed.reason[:4000]
            return result
        except ValidationError as exc:  # a pool persona's stored context does not fit the schema
            result.failed_step = "context"
            result.failure = f"the pool's stored context is invalid: {exc}"[:4000]
            return result
        result.response = participation.model_dump(mode="json")
        result.answers = {
            item["id"]: AnswerDraft(
                option_id=self.option_id[(item["code"], r.answer)],
                reasoning=r.reasoning,
                think_aloud=r.think_aloud or "",
                time_on_task_seconds=r.time_on_task_seconds,
            )
            for item, r in zip(self.item_view, participation.responses, strict=True)
        }
        return result

    # --- the estimate before a run ---------------------------------------------------------------

    def estimate(self, *, personas: list[Any], total: int) -> dict:
        """What a run over `total` personas would cost, from prompts rendered for a sample of them.

        Input tokens: the rendered prompts of the sampled personas (characters / 4), with the
        context and experience a model would have written stood in for by text of the typical
        size, and the poll grounding by its wording with placeholder figures (the polls' answers
        are not read). Output tokens: the typical reply sizes in OUTPUT_TOKENS, capped at
        max_tokens. It is an upper bound in one way: calls answered from the cache cost nothing.
        """
        steps = ["context", "experience", "participation"]
        if self.options.consistency_check:
            steps.insert(1, "consistency")
        sample = personas[:20]
        filler_context = "x" * OUTPUT_TOKENS["context"] * CHARS_PER_TOKEN
        per_step_in: dict[str, list[int]] = {s: [] for s in steps}
        max_episodes = []
        for persona in sample:
            doc = profile_doc(persona)
            text = describe(doc)
            environment = self._environment(persona)
            _, hi = episode_range(
                doc.tech_profile.proficiency if doc.tech_profile else None, self.options.depth
            )
            max_episodes.append(hi)
            filler_experience = "x" * (
                (OUTPUT_TOKENS["experience_base"] + hi * OUTPUT_TOKENS["episode"]) * CHARS_PER_TOKEN
            )
            prompts = {
                "context": self._messages("context", profile_text=text, environment=environment),
                "consistency": self._messages(
                    "consistency", profile_text=text, context_text=filler_context
                ),
                "experience": self._messages(
                    "experience",
                    profile_text=text,
                    context_text=filler_context,
                    min_episodes=1,
                    max_episodes=hi,
                    proficiency="",
                ),
                "participation": self._messages(
                    "participation",
                    profile_text=text,
                    context_text=filler_context,
                    experience_text=filler_experience,
                    environment=environment,
                    grounding=self._grounding_size_text(persona),
                ),
            }
            for s in steps:
                chars = sum(len(m["content"]) for m in prompts[s])
                per_step_in[s].append(chars // CHARS_PER_TOKEN)
        mean_episodes = sum(max_episodes) / len(max_episodes) if max_episodes else 0
        return run_cost(
            config=self.config,
            steps=steps,
            prompt_tokens=per_step_in,
            mean_episodes=mean_episodes,
            items=len(self.items),
            total=total,
            sampled=len(sample),
        )
