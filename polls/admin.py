from __future__ import annotations

import shutil
import uuid

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from polls.models import (
    Crosstab,
    MajorEvent,
    Option,
    Poll,
    PollImport,
    PollModelFit,
    Question,
    Respondent,
    Response,
)
from polls.selectors import poll_data_problems
from polls.services import poll_data_changed, poll_import_start
from polls.uploads import poll_uploads_expire, upload_check, upload_dir

PREVIEW_ROWS = 10
UPLOAD_DIR = upload_dir()


class QuestionInline(admin.TabularInline):
    model = Question
    extra = 0
    fields = ["code", "text", "topic_tags"]
    show_change_link = True


class OptionInline(admin.TabularInline):
    model = Option
    extra = 0
    fields = ["order", "code", "label", "ordinal_value"]


class CrosstabInline(admin.TabularInline):
    """Crosstabs are derived from the file on every import: shown, never edited by hand."""

    model = Crosstab
    extra = 0
    fields = ["dimension", "category", "option", "share", "n", "origin"]
    readonly_fields = fields
    can_delete = False
    ordering = ["dimension", "category", "option__order"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("option")

    def has_add_permission(self, request, obj=None):
        return False


class PollUploadForm(forms.Form):
    data_file = forms.FileField(label="CSV file")
    mapping_file = forms.FileField(label="Mapping file (YAML or JSON)")


@admin.register(Poll)
class PollAdmin(admin.ModelAdmin):
    list_display = [
        "slug", "title", "pollster", "country", "year", "field_start", "sample_size", "mode",
    ]  # fmt: skip
    list_filter = ["country", "year", "mode", "pollster"]
    search_fields = ["slug", "title", "pollster", "source"]
    date_hierarchy = "field_start"
    readonly_fields = ["data_problems", "imported_at", "data_changed_at"]
    inlines = [QuestionInline]

    @admin.display(description="Data checks")
    def data_problems(self, obj: Poll) -> str:
        if obj.pk is None:
            return "—"
        problems = poll_data_problems(obj)
        if not problems:
            return "No problems found."
        return format_html(
            "<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((p,) for p in problems))
        )

    def get_urls(self):
        return [
            path("upload/", self.admin_site.admin_view(self.upload_view), name="polls_poll_upload"),
            path(
                "upload/<int:import_id>/",
                self.admin_site.admin_view(self.upload_status_view),
                name="polls_poll_upload_status",
            ),
            *super().get_urls(),
        ]

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        """Upload a CSV and its mapping, preview and validate; import only a clean file, on confirm."""
        if not self.has_add_permission(request):
            return HttpResponse(status=403)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta,
                   "title": "Upload a poll file"}  # fmt: skip
        if request.method == "POST" and request.POST.get("token"):
            return self._upload_confirm(request, request.POST["token"], context)
        form = PollUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            poll_uploads_expire()
            token = uuid.uuid4().hex
            folder = UPLOAD_DIR / token
            folder.mkdir(parents=True)
            data_path, mapping_path = folder / "data.csv", folder / "mapping.txt"
            for upload, target in ((form.cleaned_data["data_file"], data_path),
                                   (form.cleaned_data["mapping_file"], mapping_path)):  # fmt: skip
                with target.open("wb") as out:
                    for chunk in upload.chunks():
                        out.write(chunk)
            (folder / "mapping_name").write_text(form.cleaned_data["mapping_file"].name)
            (folder / "file_name").write_text(form.cleaned_data["data_file"].name)
            preview, plans, problems = upload_check(folder)
            if problems:
                shutil.rmtree(folder, ignore_errors=True)
                token = None
            context.update(
                form=form, preview=preview, problems=problems, token=token,
                plans=plans, file_name=form.cleaned_data["data_file"].name,
            )  # fmt: skip
        else:
            context["form"] = form
        return TemplateResponse(request, "admin/polls/upload.html", context)

    def _upload_confirm(self, request: HttpRequest, token: str, context: dict) -> HttpResponse:
        """Hand the checked upload to a task (a large file takes minutes to import) and answer
        202 with the page that follows its progress."""
        folder = UPLOAD_DIR / token
        if not token.isalnum() or not folder.is_dir():
            messages.error(
                request, "That upload has expired or was already imported; upload again."
            )
            return HttpResponseRedirect(reverse("admin:polls_poll_upload"))
        pending = PollImport.objects.filter(token=token).exclude(status__in=PollImport.FINISHED)
        if pending.exists():  # confirmed twice: follow the import already under way
            return HttpResponseRedirect(
                reverse("admin:polls_poll_upload_status", args=[pending.first().id])
            )
        name_file = folder / "file_name"
        file_name = name_file.read_text() if name_file.exists() else ""
        job = poll_import_start(token=token, file_name=file_name, user=request.user)
        url = reverse("admin:polls_poll_upload_status", args=[job.id])
        response = self._status_page(request, job, context)
        response.status_code = 202
        response["Location"] = url
        return response

    def upload_status_view(self, request: HttpRequest, import_id: int) -> HttpResponse:
        if not self.has_add_permission(request):
            return HttpResponse(status=403)
        job = PollImport.objects.filter(id=import_id).first()
        if job is None:
            return HttpResponse(status=404)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta}
        return self._status_page(request, job, context)

    def _status_page(self, request: HttpRequest, job: PollImport, context: dict) -> HttpResponse:
        job.refresh_from_db()
        context.update(
            job=job,
            title=f"Importing {job.file_name or 'an uploaded file'}",
            status_url=reverse("admin:polls_poll_upload_status", args=[job.id]),
        )
        return TemplateResponse(request, "admin/polls/upload_status.html", context)


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    list_display = ["code", "poll", "text", "universe"]
    list_filter = ["poll__year", "poll__pollster"]
    search_fields = ["code", "text", "poll__title", "poll__slug"]
    list_select_related = ["poll"]
    inlines = [OptionInline, CrosstabInline]


@admin.register(PollModelFit)
class PollModelFitAdmin(admin.ModelAdmin):
    """Stored poll models: read-only (a fit is made by the first run or estimate that needs it;
    deleting one makes the next run fit it again)."""

    list_display = ["question", "model_version", "respondents", "fit_seconds", "created_at"]
    list_filter = ["model_version"]
    search_fields = ["question__code", "question__poll__slug"]
    exclude = ["parameters"]
    readonly_fields = [
        "question", "key", "model_version", "data_version", "options", "spec", "respondents",
        "fit_seconds", "diagnostics", "created_at",
    ]  # fmt: skip

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Option)
class OptionAdmin(admin.ModelAdmin):
    list_display = ["code", "label", "question", "order", "ordinal_value"]
    search_fields = ["code", "label", "question__text", "question__poll__slug"]
    list_select_related = ["question__poll"]
    raw_id_fields = ["question"]


@admin.register(Crosstab)
class CrosstabAdmin(admin.ModelAdmin):
    list_display = ["question", "dimension", "category", "option", "share", "n", "origin"]
    list_filter = ["dimension", "origin"]
    search_fields = ["question__code", "question__poll__slug", "category"]
    list_select_related = ["question__poll", "option"]
    raw_id_fields = ["question", "option"]


class _PollDataAdmin(admin.ModelAdmin):
    """Edits of respondents and answers change their poll's data: `poll_data_changed` says so, so
    what processes keep of its answers is read again."""

    poll_path: str = "poll_id"  # from the object to its poll's id, as a query path

    def _polls(self, queryset) -> set[int]:
        return set(queryset.values_list(self.poll_path, flat=True))

    def save_model(self, request, obj, form, change) -> None:
        # The poll it belonged to before the edit, and the one it belongs to after.
        before = self._polls(self.model.objects.filter(pk=obj.pk)) if change else set()
        super().save_model(request, obj, form, change)
        poll_data_changed(poll_ids=before | self._polls(self.model.objects.filter(pk=obj.pk)))

    def delete_model(self, request, obj) -> None:
        poll_data_changed(poll_ids=self._polls(self.model.objects.filter(pk=obj.pk)))
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset) -> None:
        poll_data_changed(poll_ids=self._polls(queryset))
        super().delete_queryset(request, queryset)


@admin.register(Respondent)
class RespondentAdmin(_PollDataAdmin):
    list_display = [
        "external_id", "poll", "weight", "age_min", "age_max", "sex", "race_ethnicity",
        "education", "income", "party", "state",
    ]  # fmt: skip
    list_filter = ["sex", "education", "party", "state"]
    search_fields = ["external_id", "poll__slug"]
    list_select_related = ["poll"]
    raw_id_fields = ["area", "poll"]


@admin.register(Response)
class ResponseAdmin(_PollDataAdmin):
    poll_path = "question__poll_id"

    list_display = ["respondent", "question", "option"]
    search_fields = ["respondent__external_id", "question__code"]
    list_select_related = ["respondent__poll", "question__poll", "option"]
    raw_id_fields = ["respondent", "question", "option"]


@admin.register(MajorEvent)
class MajorEventAdmin(admin.ModelAdmin):
    list_display = ["date", "title", "type", "source"]
    list_filter = ["type"]
    search_fields = ["title", "description", "source"]
    date_hierarchy = "date"


@admin.register(PollImport)
class PollImportAdmin(admin.ModelAdmin):
    """Uploaded files' imports, as the task recorded them: read-only."""

    list_display = [
        "created_at", "file_name", "created_by", "status", "polls_done", "polls_total", "stage",
    ]  # fmt: skip
    list_filter = ["status"]
    readonly_fields = [field.name for field in PollImport._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
