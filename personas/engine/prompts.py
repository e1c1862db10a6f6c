"""The persona engine's prompts: the Django templates of its steps (`templates/engine/<step>.md`,
or a study's own) and the wording of earlier steps' output as later prompts read it."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.template import Engine

from personas.engine.schemas import PersonaContext

STEPS = ("analyze", "context", "consistency", "experience", "participation")
TEMPLATE_NAMES = ("system", *STEPS)
TEMPLATE_DIR = Path(settings.BASE_DIR) / "templates" / "engine"


def template_engine() -> Engine:
    return Engine(dirs=[str(TEMPLATE_DIR)], autoescape=False)


def template_sources(overrides: dict[str, str] | None = None) -> dict[str, str]:
    """The template text of every step: the study's own where it supplies one, else the file."""
    overrides = overrides or {}
    unknown = sorted(set(overrides) - set(TEMPLATE_NAMES))
    if unknown:
        raise ValueError(
            f"unknown prompt template(s) {unknown}; a study may supply: {', '.join(TEMPLATE_NAMES)}"
        )
    return {
        name: overrides.get(name) or (TEMPLATE_DIR / f"{name}.md").read_text()
        for name in TEMPLATE_NAMES
    }


def context_as_text(context: PersonaContext | dict) -> str:
    c = context if isinstance(context, dict) else context.model_dump()

    def bullets(key: str) -> str:
        return "\n".join(f"- {x}" for x in c[key])

    return (
        f"{c['life_narrative']}\n\nHabits:\n{bullets('relevant_habits')}\n\n"
        f"Attitudes and opinions:\n{bullets('attitudes_and_opinions')}\n\n"
        f"Pain points:\n{bullets('pain_points')}\n\nMotivations:\n{bullets('motivations')}"
    )


def experience_as_text(experience: dict) -> str:
    lines = []
    for e in experience["episodes"]:
        refs = f" (builds on {', '.join(map(str, e['refers_to']))})" if e["refers_to"] else ""
        # Experiences stored before strong opinions were asked for have no such key.
        opinion = (
            f" Strong opinion it left: {e['strong_opinion']}" if e.get("strong_opinion") else ""
        )
        lines.append(
            f"{e['number']}. {e['timeframe']}{refs}: {e['scenario']} Reaction: {e['reaction']} "
            f"Takeaway: {e['takeaway']} (valence {e['valence']:+.1f}){opinion}"
        )
    lines.append(f"Memory: {experience['synthesized_memory']}")
    lines.append(f"Emotional residue: {experience['emotional_residue']}")
    lines.append("Learned: " + "; ".join(experience["learned_behaviours"]))
    return "\n".join(lines)
