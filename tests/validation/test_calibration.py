from __future__ import annotations

import pytest

from tests.validation.test_holdout import cces_report  # noqa: F401  (the shared report fixture)
from validation.calibration import reliability_table

pytestmark = pytest.mark.django_db


def test_reliability_table_matches_hand_arithmetic():
    # Six forecasts: 0.8 (chosen), 0.2, 0.6, 0.4 (chosen), 0.3, 0.7 (chosen).
    table = reliability_table([[0.8, 0.2], [0.6, 0.4], [0.3, 0.7]], [0, 1, 1], bins=2)
    assert table["forecasts"] == 6
    low, high = table["bins"]
    assert low["bin"] == [0.0, 0.5] and low["count"] == 3
    assert low["mean_predicted"] == pytest.approx(0.3)
    assert low["observed_frequency"] == pytest.approx(1 / 3, abs=1e-6)
    assert high["bin"] == [0.5, 1.0] and high["count"] == 3
    assert high["mean_predicted"] == pytest.approx(0.7)
    assert high["observed_frequency"] == pytest.approx(2 / 3, abs=1e-6)
    # ECE = 3/6·|0.3 − 1/3| + 3/6·|0.7 − 2/3| = 1/30.
    assert table["ece"] == pytest.approx(1 / 30, abs=1e-6)


def test_ten_bins_put_each_forecast_in_its_own_bin_and_one_in_the_last():
    table = reliability_table([[0.8, 0.2], [0.6, 0.4], [0.3, 0.7], [1.0, 0.0]], [0, 1, 1, 0])
    counts = {tuple(b["bin"]): b["count"] for b in table["bins"]}
    assert counts[(0.0, 0.1)] == 1 and counts[(0.9, 1.0)] == 1  # the exact 0 and the exact 1
    # |p − y| of the six: 0.2, 0.2, 0.6, 0.6, 0.3, 0.3; the certain right forecast adds 0 twice.
    assert table["ece"] == pytest.approx(2.2 / 8, abs=1e-6)


def test_a_mismatched_answer_vector_is_refused_with_what_is_wrong():
    with pytest.raises(ValueError, match="one answer per respondent"):
        reliability_table([[0.5, 0.5]], [0, 1])


def test_every_method_of_a_holdout_carries_its_calibration(cces_report):  # noqa: F811
    m = cces_report.metrics
    assert set(m["calibration"]) == set(m["methods"])
    k = len(m["options"])
    for method, table in m["calibration"].items():
        assert table["forecasts"] == cces_report.n_test * k, method
        assert sum(b["count"] for b in table["bins"]) == table["forecasts"]
    # Every respondent chooses exactly one of k options, so the uniform 1/k is calibrated.
    uniform = m["calibration"]["uniform"]
    assert len(uniform["bins"]) == 1 and uniform["ece"] == pytest.approx(0, abs=1e-9)
    assert m["calibration"]["poll_model"]["ece"] < 0.05
    assert "expected calibration error" in m["definitions"]["calibration"]
