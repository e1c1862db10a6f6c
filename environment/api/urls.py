from django.urls import path

from environment.api.views import AreaDetailView, AreaListView

urlpatterns = [
    path("areas/", AreaListView.as_view(), name="area-list"),
    path("areas/<slug:pk>/", AreaDetailView.as_view(), name="area-detail"),
]
