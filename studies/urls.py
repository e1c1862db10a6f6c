from django.urls import path

from studies import views

urlpatterns = [
    # "/" is the study form too: the login lands there, and scripts post to it.
    path("", views.study_new, name="home"),
    path("studies/", views.studies_page, name="studies-page"),
    path("studies/new/", views.study_new, name="study-new"),
    path("studies/<int:study_id>/", views.study_page, name="study-page"),
    path("studies/<int:study_id>/run/", views.study_run_again, name="study-run-again"),
    path("populations/", views.populations_page, name="populations-page"),
    path(
        "populations/<int:population_id>/held-runs/<int:held_run_id>/start/",
        views.population_held_run_start,
        name="population-held-run-start",
    ),
    path(
        "populations/<int:population_id>/held-runs/<int:held_run_id>/cancel/",
        views.population_held_run_cancel,
        name="population-held-run-cancel",
    ),
    path(
        "populations/<int:population_id>/held-runs/<int:held_run_id>/retry/",
        views.population_held_run_retry,
        name="population-held-run-retry",
    ),
    path("runs/", views.runs_page, name="runs-page"),
    path("runs/<int:run_id>/", views.run_page, name="run-page"),
    path("runs/<int:run_id>/charts/", views.run_charts, name="run-charts"),
    path("runs/compare/", views.run_compare, name="run-compare"),
]
