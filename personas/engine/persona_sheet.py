"""A persona's sheet: the structured profile document the engine stores and reads (profile.json),
its wording as the bullet list a model reads, and the narrative built from it offline.

Not to be confused with `personas.profile`, which draws the characteristics in the first place; this
module only gathers what was drawn into one document. The profile is never written by a model: demographics come from the census generator and the rest
from the poll-fitted profile models of personas.profile (each field's source in `sources`). The
offline backend has no model to write a life story, so `structured_narrative` words the profile as
prose and the result says plainly that it was built from the structured profile.
"""

from __future__ import annotations

from typing import Any

from environment.categories import label
from personas.engine.schemas import Demographics, PersonaContext, PersonaProfileDoc, TechProfile
from personas.profile import BEHAVIOURAL_CHARACTERISTICS, BIG_FIVE
from personas.profile.fields import FIELDS_BY_NAME
from personas.profile.tech import proficiency_level

STRUCTURED_LABEL = (
    "Built from the structured profile by the offline backend (no language model wrote it)."
)


def _profile(persona: Any) -> dict:
    return persona.profile or {}


def _level_name(value: str) -> str:
    """The seed's level name: personas drawn before it say "basic" for "beginner". A value no
    level has is kept as it is (the engine fails that persona with the reason)."""
    try:
        return proficiency_level(value) or value
    except ValueError:
        return value


def profile_doc(
    persona: Any, *, study_attributes: dict[str, dict[str, str]] | None = None
) -> PersonaProfileDoc:
    """The persona's profile.json; `study_attributes` are the analyze step's answer."""
    p = _profile(persona)
    tech = None
    if p.get("tech_proficiency"):
        tech = TechProfile(
            proficiency=_level_name(p["tech_proficiency"]),
            devices=list(p.get("tech_devices") or []),
            apps=list(p.get("tech_apps") or []),
            attitude=str(p.get("tech_attitude") or ""),
        )
    used = [*BEHAVIOURAL_CHARACTERISTICS, *BIG_FIVE, "occupation", "tech_proficiency"]
    return PersonaProfileDoc(
        persona_id=persona.id,
        demographics=Demographics(
            name=persona.name or f"Persona {persona.index}",
            age=persona.age,
            age_bracket=persona.age_bracket,
            sex=persona.sex,
            race_ethnicity=persona.race_ethnicity,
            education=persona.education,
            income=persona.income,
            occupation=p.get("occupation"),
            employment_status=p.get("employment_status"),
            area_id=persona.area_id,
            area_name=persona.area.name,
            state=persona.area.state,
        ),
        big_five={t: round(float(p[t])) for t in BIG_FIVE if p.get(t) is not None},
        tech_profile=tech,
        behavioural_characteristics={
            c: p[c] for c in BEHAVIOURAL_CHARACTERISTICS if p.get(c) is not None
        },
        studyRelevantAttributes=study_attributes or {},
        sources={
            "demographics": "census-proportional generator (personas.joint)",
            **{name: FIELDS_BY_NAME[name].source for name in used if p.get(name) is not None},
        },
    )


def describe(doc: PersonaProfileDoc) -> str:
    """The profile as the bullet list a model reads."""
    d = doc.demographics
    lines = [
        f"- Name: {d.name}",
        f"- Age: {d.age}",
        f"- Sex: {label('sex', d.sex)}",
        f"- Race/ethnicity: {label('race_ethnicity', d.race_ethnicity)}",
        f"- Education: {label('education', d.education)}",
        f"- Household income: {label('income', d.income)}",
        f"- Lives in: {d.area_name}, {d.state}",
    ]
    if d.occupation:
        lines.append(f"- Occupation: {d.occupation.replace('_', ' ')}")
    if d.employment_status:
        lines.append(f"- Employment: {d.employment_status.replace('_', ' ')}")
    if doc.big_five:
        traits = ", ".join(f"{t} {v}" for t, v in doc.big_five.items())
        lines.append(f"- Big Five (0-100): {traits}")
    if doc.tech_profile:
        t = doc.tech_profile
        lines.append(
            f"- Technology: {t.proficiency} user; devices: {', '.join(t.devices) or 'none'}; "
            f"apps: {', '.join(t.apps) or 'none'}; attitude: {t.attitude}"
        )
    for name, value in doc.behavioural_characteristics.items():
        lines.append(f"- {name.replace('_', ' ').capitalize()}: {str(value).replace('_', ' ')}")
    if doc.studyRelevantAttributes:
        lines.append("- Study-relevant attributes:")
        for name, attribute in doc.studyRelevantAttributes.items():
            lines.append(f"  - {name.replace('_', ' ').capitalize()}: {attribute['value']}")
    return "\n".join(lines)


def _level(value: int) -> str:
    return "high" if value >= 67 else "low" if value <= 33 else "moderate"


def structured_narrative(doc: PersonaProfileDoc) -> PersonaContext:
    """A context worded from the profile alone, for the offline backend; labelled as such."""
    d = doc.demographics
    b = doc.behavioural_characteristics
    pronoun = "She" if d.sex == "female" else "He"
    work = f" and works as {d.occupation.replace('_', ' ')}" if d.occupation else ""
    story = [
        f"{d.name} is a {d.age}-year-old {label('race_ethnicity', d.race_ethnicity)} "
        f"{label('sex', d.sex).lower()} living in {d.area_name}, {d.state}{work}.",
        f"{pronoun} has {label('education', d.education).lower()} as highest education, and the "
        f"household earns {label('income', d.income)} a year.",
    ]
    if doc.big_five:
        story.append(
            f"{pronoun} scores {_level(doc.big_five.get('openness', 50))} on openness and "
            f"{_level(doc.big_five.get('conscientiousness', 50))} on conscientiousness."
        )
    habits = [f"{k.replace('_', ' ')}: {str(v).replace('_', ' ')}" for k, v in b.items()]
    if doc.tech_profile:
        habits.append(f"uses technology as a {doc.tech_profile.proficiency} user")
    attitudes = [
        f"{k.replace('_', ' ')}: {str(b[k]).replace('_', ' ')}"
        for k in ("political_ideology", "party_identification", "trust_in_institutions")
        if k in b
    ]
    return PersonaContext(
        life_narrative=" ".join(story) + " " + STRUCTURED_LABEL,
        relevant_habits=habits[:8] or ["not recorded in the profile"],
        attitudes_and_opinions=attitudes or ["not recorded in the profile"],
        pain_points=["not derived offline: the structured profile records none"],
        motivations=["not derived offline: the structured profile records none"],
    )
