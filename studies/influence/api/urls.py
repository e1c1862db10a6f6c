from django.urls import path

from studies.influence.api.views import SimulateView, SimulationDetailView

urlpatterns = [
    path("multi-agent/simulate", SimulateView.as_view(), name="multi-agent-simulate"),
    path(
        "multi-agent/simulations/<int:pk>/",
        SimulationDetailView.as_view(),
        name="multi-agent-simulation-detail",
    ),
]
