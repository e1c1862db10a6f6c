from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Length, Upper
from django.db.models.lookups import Exact
from django.utils import timezone


def country_choices() -> list[tuple[str, str]]:
    """ISO 3166-1 alpha-2 countries, by name (from polls/data/iso_3166-1.json)."""
    from polls.importers.geography import iso_countries

    return sorted(
        ((code, f"{name} ({code})") for code, name in iso_countries().items()),
        key=lambda choice: choice[1],
    )


class Poll(models.Model):
    """A survey: who asked whom, when, how, and under which licence."""

    slug = models.SlugField(max_length=80, unique=True)
    title = models.CharField(max_length=200)
    pollster = models.CharField(max_length=200)
    field_start = models.DateField(null=True, blank=True)
    field_end = models.DateField(null=True, blank=True)
    year = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Year of fieldwork")
    population = models.CharField(max_length=200, help_text="Who was sampled, e.g. 'US adults'")
    country = models.CharField(
        max_length=2,
        choices=country_choices,
        default="US",
        help_text="Where the poll was fielded: ISO 3166-1 alpha-2 code, e.g. US, GB, CL",
    )
    mode = models.CharField(max_length=80, blank=True)
    sample_size = models.PositiveIntegerField(default=0)
    source = models.TextField(help_text="Where the data came from (repository, file, commit)")
    licence = models.CharField(max_length=200, blank=True)
    topic_tags = models.JSONField(default=list, blank=True)
    imported_at = models.DateTimeField(auto_now=True)
    data_changed_at = models.DateTimeField(
        default=timezone.now,
        help_text="When its respondents or answers last changed: an import, or an admin's edit. "
        "What processes keep of the answers is read again after it moves.",
    )

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(
                condition=Q(field_start__isnull=True)
                | Q(field_end__isnull=True)
                | Q(field_start__lte=F("field_end")),
                name="poll_field_dates_ordered",
            ),
            # The full ISO list is checked on import and in forms; the database keeps the shape.
            models.CheckConstraint(
                condition=Q(Exact(Length("country"), 2)) & Q(country=Upper("country")),
                name="poll_country_alpha2",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class Question(models.Model):
    poll = models.ForeignKey(Poll, on_delete=models.CASCADE, related_name="questions")
    code = models.SlugField(max_length=80)
    text = models.TextField()
    topic_tags = models.JSONField(default=list, blank=True)
    universe = models.CharField(
        max_length=120,
        blank=True,
        help_text="Whom the question was asked of when only part of the sample by design, e.g. "
        "'likely voters' (respondents without an answer are outside it); blank: everyone",
    )

    class Meta:
        ordering = ["poll", "code"]
        constraints = [
            models.UniqueConstraint(fields=["poll", "code"], name="question_unique_code_per_poll")
        ]

    def __str__(self) -> str:
        return f"{self.poll.slug}:{self.code}"


class Option(models.Model):
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="options")
    code = models.SlugField(max_length=80)
    label = models.CharField(max_length=200)
    order = models.PositiveSmallIntegerField(default=0)
    ordinal_value = models.FloatField(
        null=True, blank=True, help_text="Position on an ordinal scale"
    )

    class Meta:
        ordering = ["question", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["question", "code"], name="option_unique_code")
        ]

    def __str__(self) -> str:
        return self.label


class Respondent(models.Model):
    """One person's harmonized demographics in a poll, with their survey weight."""

    poll = models.ForeignKey(Poll, on_delete=models.CASCADE, related_name="respondents")
    external_id = models.CharField(max_length=64)
    weight = models.FloatField(default=1.0)
    # Age as an inclusive range: an exact age has age_min == age_max, a bracket spans it.
    age_min = models.PositiveSmallIntegerField(null=True, blank=True)
    age_max = models.PositiveSmallIntegerField(null=True, blank=True)
    # A source category that spans several platform categories (CCES "Other" race covers
    # Asian and other) is stored as their codes joined by "|"; blank means not asked or missing.
    sex = models.CharField(max_length=40, blank=True)
    race_ethnicity = models.CharField(max_length=60, blank=True)
    education = models.CharField(max_length=60, blank=True)
    income = models.CharField(max_length=60, blank=True)
    party = models.CharField(max_length=60, blank=True)
    state = models.CharField(max_length=2, blank=True, help_text="USPS code")
    area = models.ForeignKey(
        "environment.Area", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["poll", "id"]
        constraints = [
            models.UniqueConstraint(fields=["poll", "external_id"], name="respondent_unique_id"),
            models.CheckConstraint(condition=Q(weight__gt=0), name="respondent_weight_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.poll.slug}#{self.external_id}"


class Response(models.Model):
    respondent = models.ForeignKey(Respondent, on_delete=models.CASCADE, related_name="responses")
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="responses")
    option = models.ForeignKey(Option, on_delete=models.CASCADE, related_name="responses")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["respondent", "question"], name="response_one_per_question"
            )
        ]

    def __str__(self) -> str:
        return f"{self.respondent_id} -> {self.option_id}"


class Crosstab(models.Model):
    """One option's share within one demographic group of a question's respondents.

    Computed from respondent microdata on every import (origin "microdata") or read from a
    published table (origin "published"). `share` is weighted; `n` is the unweighted number of
    respondents in the group who answered the question (the group's base, the same on every option
    of the group), so that a reader can judge how far the share can be trusted.
    """

    class Dimension(models.TextChoices):
        ALL = "all", "All respondents"
        AGE_BRACKET = "age_bracket", "Age bracket"
        SEX = "sex", "Sex"
        RACE_ETHNICITY = "race_ethnicity", "Race and ethnicity"
        EDUCATION = "education", "Education"
        INCOME = "income", "Household income"
        PARTY = "party", "Party identification"
        STATE = "state", "State"

    class Origin(models.TextChoices):
        MICRODATA = "microdata", "Computed from respondent microdata"
        PUBLISHED = "published", "Published table"

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="crosstabs")
    dimension = models.CharField(max_length=20, choices=Dimension.choices)
    # A harmonized category code; "all" for the overall row; codes joined by "|" for a source
    # category that spans several platform categories (kept as its own group, never split).
    category = models.CharField(max_length=60)
    option = models.ForeignKey(Option, on_delete=models.CASCADE, related_name="crosstabs")
    share = models.FloatField()
    n = models.IntegerField(help_text="Unweighted respondents in the group who answered")
    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.MICRODATA)

    class Meta:
        ordering = ["question", "dimension", "category", "option__order"]
        constraints = [
            models.UniqueConstraint(
                fields=["question", "dimension", "category", "option"],
                name="crosstab_unique_cell",
            ),
            models.CheckConstraint(
                condition=Q(share__gte=0) & Q(share__lte=1), name="crosstab_share_between_0_and_1"
            ),
            models.CheckConstraint(condition=Q(n__gte=0), name="crosstab_n_not_negative"),
        ]
        indexes = [models.Index(fields=["dimension"], name="crosstab_dimension_idx")]

    def __str__(self) -> str:
        return f"{self.question_id} {self.dimension}={self.category} {self.option_id}: {self.share:.3f}"


class MajorEvent(models.Model):
    """Something that happened and may move opinion: an election, a ruling, a crisis."""

    class Type(models.TextChoices):
        ELECTION = "election", "Election"
        POLICY = "policy", "Policy or legislation"
        COURT = "court", "Court ruling"
        ECONOMIC = "economic", "Economic"
        CONFLICT = "conflict", "Conflict or security"
        DISASTER = "disaster", "Disaster"
        PUBLIC_HEALTH = "public_health", "Public health"
        SOCIAL = "social", "Social movement or protest"
        OTHER = "other", "Other"

    date = models.DateField(db_index=True)
    title = models.CharField(max_length=200)
    type = models.CharField(max_length=20, choices=Type.choices)
    description = models.TextField(blank=True)
    related_topics = models.JSONField(default=list, blank=True)
    source = models.TextField(help_text="Where the record comes from (publication, URL, dataset)")

    class Meta:
        ordering = ["date", "title"]
        constraints = [
            # Re-importing an events file updates rows instead of duplicating them.
            models.UniqueConstraint(fields=["date", "title"], name="majorevent_unique_date_title")
        ]

    def __str__(self) -> str:
        return f"{self.date}: {self.title}"


class PollModelFit(models.Model):
    """A fitted poll model for one question: stored so that runs reuse it instead of refitting.

    A fit is keyed by what it was fitted on: the question, the options it models, the model spec
    (area predictors on or off), the respondents' data (a hash of the rows used) and the code's
    model version. A re-import that changes the data, or a new model version, fits anew.
    """

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="model_fits")
    key = models.CharField(max_length=64, help_text="Hash of options, spec choice and versions")
    model_version = models.CharField(max_length=20)
    data_version = models.CharField(max_length=64)
    options = models.JSONField(help_text="Poll option ids, in the order of the model's classes")
    spec = models.JSONField(help_text="Dimensions, levels, interactions, area predictors, scales")
    parameters = models.BinaryField(help_text="Coefficients and posterior Cholesky factor (npz)")
    respondents = models.PositiveIntegerField()
    fit_seconds = models.FloatField()
    diagnostics = models.JSONField(default=dict, help_text="Evidence grid, iterations")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["question", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["question", "key"], name="pollmodelfit_unique_key")
        ]

    def __str__(self) -> str:
        return f"{self.question} model {self.model_version} ({self.respondents} respondents)"


class PollImport(models.Model):
    """An uploaded poll file being imported, off the request: the admin's confirmation creates it
    (202) and a Celery task (a thread in the embedded setup) checks and imports the file, storing
    its progress here for the status page to show."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        COMPLETED = "completed"
        FAILED = "failed"

    FINISHED = (Status.COMPLETED, Status.FAILED)

    token = models.CharField(max_length=32, help_text="The upload's folder in VAR_DIR/poll_uploads")
    file_name = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    stage = models.CharField(max_length=200, blank=True, help_text="What the import is doing")
    polls_total = models.PositiveIntegerField(default=0)
    polls_done = models.PositiveIntegerField(default=0)
    problems = models.JSONField(default=list, blank=True)
    summary = models.JSONField(
        default=list, blank=True, help_text="One line per imported poll: slug and row counts"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"import of {self.file_name or self.token} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED
