"""The influence step of a multi-agent run, called when its independent answers are all stored.

x(0) is what the run's backend (the poll model) stored for each persona: its answer
probabilities (`Answer.probabilities`), so peer influence off is exactly the independent run.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from personas.awareness import PersonaView, conformity_tendency
from studies.influence.simulate import Group, InfluenceParams, influence_simulate
from studies.models import Answer, InfluenceSimulation, Item, Run

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
    initial = np.array([[r[0].get(code, 0.0) for code in options] for r in rows], dtype=float)
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


def influence_simulation_compute(*, run: Run) -> InfluenceSimulation | None:
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
