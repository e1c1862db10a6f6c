from django.urls import path

from personas.api.views import (
    PersonaDetailView,
    PersonaListView,
    PoolImportView,
    PopulationCreateView,
    PopulationDetailView,
    PopulationExportView,
)

urlpatterns = [
    path("populations/", PopulationCreateView.as_view(), name="population-create"),
    path("populations/import/", PoolImportView.as_view(), name="population-import"),
    path("populations/<int:pk>/", PopulationDetailView.as_view(), name="population-detail"),
    path("populations/<int:pk>/personas/", PersonaListView.as_view(), name="persona-list"),
    path("populations/<int:pk>/export/", PopulationExportView.as_view(), name="population-export"),
    path("personas/<int:pk>/", PersonaDetailView.as_view(), name="persona-detail"),
]
