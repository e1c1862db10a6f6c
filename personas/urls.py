from django.urls import path

from personas import views

urlpatterns = [
    path("populations/<int:population_id>/", views.population_page, name="population-page"),
]
