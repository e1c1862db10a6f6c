"""The LLM backend: each persona goes through the persona engine (analyze → context → experience →
participation) on the provider and model chosen for the run, in the condition it was assigned to.

`Run.backend_config` holds `{"llm": <llm.types.LLMConfig>, "engine": <EngineOptions>}`; both are
validated before the run is created, and the API key is looked up then too, so a run that cannot
call its provider is refused with the reason instead of failing every persona.
"""

from __future__ import annotations

from pydantic import BaseModel, ValidationError

from llm.errors import MissingAPIKeyError
from llm.keys import api_key_for
from llm.ratelimit import limits_for, redis_url
from llm.types import LLMConfig
from personas.engine.engine import EngineOptions, PersonaEngine
from personas.engine.prompts import template_sources
from personas.engine.schemas import BEHAVIOURAL_MEASURES
from personas.models import Persona, Population
from studies.backends.base import BackendConfigError, PersonaResult, RespondentBackend
from studies.models import Item, Run, Study

CHUNK_ROUNDS = 4


class LLMRunConfig(BaseModel):
    llm: LLMConfig
    engine: EngineOptions = EngineOptions()


def parse_config(raw: dict | None) -> LLMRunConfig:
    """The validated run config; BackendConfigError says which field is wrong and why."""
    if not raw or "llm" not in raw:
        raise BackendConfigError(
            "The LLM backend needs backend_config.llm with at least provider "
            "(openai, anthropic or compatible) and model, e.g. "
            '{"llm": {"provider": "openai", "model": "gpt-4o-mini"}}.',
            {"backend_config": ["llm.provider and llm.model are required"]},
        )
    try:
        config = LLMRunConfig.model_validate(raw)
    except ValidationError as exc:
        fields: dict[str, list[str]] = {}
        for error in exc.errors():
            where = "backend_config." + ".".join(str(p) for p in error["loc"])
            fields.setdefault(where, []).append(error["msg"])
        detail = "; ".join(f"{k}: {', '.join(v)}" for k, v in fields.items())
        raise BackendConfigError(f"Invalid backend_config: {detail}.", fields) from None
    try:
        api_key_for(config.llm)
    except MissingAPIKeyError as exc:
        raise BackendConfigError(exc.message, {"backend_config.llm": [exc.message]}) from None
    return config


class LLMBackend(RespondentBackend):
    name = "llm"
    label = "Language model through the persona engine"
    # Personas are slow and cost money: what is done is written (and its progress shown) twice a
    # second. A fixed ten at a time made a run of 1,000 personas 100 transactions, each with its
    # commit, counter update and progress message: two thirds of a cached re-run's CPU went to
    # writing, nearly half of that on those per-write costs (py-spy, the LLM engine bench).
    write_batch = 500
    write_interval = 0.5

    @classmethod
    def study_problems(cls, study: Study) -> list[str]:
        """Items the engine cannot ask (too few options, a numeric range upside down), unknown
        behavioural measures and prompt templates."""
        problems = []
        for item in study.items.prefetch_related("options"):
            options = len(item.options.all())
            if item.type in Item.WITH_OPTIONS and options < 2:
                problems.append(
                    f"Item '{item.code}' ({item.get_type_display()}) needs at least two options "
                    "to choose from."
                )
            if (
                item.type == Item.Type.NUMERIC
                and item.min_value is not None
                and item.max_value is not None
                and item.min_value > item.max_value
            ):
                problems.append(
                    f"Item '{item.code}': min_value {item.min_value:g} is above max_value "
                    f"{item.max_value:g}; swap them."
                )
            if item.type == Item.Type.MULTIPLE_CHOICE and item.max_choices == 0:
                problems.append(
                    f"Item '{item.code}': max_choices is 0; allow at least one choice or leave "
                    "it empty for any number."
                )
        unknown = [m for m in study.behavioral_measures or [] if m not in BEHAVIOURAL_MEASURES]
        if unknown:
            problems.append(
                f"behavioral_measures: unknown measure(s) {', '.join(map(str, unknown))}; the "
                f"language-model backend can ask for {', '.join(BEHAVIOURAL_MEASURES)} (time on "
                "task is its own setting)."
            )
        try:
            template_sources(study.prompt_templates)
        except ValueError as exc:
            problems.append(f"prompt_templates: {exc}")
        return problems

    @classmethod
    def default_chunk_size(cls, config: dict) -> int | None:
        """Four rounds of the engine's concurrency per chunk: at a few seconds a call, a chunk
        takes about a minute, far inside the task time limit, and a lost chunk costs little to
        redo."""
        try:
            return CHUNK_ROUNDS * parse_config(config).engine.concurrency
        except BackendConfigError:
            return None  # the config is refused with its reason when the run is checked

    @classmethod
    def spreads_over_processes(cls, config: dict) -> bool:
        """Yes, unless the provider has limits kept in this process: without Redis each process
        would keep the whole limit for itself (`llm.ratelimit.LocalLimiter`)."""
        try:
            provider = parse_config(config).llm.provider
        except BackendConfigError:
            return False
        return bool(redis_url()) or limits_for(provider).unlimited

    @classmethod
    def config_problems(cls, config: dict) -> BackendConfigError | None:
        """Also looks the API key up, so a run that cannot call its provider is refused."""
        try:
            parse_config(config)
        except BackendConfigError as exc:
            return exc
        return None

    @classmethod
    def estimate(
        cls,
        *,
        study: Study,
        population: Population,
        config: dict,
        participants: list[int] | None = None,
    ) -> dict | None:
        parsed = parse_config(config)
        items = list(study.items.prefetch_related("options"))
        engine = PersonaEngine(
            config=parsed.llm, study=study, items=items, options=parsed.engine, for_estimate=True
        )
        if participants is not None:
            # The participants the run will answer: their profiles set the episode counts.
            chosen = Persona.objects.filter(id__in=participants[:20])
            total = len(participants)
        else:
            chosen = Persona.objects.filter(population=population)
            total = population.personas.count()
        sample = list(chosen.select_related("area").order_by("index")[:20])
        return engine.estimate(personas=sample, total=total)

    def __init__(self, run: Run, items: list[Item]) -> None:
        super().__init__(run, items)
        parsed = parse_config(run.backend_config)
        self.concurrency = parsed.engine.concurrency
        self.engine = PersonaEngine(
            config=parsed.llm, study=run.study, items=items, options=parsed.engine, run_id=run.id
        )

    def answer_persona(self, persona: Persona) -> PersonaResult:
        return self.engine.run(persona, condition=self.condition_for(persona))

    async def aanswer_persona(self, persona: Persona) -> PersonaResult:
        """`answer_persona` as a task of the chunk's event loop (`llm.loops.results_on_loop`)."""
        return await self.engine.arun(persona, condition=self.condition_for(persona))
