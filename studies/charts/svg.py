"""What every server-drawn chart is made of: the `<svg>` element, its text and lines, and the
number formats of its labels. Each chart is an `<svg>` that scales with its viewBox, carries a
`<title>` and an aria-label, and puts the figures it draws in data attributes (`data-value`,
`data-low`, `data-high`, ...) so a test or a reader's tool can compare it with the table beside it.

The SVG is built with `xml.etree.ElementTree`, which escapes every label; the result is returned as
safe markup for the templates.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field

from django.utils.safestring import SafeString, mark_safe

WIDTH = 640

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


@dataclass
class Svg:
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


def num(x: float | None) -> str:
    return "" if x is None else repr(float(x))


def text(parent: ET.Element, x: float, y: float, text: str, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, "text", {"x": f"{x:.1f}", "y": f"{y:.1f}", **attrs})
    el.text = text
    return el


def line(parent: ET.Element, x1: float, y1: float, x2: float, y2: float, **attrs: str) -> None:
    ET.SubElement(
        parent,
        "line",
        {"x1": f"{x1:.1f}", "y1": f"{y1:.1f}", "x2": f"{x2:.1f}", "y2": f"{y2:.1f}", **attrs},
    )


def short(label: str, limit: int = 30) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"
