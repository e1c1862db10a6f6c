from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db.models import Count

from environment.categories import DIMENSIONS
from environment.models import Area
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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["size"].validators.append(MaxValueValidator(settings.POPULATION_MAX_SIZE))
        self.fields["size"].widget.attrs["max"] = settings.POPULATION_MAX_SIZE
        self.fields["question"].label_from_instance = lambda q: f"{q.poll.title}: {q.text[:90]}"
