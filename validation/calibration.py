"""Calibration of predicted probabilities: a reliability table and the expected calibration error.

Every (held-out respondent, option) pair is one forecast: the method's predicted probability that
this respondent chose this option, and the outcome 1 when they did, 0 when not (the class-wise
reliability diagram of multi-class forecasts). Forecasts are grouped into equal-width bins of
predicted probability; a calibrated method's options predicted at 30 % are chosen about 30 % of
the time. Counts are unweighted: calibration is a property of each respondent's forecast, not of
the population the survey weights stand for.
"""

from __future__ import annotations

import numpy as np

BINS = 10
DEFINITION = (
    "every (held-out respondent, option) pair is one forecast: the predicted probability of the "
    "option and whether the respondent chose it. Forecasts fall in BINS equal-width bins of "
    "predicted probability ([0, 0.1), …, [0.9, 1.0]); each bin lists its count, the mean "
    "predicted probability and the observed frequency of the options chosen. The expected "
    "calibration error is Σ_bins (count / all forecasts) × |mean predicted − observed "
    "frequency| (0 is perfect; unweighted counts)"
)


def reliability_table(probabilities, answers, *, bins: int = BINS) -> dict:
    """Bin every (respondent, option) forecast by its predicted probability; return the table of
    non-empty bins and the expected calibration error.

    `probabilities` is respondents × options (rows sum to 1); `answers` the chosen option's
    position for each respondent."""
    probabilities = np.asarray(probabilities, dtype=float)
    answers = np.asarray(answers, dtype=int)
    if probabilities.ndim != 2 or len(probabilities) != len(answers):
        raise ValueError(
            "probabilities must be respondents × options with one answer per respondent; got "
            f"shape {probabilities.shape} and {len(answers)} answers."
        )
    if bins < 1:
        raise ValueError(f"bins must be at least 1, not {bins}.")
    n, k = probabilities.shape
    outcomes = np.zeros((n, k))
    outcomes[np.arange(n), answers] = 1.0
    p, y = probabilities.ravel(), outcomes.ravel()
    # Bin b holds [b/bins, (b+1)/bins); a probability of exactly 1 goes in the last bin.
    index = np.minimum((p * bins).astype(int), bins - 1)
    table = []
    ece = 0.0
    for b in range(bins):
        mask = index == b
        count = int(mask.sum())
        if count == 0:
            continue
        predicted, observed = float(p[mask].mean()), float(y[mask].mean())
        ece += count / len(p) * abs(predicted - observed)
        table.append(
            {
                "bin": [b / bins, (b + 1) / bins],
                "count": count,
                "mean_predicted": round(predicted, 6),
                "observed_frequency": round(observed, 6),
            }
        )
    return {"forecasts": len(p), "bins": table, "ece": round(ece, 6) if len(p) else None}
