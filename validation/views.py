"""The accuracy page: the accuracy report drawn on the server (no scripts, no CDN)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from validation.api.serializers import AccuracyReportQuerySerializer
from validation.selectors import validation_accuracy_report

TREND_WIDTH, TREND_HEIGHT = 640, 160


def _pct(value: float | None) -> float:
    """A share as a bar width in percent (none drawn as empty)."""
    return 0.0 if value is None else round(max(0.0, min(1.0, value)) * 100, 1)


def _trend_points(trend: list[dict]) -> str:
    """SVG polyline points of the daily accuracy on a 0–1 vertical scale."""
    points = [t for t in trend if t["accuracy"] is not None]
    if not points:
        return ""
    step = TREND_WIDTH / max(len(points) - 1, 1)
    return " ".join(
        f"{i * step:.1f},{TREND_HEIGHT * (1 - t['accuracy']):.1f}" for i, t in enumerate(points)
    )


@login_required
def accuracy_page(request):
    query = AccuracyReportQuerySerializer(data=request.GET)
    error = ""
    if query.is_valid():
        days = query.validated_data["days"]
    else:
        days = 30
        error = f"days: {query.errors['days'][0]} Showing the last 30 days."
    report = validation_accuracy_report(days=days, user=request.user)
    context = {
        "report": report,
        "days": days,
        "error": error,
        "trend_points": _trend_points(report["accuracy_trend"]),
        "trend_width": TREND_WIDTH,
        "trend_height": TREND_HEIGHT,
        "trend": [{**t, "pct": _pct(t["accuracy"])} for t in report["accuracy_trend"]],
        "topics": [
            {"topic": k, **v, "pct": _pct(v["accuracy"])}
            for k, v in report["accuracy_by_topic"].items()
        ],
        "backends": [
            {"method": k, **v, "pct": _pct(v["accuracy"]), "coverage_pct": _pct(v["coverage"])}
            for k, v in report["accuracy_by_backend"].items()
        ],
        "calibration": [
            {
                "method": method,
                "ece": table["ece"],
                "forecasts": table["forecasts"],
                "bins": [
                    {
                        **b,
                        "predicted_pct": _pct(b["mean_predicted"]),
                        "observed_pct": _pct(b["observed_frequency"]),
                    }
                    for b in table["bins"]
                ],
            }
            for method, table in report["calibration"].items()
        ],
    }
    return render(request, "pages/accuracy.html", context)
