"""The persona engine (seed 004): analyze → context engineering → (consistency check) → experience
engineering → participation, each a structured call through the LLM gateway.

Analyze decides which study-relevant attributes the persona needs (stored in its profile as
`studyRelevantAttributes` and shown to every later step); experience engineering writes the number
of episodes, and the valence mix, of seed 004's table for the persona's proficiency and the depth
(`personas.engine.episodes`); participation answers each item in its item type's form, in the
persona's assigned condition (its stimulus and item wordings).

One `PersonaEngine` serves a whole run (it holds the study, its prompts (`StudyPrompts`), the poll
grounding and the area contexts (`Surroundings`), all read once) and `arun(persona)` takes one
persona through the steps as a task of the chunk's event loop (`llm.loops`): its model calls go
through the gateway's asyncio path, and what it reads from the database goes through the loop's
database runner (`personas.engine.surroundings`). `run(persona)` is the same for a caller without a
loop (a loop of its own for that persona). Everything the engine shares is read-only after
construction except what its `Surroundings` fills as it is needed.

A step whose answers stay invalid after the gateway's fed-back retries, or whose provider gives up,
fails that persona (with the step and the reason) and the run goes on; a missing API key or a
replay-only cache miss concerns every persona and is raised for the run to fail.
"""

from __future__ import annotations

import threading
from typing import Any

from asgiref.sync import async_to_sync
from django.utils import timezone
from pydantic import BaseModel, Field, ValidationError

from llm import aio
from llm.errors import ProviderError, StructuredOutputError
from llm.gateway import CallBuffer, PriceBook, acomplete_structured
from llm.types import LLMConfig, Message, StructuredResult
from personas.engine.estimate import step_max_tokens
from personas.engine.grounding import DEFAULT_QUESTIONS
from personas.engine.persona_sheet import describe, profile_doc
from personas.engine.prompts import context_as_text, experience_as_text
from personas.engine.results import AnswerDraft, PersonaResult
from personas.engine.schemas import (
    ConsistencyReport,
    Depth,
    PersonaContext,
    StudyAnalysis,
    experience_model,
    participation_model,
)
from personas.engine.sizing import run_estimate
from personas.engine.study_prompts import StudyPrompts, item_shape
from personas.engine.surroundings import Surroundings


class EngineOptions(BaseModel):
    """How deep the engine goes, chosen per run."""

    # None: the study's own depth (`Study.depth`); a run may override it.
    depth: Depth | None = None
    consistency_check: bool = False
    # Requests in flight at once (a chunk keeps a quarter more personas under way:
    # `studies.pipeline.persona_headroom`).
    concurrency: int = Field(default=8, ge=1, le=200)
    max_attempts: int = Field(default=3, ge=1, le=6)
    grounding_questions: int = Field(default=DEFAULT_QUESTIONS, ge=0, le=12)


class _StepFailed(Exception):
    def __init__(self, step: str, reason: str) -> None:
        super().__init__(reason)
        self.step = step
        self.reason = reason


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
        scenario = (study.description or study.title).strip()
        self.conditions = list(study.conditions.all()) if study.pk else []
        self.measures = tuple(getattr(study, "behavioral_measures", None) or ())
        self.prompts = StudyPrompts(
            study=study,
            items=items,
            conditions=self.conditions,
            scenario=scenario,
            depth=self.options.depth or getattr(study, "depth", "") or "standard",
            measures=self.measures,
        )
        self.item_view = self.prompts.item_view
        self.option_id = {
            (item["code"], o["code"]): o["id"] for item in self.item_view for o in item["options"]
        }
        self.participation_schema = participation_model(
            items=[item_shape(item) for item in items],
            think_aloud=study.think_aloud,
            time_on_task=study.time_on_task,
            measures=self.measures,
        )
        item_types = [item.type for item in items]
        self.max_tokens = {
            step: step_max_tokens(step, config, item_types=item_types)
            for step in ("analyze", "context", "consistency", "participation")
        }
        self._configs: dict[int, LLMConfig] = {}
        self._lock = threading.Lock()
        self.surroundings = Surroundings(
            scenario=scenario,
            scenario_type=study.kind,
            linked_question_ids=[i.poll_question_id for i in items if i.poll_question_id],
            questions=self.options.grounding_questions,
            preload=not for_estimate and self.options.concurrency > 1,
        )
        # Read once for the run: every call of it is costed at the same price, and a price query
        # per call was a measurable share of the CPU 50 threads share.
        self.prices = PriceBook(config)
        if not for_estimate:
            self.prices.get()  # here, not by the first of a chunk's many concurrent calls

    def _config_with(self, max_tokens: int) -> LLMConfig:
        """The run's config with a step's output budget (raised, never lowered)."""
        if max_tokens <= self.config.max_tokens:
            return self.config
        with self._lock:
            config = self._configs.get(max_tokens)
            if config is None:
                config = self.config.model_copy(update={"max_tokens": max_tokens})
                self._configs[max_tokens] = config
        return config

    # --- steps --------------------------------------------------------------------------------

    async def _call(
        self,
        step: str,
        persona: Any,
        messages: list[Message],
        schema,
        result: PersonaResult,
        calls: CallBuffer,
        *,
        max_tokens: int,
    ):
        try:
            structured: StructuredResult = await acomplete_structured(
                config=self._config_with(max_tokens),
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

    async def arun(self, persona: Any, *, condition: Any = None) -> PersonaResult:
        """Take one persona, assigned to `condition` (a study `Condition`, or None), through the
        steps, on the caller's event loop.

        Its call-log rows and cache entries come back unwritten in `result.calls`, for the caller
        to write with the persona's record (`CallBuffer.flush()`), so a persona costs one write
        instead of two per call. When a step raises for the whole run (a missing key, a
        replay-only miss, a refused request), what was tried is written before the error goes on.
        """
        calls = CallBuffer()
        try:
            result = await self._run(persona, condition, calls)
        except BaseException:
            await aio.run_db(calls.flush)
            raise
        result.calls = calls
        return result

    def run(self, persona: Any, *, condition: Any = None) -> PersonaResult:
        """`arun` for a caller without an event loop (one for this persona)."""
        return async_to_sync(self.arun)(persona, condition=condition)

    async def _run(self, persona: Any, condition: Any, calls: CallBuffer) -> PersonaResult:
        doc = profile_doc(persona)
        result = PersonaResult(narrative_source="llm", profile=doc.model_dump(mode="json"))
        try:
            environment = await self.surroundings.aenvironment(persona)
            analysis = await self._call(
                "analyze",
                persona,
                self.prompts.messages("analyze", condition, profile_text=describe(doc)),
                StudyAnalysis,
                result,
                calls,
                max_tokens=self.max_tokens["analyze"],
            )
            doc = profile_doc(persona, study_attributes=analysis.as_profile_attributes())
            result.profile = doc.model_dump(mode="json")
            profile_text = describe(doc)
            pool_context = (persona.profile or {}).get("context")
            if pool_context:
                context = PersonaContext.model_validate(pool_context)
                result.narrative_source = "pool"
            else:
                context = await self._call(
                    "context",
                    persona,
                    self.prompts.messages(
                        "context", condition, profile_text=profile_text, environment=environment
                    ),
                    PersonaContext,
                    result,
                    calls,
                    max_tokens=self.max_tokens["context"],
                )
            result.context = context.model_dump(mode="json")
            context_text = context_as_text(context)
            if self.options.consistency_check:
                report = await self._call(
                    "consistency",
                    persona,
                    self.prompts.messages(
                        "consistency",
                        condition,
                        profile_text=profile_text,
                        context_text=context_text,
                    ),
                    ConsistencyReport,
                    result,
                    calls,
                    max_tokens=self.max_tokens["consistency"],
                )
                result.consistency = report.model_dump(mode="json")
            try:
                episodes = self.prompts.experience_values(
                    doc.tech_profile.proficiency if doc.tech_profile else None
                )
            except ValueError as exc:  # a proficiency no level of the table has
                raise _StepFailed("experience", str(exc)) from exc
            experience = await self._call(
                "experience",
                persona,
                self.prompts.messages(
                    "experience",
                    condition,
                    profile_text=profile_text,
                    context_text=context_text,
                    **episodes,
                ),
                experience_model(
                    min_episodes=episodes["min_episodes"],
                    max_episodes=episodes["max_episodes"],
                    level=episodes["proficiency"],
                ),
                result,
                calls,
                max_tokens=step_max_tokens(
                    "experience", self.config, max_episodes=episodes["max_episodes"]
                ),
            )
            result.experience = experience.model_dump(mode="json")
            participation = await self._call(
                "participation",
                persona,
                self.prompts.messages(
                    "participation",
                    condition,
                    profile_text=profile_text,
                    context_text=context_text,
                    experience_text=experience_as_text(result.experience),
                    environment=environment,
                    grounding=await self.surroundings.agrounding_text(persona),
                ),
                self.participation_schema,
                result,
                calls,
                max_tokens=self.max_tokens["participation"],
            )
        except _StepFailed as failed:
            result.failed_step, result.failure = failed.step, failed.reason[:4000]
            return result
        except ValidationError as exc:  # a pool persona's stored context does not fit the schema
            result.failed_step = "context"
            result.failure = f"the pool's stored context is invalid: {exc}"[:4000]
            return result
        answers = participation.responses.model_dump(by_alias=True)
        result.response = self._response_record(persona, condition, answers)
        result.answers = {
            item["id"]: self._draft(item, answers[item["code"]]) for item in self.item_view
        }
        return result

    def _draft(self, item: dict, answer: dict) -> AnswerDraft:
        """An item's answer in the field its type uses (`studies.models.Answer`)."""
        value, kind = answer["answer"], item["type"]
        return AnswerDraft(
            option_id=(
                self.option_id[(item["code"], value)]
                if kind in ("single_choice", "likert")
                else None
            ),
            choices=list(value) if kind in ("multiple_choice", "ranking") else None,
            number=float(value) if kind == "numeric" else None,
            text=value if kind == "free_text" else "",
            reasoning=answer["reasoning"],
            think_aloud=answer.get("think_aloud") or "",
            time_on_task_seconds=answer.get("time_on_task_seconds"),
        )

    def _response_record(self, persona: Any, condition: Any, answers: dict) -> dict:
        """response.json as seed 004 §3.4 has it: who answered which study when, each answer with
        its reasoning, and the behavioural data the study asked for per item."""
        record: dict[str, Any] = {
            "personaId": persona.id,
            "studyProtocolId": self.study.id,
            "timestamp": timezone.now().isoformat(),
            "condition": condition.code if condition is not None else None,
            "responses": [
                {
                    "item": item["code"],
                    "itemId": item["id"],
                    "type": item["type"],
                    "answer": answers[item["code"]]["answer"],
                    "reasoning": answers[item["code"]]["reasoning"],
                    **(
                        {"think_aloud": answers[item["code"]]["think_aloud"]}
                        if self.study.think_aloud
                        else {}
                    ),
                }
                for item in self.item_view
            ],
        }
        if self.study.time_on_task or self.measures:
            record["behavioralData"] = {
                item["code"]: {
                    **(answers[item["code"]].get("behavior") or {}),
                    **(
                        {"time_on_task_seconds": answers[item["code"]]["time_on_task_seconds"]}
                        if self.study.time_on_task
                        else {}
                    ),
                }
                for item in self.item_view
            }
        return record

    # --- the estimate before a run ---------------------------------------------------------------

    def estimate(self, *, personas: list[Any], total: int) -> dict:
        """What a run over `total` personas would cost (`personas.engine.sizing.run_estimate`)."""
        return run_estimate(self, personas=personas, total=total)
