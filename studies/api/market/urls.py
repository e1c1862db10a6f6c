from django.urls import path

from studies.api.market.views import MarketAnalysisDetailView, MarketAnalyzeEnvironmentalView

urlpatterns = [
    path(
        "market/analyze-environmental",
        MarketAnalyzeEnvironmentalView.as_view(),
        name="market-analyze-environmental",
    ),
    path("market/analyses/<int:pk>/", MarketAnalysisDetailView.as_view(), name="market-analysis"),
]
