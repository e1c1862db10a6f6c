from django.urls import path

from personas.api.views import PopulationCreateView, PopulationDetailView

urlpatterns = [
    path("populations/", PopulationCreateView.as_view(), name="population-create"),
    path("populations/<int:pk>/", PopulationDetailView.as_view(), name="population-detail"),
]
