"""The influence step of a multi-agent run, called when its independent answers are all stored.

On the poll model, x(0) is what the backend stored for each persona: its answer probabilities
(`Answer.probabilities`), so peer influence off is exactly the independent run, and influence on is
Friedkin–Johnsen over the network. On the LLM backend a persona's independent answer is the one
option the engine chose (x(0) its indicator), and influence on is the answers after the
deliberation rounds (`studies.influence.deliberation`) over the same seeded network; the measures
are computed the same way from those indicators.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from personas.awareness import PersonaView, conformity_tendency
from studies.influence.deliberation import Deliberation, deliberate
from studies.influence.simulate import (
    DEFAULT_NEIGHBOURS_SHOWN,
    Group,
    InfluenceParams,
    Wiring,
    assumptions,
    group_wiring,
    influence_results,
    influence_simulate,
)
from studies.models import Answer, InfluenceSimulation, Item, Run
from studies.progress import Reporter

# Demographics the shares are broken down by (besides area and party).
BREAKDOWN_FIELDS = ("age_bracket", "sex", "race_ethnicity", "education", "income")
PERSONA_COLUMNS = ("id", "index", "area_id", "age", *BREAKDOWN_FIELDS, "profile")
# Each persona's answer after influence is drawn from a stream of its own of the run's seed.
AFTER_STREAM = 0x1F1


def influence_group(*, run: Run, item: Item) -> tuple[Group, list[dict[str, Any]]]:
    """The run's answered personas, in population order, as arrays; and per persona its id,
    position, area and the answer the independent run drew."""
    options = [o.code for o in item.options.all()]
    rows = list(
        Answer.objects.filter(run_id=run.id, item_id=item.id)
        .order_by("persona__index")
        .values_list(
            "probabilities", "option__code", "weight", *(f"persona__{c}" for c in PERSONA_COLUMNS)
        )
    )
    # The LLM backend stores no probabilities: its persona's x(0) is the option it chose.
    initial = np.array(
        [[r[0].get(code, 0.0) if r[0] else float(code == r[1]) for code in options] for r in rows],
        dtype=float,
    )
    personas = [dict(zip(PERSONA_COLUMNS, r[3:], strict=True)) for r in rows]
    people = [
        {"persona_id": p["id"], "index": p["index"], "area": p["area_id"], "answer": r[1]}
        for p, r in zip(personas, rows, strict=True)
    ]
    weights = np.array([r[2] for r in rows], dtype=float)
    group = group_from_personas(personas, initial=initial, options=options, weights=weights)
    return group, people


def group_from_personas(
    personas: list[dict[str, Any]],
    *,
    initial: np.ndarray,
    options: list[str],
    weights: np.ndarray | None = None,
) -> Group:
    """A Group of personas given as dicts of PERSONA_COLUMNS, with their answer probabilities
    `initial` (n × K, in the order of `options`; rows are renormalised)."""
    if initial.size:
        initial = initial / initial.sum(axis=1, keepdims=True)
    # PersonaView reads attributes; a namespace is a third of the cost of a model instance.
    views = [PersonaView.from_persona(SimpleNamespace(pk=p["id"], **p)) for p in personas]
    attributes: dict[str, list[str | None]] = {
        "age_bracket": [v.age_bracket for v in views],
        "race_ethnicity": [v.race_ethnicity for v in views],
        "education": [v.education for v in views],
        "party": [v.party_code for v in views],
    }
    categories = {
        "area": np.asarray([v.area_id for v in views]),
        **{f: np.asarray([getattr(v, f) for v in views]) for f in BREAKDOWN_FIELDS},
        "party": np.asarray([v.party_code or "unknown" for v in views]),
    }
    return Group(
        attributes=attributes,
        categories=categories,
        conformity=np.asarray([conformity_tendency(v) for v in views], dtype=float),
        initial=initial,
        options=options,
        weights=weights,
    )


def influence_simulation_compute(*, run: Run, reporter: Reporter) -> InfluenceSimulation | None:
    """Run the influence step of the run's simulation and store its results; None when the run
    has no simulation (a multi-agent study run through the ordinary run API)."""
    simulation = InfluenceSimulation.objects.filter(run_id=run.id).first()
    if simulation is None:
        return None
    item = Item.objects.prefetch_related("options").get(study_id=run.study_id)
    group, people = influence_group(run=run, item=item)
    params = InfluenceParams.from_dict(simulation.parameters)
    if group.size < 2:
        raise ValueError(
            f"only {group.size} persona(s) could be answered: peer influence needs two or more"
        )
    if run.backend == "llm":
        return _deliberation_compute(
            simulation=simulation, run=run, item=item, group=group, people=people, params=params,
            reporter=reporter,
        )  # fmt: skip
    outcome = influence_simulate(group, params)
    results = outcome.results
    after: list[str | None] = [None] * group.size
    if params.enable_peer_influence:
        before = np.array([group.options.index(p["answer"]) for p in people])
        chosen = answers_after(before, group.initial, outcome.final, seed=params.seed)
        after = [group.options[c] for c in chosen]
        results["peer_influence_effects"]["answers_changed"] = float(np.mean(chosen != before))
    simulation.results = results
    simulation.responses = [
        {
            **person,
            "probabilities_before": _rounded(group.options, group.initial[i]),
            "probabilities_after": _rounded(group.options, outcome.final[i])
            if params.enable_peer_influence
            else None,
            "answer_after": after[i],
            "susceptibility": round(float(outcome.susceptibility[i]), 4),
            "ties": int(outcome.degrees[i]),
        }
        for i, person in enumerate(people)
    ]
    simulation.save(update_fields=["results", "responses"])
    return simulation


def answers_after(
    before: np.ndarray, initial: np.ndarray, final: np.ndarray, *, seed: int
) -> np.ndarray:
    """Each persona's answer after influence, drawn from its final probabilities but coupled to
    the answer it gave independently (a maximal coupling): it keeps that answer with probability
    min(1, final/initial) of it, and otherwise moves to an option whose probability rose, in
    proportion to the rise. So the answer is distributed as `final`, and a persona changes its
    answer with probability TV(initial, final) — only as much as influence moved it."""
    n = before.size
    rng = np.random.default_rng([seed, AFTER_STREAM])
    rows = np.arange(n)
    was, now = initial[rows, before], final[rows, before]
    keep = rng.random(n) * was < now  # u < now / was without dividing by a zero
    rise = np.clip(final - initial, 0.0, None)
    total = rise.sum(axis=1, keepdims=True)
    cdf = np.divide(rise.cumsum(axis=1), total, out=np.ones_like(rise), where=total > 0)
    moved = np.minimum((cdf < rng.random(n)[:, None]).sum(axis=1), initial.shape[1] - 1)
    return np.where(keep | (total[:, 0] <= 0), before, moved)


def _rounded(options: list[str], values: np.ndarray) -> dict[str, float]:
    return {o: round(float(v), 6) for o, v in zip(options, values, strict=True)}


def _deliberation_compute(
    *,
    simulation: InfluenceSimulation,
    run: Run,
    item: Item,
    group: Group,
    people: list[dict[str, Any]],
    params: InfluenceParams,
    reporter: Reporter,
) -> InfluenceSimulation:
    """The LLM backend's influence step: deliberation rounds over the seeded network, and the
    measures of the answers before (round 0) and after (the last round run)."""
    options = group.options
    if not params.enable_peer_influence or not params.deliberation_rounds:
        results = influence_results(group, params, wiring=None, final=None, dynamics=None)
        results["assumptions"] = deliberation_assumptions(params, deliberation=None)
        simulation.results = results
        simulation.responses = [
            {**person, "answer_after": None, "answers_by_round": [person["answer"]]}
            for person in people
        ]
        simulation.save(update_fields=["results", "responses"])
        return simulation
    wiring = group_wiring(group, params)
    labels = [(o.code, o.label) for o in item.options.all()]
    deliberation = deliberate(
        run=run,
        item_text=item.text,
        options=labels,
        persona_ids=[p["persona_id"] for p in people],
        wiring=wiring,
        rounds=params.deliberation_rounds,
        neighbours_shown=params.neighbours_shown or DEFAULT_NEIGHBOURS_SHOWN,
        reporter=reporter,
    )
    chosen = np.array([[options.index(a) for a in answers] for answers in deliberation.answers])
    # group.initial is already round 0's indicators (the engine's stored answers).
    after = _indicators(chosen[-1], len(options))
    results = influence_results(
        group,
        params,
        wiring=wiring,
        final=after,
        dynamics=_deliberation_summary(deliberation, chosen, group, params, wiring),
    )
    results["assumptions"] = deliberation_assumptions(params, deliberation=deliberation)
    results["peer_influence_effects"]["answers_changed"] = float(np.mean(chosen[-1] != chosen[0]))
    simulation.results = results
    simulation.responses = [
        {
            **person,
            "answer_after": options[chosen[-1, i]],
            "answers_by_round": [options[c] for c in chosen[:, i]],
            "reasoning_after": deliberation.reasonings[i],
            "susceptibility": round(float(wiring.susceptibility[i]), 4),
            "ties": int(wiring.network.degrees[i]),
        }
        for i, person in enumerate(people)
    ]
    simulation.holds_reasoning = True  # for retention (`accounts.data_rights`)
    simulation.save(update_fields=["results", "responses", "holds_reasoning"])
    return simulation


def _indicators(chosen: np.ndarray, options: int) -> np.ndarray:
    return np.eye(options)[chosen]


def _deliberation_summary(
    deliberation: Deliberation,
    chosen: np.ndarray,
    group: Group,
    params: InfluenceParams,
    wiring: Wiring,
) -> dict[str, Any]:
    """The rounds as the response's `dynamics`: the shares of answers after each round (weighted
    as the comparison's), who changed, what failed, what it cost, and why it stopped."""
    usage = deliberation.usage
    weights = group.weights if group.weights is not None else np.ones(chosen.shape[1])
    changed = [int((chosen[t] != chosen[t - 1]).sum()) for t in range(1, chosen.shape[0])]
    return {
        "model": "llm_deliberation",
        "rounds_requested": params.deliberation_rounds,
        "rounds": deliberation.rounds,
        "converged": bool(changed) and changed[-1] == 0 and deliberation.failures_by_round[-1] == 0,
        "stopped": deliberation.stopped,
        "last_change": changed[-1] / chosen.shape[1] if changed else 0.0,
        "personas_asked_per_round": deliberation.asked,
        "personas_without_ties": int((wiring.network.degrees == 0).sum()),
        "neighbours_shown": params.neighbours_shown,
        "failures": deliberation.failures,
        "failures_by_round": deliberation.failures_by_round,
        "answers_changed_by_round": changed,
        "llm_calls": usage.llm_calls,
        "cached_calls": usage.cached_calls,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cost": None if usage.cost is None else str(usage.cost),
        "trajectory": [
            {
                "round": t,
                "shares": {
                    o: float(np.average(chosen[t] == k, weights=weights))
                    for k, o in enumerate(group.options)
                },
            }
            for t in range(chosen.shape[0])
        ],
    }


def deliberation_assumptions(
    params: InfluenceParams, *, deliberation: Deliberation | None
) -> dict[str, Any]:
    """The offline model's named assumptions, with those of the LLM backend in place of the
    Friedkin–Johnsen model's."""
    named = assumptions(params)
    named.update(
        model="LLM deliberation: round 0 is each persona's answer through the persona engine "
        "alone (influence off); in each later round every persona with ties reads its own "
        "previous answer and reasoning and those of up to neighbours_shown ties, most similar "
        "then best-connected first, and answers again (influence on = the answers after the last "
        "round run); all read the previous round's answers",
        susceptibility="not a parameter of the deliberation: each persona's model decides "
        "whether to move; λ = scale × conformity tendency is used only in conformity_pressure, "
        "as in the offline model",
        neighbours_shown=params.neighbours_shown,
        deliberation_rounds=params.deliberation_rounds,
        failures="a persona whose call fails (provider error after retries, or a reply that "
        "stays invalid) keeps its previous answer",
        answers="one answer per persona and round, no probabilities: x(0) and x(T) are "
        "indicators of the chosen option, so shares are shares of answers and average "
        "influence is the share of personas whose answer changed",
        intervals="95 % Wilson interval at n personas: the sampling variability of drawing the "
        "personas only; not the model's own variability, and optimistic after deliberation, "
        "which makes tied personas dependent",
    )
    named.pop("round_limit", None)
    named.pop("tolerance", None)
    if deliberation is not None and deliberation.stopped:
        named["stopped_early"] = deliberation.stopped
    return named
