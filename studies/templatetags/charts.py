"""Template helpers of the result pages."""

from __future__ import annotations

from django import template

from studies.charts.labels import dimension_label as _dimension_label

register = template.Library()


@register.filter
def dimension_label(code) -> str:
    """A breakdown dimension's readable name: {{ "age_bracket"|dimension_label }} → "Age"."""
    return _dimension_label(str(code))


@register.filter
def points(value) -> str:
    """A difference of shares in signed percentage points: 0.031 → "+3.1"."""
    try:
        return f"{100 * float(value):+.1f}"
    except (TypeError, ValueError):
        return "–"
