"""The market analysis of a study made by the market endpoint: pricing (`pricing`), feature
preferences (`features`), market segments (`segments`) and the environment of each area — the
mean social pressures of its personas and how purchase intent goes with them — assembled from the
run's answers by `MarketAnalyzer`; with `include_social_conformity` (the default) also
`multi_agent_effects`, peer influence over the intent answers within each price
(`studies.influence.market`).

The environment figures are pure functions of a per-persona frame (columns `intent` 0/1, `area`,
one per social pressure) so a test can recompute them with scipy on the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import numpy as np
import pandas as pd

from environment.categories import DIMENSIONS
from environment.models import Area
from personas.models import Persona
from studies.analyzers import features as feature_analysis
from studies.analyzers import policy_environment
from studies.analyzers.policy import persona_pressures
from studies.analyzers.policy_environment import POINT_BISERIAL, PRESSURES, area_pressures
from studies.analyzers.pricing import BUYING, INTENT_OPTIONS, METHOD, pricing_results
from studies.analyzers.questionnaire import QuestionnaireAnalyzer, answers_frame
from studies.analyzers.segments import segmentation
from studies.influence.compute import PERSONA_COLUMNS
from studies.influence.market import market_influence
from studies.models import Item, MarketAnalysis, Run

#: Intent on the five-point scale, 5 = definitely would buy.
INTENT_SCORE: Final = {code: 5.0 - i for i, (code, _) in enumerate(INTENT_OPTIONS)}
#: Cohen's conventional reading of a correlation's size; a convention, not a validated cut-off.
STRENGTH: Final = ((0.1, "negligible"), (0.3, "small"), (0.5, "medium"), (1.01, "large"))

ENVIRONMENT_METHOD: Final = (
    "Per area: the mean of each social pressure (personas/awareness, formulas in "
    "personas/awareness_README.md) over the area's personas. Across personas: the "
    f"{POINT_BISERIAL} between intending to buy (top two boxes, 1/0) and each pressure, "
    "Holm-corrected across the pressures — an association, not a causal effect (areas differ in "
    "many ways at once; prices are assigned independently of the pressures, so the price shown "
    "adds noise, not bias). The strength label of the conformity association reads |r| by Cohen's "
    "conventions (below 0.1 negligible, 0.1–0.3 small, 0.3–0.5 medium, above large), and is given "
    "only when the association is significant. Geographic variation: the range (max − min) of the "
    "areas' purchase intent with a seeded percentile bootstrap interval resampling personas "
    "within each area. Launch markets: the areas in order of projected revenue at their own "
    "optimal price (price × intent × the area's target market in people; revenue per person "
    "where the census gives no adult population)."
)


def strength(r: float) -> str:
    """Cohen's conventional label of a correlation's absolute size."""
    return next(label for bound, label in STRENGTH if abs(r) < bound)


def intent_associations(frame: pd.DataFrame, pressures: tuple[str, ...]) -> list[dict]:
    """Across personas: the point-biserial correlation of intending to buy (1/0) with each
    pressure, Holm-corrected across the pressures (the political analysis' measure)."""
    return policy_environment.pressure_associations(
        frame, pressures, outcome="intent", what="intent"
    )


def geographic_variation(frame: pd.DataFrame, *, seed: int) -> dict:
    """The range of the areas' intent shares with a seeded percentile bootstrap interval that
    resamples personas within each area (the political analysis' measure)."""
    return policy_environment.geographic_variation(frame, seed=seed, outcome="intent")


def launch_markets(by_area: list[dict]) -> list[dict]:
    """Areas by projected revenue at their own optimal price, best first (revenue per person
    where an area's market size is unknown)."""
    rows = []
    for area in by_area:
        price = area["optimal_price"]["price"]
        if price is None:
            continue
        at = next(r for r in area["revenue"] if r["price"] == price)
        rows.append(
            {
                "area": area["area"],
                "label": area["label"],
                "optimal_price": price,
                "revenue_per_person": at["revenue_per_person"],
                "projected_revenue": at["projected_revenue"],
            }
        )
    known = all(r["projected_revenue"] is not None for r in rows)
    key = "projected_revenue" if known else "revenue_per_person"
    return sorted(rows, key=lambda r: (-r[key], r["area"]))


def environment_results(
    frame: pd.DataFrame, by_area: list[dict], *, pressures: tuple[str, ...], seed: int
) -> dict:
    """The environment figures (ENVIRONMENT_METHOD) from a per-persona frame and the pricing
    figures per area."""
    associations = intent_associations(frame, pressures)
    conformity = next((a for a in associations if a["pressure"] == "conformity"), None)
    conformity_strength = None
    if conformity is not None and conformity["r"] is not None and conformity["significant"]:
        conformity_strength = strength(conformity["r"])
    ranking = launch_markets(by_area)
    key = sorted(
        (a for a in associations if a["significant"] and a["r"] is not None),
        key=lambda a: -abs(a["r"]),
    )
    return {
        "method": ENVIRONMENT_METHOD,
        "pressures": list(pressures),
        "by_area": area_pressures(frame, pressures),
        "associations": associations,
        "key_pressure_types": [a["pressure"] for a in key],
        "conformity_association_strength": conformity_strength,
        "geographic_variation": geographic_variation(frame, seed=seed),
        "launch_market_ranking": ranking,
        "optimal_launch_markets": [r["area"] for r in ranking],
    }


# --- the analyzer ----------------------------------------------------------------------------


def market_frame(answers: pd.DataFrame, item: Item) -> pd.DataFrame:
    """One row per persona who answered the intent item: its area, age, demographics, condition,
    intent (1/0), intent score (1–5) and that score centred within its price condition."""
    codes = dict(item.options.values_list("id", "code"))
    rows = answers[answers["item_id"] == item.id]
    option = rows["option_id"].map(codes)
    rows = rows.assign(
        intent=option.isin(BUYING).astype(int), intent_score=option.map(INTENT_SCORE)
    )
    rows = rows[rows["intent_score"].notna()].reset_index(drop=True)
    centred = rows["intent_score"] - rows.groupby("condition")["intent_score"].transform("mean")
    return rows.assign(intent_centred=centred)


def feature_points(answers: pd.DataFrame, spec: MarketAnalysis, persona_ids: list) -> np.ndarray:
    """Importance points (personas × features, aligned with `persona_ids`; NaN where a persona
    did not answer) from the ranking item or the rating items."""
    codes = [f["code"] for f in spec.features]
    items = {
        i.code: i for i in Item.objects.filter(study_id=spec.study_id).prefetch_related("options")
    }
    if spec.feature_format == feature_analysis.RANKING:
        item = items[feature_analysis.RANKING_ITEM]
        rows = answers[answers["item_id"] == item.id].set_index("persona_id")["choices"]
        rankings = [rows.get(p) if isinstance(rows.get(p), list) else None for p in persona_ids]
        points = feature_analysis.ranking_points([r or [] for r in rankings], codes)
        points[[r is None for r in rankings]] = np.nan
        return points
    points = np.full((len(persona_ids), len(codes)), np.nan)
    position = {p: i for i, p in enumerate(persona_ids)}
    for j, code in enumerate(codes):
        item = items[feature_analysis.RATING_ITEM_PREFIX + code]
        values = {o.id: o.value for o in item.options.all()}
        for persona, option in answers.loc[
            answers["item_id"] == item.id, ["persona_id", "option_id"]
        ].itertuples(index=False):
            if persona in position and option in values:
                points[position[persona], j] = values[option]
    return points


def market_results(
    frame: pd.DataFrame,
    *,
    spec: MarketAnalysis,
    points: np.ndarray | None,
    area_labels: Mapping[str, str],
    pressures: tuple[str, ...],
    seed: int,
) -> dict:
    """Every market figure from the per-persona frame (market_frame joined with the pressures)
    and the feature points (None when no features were asked)."""
    result: dict = {"method": METHOD, "item_code": spec.item_code} | pricing_results(
        frame, prices=spec.prices, market_size=spec.market_size, area_labels=area_labels, seed=seed
    )
    answer_columns = ["intent_centred"]
    labels = {f["code"]: f["label"] for f in spec.features}
    # Prefixed, so a feature named like a frame column ("Age", "Income") cannot shadow it.
    share_columns = {f"importance_share:{code}": code for code in labels}
    if points is not None:
        shares, kept = feature_analysis.importance_shares(points)
        columns = pd.DataFrame(np.nan, index=frame.index, columns=list(share_columns))
        columns.loc[kept] = shares
        frame = pd.concat([frame, columns], axis=1)
        answer_columns += list(share_columns)
    segmentable = frame.dropna(subset=answer_columns).reset_index(drop=True)
    segments = segmentation(
        segmentable,
        answer_columns=answer_columns,
        feature_columns=share_columns if points is not None else None,
        seed=seed,
        k=spec.segment_count,
    )
    segment_labels = segments.pop("labels", None)
    result["segmentation"] = segments
    if points is not None:
        by: dict[str, Mapping] = {"area": dict(area_labels), **DIMENSIONS}
        if segment_labels is not None:
            frame = frame.merge(
                pd.DataFrame(
                    {
                        "persona_id": segmentable["persona_id"],
                        "segment": [str(s) for s in segment_labels],
                    }
                ),
                on="persona_id",
                how="left",
            )
            by["segment"] = {str(s): f"Segment {s}" for s in range(1, segments["k"] + 1)}
        result["feature_preferences"] = feature_analysis.feature_results(
            frame,
            points,
            codes=list(labels),
            labels=labels,
            format=spec.feature_format,
            segments=by,
            seed=seed,
        )
    result["environment"] = environment_results(
        frame, result["by_area"], pressures=pressures, seed=seed
    )
    return result


class MarketAnalyzer(QuestionnaireAnalyzer):
    """The questionnaire's results plus the market figures (`market`) when the study was made by
    the market endpoint (a MarketAnalysis says which items ask intent and features, and what each
    price is)."""

    def results(self, *, run: Run) -> dict:
        results = super().results(run=run)
        spec = MarketAnalysis.objects.filter(study_id=run.study_id).first()
        if spec is None:
            return results
        answers = answers_frame(run)
        item = Item.objects.get(study_id=run.study_id, code=spec.item_code)
        frame = market_frame(answers, item)
        pressures_frame = persona_pressures(frame["persona_id"].tolist())
        frame = frame.merge(pressures_frame, on="persona_id", how="left")
        area_labels = dict(
            Area.objects.filter(id__in=frame["area"].unique().tolist()).values_list("id", "name")
        )
        points = (
            feature_points(answers, spec, frame["persona_id"].tolist()) if spec.features else None
        )
        include_conformity = spec.request.get("include_social_conformity", True) is not False
        market = market_results(
            frame,
            spec=spec,
            points=points,
            area_labels=area_labels,
            pressures=tuple(p for p in PRESSURES if include_conformity or p != "conformity"),
            seed=int(run.seed) % (2**32),
        )
        if include_conformity:
            market["multi_agent_effects"] = multi_agent_effects(frame, spec=spec, seed=run.seed)
        results["market"] = market
        return results


def multi_agent_effects(frame: pd.DataFrame, *, spec: MarketAnalysis, seed: int) -> dict:
    """Peer influence over the purchase-intent answers, per price (studies.influence.market)."""
    personas = {
        p["id"]: p
        for p in Persona.objects.filter(id__in=frame["persona_id"].tolist()).values(
            *PERSONA_COLUMNS
        )
    }
    return market_influence(frame, personas, prices=spec.prices, seed=int(seed) % (2**32))
