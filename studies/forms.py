from __future__ import annotations

from decimal import Decimal

from django import forms
from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db.models import Count

from environment.categories import DIMENSIONS
from environment.models import Area
from personas.engine.schemas import DEPTHS
from polls.models import Question

DEFAULT_AREAS = ["dallas_tx_city", "detroit_mi_city", "minneapolis_mn_city", "phoenix_az_city"]


def _cities_with_every_dimension():
    """Cities with census marginals for all five dimensions: personas cannot be drawn elsewhere."""
    return (
        Area.objects.filter(kind=Area.Kind.CITY)
        .annotate(dimensions=Count("marginals__dimension", distinct=True))
        .filter(dimensions=len(DIMENSIONS))
        .order_by("state", "name")
    )


class StudyStartForm(forms.Form):
    title = forms.CharField(max_length=200)
    question = forms.ModelChoiceField(
        queryset=Question.objects.select_related("poll").order_by("poll__slug", "code"),
        help_text="The poll question that grounds the item",
    )
    areas = forms.ModelMultipleChoiceField(
        queryset=_cities_with_every_dimension(),
        initial=DEFAULT_AREAS,
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text="Dallas, Detroit, Minneapolis and Phoenix are selected; Ctrl/⌘-click to change. "
        "Personas are spread over the areas in proportion to their adult population.",
    )
    size = forms.IntegerField(min_value=1, initial=400)
    backend = forms.ChoiceField(
        choices=[
            (
                "poll_model",
                "Offline: multilevel model of the poll, poststratified (no key, no cost)",
            ),
            (
                "poll_cell",
                "Offline baseline: poll respondents of the same demographic cell (no key, no cost)",
            ),
            ("llm", "Language model through the persona engine"),
        ],
        initial="poll_model",
        required=False,
    )
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

    def clean(self):
        data = super().clean()
        data["backend"] = data.get("backend") or "poll_model"
        if data["backend"] == "llm":
            if not data.get("provider"):
                self.add_error("provider", "Choose the provider of the language model.")
            if not (data.get("model") or "").strip():
                self.add_error("model", "Name the model, e.g. gpt-4o-mini.")
            if data.get("provider") == "compatible" and not data.get("base_url"):
                self.add_error("base_url", "A compatible server needs its base URL.")
        return data

    def backend_config(self) -> dict:
        """The run's backend_config from the form (empty for the offline backend)."""
        v = self.cleaned_data
        if v["backend"] != "llm":
            return {}
        llm = {"provider": v["provider"], "model": v["model"].strip()}
        if v.get("base_url"):
            llm["base_url"] = v["base_url"]
        return {"llm": llm, "engine": {"depth": v.get("depth") or "standard"}}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["size"].validators.append(MaxValueValidator(settings.POPULATION_MAX_SIZE))
        self.fields["size"].widget.attrs["max"] = settings.POPULATION_MAX_SIZE
        self.fields["question"].label_from_instance = lambda q: f"{q.poll.title}: {q.text[:90]}"
