"""Policy support: an item's options mapped to support / oppose / neutral (`policy_stance`), and
the figures a campaign reads from them — overall, by area and by demographic group, with
intervals, tests of the differences and swing groups (`policy_support`), the social pressures of
each area and how support goes with them (`policy_environment`), and the lift of each message (a
condition of the study) over the control (`policy_messages`).

Every figure is a pure function of a per-persona frame (columns `stance`, `area`, the demographic
dimensions, `condition`, and one column per social pressure), so a test can recompute it directly
with scipy and statsmodels on the same counts. The analyzer (`PolicySupportAnalyzer`) builds that
frame from a run's answers and adds these figures to the questionnaire results of a study made by
the political endpoints (`studies.models.PolicyAnalysis`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import pandas as pd

from environment.categories import DIMENSIONS
from environment.context import environmental_context
from environment.models import Area
from personas.awareness import PersonaView, social_pressures
from personas.models import Persona
from studies.analyzers import stats
from studies.analyzers.policy_environment import (
    PRESSURES,
    area_pressures,
    geographic_variation,
    pressure_associations,
)
from studies.analyzers.policy_messages import Z_TEST, message_lifts
from studies.analyzers.policy_stance import STANCE_RULE
from studies.analyzers.policy_support import (
    MIN_GROUP,
    THRESHOLD,
    TOP_MOVERS,
    breakdown,
    difference_tests,
    stance_summary,
    swing_movers,
    swing_near_threshold,
)
from studies.analyzers.questionnaire import QuestionnaireAnalyzer, answers_frame
from studies.models import Condition, Item, PolicyAnalysis, Run

METHOD: Final = (
    "Each persona's answer to the policy item is mapped to a stance (support / oppose / neutral). "
    "Support, opposition and neutral shares carry 95% Wilson score intervals "
    "(statsmodels proportion_confint, method='wilson'); net support (support − opposition, the mean "
    "of +1 / −1 / 0 per persona) carries a seeded 95% percentile bootstrap interval "
    f"(scipy.stats.bootstrap, {stats.N_RESAMPLES} resamples). Differences between areas and "
    "between the categories of each demographic dimension are tested with Pearson's chi-square "
    "test of independence of category × stance (scipy.stats.chi2_contingency; Fisher's exact test "
    "when an expected count is below 5), Holm-corrected across dimensions. Swing groups: (a) "
    "groups whose two-way support share (support among personas who took a side) has a Wilson "
    f"interval containing {THRESHOLD:.0%}; (b) the groups whose support share varies most between "
    f"areas (range of the per-area shares, cells of at least {MIN_GROUP} personas), each with the "
    "chi-square test of area × stance within the group. Environment: the mean of each social "
    "pressure (personas/awareness, formulas in personas/awareness_README.md) over each area's "
    "personas, and the point-biserial correlation across personas between supporting (1/0) and "
    "each pressure — an association, not a causal effect: areas differ in many ways at once. "
    "Geographic variation: the range (max − min) of the areas' support shares with a seeded "
    "bootstrap interval resampling personas within each area. With messages (conditions), these "
    "figures describe the control arm, and each message's lift is its support share minus the "
    "control's, with a Newcombe interval (statsmodels confint_proportions_2indep) and a "
    f"{Z_TEST}, Holm-corrected across messages. Personas are simulated, not sampled people: "
    "intervals and tests describe the noise of the simulation."
)


def persona_pressures(persona_ids: list[int]) -> pd.DataFrame:
    """Each persona's five social pressures in its area (None where underivable); one context
    read per area."""
    personas = list(Persona.objects.filter(id__in=persona_ids).select_related("area"))
    contexts = {a: environmental_context(area_id=a) for a in {p.area_id for p in personas}}
    rows = []
    for persona in personas:
        pressures = social_pressures(PersonaView.from_persona(persona), contexts[persona.area_id])
        rows.append({"persona_id": persona.id} | {p.name: p.value for p in pressures.items()})
    return pd.DataFrame(rows, columns=["persona_id", *PRESSURES])


def policy_frame(run: Run, spec: PolicyAnalysis) -> pd.DataFrame:
    """One row per persona who answered the policy item: stance, area, demographics, condition
    and social pressures."""
    answers = answers_frame(run)
    item = Item.objects.get(study_id=run.study_id, code=spec.item_code)
    answers = answers[answers["item_id"] == item.id]
    codes = dict(item.options.values_list("id", "code"))
    answers = answers.assign(stance=answers["option_id"].map(codes).map(spec.stances))
    answers = answers[answers["stance"].notna()]
    pressures = persona_pressures(answers["persona_id"].tolist())
    return answers.merge(pressures, on="persona_id", how="left")


def policy_results(
    frame: pd.DataFrame,
    *,
    conditions: list[str],
    area_labels: Mapping[str, str],
    target_dimensions: tuple[str, ...],
    pressures: tuple[str, ...] = PRESSURES,
    seed: int,
) -> dict:
    """Every policy figure from a per-persona frame (see the module docstring)."""
    dimensions = tuple(DIMENSIONS)
    base = frame[frame["condition"] == conditions[0]] if len(conditions) > 1 else frame
    breakdowns = {
        dimension: breakdown(base, dimension, DIMENSIONS[dimension], seed=seed)
        for dimension in dimensions
    }
    result = {
        "threshold": THRESHOLD,
        "describes": (
            f"the control condition '{conditions[0]}'" if len(conditions) > 1 else "every persona"
        ),
        "overall": stance_summary(base, seed=seed),
        "by_area": breakdown(base, "area", area_labels, seed=seed),
        "by_group": breakdowns,
        "significance": difference_tests(base, ("area", *dimensions), seed=seed),
        "swing": {
            "definition": (
                f"near_threshold: groups of at least {MIN_GROUP} personas whose two-way support "
                f"share (support among personas who took a side) has a 95% Wilson interval "
                f"containing {THRESHOLD:.0%}. movers: the {TOP_MOVERS} demographic groups whose "
                "support share varies most (max − min) between areas and between conditions, "
                f"over cells of at least {MIN_GROUP} personas, each with a chi-square test of "
                "that variation (Holm-corrected)."
            ),
            "near_threshold": swing_near_threshold(breakdowns),
            "movers_between_areas": swing_movers(base, dimensions, "area", seed=seed),
            "movers_between_conditions": (
                swing_movers(frame, dimensions, "condition", seed=seed)
                if len(conditions) > 1
                else []
            ),
        },
        "environment": {
            "pressures": list(pressures),
            "by_area": area_pressures(base, pressures),
            "associations": pressure_associations(base, pressures),
            "geographic_variation": geographic_variation(base, seed=seed),
        },
    }
    if len(conditions) > 1:
        result["messages"] = message_lifts(frame, conditions, target_dimensions)
    return result


class PolicySupportAnalyzer(QuestionnaireAnalyzer):
    """The questionnaire's results, plus the policy figures (`policy`) when the study was made by
    the political endpoints (it then has a PolicyAnalysis saying which item asks the policy and
    how its options map to stances)."""

    def results(self, *, run: Run) -> dict:
        results = super().results(run=run)
        spec = PolicyAnalysis.objects.filter(study_id=run.study_id).first()
        if spec is None:
            return results
        frame = policy_frame(run, spec)
        conditions = list(
            Condition.objects.filter(study_id=run.study_id).values_list("code", flat=True)
        )
        area_labels = dict(
            Area.objects.filter(id__in=frame["area"].unique().tolist()).values_list("id", "name")
        )
        include_conformity = spec.request.get("include_social_conformity", True) is not False
        pressures = tuple(p for p in PRESSURES if include_conformity or p != "conformity")
        results["policy"] = {
            "method": METHOD,
            "stance_rule": STANCE_RULE,
            "item_code": spec.item_code,
            "stances": spec.stances,
            "stance_source": spec.stance_source,
        } | policy_results(
            frame,
            conditions=conditions or [""],
            area_labels=area_labels,
            target_dimensions=tuple(spec.target_demographics or DIMENSIONS),
            pressures=pressures,
            seed=int(run.seed) % (2**32),
        )
        return results
