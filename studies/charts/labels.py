"""Readable names for the dimensions results are broken down by: one mapping, used by the result
tables (handed to the page's script) and the charts."""

from __future__ import annotations

DIMENSION_LABELS: dict[str, str] = {
    "overall": "Overall",
    "area": "Area",
    "condition": "Condition",
    "age_bracket": "Age",
    "sex": "Sex",
    "race_ethnicity": "Race/ethnicity",
    "education": "Education",
    "income": "Household income",
    "party": "Party",
    "terms": "Term",
}


def dimension_label(code: str) -> str:
    """The dimension's readable name; an unknown code in words ("home_owner" → "Home owner")."""
    return DIMENSION_LABELS.get(code) or code.replace("_", " ").capitalize()
