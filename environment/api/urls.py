from django.urls import path, re_path

from environment.api.views import AreaDetailView, AreaListView, EnvironmentalContextView

urlpatterns = [
    path("areas/", AreaListView.as_view(), name="area-list"),
    path("areas/<slug:pk>/", AreaDetailView.as_view(), name="area-detail"),
    # The trailing slash is optional so clients need not follow a redirect.
    re_path(
        r"^environmental/context/(?P<area_id>[-a-zA-Z0-9_]+)/?$",
        EnvironmentalContextView.as_view(),
        name="environmental-context",
    ),
]
