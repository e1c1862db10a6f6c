"""Environmental awareness: the social pressures, reference groups and local context a persona feels
in its area (issue #4). Formulas and their reasons: personas/awareness_README.md."""

from __future__ import annotations

from personas.awareness.groups import (
    ReferenceGroup,
    demographic_similarity,
    nearby_personas,
    reference_groups,
)
from personas.awareness.income import income_brackets, income_midpoint
from personas.awareness.pressures import Pressure, Pressures, social_pressures
from personas.awareness.prompt import generate_llm_prompt_context, scenario_emphasis
from personas.awareness.view import (
    PersonaView,
    conformity_tendency,
    conformity_tendency_detail,
    political_position,
)

__all__ = [
    "PersonaView",
    "Pressure",
    "Pressures",
    "ReferenceGroup",
    "conformity_tendency",
    "conformity_tendency_detail",
    "demographic_similarity",
    "generate_llm_prompt_context",
    "income_brackets",
    "income_midpoint",
    "nearby_personas",
    "political_position",
    "reference_groups",
    "scenario_emphasis",
    "social_pressures",
]
