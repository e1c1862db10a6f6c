"""Server-drawn SVG charts: horizontal bars with interval whiskers, quantile boxes, a curve over
prices, and a US state map. Each chart is an `<svg>` that scales with its viewBox, carries a
`<title>` and an aria-label, and puts the figures it draws in data attributes (`data-value`,
`data-low`, `data-high`, ...) so a test or a reader's tool can compare it with the table beside it.

The SVG is built with `xml.etree.ElementTree`, which escapes every label; the result is returned as
safe markup for the templates.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from django.utils.safestring import SafeString, mark_safe

WIDTH = 640
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
MAP_DATA = Path(__file__).parent / "data" / "us_states.json"

Formatter = Callable[[float], str]


def percent(x: float) -> str:
    return f"{100 * x:.1f}%"


def number(x: float) -> str:
    return f"{x:,.2f}"


def money(x: float) -> str:
    return f"${x:,.2f}"


def points(x: float) -> str:
    """A difference of shares, in percentage points."""
    return f"{100 * x:+.1f} pts"


FORMATS: dict[str, Formatter] = {
    "percent": percent,
    "number": number,
    "money": money,
    "points": points,
}


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


@dataclass(frozen=True)
class MapArea:
    """A state's figure on the map."""

    fips: str
    label: str
    value: float | None
    n: int = 0
    detail: str = ""


@dataclass
class _Svg:
    title: str
    kind: str
    height: float
    width: float = WIDTH
    attrs: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root = ET.Element(
            "svg",
            {
                "xmlns": "http://www.w3.org/2000/svg",
                "viewBox": f"0 0 {self.width:g} {self.height:g}",
                "role": "img",
                "aria-label": self.title,
                "class": f"chart chart-{self.kind}",
                "data-chart": self.kind,
                "preserveAspectRatio": "xMinYMin meet",
                **{k: str(v) for k, v in self.attrs.items()},
            },
        )
        ET.SubElement(self.root, "title").text = self.title

    def markup(self) -> SafeString:
        # ElementTree escapes every text and attribute it writes.
        return mark_safe(ET.tostring(self.root, encoding="unicode"))


def _num(x: float | None) -> str:
    return "" if x is None else repr(float(x))


def _text(parent: ET.Element, x: float, y: float, text: str, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, "text", {"x": f"{x:.1f}", "y": f"{y:.1f}", **attrs})
    el.text = text
    return el


def _line(parent: ET.Element, x1: float, y1: float, x2: float, y2: float, **attrs: str) -> None:
    ET.SubElement(
        parent,
        "line",
        {"x1": f"{x1:.1f}", "y1": f"{y1:.1f}", "x2": f"{x2:.1f}", "y2": f"{y2:.1f}", **attrs},
    )


def _short(label: str, limit: int = 30) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


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


def _legend(svg: _Svg, y: float, series: Sequence[str]) -> float:
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
        _text(item, x + 16, y + row * LEGEND_ROW + 10, _short(name, 28), **{"font-size": "11"})
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
        probe = _Svg(title, "probe", 0)
        legend_h = _legend(probe, 0, series)
    plot_h = rows * (BAR_H + BAR_GAP) + max(0, len(groups) - 1) * (GROUP_GAP if many else 0)
    height = TOP + legend_h + plot_h + AXIS_H
    svg = _Svg(
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
        _line(axis, x, y0 - 2, x, y0 + plot_h, stroke="#ddd")
        label = f"{100 * tick:g}%" if fmt == "percent" else f"{tick:g}"
        if fmt == "points":
            label = f"{100 * tick:+g}"
        _text(axis, x, y0 + plot_h + 14, label, **{"text-anchor": "middle", "fill": "#555"})
    if lo < 0 < hi:
        _line(axis, sx(0), y0 - 2, sx(0), y0 + plot_h, stroke="#333")
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
                    "data-value": _num(bar.value),
                    "data-low": _num(bar.low),
                    "data-high": _num(bar.high),
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
        _text(
            bel,
            PLOT_X0 - 6,
            y + BAR_H - 3,
            _short(group.label),
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
        _line(bel, wl, mid, wh, mid, **attrs)
        _line(bel, wl, mid - 4, wl, mid + 4, **attrs)
        _line(bel, wh, mid - 4, wh, mid + 4, **attrs)
    _text(bel, PLOT_X1 + 4, y + BAR_H - 3, show(bar.value), **{"font-size": "11"})


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
    svg = _Svg(title, "box", height, attrs={"data-dimension": dimension, "data-unit": unit})

    def sx(v: float) -> float:
        return PLOT_X0 + (v - lo) / (hi - lo) * (PLOT_X1 - PLOT_X0)

    axis = ET.SubElement(svg.root, "g", {"class": "chart-axis", "font-size": "10"})
    for tick in ticks:
        _line(axis, sx(tick), TOP, sx(tick), TOP + plot_h, stroke="#ddd")
        _text(axis, sx(tick), TOP + plot_h + 14, f"{tick:g}", **{"text-anchor": "middle"})
    if unit:
        _text(axis, (PLOT_X0 + PLOT_X1) / 2, height - 2, unit, **{"text-anchor": "middle"})
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
                "data-q10": _num(b.q10),
                "data-q25": _num(b.q25),
                "data-median": _num(b.median),
                "data-q75": _num(b.q75),
                "data-q90": _num(b.q90),
                "data-mean": _num(b.mean),
            },
        )
        ET.SubElement(g, "title").text = (
            f"{b.label}: median {b.median:g}, quartiles {b.q25:g}–{b.q75:g}, "
            f"10th–90th percentile {b.q10:g}–{b.q90:g}"
            + (f", mean {b.mean:.2f}" if b.mean is not None else "")
            + f" ({b.n} answers)"
        )
        _text(g, PLOT_X0 - 6, mid + 4, _short(b.label), **{"text-anchor": "end", "font-size": "11"})
        _line(g, sx(b.q10), mid, sx(b.q90), mid, stroke="#222")
        for q in (b.q10, b.q90):
            _line(g, sx(q), mid - 5, sx(q), mid + 5, stroke="#222")
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
        _line(
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
        _text(g, PLOT_X1 + 4, mid + 4, f"{b.median:g}", **{"font-size": "11"})
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
    svg = _Svg(title, kind, height, attrs={"data-format": y_format, "data-marked": _num(marked)})

    def sx(v: float) -> float:
        span = x_ticks[-1] - x_ticks[0] or 1
        return left + (v - x_ticks[0]) / span * (right - left)

    def sy(v: float) -> float:
        return bottom - (v - y_lo) / ((y_hi - y_lo) or 1) * (bottom - top)

    axis = ET.SubElement(svg.root, "g", {"class": "chart-axis", "font-size": "10"})
    for t in nice_ticks(y_lo, y_hi):
        if y_lo - 1e-12 <= t <= y_hi + 1e-12:
            _line(axis, left, sy(t), right, sy(t), stroke="#eee")
            label = f"{100 * t:g}%" if y_format == "percent" else f"{t:g}"
            _text(axis, left - 4, sy(t) + 3, label, **{"text-anchor": "end"})
    for t in x_ticks:
        _text(axis, sx(t), bottom + 14, f"{t:g}", **{"text-anchor": "middle"})
    _line(axis, left, bottom, right, bottom, stroke="#333")
    _text(axis, (left + right) / 2, height - 6, x_label, **{"text-anchor": "middle"})
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
                "data-x": _num(p.x),
                "data-y": _num(p.y),
                "data-low": _num(p.low),
                "data-high": _num(p.high),
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
            _line(g, sx(p.x), sy(p.low), sx(p.x), sy(p.high), stroke="#222", **{"class": "whisker"})
            _line(g, sx(p.x) - 4, sy(p.low), sx(p.x) + 4, sy(p.low), stroke="#222")
            _line(g, sx(p.x) - 4, sy(p.high), sx(p.x) + 4, sy(p.high), stroke="#222")
        ET.SubElement(
            g,
            "circle",
            {"cx": f"{sx(p.x):.1f}", "cy": f"{sy(p.y):.1f}", "r": "4", "fill": PALETTE[0]},
        )
    if marked is not None:
        g = ET.SubElement(svg.root, "g", {"class": "chart-marker", "data-x": _num(marked)})
        ET.SubElement(g, "title").text = marked_label
        _line(
            g, sx(marked), top, sx(marked), bottom, stroke=PALETTE[5], **{"stroke-dasharray": "4 3"}
        )
        anchor = "end" if sx(marked) > (left + right) / 2 else "start"
        dx = -4 if anchor == "end" else 4
        _text(
            g, sx(marked) + dx, top + 10, marked_label, **{"text-anchor": anchor, "font-size": "11"}
        )
    return svg.markup()


@cache
def state_shapes() -> dict:
    """The vendored state outlines (see data/PROVENANCE.md), keyed by two-digit FIPS."""
    return json.loads(MAP_DATA.read_text())


# Sequential blues (ColorBrewer "Blues", 5 classes) for the map's shares.
MAP_CLASSES = ("#eff3ff", "#bdd7e7", "#6baed6", "#3182bd", "#08519c")
NO_DATA = "#e5e5e5"


def map_bins(values: Sequence[float]) -> list[float]:
    """Five equal-width classes between the lowest and highest value (their edges)."""
    lo, hi = min(values), max(values)
    if hi - lo < 1e-9:
        lo, hi = max(0.0, lo - 0.05), hi + 0.05
    step = (hi - lo) / len(MAP_CLASSES)
    return [lo + i * step for i in range(len(MAP_CLASSES) + 1)]


def us_state_map(
    *, title: str, areas: Sequence[MapArea], measure: str, fmt: str = "percent"
) -> SafeString:
    """States shaded by `measure` (five classes, with a legend); states without personas grey."""
    show = FORMATS[fmt]
    shapes = state_shapes()
    by_fips = {a.fips: a for a in areas if a.value is not None}
    edges = map_bins([a.value for a in by_fips.values()]) if by_fips else []
    legend_h = 50
    svg = _Svg(
        title,
        "map",
        shapes["height"] + legend_h,
        width=shapes["width"],
        attrs={"data-measure": measure, "data-format": fmt},
    )

    def shade(value: float) -> tuple[int, str]:
        for i in range(len(MAP_CLASSES)):
            if value <= edges[i + 1] + 1e-12:
                return i, MAP_CLASSES[i]
        return len(MAP_CLASSES) - 1, MAP_CLASSES[-1]

    states = ET.SubElement(svg.root, "g", {"class": "map-states", "stroke": "#fff"})
    for fips, shape in shapes["states"].items():
        area = by_fips.get(fips)
        attrs = {"d": shape["d"], "data-fips": fips, "data-name": shape["name"]}
        if area is None:
            attrs |= {"fill": NO_DATA, "class": "map-state"}
            el = ET.SubElement(states, "path", attrs)
            ET.SubElement(el, "title").text = f"{shape['name']}: no personas"
            continue
        assert area.value is not None
        klass, colour = shade(area.value)
        attrs |= {
            "fill": colour,
            "class": "map-state map-state-data",
            "data-value": _num(area.value),
            "data-n": str(area.n),
            "data-class": str(klass),
        }
        el = ET.SubElement(states, "path", attrs)
        ET.SubElement(
            el, "title"
        ).text = f"{area.label}: {measure} {show(area.value)}{area.detail} ({area.n} personas)"
    legend = ET.SubElement(
        svg.root,
        "g",
        {
            "class": "map-legend",
            "font-size": "14",
            "transform": f"translate(20,{shapes['height'] + 6})",
        },
    )
    _text(legend, 0, 14, measure, **{"font-weight": "bold"})
    x = 0.0
    for i, colour in enumerate(MAP_CLASSES if edges else ()):
        item = ET.SubElement(
            legend,
            "g",
            {
                "class": "map-legend-class",
                "data-low": _num(edges[i]),
                "data-high": _num(edges[i + 1]),
            },
        )
        ET.SubElement(
            item,
            "rect",
            {
                "x": f"{x:.0f}",
                "y": "22",
                "width": "26",
                "height": "16",
                "fill": colour,
                "stroke": "#999",
            },
        )
        _text(item, x + 30, 35, f"{show(edges[i])}–{show(edges[i + 1])}")
        x += 150
    no_data = ET.SubElement(legend, "g", {"class": "map-legend-class", "data-no-data": "true"})
    ET.SubElement(
        no_data,
        "rect",
        {
            "x": f"{x:.0f}",
            "y": "22",
            "width": "26",
            "height": "16",
            "fill": NO_DATA,
            "stroke": "#999",
        },
    )
    _text(no_data, x + 30, 35, "no personas")
    return svg.markup()
