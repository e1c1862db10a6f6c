"""Starting a multi-agent simulation: a study of kind multi-agent with one poll-grounded item, a run
of it over the group's personas (on the poll model, or on the LLM backend through the persona
engine), and the simulation's settings beside the run.

The run machinery does the rest (chunks, progress, the run page, exports); its finishing step
(`studies.pipeline.run_finalize`) calls `studies.influence.compute` once every persona has its
independent answer, which on the LLM backend runs the deliberation rounds. Their estimate is
added to the run's before it starts, so a budget below the whole is refused up front.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from config.errors import DomainError
from environment.models import Area
from personas.models import Persona, Population
from polls.models import Question
from studies.backends.llm import LLMBackend
from studies.influence.prompt import deliberation_estimate
from studies.influence.simulate import InfluenceParams
from studies.models import InfluenceSimulation, Study
from studies.services import ItemSpec, run_start, study_create

# The rounds run in the run's finishing task, within its soft time limit (15 min by default): at a
# few seconds a call and the engine's default 8 in flight, about 5,000 calls fit with a margin.
DELIBERATION_MAX_CALLS = 5_000


def influence_simulation_start(
    *,
    scenario_description: str,
    question: Question,
    population: Population,
    area: Area | None = None,
    persona_ids: list[int] | None = None,
    params: InfluenceParams,
    backend: str = "poll_model",
    backend_config: dict | None = None,
    budget: Decimal | None = None,
    created_by=None,
    executor: str | None = None,
) -> InfluenceSimulation:
    """Create the study, run and simulation; the run is dispatched once the transaction commits.

    The group is `persona_ids` (of `population`) when given, else the population's personas in
    `area`, else the whole population. A group of fewer than two personas is refused. On the
    LLM backend the run's estimate includes `params.deliberation_rounds` rounds of the group,
    and `budget` caps the whole (refused above the estimate, stopped between rounds)."""
    rules: list[dict] = []
    if area is not None:
        if not population.areas.filter(area_id=area.id).exists():
            raise DomainError(
                f"Population {population.id} has no personas in area '{area.id}': choose one of "
                f"its areas ({', '.join(population.areas.values_list('area_id', flat=True))}) "
                "or leave environment_area_id out.",
                code="area_not_in_population",
                fields={"environment_area_id": ["not an area of the population"]},
            )
        rules.append({"field": "area", "op": "eq", "value": area.id})
    members = Persona.objects.filter(population_id=population.id)
    if area is not None:
        members = members.filter(area_id=area.id)
    if persona_ids is not None:
        found = dict(members.filter(id__in=persona_ids).values_list("id", "index"))
        unknown = sorted(set(persona_ids) - set(found))
        if unknown:
            raise DomainError(
                f"Persona(s) {', '.join(map(str, unknown[:10]))} are not in population "
                f"{population.id}" + (f" in area '{area.id}'" if area else "") + ".",
                code="unknown_personas",
                fields={"personas": ["not in the population" + (" and area" if area else "")]},
            )
        rules.append({"field": "index", "op": "in", "value": sorted(found.values())})
        size = len(found)
    else:
        size = members.count()
    if size < 2:
        raise DomainError(
            f"The group has {size} persona{'s' if size != 1 else ''}: peer influence needs at "
            "least two people who can influence each other. Name two or more personas, or a "
            "population or area with more of them.",
            code="group_too_small",
            fields={"personas": ["at least two personas are needed"]},
        )
    if params.group_size is not None and params.group_size < 2:
        raise DomainError(
            "group_size must be at least 2: in a group of one nobody can influence anybody.",
            code="group_too_small",
            fields={"group_size": ["must be >= 2"]},
        )
    extra = None
    if backend == "llm" and params.enable_peer_influence and params.deliberation_rounds:
        if size * params.deliberation_rounds > DELIBERATION_MAX_CALLS:
            raise DomainError(
                f"{size} personas × {params.deliberation_rounds} rounds is "
                f"{size * params.deliberation_rounds:,} deliberation calls, more than the "
                f"{DELIBERATION_MAX_CALLS:,} one simulation may make (the rounds run in the run's "
                "finishing task): use fewer rounds, a smaller group or an area of the population.",
                code="deliberation_too_large",
                fields={
                    "deliberation_rounds": [f"personas × rounds must be ≤ {DELIBERATION_MAX_CALLS}"]
                },
            )
        extra = _deliberation_estimate(
            backend_config=backend_config or {},
            question=question,
            personas=size,
            params=params,
        )
    with transaction.atomic():
        study = study_create(
            title=f"Multi-agent: {scenario_description}"[:200],
            description=scenario_description,
            kind=Study.Kind.MULTI_AGENT,
            items=[ItemSpec(code="answer", text=question.text, poll_question_id=question.id)],
            inclusion=rules,
            created_by=created_by,
        )
        run = run_start(
            study=study,
            population=population,
            backend=backend,
            backend_config=backend_config,
            budget=budget,
            seed=params.seed,
            created_by=created_by,
            executor=executor,
            estimate_extra=extra,
        )
        return InfluenceSimulation.objects.create(
            run=run,
            scenario_description=scenario_description,
            enable_peer_influence=params.enable_peer_influence,
            parameters=params.as_dict(),
            created_by=created_by,
        )


def _deliberation_estimate(
    *, backend_config: dict, question: Question, personas: int, params: InfluenceParams
) -> dict:
    problem = LLMBackend.config_problems(backend_config)
    if problem is not None:
        raise DomainError(str(problem), code="invalid_backend_config", fields=problem.fields)
    options = [(o.code, o.label) for o in question.options.all()]
    return deliberation_estimate(
        config=backend_config,
        personas=personas,
        rounds=params.deliberation_rounds or 0,
        neighbours=min(params.neighbours_shown or 0, personas - 1),
        question=question.text,
        options=options,
    )
