"""The US state map: states shaded by a figure in five classes, with a legend, drawn on the
vendored state outlines."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from django.utils.safestring import SafeString

from studies.charts.svg import FORMATS, Svg, num, text

MAP_DATA = Path(__file__).parent / "data" / "us_states.json"


@dataclass(frozen=True)
class MapArea:
    """A state's figure on the map."""

    fips: str
    label: str
    value: float | None
    n: int = 0
    detail: str = ""


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
    svg = Svg(
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
            "data-value": num(area.value),
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
    text(legend, 0, 14, measure, **{"font-weight": "bold"})
    x = 0.0
    for i, colour in enumerate(MAP_CLASSES if edges else ()):
        item = ET.SubElement(
            legend,
            "g",
            {
                "class": "map-legend-class",
                "data-low": num(edges[i]),
                "data-high": num(edges[i + 1]),
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
        text(item, x + 30, 35, f"{show(edges[i])}–{show(edges[i + 1])}")
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
    text(no_data, x + 30, 35, "no personas")
    return svg.markup()
