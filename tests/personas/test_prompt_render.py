"""personas.engine.render.PromptTemplate gives exactly what Django's render gives, for the default
templates and for study templates that use the persona's texts in ways it cannot substitute."""

from __future__ import annotations

import pytest
from django.template import Context

from personas.engine.prompts import template_engine, template_sources
from personas.engine.render import PromptTemplate

SHARED = {
    "study_title": "Transit levy",
    "study_kind": "Policy support",
    "scenario": 'A 0.5% sales tax for buses & trains — "fair"?',
    "items": [
        {
            "code": "q1",
            "text": "Would you vote for it?",
            "instruction": "Answer with one option code.",
            "type_label": "Single choice",
            "options": [
                {"code": "yes", "display": "Yes"},
                {"code": "no", "display": "No, it's <too> much"},
            ],
        }
    ],
    "condition": {"code": "b", "label": "Framed as savings", "stimulus": "You'd save $40."},
    "think_aloud": True,
    "time_on_task": False,
    "measures": ("hesitation",),
    "depth": "standard",
}
TEXTS = {
    "profile_text": "Age 44; don't drive; {{ not a tag }} & {% if x %}",
    "context_text": "Grew up in Tulsa.\nTwo kids.",
    "experience_text": "- Missed a bus in 2019 (valence -0.4)",
    "environment": "You live in Dallas. Median income $58,000 (ACS 2022).",
    "grounding": "Poll: CCES (2018)\nAnswers: yes 52%; no 48%.",
}
EXPERIENCE = {
    "min_episodes": 3,
    "max_episodes": 5,
    "proficiency": "intermediate",
    "valence_mix": "mostly positive",
    "valence_rule": "at least 2 positive",
    "neutral_band": 0.2,
}


def _django(template, values) -> str:
    return template.render(Context({**SHARED, **values}, autoescape=False)).strip()


@pytest.mark.parametrize(
    "name", ["analyze", "context", "consistency", "experience", "participation"]
)
def test_each_default_template_renders_as_django_does_with_and_without_each_text(name):
    compiled = template_engine().from_string(template_sources()[name])
    fast = PromptTemplate(compiled)
    for empty in [None, *TEXTS]:
        values = {**{k: ("" if k == empty else v) for k, v in TEXTS.items()}, **EXPERIENCE}
        for _ in range(2):  # the first builds the shape, the second reuses it
            assert fast.render(SHARED, values, shape="b") == _django(compiled, values)
    assert fast._variants, "the default templates are rendered by substitution"


def test_personas_texts_change_from_call_to_call_in_one_shape():
    compiled = template_engine().from_string(template_sources()["participation"])
    fast = PromptTemplate(compiled)
    for n in range(5):
        values = {**{k: f"{v} #{n}" for k, v in TEXTS.items()}, **EXPERIENCE}
        assert fast.render(SHARED, values, shape=None) == _django(compiled, values)
    assert len(fast._variants) == 1


@pytest.mark.parametrize(
    "source",
    [
        "{{ profile_text|upper }}",
        "{{ profile_text.0 }} {{ grounding }}",
        '{% if grounding == "x" %}same{% endif %}{{ grounding }}',
        "{% if grounding|length > 5 %}long{% endif %}",
        "{% for c in profile_text %}{{ c }}{% endfor %}",
        "{% with g=grounding %}{{ g }}{% endwith %}",
        "{% for grounding in items %}{{ grounding.code }}{% endfor %}",
        "{{ study_title|default:grounding }}",
        "{% firstof grounding 'none' %}",
    ],
)
def test_a_template_that_uses_a_text_another_way_is_rendered_by_django(source):
    compiled = template_engine().from_string(source)
    fast = PromptTemplate(compiled)
    values = {**TEXTS, **EXPERIENCE}

    assert fast.render(SHARED, values, shape=None) == _django(compiled, values)
    assert not fast._variants


def test_truth_tests_combined_with_and_or_not_are_substituted():
    source = (
        "{% if grounding and not environment %}A{% elif profile_text or grounding %}B{% else %}C"
        "{% endif %}|{{ grounding }}|{% for i in items %}{{ profile_text }}{% endfor %}"
    )
    compiled = template_engine().from_string(source)
    fast = PromptTemplate(compiled)
    for values in (
        TEXTS,
        {**TEXTS, "environment": ""},
        {**TEXTS, "grounding": "", "profile_text": ""},
    ):
        assert fast.render(SHARED, values, shape=None) == _django(compiled, values)
    assert len(fast._variants) == 3
