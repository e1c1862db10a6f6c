"""The seed's response shape for a market analysis, read from its run's stored results."""

from __future__ import annotations

from django.utils.text import slugify

from studies.models import MarketAnalysis

#: Why `multi_agent_effects` is absent: not asked for, or a run finished before it was computed.
MULTI_AGENT_NOT_REQUESTED = (
    "Not requested: include_social_conformity is false, so the purchase-intent answers were "
    "not put through peer influence. Send include_social_conformity: true (the default)."
)
MULTI_AGENT_NOT_COMPUTED = (
    "Not computed for this run: its results were stored without peer influence (a run finished "
    "before the market analysis simulated it)."
)
NOT_AVAILABLE = {
    "environmental_results.<area>.social_influence_factor": "Would be a causal effect of social "
    "influence, which a simulation of each persona in its own area cannot measure.",
    "environmental_results.<area>.reference_group_effect": "Would rate how much reference "
    "groups move purchases; personas answer alone, so only the association of intent with each "
    "social pressure is measured (environmental_insights.pressure_associations).",
    "environmental_insights.conformity_effect_strength": "An effect of conformity on adoption "
    "needs the same persona under other pressures, which is not simulated; "
    "conformity_association_strength labels the measured association instead.",
}


def scenario_id(analysis: MarketAnalysis) -> str:
    product = slugify(analysis.product_name).replace("-", "_")[:40] or "product"
    return f"mkt_{product}_env_{analysis.created_at:%Y%m%d}_{analysis.pk}"


def market_report(analysis: MarketAnalysis) -> dict:
    """The analysis in the seed's shape (MarketAnalysisReportSerializer documents each field)."""
    run = analysis.run
    sizes = analysis.market_size
    people = [s["people"] for s in sizes.values()]
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
        "target_market_size": None if None in people else sum(people),
        "target_market_by_area": sizes,
    }
    market = (run.results or {}).get("market")
    if market is None:
        return report
    optimal = market["optimal_price"]
    report |= {
        "optimal_price": optimal["price"],
        "optimal_price_interval": [optimal["ci_low"], optimal["ci_high"]],
        "purchase_intent_by_price": market["intent_by_price"],
        "revenue_projections": market["revenue"],
        "environmental_results": {
            row["area"]: {
                "name": row["label"],
                "purchase_intent": row["intent"],
                "intent_by_price": row["intent_by_price"],
                "optimal_price": row["optimal_price"]["price"],
                "optimal_price_interval": [
                    row["optimal_price"]["ci_low"],
                    row["optimal_price"]["ci_high"],
                ],
                "target_market_size": row["target_market_size"],
            }
            for row in market["by_area"]
        },
        "method": market["method"],
        "not_available": [{"field": f, "reason": r} for f, r in NOT_AVAILABLE.items()],
    }
    if "multi_agent_effects" in market:
        report["multi_agent_effects"] = market["multi_agent_effects"]
    else:
        requested = analysis.request.get("include_social_conformity", True) is not False
        report["not_available"].insert(
            0,
            {
                "field": "multi_agent_effects",
                "reason": MULTI_AGENT_NOT_COMPUTED if requested else MULTI_AGENT_NOT_REQUESTED,
            },
        )
    environment = market.get("environment")
    if environment is not None:
        pressures = {row["area"]: row["pressures"] for row in environment["by_area"]}
        for area, result in report["environmental_results"].items():
            result["social_pressures"] = {
                name: value["mean"] for name, value in pressures.get(area, {}).items()
            }
        variation = environment["geographic_variation"]
        report["environmental_insights"] = {
            "geographic_variation": variation["estimate"],
            "geographic_variation_interval": [variation["ci_low"], variation["ci_high"]],
            "conformity_association_strength": environment["conformity_association_strength"],
            "key_pressure_types": environment["key_pressure_types"],
            "pressure_associations": environment["associations"],
            "optimal_launch_markets": environment["optimal_launch_markets"],
            "launch_market_ranking": environment["launch_market_ranking"],
            "method": environment["method"],
        }
    if "feature_preferences" in market:
        report["feature_preferences"] = market["feature_preferences"]
    if "segmentation" in market:
        report["market_segmentation"] = market["segmentation"]
    return report
