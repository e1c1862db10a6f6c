from django.urls import path

from studies import views

urlpatterns = [
    path("", views.home, name="home"),
    path("runs/<int:run_id>/", views.run_page, name="run-page"),
    path("runs/<int:run_id>/charts/", views.run_charts, name="run-charts"),
    path("runs/compare/", views.run_compare, name="run-compare"),
]
