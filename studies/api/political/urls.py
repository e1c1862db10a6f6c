from django.urls import path

from studies.api.political.views import (
    PolicyAnalysisDetailView,
    PolicyAnalyzeEnvironmentalView,
    PolicyAnalyzeView,
)

urlpatterns = [
    path("political/analyze", PolicyAnalyzeView.as_view(), name="political-analyze"),
    path(
        "political/analyze-environmental",
        PolicyAnalyzeEnvironmentalView.as_view(),
        name="political-analyze-environmental",
    ),
    path(
        "political/analyses/<int:pk>/",
        PolicyAnalysisDetailView.as_view(),
        name="political-analysis-detail",
    ),
]
