"""The seed's response shape for a policy analysis, from its run's state and stored results.

Every figure is read from the run's results (`studies.analyzers.policy`); nothing is computed or
filled in here. A field of the seed's shape that the platform cannot compute honestly is left out
and listed in `not_available` with the reason.
"""

from __future__ import annotations

from django.utils.text import slugify

from studies.models import PolicyAnalysis, Run

CAVEAT = (
    "Personas are simulated, not sampled people: intervals and tests describe the noise of the "
    "simulation, not the uncertainty of a real survey. Associations with social pressures are "
    "measured across personas and are not causal effects."
)
NOT_AVAILABLE = {
    "environmental_results.<area>.conformity_impact": (
        "The seed's figure is a causal effect of conformity on support. Personas are simulated in "
        "their own areas only, never the same persona under other pressures, so only the "
        "association of support with the conformity pressure across personas is measured "
        "(environmental_insights.pressure_associations) and each area's mean pressure."
    ),
    "environmental_results.<area>.minority_solidarity_effect": (
        "Same reason as conformity_impact: only the association with the minority-solidarity "
        "pressure and each area's mean pressure are measured."
    ),
    "environmental_insights.social_environment_impact": (
        "A 'high / medium / low' rating would need a cut-off nobody has validated; the "
        "significance of the area differences (statistical_significance) and the geographic "
        "variation with its interval say how much the environment goes with support."
    ),
}


def scenario_id(analysis: PolicyAnalysis) -> str:
    """pol_<topic>[_env]_<yyyymmdd>_<id>, after the seed's `pol_healthcare_env_20241215`."""
    topic = slugify(analysis.policy_topic or "policy").replace("-", "_")[:40] or "policy"
    env = "_env" if analysis.environmental else ""
    return f"pol_{topic}{env}_{analysis.created_at:%Y%m%d}_{analysis.pk}"


def _interval(share: dict) -> list[float | None]:
    return [share["ci_low"], share["ci_high"]]


def _group(row: dict) -> dict:
    return {
        "category": row["category"],
        "label": row["label"],
        "n": row["n"],
        "support": row["support"]["share"],
        "support_interval": _interval(row["support"]),
        "opposition": row["oppose"]["share"],
        "opposition_interval": _interval(row["oppose"]),
        "neutral": row["neutral"]["share"],
        "two_way_support": row["two_way_support"]["share"],
        "net_support": row["net_support"],
    }


def _environment(policy: dict) -> tuple[dict, dict]:
    environment = policy["environment"]
    pressures = {row["area"]: row["pressures"] for row in environment["by_area"]}
    results = {}
    for row in policy["by_area"]:
        area = row["category"]
        results[area] = _group(row) | {
            "name": row["label"],
            "mean_pressures": {
                name: value["mean"] for name, value in pressures.get(area, {}).items()
            },
            "social_pressure_effects": [
                {"pressure": name, "mean_pressure": value["mean"], "personas": value["n"]}
                for name, value in pressures.get(area, {}).items()
            ],
        }
    associations = environment["associations"]
    key = sorted(
        (a for a in associations if a["significant"] and a["r"] is not None),
        key=lambda a: -abs(a["r"]),
    )
    variation = environment["geographic_variation"]
    insights: dict = {
        "key_pressure_types": [a["pressure"] for a in key],
        "pressure_associations": associations,
    }
    if variation["estimate"] is not None:
        insights["geographic_variation"] = variation["estimate"]
        insights["geographic_variation_interval"] = [variation["ci_low"], variation["ci_high"]]
    return results, insights


def analysis_report(analysis: PolicyAnalysis) -> dict:
    """The analysis in the seed's shape (see PolicyAnalysisReportSerializer for every field)."""
    run: Run = analysis.run
    report: dict = {
        "analysis_id": analysis.pk,
        "scenario_id": scenario_id(analysis),
        "status": run.status,
        "progress": {
            "personas_done": run.personas_done,
            "personas_total": run.personas_total,
            "personas_failed": run.personas_failed,
            "fraction": run.personas_done / run.personas_total if run.personas_total else None,
        },
        "run_id": run.pk,
        "run_page_url": f"/runs/{run.pk}/",
        "websocket_url": f"/ws/runs/{run.pk}/",
        "policy_description": analysis.policy_description,
        "policy_topic": analysis.policy_topic,
        "backend": run.backend,
        "proxy": analysis.proxy,
        "stances": analysis.stances,
        "stance_source": analysis.stance_source,
    }
    if run.error_message:
        report["error_message"] = run.error_message
    policy = (run.results or {}).get("policy")
    if policy is None:
        return report
    overall = policy["overall"]
    if not overall["n"]:
        report["not_available"] = [
            {
                "field": "overall_support",
                "reason": "No persona gave an answer with a stance (see the run's failed "
                "personas): there is nothing to compute support from.",
            }
        ]
        return report
    report |= {
        "sample_size": overall["n"],
        "describes": policy["describes"],
        "overall_support": overall["support"]["share"],
        "overall_opposition": overall["oppose"]["share"],
        "overall_neutral": overall["neutral"]["share"],
        "confidence_interval": _interval(overall["support"]),
        "opposition_confidence_interval": _interval(overall["oppose"]),
        "two_way_support": overall["two_way_support"],
        "net_support": overall["net_support"],
        "demographic_breakdowns": {
            dimension: [_group(row) for row in rows]
            for dimension, rows in policy["by_group"].items()
        },
        "area_breakdown": [_group(row) for row in policy["by_area"]],
        "statistical_significance": policy["significance"],
        "swing_demographics": policy["swing"],
        "method": policy["method"],
        "caveat": CAVEAT,
    }
    not_available = []
    include_environment = analysis.request.get("include_environmental_effects", True) is not False
    if analysis.environmental and include_environment:
        report["environmental_results"], report["environmental_insights"] = _environment(policy)
        not_available += [{"field": f, "reason": r} for f, r in NOT_AVAILABLE.items()]
        if "geographic_variation" not in report["environmental_insights"]:
            not_available.append(
                {
                    "field": "environmental_insights.geographic_variation",
                    "reason": "Variation between areas needs personas in at least two areas.",
                }
            )
    if "messages" in policy:
        report["message_optimization"] = policy["messages"]
    report["not_available"] = not_available
    return report
