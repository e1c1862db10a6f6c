"""Area-level validation: the official-results arithmetic, checked on figures made here."""

from __future__ import annotations

import numpy as np
import pytest

from validation.area import official_comparison


def test_official_comparison_reports_error_bias_and_correlation_per_area():
    estimates = {"A": 0.50, "B": 0.40, "C": 0.62, "D": 0.55}
    official = {"A": 0.48, "B": 0.45, "C": 0.60, "E": 0.30}
    report = official_comparison(estimates, official)
    errors = {r["area"]: r["error"] for r in report["areas"]}
    assert errors == pytest.approx({"A": 2.0, "B": -5.0, "C": 2.0})
    assert report["areas_compared"] == 3
    assert report["mae_points"] == pytest.approx(3.0)
    assert report["bias_points"] == pytest.approx(-1 / 3)
    est, obs = np.array([50, 40, 62]), np.array([48, 45, 60])
    assert report["pearson_r"] == pytest.approx(np.corrcoef(est, obs)[0, 1])
    assert report["slope"] == pytest.approx(np.polyfit(obs, est, 1)[0])


def test_official_comparison_with_no_common_area_says_so():
    with pytest.raises(ValueError, match="no area has both"):
        official_comparison({"A": 0.5}, {"B": 0.5})


def test_a_constant_estimate_has_no_correlation():
    report = official_comparison({"A": 0.5, "B": 0.5, "C": 0.5}, {"A": 0.4, "B": 0.5, "C": 0.6})
    assert report["pearson_r"] is None
