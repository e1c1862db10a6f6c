"""The persona engine (seed 004): analyze → context engineering → (consistency check) → experience
engineering → participation, each a structured call through the LLM gateway.

Analyze decides which study-relevant attributes the persona needs (stored in its profile as
`studyRelevantAttributes` and shown to every later step); experience engineering writes the number
of episodes, and the valence mix, of seed 004's table for the persona's proficiency and the depth
(`personas.engine.episodes`); participation answers each item in its item type's form, in the
persona's assigned condition (its stimulus and item wordings).

One `PersonaEngine` serves a whole run (it holds the study, the templates, the poll grounding and
the area contexts, all read once) and `arun(persona)` takes one persona through the steps as a task
of the chunk's event loop (`llm.aio`): its model calls go through the gateway's asyncio path, and
what it reads from the database (an area's context, the poll grounding, the first time each is
needed) goes through the loop's database runner, never on the loop's thread. `run(persona)` is the
same for a caller without a loop (a loop of its own for that persona). Everything the engine shares
is read-only after construction except the area-context cache and the poll grounding, each filled
under a lock.

A step whose answers stay invalid after the gateway's fed-back retries, or whose provider gives up,
fails that persona (with the step and the reason) and the run goes on; a missing API key or a
replay-only cache miss concerns every persona and is raised for the run to fail.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from asgiref.sync import async_to_sync
from django.db import connection
from django.utils import timezone
from pydantic import BaseModel, Field, ValidationError

from environment.selectors import environmental_context
from llm import aio
from llm.errors import ProviderError, StructuredOutputError
from llm.gateway import CallBuffer, PriceBook, acomplete_structured
from llm.types import LLMConfig, Message, StructuredResult
from personas.awareness import PersonaView, generate_llm_prompt_context
from personas.engine.episodes import (
    NEUTRAL_BAND,
    VALENCE_MIX,
    VALENCE_RULES,
    episode_range,
    level_for,
)
from personas.engine.estimate import (
    CHARS_PER_TOKEN,
    OUTPUT_TOKENS,
    item_output_tokens,
    run_cost,
    step_max_tokens,
    typical_output_tokens,
)
from personas.engine.grounding import DEFAULT_QUESTIONS, Grounding
from personas.engine.persona_sheet import describe, profile_doc
from personas.engine.prompts import (
    context_as_text,
    experience_as_text,
    template_engine,
    template_sources,
)
from personas.engine.render import PromptTemplate
from personas.engine.results import AnswerDraft, PersonaResult
from personas.engine.schemas import (
    ConsistencyReport,
    Depth,
    ItemShape,
    PersonaContext,
    StudyAnalysis,
    experience_model,
    participation_model,
)

logger = logging.getLogger(__name__)


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


# How each item type asks for its answer (the participation prompt shows it under the item).
INSTRUCTIONS = {
    "single_choice": "Answer with one option code.",
    "likert": "Answer with the option code of one point of the scale.",
    "multiple_choice": "Choose every option that applies: a list of 1 to {most} option codes.",
    "ranking": "Rank all the options: a list of every option code, your first choice first.",
    "numeric": "Answer with {bounds}.",
    "free_text": "Answer in your own words.",
}


def _item_view(item: Any, condition_code: str | None) -> dict:
    """How the prompts show an item in a condition: its wording there, its options (Likert points
    with their scale value and anchor) and how to answer."""
    options = list(item.options.all())
    shown = []
    for position, o in enumerate(options, start=1):
        display = o.label
        if item.type == "likert":
            point = o.value if o.value is not None else position
            display = f"{point:g} = {o.label}"
        shown.append({"id": o.id, "code": o.code, "label": o.label, "display": display})
    most = min(item.max_choices or len(options), len(options))
    instruction = INSTRUCTIONS.get(item.type, INSTRUCTIONS["single_choice"]).format(
        most=most, bounds=_shape(item).bounds_text() if item.type == "numeric" else ""
    )
    return {
        "id": item.id,
        "code": item.code,
        "type": item.type,
        "type_label": item.get_type_display(),
        "text": item.text_for(condition_code),
        "instruction": instruction,
        "unit": item.unit,
        "options": shown,
    }


def _shape(item: Any) -> ItemShape:
    return ItemShape(
        code=item.code,
        type=item.type,
        options=tuple(o.code for o in item.options.all()),
        min_value=item.min_value,
        max_value=item.max_value,
        unit=item.unit or "",
        max_choices=item.max_choices,
    )


def _condition_view(condition: Any) -> dict | None:
    if condition is None:
        return None
    return {"code": condition.code, "label": condition.label, "stimulus": condition.stimulus}


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
        self.depth: str = self.options.depth or getattr(study, "depth", "") or "standard"
        self.run_id = run_id
        self.scenario = (study.description or study.title).strip()
        engine = template_engine()
        self.templates = {
            name: PromptTemplate(engine.from_string(text))
            for name, text in template_sources(study.prompt_templates).items()
        }
        self.conditions = list(study.conditions.all()) if study.pk else []
        # The items as each condition shows them (None: no condition), built once for the run.
        self.item_views = {
            code: [_item_view(item, code) for item in items]
            for code in [None, *(c.code for c in self.conditions)]
        }
        self.item_view = self.item_views[None]
        self._shared_by_condition: dict[str | None, dict] = {}
        self.option_id = {
            (item["code"], o["code"]): o["id"] for item in self.item_view for o in item["options"]
        }
        self.measures = tuple(getattr(study, "behavioral_measures", None) or ())
        self.participation_schema = participation_model(
            items=[_shape(item) for item in items],
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
        if not for_estimate:
            self.prices.get()  # here, not by the first of a chunk's many concurrent calls
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

    async def _agrounding_text(self, persona: Any) -> str:
        """The persona's poll grounding (the polls' answers are loaded once, when first needed if
        no background load is under way)."""
        if not self.options.grounding_questions:
            return ""
        grounding = self._grounding
        if grounding is None:
            grounding = await aio.run_db(self._load_grounding)
        return grounding.text(persona)

    def _shared(self, condition: Any) -> dict:
        """What every prompt in the condition shows (the study, its items), built once each."""
        code = condition.code if condition is not None else None
        shared = self._shared_by_condition.get(code)
        if shared is None:
            shared = {
                "study_title": self.study.title,
                "study_kind": self.study.get_kind_display(),
                "scenario": self.scenario,
                "items": self.item_views.get(code, self.item_view),
                "condition": _condition_view(condition),
                "think_aloud": self.study.think_aloud,
                "time_on_task": self.study.time_on_task,
                "measures": self.measures,
                "depth": self.depth,
            }
            self._shared_by_condition[code] = shared
        return shared

    def _render(self, name: str, condition: Any = None, **values: Any) -> str:
        code = condition.code if condition is not None else None
        # The same for every call in this condition; plain text, nothing HTML-escaped (a Context
        # escapes by default, whatever its engine says: "don't" became "don&#x27;t" until
        # 2026-12-07). See `personas.engine.render`.
        return self.templates[name].render(self._shared(condition), values, shape=code)

    def _messages(self, name: str, condition: Any = None, **values: Any) -> list[Message]:
        return [
            {"role": "system", "content": self._system},
            {"role": "user", "content": self._render(name, condition, **values)},
        ]

    def _experience_values(self, proficiency: str | None) -> dict:
        """What the experience prompt says of the episodes: how many, and the level's mix."""
        level = level_for(proficiency)
        lo, hi = episode_range(level, self.depth)
        return {
            "min_episodes": lo,
            "max_episodes": hi,
            "proficiency": level,
            "valence_mix": VALENCE_MIX[level],
            "valence_rule": VALENCE_RULES[level],
            "neutral_band": NEUTRAL_BAND,
        }

    def _area_context(self, area_id: str) -> dict:
        with self._lock:
            context = self._areas.get(area_id)
        if context is None:
            context = environmental_context(area_id=area_id)
            with self._lock:
                self._areas[area_id] = context
        return context

    async def _aenvironment(self, persona: Any) -> str:
        context = self._areas.get(persona.area_id)
        if context is None:
            context = await aio.run_db(self._area_context, persona.area_id)
        return self._environment_text(persona, context)

    def _environment(self, persona: Any) -> str:
        return self._environment_text(persona, self._area_context(persona.area_id))

    def _environment_text(self, persona: Any, context: dict) -> str:
        return generate_llm_prompt_context(
            PersonaView.from_persona(persona),
            context,
            scenario=self.scenario,
            scenario_type=self.study.kind,
        )

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
            environment = await self._aenvironment(persona)
            analysis = await self._call(
                "analyze",
                persona,
                self._messages("analyze", condition, profile_text=describe(doc)),
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
                    self._messages(
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
                    self._messages(
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
                episodes = self._experience_values(
                    doc.tech_profile.proficiency if doc.tech_profile else None
                )
            except ValueError as exc:  # a proficiency no level of the table has
                raise _StepFailed("experience", str(exc)) from exc
            experience = await self._call(
                "experience",
                persona,
                self._messages(
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
                self._messages(
                    "participation",
                    condition,
                    profile_text=profile_text,
                    context_text=context_text,
                    experience_text=experience_as_text(result.experience),
                    environment=environment,
                    grounding=await self._agrounding_text(persona),
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
        """What a run over `total` personas would cost, from prompts rendered for a sample of them.

        Input tokens: the rendered prompts of the sampled personas (characters / 4), with what a
        model would have written in earlier steps (study-relevant attributes, context,
        experience) stood in for by text of the typical size, and the poll grounding by its
        wording with placeholder figures (the polls' answers are not read); sampled personas take
        the study's conditions in turn. Output tokens: the typical reply sizes (the most episodes
        the persona's level and the depth allow; per-item sizes by item type), capped at the
        step's max_tokens. It is an upper bound in one way: calls answered from the cache cost
        nothing.
        """
        steps = ["analyze", "context", "experience", "participation"]
        if self.options.consistency_check:
            steps.insert(2, "consistency")
        sample = personas[:20]
        filler_context = "x" * OUTPUT_TOKENS["context"] * CHARS_PER_TOKEN
        filler_attributes = "x" * OUTPUT_TOKENS["analyze"] * CHARS_PER_TOKEN
        item_tokens = sum(
            item_output_tokens(
                item["type"],
                len(item["options"]),
                think_aloud=self.study.think_aloud,
                measures=len(self.measures) + int(self.study.time_on_task),
            )
            for item in self.item_view
        )
        per_step_in: dict[str, list[int]] = {s: [] for s in steps}
        per_step_out: dict[str, list[int]] = {s: [] for s in steps}
        max_tokens = dict(self.max_tokens)
        for n, persona in enumerate(sample):
            condition = self.conditions[n % len(self.conditions)] if self.conditions else None
            doc = profile_doc(persona)
            text = describe(doc)
            with_attributes = f"{text}\n{filler_attributes}"
            environment = self._environment(persona)
            try:
                episodes = self._experience_values(
                    doc.tech_profile.proficiency if doc.tech_profile else None
                )
            except ValueError:  # that persona fails at once: it costs no experience call
                episodes = self._experience_values(None)
            hi = episodes["max_episodes"]
            max_tokens["experience"] = max(
                max_tokens.get("experience", 0),
                step_max_tokens("experience", self.config, max_episodes=hi),
            )
            filler_experience = (
                "x" * typical_output_tokens("experience", episodes=hi) * (CHARS_PER_TOKEN)
            )
            prompts = {
                "analyze": self._messages("analyze", condition, profile_text=text),
                "context": self._messages(
                    "context", condition, profile_text=with_attributes, environment=environment
                ),
                "consistency": self._messages(
                    "consistency",
                    condition,
                    profile_text=with_attributes,
                    context_text=filler_context,
                ),
                "experience": self._messages(
                    "experience",
                    condition,
                    profile_text=with_attributes,
                    context_text=filler_context,
                    **episodes,
                ),
                "participation": self._messages(
                    "participation",
                    condition,
                    profile_text=with_attributes,
                    context_text=filler_context,
                    experience_text=filler_experience,
                    environment=environment,
                    grounding=self._grounding_size_text(persona),
                ),
            }
            for s in steps:
                chars = sum(len(m["content"]) for m in prompts[s])
                per_step_in[s].append(chars // CHARS_PER_TOKEN)
                typical = typical_output_tokens(s, episodes=hi, item_tokens=item_tokens)
                cap = (
                    step_max_tokens("experience", self.config, max_episodes=hi)
                    if s == "experience"
                    else max_tokens[s]
                )
                per_step_out[s].append(min(typical, cap))
        max_tokens.setdefault("experience", self.config.max_tokens)
        return run_cost(
            config=self.config,
            steps=steps,
            prompt_tokens=per_step_in,
            output_tokens=per_step_out,
            max_tokens=max_tokens,
            total=total,
            sampled=len(sample),
        )
