from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.forms.models import ModelChoiceIterator
from django.utils.html import format_html_join

from environment.models import Area
from environment.selectors import area_usability, area_usable
from personas.engine.schemas import DEPTHS
from personas.models import Population
from personas.selectors import population_ready_list
from polls.models import Question
from polls.selectors import question_answerable
from studies.services.studies import POPULATION_COUNTRY

DEFAULT_AREAS = ["dallas_tx_city", "detroit_mi_city", "minneapolis_mn_city", "phoenix_az_city"]
# Item selects the form shows; a study may have more (the API takes any number).
ITEM_SLOTS = 5

BACKEND_CHOICES = [
    ("poll_model", "Offline: multilevel model of the poll, poststratified (no key, no cost)"),
    (
        "poll_cell",
        "Offline baseline: poll respondents of the same demographic cell (no key, no cost)",
    ),
    ("llm", "Language model through the persona engine"),
]
OFFLINE_BACKEND_CHOICES = BACKEND_CHOICES[:2]
AREA_GROUPS = {"state": "States", "county": "Counties", "city": "Cities"}


def usable_areas():
    """Areas a population can be drawn in (the rule /api/v1/areas/ reports as `usable`)."""
    return area_usability().filter(area_usable(True)).order_by("kind", "state", "name")


def offered_questions():
    """Questions the offline backends can answer, from polls of the personas' country, by poll."""
    return (
        question_answerable(Question.objects.filter(poll__country=POPULATION_COUNTRY))
        .select_related("poll")
        .order_by("poll__year", "poll__title", "poll_id", "code")
    )


class GroupedModelChoiceIterator(ModelChoiceIterator):
    """Choices in `<optgroup>`s by the field's `group_of(obj)`; the queryset is ordered so that
    each group's objects are consecutive."""

    def __iter__(self) -> Iterator[Any]:
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for group, objects in itertools.groupby(self.queryset, key=self.field.group_of):
            yield (group, [self.choice(obj) for obj in objects])


class GroupedModelMultipleChoiceField(forms.ModelMultipleChoiceField):
    iterator = GroupedModelChoiceIterator

    def __init__(self, *args: Any, group_of: Callable[[Any], str], **kwargs: Any) -> None:
        self.group_of = group_of
        super().__init__(*args, **kwargs)


class ItemSlots(forms.SelectMultiple):
    """The study's items as repeated single selects of one name (`question`), the first required:
    works without script, and the first keeps the id `id_question`."""

    def value_from_datadict(self, data, files, name):
        return [v for v in super().value_from_datadict(data, files, name) if v not in ("", None)]

    def render(self, name, value, attrs=None, renderer=None):
        chosen = [str(v) for v in (value or []) if v not in ("", None)]
        choices = list(self.choices)  # one query for every slot
        base = self.build_attrs(self.attrs, attrs)
        slots = []
        for i in range(max(ITEM_SLOTS, len(chosen) + 1)):
            slot_attrs = {**base, "id": base["id"] if i == 0 else f"{base['id']}_{i}"}
            slot_attrs["aria-label"] = f"Item {i + 1}"
            if i:
                slot_attrs.pop("required", None)
            blank = "Choose a question" if i == 0 else "— no further item —"
            select = forms.Select(choices=[("", blank), *choices])
            current = chosen[i] if i < len(chosen) else ""
            slots.append((i + 1, select.render(name, current, slot_attrs, renderer)))
        return format_html_join(
            "", '<div class="item-slot"><span class="muted">Item {}</span> {}</div>', slots
        )


class ItemQuestionsField(GroupedModelMultipleChoiceField):
    """The chosen questions in the order of their selects, each at most once."""

    widget = ItemSlots

    def clean(self, value):
        found = {str(q.pk): q for q in super().clean(value)}
        ids = [str(v) for v in value]
        twice = sorted({found[i].code for i in ids if ids.count(i) > 1})
        if twice:
            raise ValidationError(
                f"Question {', '.join(twice)} is chosen for more than one item; choose it once "
                "(set the extra item to “no further item”).",
                code="duplicate",
            )
        return [found[i] for i in ids]


def _poll_group(question: Question) -> str:
    poll = question.poll
    return f"{poll.title} ({poll.year or 'year unknown'}, {poll.country})"


class StudyStartForm(forms.Form):
    title = forms.CharField(max_length=200)
    question = ItemQuestionsField(
        queryset=Question.objects.none(),
        group_of=_poll_group,
        label="Items",
        help_text="One poll question per item, grouped by poll (its year and country). Only "
        "questions with respondent answers are offered: the offline backends draw from them.",
    )
    population = forms.ModelChoiceField(
        queryset=Population.objects.none(),
        required=False,
        empty_label="A new population (size and areas below)",
        label="Population",
        help_text="Ask an existing population of yours, or draw a new one.",
    )
    areas = GroupedModelMultipleChoiceField(
        queryset=Area.objects.none(),
        group_of=lambda area: AREA_GROUPS[area.kind],
        initial=DEFAULT_AREAS,
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text="Dallas, Detroit, Minneapolis and Phoenix are selected; Ctrl/⌘-click to change. "
        "Only areas with census marginals for all five dimensions are offered. Personas are "
        "spread over the areas in proportion to their adult population.",
    )
    size = forms.IntegerField(min_value=1, initial=400, required=False)
    backend = forms.ChoiceField(choices=BACKEND_CHOICES, initial="poll_model", required=False)
    provider = forms.ChoiceField(
        choices=[
            ("openai", "OpenAI"),
            ("anthropic", "Anthropic"),
            ("compatible", "OpenAI-compatible server"),
        ],
        required=False,
        help_text="Language model only. The key comes from the server's environment "
        "(OPENAI_API_KEY, ANTHROPIC_API_KEY or LLM_API_KEY), never from this form.",
    )
    model = forms.CharField(max_length=200, required=False, help_text="e.g. gpt-4o-mini")
    base_url = forms.URLField(
        label="Base URL",
        required=False,
        assume_scheme="https",
        help_text="For a compatible server (vLLM, Ollama, llama.cpp, LiteLLM), e.g. http://localhost:8000/v1",
    )
    depth = forms.ChoiceField(choices=[(d, d) for d in DEPTHS], initial="standard", required=False)
    budget = forms.DecimalField(
        min_value=Decimal("0.0001"),
        max_digits=12,
        decimal_places=4,
        required=False,
        help_text="Cost cap: a run estimated above it is refused, a running one stops at it",
    )

    LLM_FIELDS = ("provider", "model", "base_url", "depth", "budget")
    POPULATION_FIELDS = ("population", "size", "areas")

    def __init__(self, *args: Any, user=None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["question"].queryset = offered_questions()
        self.fields["question"].label_from_instance = lambda q: f"{q.code}: {q.text[:90]}"
        self.fields["areas"].queryset = usable_areas()
        self.fields["areas"].label_from_instance = lambda a: (
            a.name if a.kind == Area.Kind.STATE else f"{a.name}, {a.state}"
        )
        population = self.fields["population"]
        population.queryset = (
            population_ready_list(user=user) if user is not None else Population.objects.none()
        )
        population.label_from_instance = lambda p: f"{p} — {p.size} personas (#{p.pk})"
        self.fields["size"].help_text = (
            f"Up to {settings.POPULATION_MAX_SIZE:,}. Above {settings.POPULATION_INLINE_MAX:,} the "
            "population is built in the background: its page shows the progress, and the run "
            "starts by itself once it is ready."
        )
        self.fields["size"].validators.append(MaxValueValidator(settings.POPULATION_MAX_SIZE))
        self.fields["size"].widget.attrs["max"] = settings.POPULATION_MAX_SIZE

    def clean(self):
        data = super().clean()
        data["backend"] = data.get("backend") or "poll_model"
        if not data.get("population"):
            if "size" in data and data["size"] is None:
                self.add_error("size", "Give the new population's size, or choose a population.")
            if "areas" in data and not data["areas"]:
                self.add_error("areas", "Choose at least one area, or choose a population.")
        if data["backend"] == "llm":
            if not data.get("provider"):
                self.add_error("provider", "Choose the provider of the language model.")
            if not (data.get("model") or "").strip():
                self.add_error("model", "Name the model, e.g. gpt-4o-mini.")
            if data.get("provider") == "compatible" and not data.get("base_url"):
                self.add_error("base_url", "A compatible server needs its base URL.")
        return data

    def item_specs(self) -> list:
        """One single-choice item per chosen question, its options taken from the poll's; codes
        are the questions' own, numbered where two polls use the same code."""
        from studies.services import ItemSpec

        specs, seen = [], set()
        for position, question in enumerate(self.cleaned_data["question"], start=1):
            code = question.code if question.code not in seen else f"{question.code}_{position}"
            seen.add(code)
            specs.append(ItemSpec(code=code, text=question.text, poll_question_id=question.id))
        return specs

    def backend_config(self) -> dict:
        """The run's backend_config from the form (empty for the offline backend)."""
        v = self.cleaned_data
        if v["backend"] != "llm":
            return {}
        llm = {"provider": v["provider"], "model": v["model"].strip()}
        if v.get("base_url"):
            llm["base_url"] = v["base_url"]
        return {"llm": llm, "engine": {"depth": v.get("depth") or "standard"}}

    def field_groups(self) -> dict[str, list]:
        """The bound fields by fieldset of the page: study, population, backend, language model."""
        return {
            "study": [self["title"], self["question"]],
            "population": [self[name] for name in self.POPULATION_FIELDS],
            "backend": [self["backend"]],
            "llm": [self[name] for name in self.LLM_FIELDS],
        }


class RunAgainForm(forms.Form):
    """Run a study again on one of the user's populations with an offline backend."""

    population = forms.ModelChoiceField(queryset=Population.objects.none())
    backend = forms.ChoiceField(choices=OFFLINE_BACKEND_CHOICES, initial="poll_model")

    def __init__(self, *args: Any, user=None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["population"].queryset = population_ready_list(user=user)
        self.fields["population"].label_from_instance = lambda p: (
            f"{p} — {p.size} personas (#{p.pk})"
        )
