"""A persona's demographic cell in a poll: the one definition the backend, the selector and the
validation share, so they cannot drift apart.

A cell matches respondents on every dimension the poll measured (MATCH_ORDER); while it holds too few
respondents it is widened by dropping dimensions in DROP_ORDER. Income and age go first: they are the
finest-grained and the least often measured the same way across polls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from environment.categories import label

if TYPE_CHECKING:
    from personas.models import Persona

MATCH_ORDER: Final = ("sex", "race_ethnicity", "education", "state", "age", "income")
DROP_ORDER: Final = ("income", "age", "state", "education", "race_ethnicity", "sex")
DIMENSION_NAMES: Final = {
    "sex": "sex",
    "race_ethnicity": "race/ethnicity",
    "education": "education",
    "state": "state",
    "age": "age",
    "income": "household income",
}


def persona_value(persona: Persona, dimension: str) -> str:
    """The persona's category on a matching dimension (its area's state for "state")."""
    if dimension == "state":
        return persona.area.state
    return getattr(persona, dimension)


def persona_describe(persona: Persona, dimension: str) -> str:
    """The persona's value on a dimension, worded for a reasoning or grounding text."""
    if dimension == "state":
        return persona.area.state
    if dimension == "age":
        return f"{persona.age} ({label('age_bracket', persona.age_bracket)})"
    return label(dimension, getattr(persona, dimension)).lower()
