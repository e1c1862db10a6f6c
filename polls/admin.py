from django.contrib import admin

from polls.models import Option, Poll, Question, Respondent, Response


class QuestionInline(admin.TabularInline):
    model = Question
    extra = 0
    fields = ["code", "text", "topic_tags"]
    show_change_link = True


class OptionInline(admin.TabularInline):
    model = Option
    extra = 0
    fields = ["order", "code", "label", "ordinal_value"]


@admin.register(Poll)
class PollAdmin(admin.ModelAdmin):
    list_display = ["slug", "title", "pollster", "year", "sample_size", "mode", "imported_at"]
    list_filter = ["year", "mode", "pollster"]
    search_fields = ["slug", "title", "pollster", "source"]
    inlines = [QuestionInline]


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    list_display = ["code", "poll", "text"]
    list_filter = ["poll"]
    search_fields = ["code", "text", "poll__title"]
    list_select_related = ["poll"]
    inlines = [OptionInline]


@admin.register(Option)
class OptionAdmin(admin.ModelAdmin):
    list_display = ["code", "label", "question", "order", "ordinal_value"]
    list_filter = ["question__poll"]
    search_fields = ["code", "label", "question__text"]
    list_select_related = ["question"]


@admin.register(Respondent)
class RespondentAdmin(admin.ModelAdmin):
    list_display = [
        "external_id",
        "poll",
        "weight",
        "age_min",
        "age_max",
        "sex",
        "race_ethnicity",
        "education",
        "income",
        "party",
        "state",
    ]
    list_filter = ["poll", "sex", "education", "party", "state"]
    search_fields = ["external_id", "poll__slug"]
    list_select_related = ["poll"]
    raw_id_fields = ["area"]


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = ["respondent", "question", "option"]
    list_filter = ["question__poll", "question"]
    search_fields = ["respondent__external_id", "question__code"]
    list_select_related = ["respondent__poll", "question__poll", "option"]
    raw_id_fields = ["respondent", "question", "option"]
