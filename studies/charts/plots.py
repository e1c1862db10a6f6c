"""Server-drawn SVG charts on a value axis: horizontal bars with interval whiskers, quantile boxes
and a curve over prices, with the round ticks and the range of their axes."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.safestring import SafeString

from studies.charts.svg import FORMATS, WIDTH, Formatter, Svg, line, num, short, text

LABEL_W = 190  # the left column for category labels
VALUE_W = 70  # the right column for the value text
PLOT_X0 = LABEL_W
PLOT_X1 = WIDTH - VALUE_W
BAR_H = 14
BAR_GAP = 4
GROUP_GAP = 12
TOP = 8
AXIS_H = 22
LEGEND_ROW = 18
# Colour-blind-safe categorical palette (Okabe & Ito, 2008).
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000")


@dataclass(frozen=True)
class Bar:
    """One bar: its series (an option, a run, "target"), value and optional interval."""

    series: str
    value: float | None
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Group:
    """A row of the chart: a category and its bars (one per series)."""

    label: str
    bars: Sequence[Bar]
    key: str = ""


@dataclass(frozen=True)
class Box:
    """A quantile summary: whiskers 10–90th percentile, box 25–75th, the median, the mean."""

    label: str
    n: int
    q10: float
    q25: float
    median: float
    q75: float
    q90: float
    mean: float | None = None
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class Point:
    x: float
    y: float | None
    low: float | None = None
    high: float | None = None
    label: str = ""


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick positions covering [low, high] (1, 2, 2.5 or 5 times a power of ten apart)."""
    if high <= low:
        high = low + 1
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    ticks = []
    t = first
    while t <= high + step * 1e-9:
        ticks.append(round(t, 12))
        t += step
    if ticks[-1] < high:
        ticks.append(round(t, 12))
    return ticks


def _domain(values: list[float], fmt: str) -> tuple[float, float]:
    """The axis range: shares from 0 to 1 at most (to the highest whisker, rounded up), others from
    the lowest to the highest figure, always including 0."""
    low = min([0.0, *values])
    high = max([0.0, *values])
    if fmt == "percent" and low >= 0:
        return 0.0, min(1.0, nice_ticks(0.0, high or 1.0)[-1])
    ticks = nice_ticks(low, high)
    return ticks[0], ticks[-1]


def _legend(svg: Svg, y: float, series: Sequence[str]) -> float:
    """Colour keys in rows across the chart; returns the height used."""
    g = ET.SubElement(svg.root, "g", {"class": "chart-legend"})
    x, row = PLOT_X0 - LABEL_W + 4, 0
    for i, name in enumerate(series):
        width = 22 + 6.5 * min(len(name), 28)
        if x + width > WIDTH and x > 4:
            x, row = 4, row + 1
        item = ET.SubElement(g, "g", {"data-series": name})
        ET.SubElement(
            item,
            "rect",
            {
                "x": f"{x:.1f}",
                "y": f"{y + row * LEGEND_ROW:.1f}",
                "width": "12",
                "height": "12",
                "fill": PALETTE[i % len(PALETTE)],
            },
        )
        text(item, x + 16, y + row * LEGEND_ROW + 10, short(name, 28), **{"font-size": "11"})
        x += width
    return (row + 1) * LEGEND_ROW + 4


def bar_chart(
    *,
    title: str,
    groups: Sequence[Group],
    series: Sequence[str] = (),
    fmt: str = "percent",
    dimension: str = "",
    item: str = "",
) -> SafeString:
    """Horizontal bars, one row per group and one bar per series within it, with a whisker from
    each bar's `low` to `high`; a legend when there is more than one series. Negative values
    (differences, lifts) extend left of a zero line."""
    show = FORMATS[fmt]
    many = len(series) > 1
    extent = [
        v
        for g in groups
        for b in g.bars
        for v in (b.value, b.low, b.high)
        if v is not None and math.isfinite(v)
    ]
    lo, hi = _domain(extent, fmt)
    rows = sum(len(g.bars) for g in groups)
    legend_h = 0.0
    if many:
        # Measure the legend first (its rows depend on the labels' widths).
        probe = Svg(title, "probe", 0)
        legend_h = _legend(probe, 0, series)
    plot_h = rows * (BAR_H + BAR_GAP) + max(0, len(groups) - 1) * (GROUP_GAP if many else 0)
    height = TOP + legend_h + plot_h + AXIS_H
    svg = Svg(
        title,
        "bars",
        height,
        attrs={"data-format": fmt, "data-dimension": dimension, "data-item": item},
    )
    if many:
        _legend(svg, TOP, series)
    y0 = TOP + legend_h

    def sx(v: float) -> float:
        return PLOT_X0 + (min(max(v, lo), hi) - lo) / (hi - lo) * (PLOT_X1 - PLOT_X0)

    axis = ET.SubElement(svg.root, "g", {"class": "chart-axis", "font-size": "10"})
    for tick in nice_ticks(lo, hi):
        if tick < lo - 1e-12 or tick > hi + 1e-12:
            continue
        x = sx(tick)
        line(axis, x, y0 - 2, x, y0 + plot_h, stroke="#ddd")
        label = f"{100 * tick:g}%" if fmt == "percent" else f"{tick:g}"
        if fmt == "points":
            label = f"{100 * tick:+g}"
        text(axis, x, y0 + plot_h + 14, label, **{"text-anchor": "middle", "fill": "#555"})
    if lo < 0 < hi:
        line(axis, sx(0), y0 - 2, sx(0), y0 + plot_h, stroke="#333")
    y = y0
    for group in groups:
        gel = ET.SubElement(
            svg.root,
            "g",
            {"class": "chart-group", "data-group": group.label, "data-key": group.key},
        )
        for i, bar in enumerate(group.bars):
            bel = ET.SubElement(
                gel,
                "g",
                {
                    "class": "chart-bar",
                    "data-group": group.label,
                    "data-series": bar.series,
                    "data-value": num(bar.value),
                    "data-low": num(bar.low),
                    "data-high": num(bar.high),
                },
            )
            _draw_bar(
                bel,
                group,
                bar,
                y=y,
                colour=PALETTE[(i if many else 0) % len(PALETTE)],
                first=i == 0 or not many,
                many=many,
                show=show,
                sx=sx,
            )
            y += BAR_H + BAR_GAP
        if many:
            y += GROUP_GAP
    return svg.markup()


def _draw_bar(
    bel: ET.Element,
    group: Group,
    bar: Bar,
    *,
    y: float,
    colour: str,
    first: bool,
    many: bool,
    show: Formatter,
    sx: Callable[[float], float],
) -> None:
    """One bar at height `y`: its description, the group's label (on its first bar), the bar from
    zero, the interval's whisker and the value's text."""
    description = f"{group.label}{' · ' + bar.series if many else ''}: " + (
        "no answers" if bar.value is None else show(bar.value)
    )
    if bar.low is not None and bar.high is not None:
        description += f" (95% interval {show(bar.low)} to {show(bar.high)})"
    ET.SubElement(bel, "title").text = description
    if first:
        text(
            bel,
            PLOT_X0 - 6,
            y + BAR_H - 3,
            short(group.label),
            **{"text-anchor": "end", "font-size": "11"},
        )
    if bar.value is None:
        return
    x0, x1 = sorted((sx(0), sx(bar.value)))
    ET.SubElement(
        bel,
        "rect",
        {
            "x": f"{x0:.1f}",
            "y": f"{y:.1f}",
            "width": f"{max(x1 - x0, 0.5):.1f}",
            "height": str(BAR_H),
            "fill": colour,
        },
    )
    if bar.low is not None and bar.high is not None:
        mid = y + BAR_H / 2
        wl, wh = sx(bar.low), sx(bar.high)
        attrs = {"stroke": "#222", "stroke-width": "1.2", "class": "whisker"}
        line(bel, wl, mid, wh, mid, **attrs)
        line(bel, wl, mid - 4, wl, mid + 4, **attrs)
        line(bel, wh, mid - 4, wh, mid + 4, **attrs)
    text(bel, PLOT_X1 + 4, y + BAR_H - 3, show(bar.value), **{"font-size": "11"})


def box_chart(
    *, title: str, boxes: Sequence[Box], unit: str = "", dimension: str = ""
) -> SafeString:
    """Numeric answers per group: whiskers over the 10th–90th percentiles, a box over the
    25th–75th, a line at the median and a dot at the mean."""
    values = [v for b in boxes for v in (b.q10, b.q90, b.mean) if v is not None]
    ticks = nice_ticks(min(values), max(values)) if values else [0.0, 1.0]
    lo, hi = ticks[0], ticks[-1]
    row = 22
    plot_h = len(boxes) * row
    height = TOP + plot_h + AXIS_H + (12 if unit else 0)
    svg = Svg(title, "box", height, attrs={"data-dimension": dimension, "data-unit": unit})

    def sx(v: float) -> float:
        return PLOT_X0 + (v - lo) / (hi - lo) * (PLOT_X1 - PLOT_X0)

    axis = ET.SubElement(svg.root, "g", {"class": "chart-axis", "font-size": "10"})
    for tick in ticks:
        line(axis, sx(tick), TOP, sx(tick), TOP + plot_h, stroke="#ddd")
        text(axis, sx(tick), TOP + plot_h + 14, f"{tick:g}", **{"text-anchor": "middle"})
    if unit:
        text(axis, (PLOT_X0 + PLOT_X1) / 2, height - 2, unit, **{"text-anchor": "middle"})
    for i, b in enumerate(boxes):
        y = TOP + i * row
        mid = y + row / 2
        g = ET.SubElement(
            svg.root,
            "g",
            {
                "class": "chart-box",
                "data-group": b.label,
                "data-n": str(b.n),
                "data-q10": num(b.q10),
                "data-q25": num(b.q25),
                "data-median": num(b.median),
                "data-q75": num(b.q75),
                "data-q90": num(b.q90),
                "data-mean": num(b.mean),
            },
        )
        ET.SubElement(g, "title").text = (
            f"{b.label}: median {b.median:g}, quartiles {b.q25:g}–{b.q75:g}, "
            f"10th–90th percentile {b.q10:g}–{b.q90:g}"
            + (f", mean {b.mean:.2f}" if b.mean is not None else "")
            + f" ({b.n} answers)"
        )
        text(g, PLOT_X0 - 6, mid + 4, short(b.label), **{"text-anchor": "end", "font-size": "11"})
        line(g, sx(b.q10), mid, sx(b.q90), mid, stroke="#222")
        for q in (b.q10, b.q90):
            line(g, sx(q), mid - 5, sx(q), mid + 5, stroke="#222")
        ET.SubElement(
            g,
            "rect",
            {
                "x": f"{sx(b.q25):.1f}",
                "y": f"{mid - 7:.1f}",
                "width": f"{max(sx(b.q75) - sx(b.q25), 0.5):.1f}",
                "height": "14",
                "fill": "#9ecae1",
                "stroke": "#0072b2",
            },
        )
        line(
            g,
            sx(b.median),
            mid - 7,
            sx(b.median),
            mid + 7,
            stroke="#08306b",
            **{"stroke-width": "2"},
        )
        if b.mean is not None:
            ET.SubElement(
                g,
                "circle",
                {"cx": f"{sx(b.mean):.1f}", "cy": f"{mid:.1f}", "r": "3", "fill": "#d55e00"},
            )
        text(g, PLOT_X1 + 4, mid + 4, f"{b.median:g}", **{"font-size": "11"})
    return svg.markup()


def curve_chart(
    *,
    title: str,
    points: Sequence[Point],
    y_format: str = "percent",
    x_label: str = "Price",
    marked: float | None = None,
    marked_label: str = "",
    kind: str = "curve",
) -> SafeString:
    """A figure over prices: points joined by a line, whiskers for their intervals, and a vertical
    marker at one x (the optimal price)."""
    show = FORMATS[y_format]
    usable = [p for p in points if p.y is not None]
    xs = [p.x for p in points]
    ys = [v for p in usable for v in (p.y, p.low, p.high) if v is not None]
    x_ticks = nice_ticks(min(xs), max(xs)) if xs else [0.0, 1.0]
    y_lo, y_hi = _domain(ys, y_format)
    height = 260
    left, right, top, bottom = 60, WIDTH - 20, 16, height - 40
    svg = Svg(title, kind, height, attrs={"data-format": y_format, "data-marked": num(marked)})

    def sx(v: float) -> float:
        span = x_ticks[-1] - x_ticks[0] or 1
        return left + (v - x_ticks[0]) / span * (right - left)

    def sy(v: float) -> float:
        return bottom - (v - y_lo) / ((y_hi - y_lo) or 1) * (bottom - top)

    axis = ET.SubElement(svg.root, "g", {"class": "chart-axis", "font-size": "10"})
    for t in nice_ticks(y_lo, y_hi):
        if y_lo - 1e-12 <= t <= y_hi + 1e-12:
            line(axis, left, sy(t), right, sy(t), stroke="#eee")
            label = f"{100 * t:g}%" if y_format == "percent" else f"{t:g}"
            text(axis, left - 4, sy(t) + 3, label, **{"text-anchor": "end"})
    for t in x_ticks:
        text(axis, sx(t), bottom + 14, f"{t:g}", **{"text-anchor": "middle"})
    line(axis, left, bottom, right, bottom, stroke="#333")
    text(axis, (left + right) / 2, height - 6, x_label, **{"text-anchor": "middle"})
    if len(usable) > 1:
        ET.SubElement(
            svg.root,
            "polyline",
            {
                "points": " ".join(
                    f"{sx(p.x):.1f},{sy(p.y):.1f}" for p in usable if p.y is not None
                ),
                "fill": "none",
                "stroke": PALETTE[0],
                "stroke-width": "2",
            },
        )
    for p in points:
        g = ET.SubElement(
            svg.root,
            "g",
            {
                "class": "chart-point",
                "data-x": num(p.x),
                "data-y": num(p.y),
                "data-low": num(p.low),
                "data-high": num(p.high),
            },
        )
        ET.SubElement(g, "title").text = (
            f"{p.label or f'{p.x:g}'}: "
            + ("no answers" if p.y is None else show(p.y))
            + (
                f" (95% interval {show(p.low)} to {show(p.high)})"
                if p.low is not None and p.high is not None
                else ""
            )
        )
        if p.y is None:
            continue
        if p.low is not None and p.high is not None:
            line(g, sx(p.x), sy(p.low), sx(p.x), sy(p.high), stroke="#222", **{"class": "whisker"})
            line(g, sx(p.x) - 4, sy(p.low), sx(p.x) + 4, sy(p.low), stroke="#222")
            line(g, sx(p.x) - 4, sy(p.high), sx(p.x) + 4, sy(p.high), stroke="#222")
        ET.SubElement(
            g,
            "circle",
            {"cx": f"{sx(p.x):.1f}", "cy": f"{sy(p.y):.1f}", "r": "4", "fill": PALETTE[0]},
        )
    if marked is not None:
        g = ET.SubElement(svg.root, "g", {"class": "chart-marker", "data-x": num(marked)})
        ET.SubElement(g, "title").text = marked_label
        line(
            g, sx(marked), top, sx(marked), bottom, stroke=PALETTE[5], **{"stroke-dasharray": "4 3"}
        )
        anchor = "end" if sx(marked) > (left + right) / 2 else "start"
        dx = -4 if anchor == "end" else 4
        text(
            g, sx(marked) + dx, top + 10, marked_label, **{"text-anchor": anchor, "font-size": "11"}
        )
    return svg.markup()
