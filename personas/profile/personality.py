"""Big Five personality scores conditional on age, sex and education, from psych::bfi.

Sample: 2,800 participants of the SAPA web-based personality project (self-selected online
volunteers, mostly young; not representative of the US population), of whom the adults with a known
education are used. Scale scores are item means rescaled to 0–100 (see ``sources.bfi_scores``).

Model: the five scores jointly regressed (ordinary least squares) on age (linear), sex and education
dummies; a persona's scores are its cell mean plus a draw from the multivariate normal with the
residual covariance, so the correlations between traits in the data survive; then clipped to
[0, 100]. The sample holds few older adults (about 80 aged 55 and over), so ages above its 99th
percentile are treated as that age rather than extrapolating a trend far past the data; a curved age
term was tried and rejected because it swings wildly beyond the ages it was fitted on.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from personas.profile import sources


@dataclass(frozen=True)
class BigFiveModel:
    coefficients: np.ndarray  # (design columns, 5)
    residual_covariance: np.ndarray  # (5, 5)
    mean_age: float
    age_cap: float  # the sample's 99th percentile of age
    sample_mean: np.ndarray  # (5,) for z-scores
    sample_sd: np.ndarray  # (5,)
    respondents: int


def _design(age: np.ndarray, sex: pd.Series, education: pd.Series, mean_age: float) -> np.ndarray:
    centred = (age - mean_age) / 10.0
    columns = [np.ones(len(age)), centred, (sex == "male").to_numpy(float)]
    # lt_hs is the reference level.
    columns += [(education == code).to_numpy(float) for code in sources.EDUCATION_CODES[1:]]
    return np.column_stack(columns)


@functools.lru_cache(maxsize=1)
def big_five_model() -> BigFiveModel:
    data = sources.bfi_scores()
    age_cap = float(np.percentile(data["age"], 99))
    age = np.minimum(data["age"].to_numpy(float), age_cap)
    mean_age = float(age.mean())
    x = _design(age, data["sex"], data["education"], mean_age)
    y = data[list(sources.BIG_FIVE)].to_numpy(float)
    coefficients, *_ = np.linalg.lstsq(x, y, rcond=None)
    residuals = y - x @ coefficients
    covariance = residuals.T @ residuals / (len(y) - x.shape[1])
    return BigFiveModel(
        coefficients=coefficients,
        residual_covariance=covariance,
        mean_age=mean_age,
        age_cap=age_cap,
        sample_mean=y.mean(axis=0),
        sample_sd=y.std(axis=0, ddof=1),
        respondents=len(y),
    )


def big_five_draw(demographics: pd.DataFrame, *, rng: np.random.Generator) -> pd.DataFrame:
    """Five 0–100 scores per persona (openness, conscientiousness, extraversion, agreeableness,
    neuroticism)."""
    model = big_five_model()
    age = np.minimum(demographics["age"].to_numpy(float), model.age_cap)
    x = _design(age, demographics["sex"], demographics["education"], model.mean_age)
    chol = np.linalg.cholesky(model.residual_covariance)
    noise = rng.standard_normal((len(demographics), len(sources.BIG_FIVE))) @ chol.T
    scores = np.clip(x @ model.coefficients + noise, 0.0, 100.0)
    return pd.DataFrame(np.round(scores, 1), columns=list(sources.BIG_FIVE))
