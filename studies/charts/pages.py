"""The charts of the result pages, built from stored figures only: a run's results (every item
overall, by condition and by each breakdown dimension; the policy and market headlines), a
population's composition against its census targets, and two runs' overall shares side by side.

Charts are keyed so the page can put each next to its table: ``"<item index>:<dimension>"`` for an
item's tables (``overall``, ``condition``, ``area``, ``sex``, ...).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.utils.safestring import SafeString

from environment.categories import DIMENSIONS
from environment.models import Area
from studies.analyzers import stats
from studies.charts.labels import dimension_label
from studies.charts.maps import MapArea, us_state_map
from studies.charts.plots import Bar, Box, Group, Point, bar_chart, box_chart, curve_chart

SHARE_TYPES = frozenset({"single_choice", "multiple_choice", "likert"})


@dataclass(frozen=True)
class AreaGeography:
    kind: str
    state_fips: str


def area_geography(area_ids: Iterable[str]) -> dict[str, AreaGeography]:
    """Each area's kind and state FIPS (the first two digits of its FIPS code), one query."""
    rows = Area.objects.filter(id__in=list(area_ids)).values_list("id", "kind", "fips")
    return {area_id: AreaGeography(kind, fips[:2]) for area_id, kind, fips in rows}


def result_area_ids(results: Mapping | None) -> set[str]:
    """The areas a run's results name (item breakdowns, policy and market by area)."""
    if not results:
        return set()
    ids = {
        str(g["category"])
        for item in results.get("items", [])
        for g in (item.get("breakdowns") or {}).get("area", [])
    }
    ids |= {str(r["category"]) for r in (results.get("policy") or {}).get("by_area", [])}
    ids |= {str(r["area"]) for r in (results.get("market") or {}).get("by_area", [])}
    return ids


def all_states(ids: Iterable[str], geography: Mapping[str, AreaGeography]) -> bool:
    ids = list(ids)
    return bool(ids) and all(a in geography and geography[a].kind == Area.Kind.STATE for a in ids)


def _option_bars(options: list[dict]) -> list[Bar]:
    return [Bar(o["label"], o.get("share"), o.get("ci_low"), o.get("ci_high")) for o in options]


def _rank_bars(options: list[dict]) -> list[Bar]:
    return [
        Bar(o["label"], o.get("mean_rank"), o.get("mean_rank_ci_low"), o.get("mean_rank_ci_high"))
        for o in options
    ]


def _box(label: str, summary: Mapping) -> Box | None:
    q = summary.get("quantiles")
    if not q:
        return None
    return Box(
        label=label,
        n=int(summary.get("n", 0)),
        q10=q["10"],
        q25=q["25"],
        median=q["50"],
        q75=q["75"],
        q90=q["90"],
        mean=summary.get("mean"),
        minimum=summary.get("min"),
        maximum=summary.get("max"),
    )


def most_chosen(options: list[dict]) -> dict | None:
    """The option with the highest overall share (the first listed on a tie)."""
    usable = [o for o in options if o.get("share") is not None]
    return max(usable, key=lambda o: o["share"]) if usable else None


def _overall_chart(item: Mapping, title: str) -> SafeString | None:
    kind = item.get("type") or "single_choice"
    options = item.get("options") or []
    if kind in SHARE_TYPES and options:
        label = "Distribution over the scale" if kind == "likert" else "Share choosing each option"
        return bar_chart(
            title=f"{title}: {label} (95% intervals)",
            groups=[
                Group(b.series, [b], key=o["code"])
                for b, o in zip(_option_bars(options), options, strict=True)
            ],
            dimension="overall",
            item=item["code"],
        )
    if kind == "ranking" and options:
        return bar_chart(
            title=f"{title}: mean rank of each option (1 = first; 95% intervals)",
            groups=[
                Group(b.series, [b], key=o["code"])
                for b, o in zip(_rank_bars(options), options, strict=True)
            ],
            fmt="number",
            dimension="overall",
            item=item["code"],
        )
    if kind == "numeric":
        box = _box("All personas", item.get("summary") or {})
        if box:
            return box_chart(
                title=f"{title}: distribution (median, quartiles, 10th–90th percentile, mean)",
                boxes=[box],
                unit=(item.get("summary") or {}).get("unit") or "",
                dimension="overall",
            )
    if kind == "free_text":
        terms = (item.get("summary") or {}).get("terms") or []
        if terms:
            return bar_chart(
                title=f"{title}: share of answers using each term",
                groups=[
                    Group(t["term"], [Bar(t["term"], t["share"])], key=t["term"]) for t in terms
                ],
                dimension="terms",
                item=item["code"],
            )
    return None


def _group_chart(
    item: Mapping, groups: list[dict], dimension: str, title: str
) -> SafeString | None:
    kind = item.get("type") or "single_choice"
    name = dimension_label(dimension)
    if kind == "numeric":
        boxes = [b for g in groups if (b := _box(g["label"], g.get("summary") or {}))]
        if not boxes:
            return None
        return box_chart(
            title=f"{title} by {name.lower()}: distribution per group",
            boxes=boxes,
            unit=(item.get("summary") or {}).get("unit") or "",
            dimension=dimension,
        )
    if kind in SHARE_TYPES or kind == "ranking":
        to_bars = _rank_bars if kind == "ranking" else _option_bars
        series = [o["label"] for o in item.get("options") or []]
        rows = [
            Group(
                g["label"],
                to_bars(g.get("options") or []),
                key=str(g.get("category", g.get("code", ""))),
            )
            for g in groups
            if g.get("options")
        ]
        if not rows:
            return None
        what = "mean rank of each option" if kind == "ranking" else "share choosing each option"
        return bar_chart(
            title=f"{title} by {name.lower()}: {what} (95% intervals)",
            groups=rows,
            series=series,
            fmt="number" if kind == "ranking" else "percent",
            dimension=dimension,
            item=item["code"],
        )
    return None


def _area_map(
    item: Mapping, groups: list[dict], geography: Mapping[str, AreaGeography], title: str
) -> SafeString | None:
    """States shaded by the share choosing the item's most-chosen option overall."""
    if (item.get("type") or "single_choice") not in SHARE_TYPES:
        return None
    top = most_chosen(item.get("options") or [])
    if top is None:
        return None
    areas = []
    for g in groups:
        option = next((o for o in g.get("options") or [] if o["code"] == top["code"]), None)
        if option is None:
            continue
        areas.append(
            MapArea(
                fips=geography[str(g["category"])].state_fips,
                label=g["label"],
                value=option["share"],
                n=g["n"],
                detail=f" (95% interval {100 * option['ci_low']:.1f}%–{100 * option['ci_high']:.1f}%)",
            )
        )
    return us_state_map(
        title=f"{title} by state: share choosing “{top['label']}”",
        areas=areas,
        measure=f"Share choosing “{top['label']}”",
    )


def item_charts(results: Mapping, geography: Mapping[str, AreaGeography]) -> dict[str, SafeString]:
    """Every item's charts, keyed ``"<index>:<dimension>"``; on state-level runs the area view is a
    map (``"<index>:area"``) with the bars kept under ``"<index>:area-bars"``."""
    charts: dict[str, SafeString] = {}
    for index, item in enumerate(results.get("items") or []):
        title = item.get("text") or item.get("code", "")
        if chart := _overall_chart(item, title):
            charts[f"{index}:overall"] = chart
        if item.get("conditions") and (
            chart := _group_chart(item, item["conditions"], "condition", title)
        ):
            charts[f"{index}:condition"] = chart
        for dimension, groups in (item.get("breakdowns") or {}).items():
            if not groups:
                continue
            ids = [str(g["category"]) for g in groups]
            states = dimension == "area" and all_states(ids, geography)
            if states and (chart := _area_map(item, groups, geography, title)):
                charts[f"{index}:area"] = chart
                continue
            if chart := _group_chart(item, groups, dimension, title):
                charts[f"{index}:{dimension}"] = chart
    return charts


def policy_charts(policy: Mapping, geography: Mapping[str, AreaGeography]) -> dict[str, SafeString]:
    """Support by area (bars, and a map on state-level runs) and the messages' lifts over control."""
    charts: dict[str, SafeString] = {}
    rows = policy.get("by_area") or []
    if rows:
        charts["areas"] = bar_chart(
            title="Support by area (95% intervals)",
            groups=[
                Group(
                    r["label"],
                    [
                        Bar(
                            "Support",
                            r["support"]["share"],
                            r["support"]["ci_low"],
                            r["support"]["ci_high"],
                        )
                    ],
                    key=str(r["category"]),
                )
                for r in rows
            ],
            dimension="area",
        )
        if all_states([str(r["category"]) for r in rows], geography):
            charts["map"] = us_state_map(
                title="Support by state",
                areas=[
                    MapArea(
                        geography[str(r["category"])].state_fips,
                        r["label"],
                        r["support"]["share"],
                        r["n"],
                    )
                    for r in rows
                ],
                measure="Support",
            )
    lifts = ((policy.get("messages") or {}).get("overall") or {}).get("lifts") or []
    if lifts:
        charts["lifts"] = bar_chart(
            title="Message lift over control: support minus the control's (95% intervals)",
            groups=[
                Group(
                    r["condition"],
                    [Bar("Lift", r.get("lift"), r.get("ci_low"), r.get("ci_high"))],
                    key=r["condition"],
                )
                for r in lifts
            ],
            fmt="points",
            dimension="condition",
        )
    return charts


def market_charts(
    market: Mapping, geography: Mapping[str, AreaGeography] | None = None
) -> dict[str, SafeString]:
    """The demand curve (intent by price, with intervals), the revenue curve with the optimal
    price marked, and on state-level runs a map of purchase intent by state."""
    rows = market.get("intent_by_price") or []
    if not rows:
        return {}
    best = (market.get("optimal_price") or {}).get("price")
    marked = f"Optimal price ${best:,.2f}" if best is not None else ""
    areas = market.get("by_area") or []
    extra = {}
    if geography and all_states([str(r["area"]) for r in areas], geography):
        extra["map"] = us_state_map(
            title="Purchase intent by state (all prices)",
            areas=[
                MapArea(geography[str(r["area"])].state_fips, r["label"], r["intent"], r["n"])
                for r in areas
            ],
            measure="Purchase intent",
        )
    return extra | {
        "demand": curve_chart(
            title="Demand curve: purchase intent (top two boxes) by price, 95% intervals",
            points=[
                Point(r["price"], r["intent"], r["ci_low"], r["ci_high"], f"${r['price']:,.2f}")
                for r in rows
            ],
            x_label="Price ($)",
            kind="demand",
        ),
        "revenue": curve_chart(
            title="Revenue per person in the market by price, with the optimal price",
            points=[
                Point(r["price"], r["revenue_per_person"], label=f"${r['price']:,.2f}")
                for r in market.get("revenue") or []
            ],
            y_format="money",
            x_label="Price ($)",
            marked=best,
            marked_label=marked,
            kind="revenue",
        ),
    }


def composition_charts(report: Mapping) -> list[dict]:
    """Per dimension of a population's validation report: the target (census) and achieved shares
    as paired bars, with the rows for the table."""
    overall = (report or {}).get("overall") or {}
    sections = []
    for dimension, entry in (overall.get("dimensions") or {}).items():
        labels = DIMENSIONS.get(dimension, {})
        rows = [
            {**row, "label": labels.get(row["category"], row["category"])}
            for row in entry.get("categories", [])
        ]
        name = dimension_label(dimension)
        sections.append(
            {
                "dimension": dimension,
                "label": name,
                "rows": rows,
                "max_abs_deviation_points": entry.get("max_abs_deviation_points"),
                "chart": bar_chart(
                    title=f"{name}: census target and achieved share of personas",
                    groups=[
                        Group(
                            r["label"],
                            [Bar("Census target", r["target"]), Bar("Personas", r["achieved"])],
                            key=r["category"],
                        )
                        for r in rows
                    ],
                    series=["Census target", "Personas"],
                    dimension=dimension,
                ),
            }
        )
    return sections


def _effective_n(item: Mapping) -> float:
    """The sample size the item's share intervals are on: Kish's effective n for weighted
    answers (as the analyzers use), else the count of answers."""
    return float((item.get("summary") or {}).get("n_effective") or item.get("n") or 0)


def run_comparison(a: Mapping | None, b: Mapping | None) -> dict:
    """Two runs' items side by side: matched by item code (and type), each option's overall share
    in both with intervals as paired bars, and the difference (b − a) with its Newcombe interval
    (the runs as independent samples, on each item's effective n). Items only one run has, or
    whose options differ, are listed so the page can say so."""
    items_a = {i["code"]: i for i in (a or {}).get("items", [])}
    items_b = {i["code"]: i for i in (b or {}).get("items", [])}
    paired, mismatched = [], []
    for code in [*items_a, *(c for c in items_b if c not in items_a)]:
        ia, ib = items_a.get(code), items_b.get(code)
        if ia is None or ib is None:
            mismatched.append({"code": code, "reason": f"only in run {'A' if ib is None else 'B'}"})
            continue
        kind = ia.get("type") or "single_choice"
        if kind != (ib.get("type") or "single_choice"):
            mismatched.append({"code": code, "reason": "the item's type differs between the runs"})
            continue
        if kind not in SHARE_TYPES:
            mismatched.append(
                {
                    "code": code,
                    "reason": f"{kind.replace('_', ' ')} items have no shares to compare",
                }
            )
            continue
        options_b = {o["code"]: o for o in ib.get("options") or []}
        if [o["code"] for o in ia.get("options") or []] != list(options_b):
            mismatched.append(
                {"code": code, "reason": "the item's options differ between the runs"}
            )
            continue
        n_a, n_b = _effective_n(ia), _effective_n(ib)
        rows = []
        for oa in ia["options"]:
            ob = options_b[oa["code"]]
            difference = (
                stats.share_difference(ob["share"] * n_b, n_b, oa["share"] * n_a, n_a)
                if n_a and n_b
                else {"estimate": None, "ci_low": None, "ci_high": None}
            )
            rows.append(
                {
                    "code": oa["code"],
                    "label": oa["label"],
                    "a": oa,
                    "b": ob,
                    "difference": difference["estimate"],
                    "difference_ci_low": difference["ci_low"],
                    "difference_ci_high": difference["ci_high"],
                }
            )
        paired.append(
            {
                "code": code,
                "text": ia.get("text", code),
                "n_a": ia.get("n"),
                "n_b": ib.get("n"),
                "rows": rows,
                "chart": bar_chart(
                    title=f"{ia.get('text', code)}: share choosing each option in run A and run B (95% intervals)",
                    groups=[
                        Group(
                            r["label"],
                            [
                                Bar("Run A", r["a"]["share"], r["a"]["ci_low"], r["a"]["ci_high"]),
                                Bar("Run B", r["b"]["share"], r["b"]["ci_low"], r["b"]["ci_high"]),
                            ],
                            key=r["code"],
                        )
                        for r in rows
                    ],
                    series=["Run A", "Run B"],
                    dimension="comparison",
                    item=code,
                ),
            }
        )
    return {"items": paired, "mismatched": mismatched}
