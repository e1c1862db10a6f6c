"""A persona's full profile, drawn for a whole population at once from its demographics.

``profile_draw(demographics, rng=...)`` takes one row per persona (age, age_bracket, sex,
race_ethnicity, education, income, state — platform codes from environment/categories.py) and returns
one row per persona with every column in ``PROFILE_FIELDS``:

* ten behavioural characteristics (``behaviour``): media_consumption, risk_tolerance, spending_style,
  civic_engagement, trust_in_institutions, political_ideology, party_identification, religiosity,
  social_connectedness, environmental_concern — seven estimated from real surveys (ANES, CCES, GSS,
  WVS), three stated assumptions;
* Big Five personality scores 0–100 (``personality``, from psych::bfi);
* employment status and occupation group (``occupation``, from GSS 2004–2018);
* a technology profile (``tech``, a stated assumption);
* a name (``naming``, from 1990 Census name files and Census 2010 / Tzioumis race shares).

All draws are vectorized and reproducible for a given generator state. README.md in this folder names
every characteristic, its conditional model and its source.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from environment.categories import DIMENSIONS
from personas.profile.behaviour import BEHAVIOURAL_CHARACTERISTICS, behaviour_draw
from personas.profile.fields import FIELDS_BY_NAME, PROFILE_COLUMNS, PROFILE_FIELDS, ProfileField
from personas.profile.naming import name_draw
from personas.profile.occupation import occupation_draw
from personas.profile.personality import big_five_draw, big_five_model
from personas.profile.sources import BIG_FIVE
from personas.profile.tech import tech_draw

__all__ = [
    "BEHAVIOURAL_CHARACTERISTICS",
    "BIG_FIVE",
    "FIELDS_BY_NAME",
    "PROFILE_COLUMNS",
    "PROFILE_FIELDS",
    "REQUIRED_COLUMNS",
    "ProfileField",
    "profile_draw",
]

REQUIRED_COLUMNS = ("age", "age_bracket", "sex", "race_ethnicity", "education", "income")


def _coded(demographics: pd.DataFrame) -> pd.DataFrame:
    """The demographics with every code column categorical (validated once, compared fast)."""
    frame = demographics.reset_index(drop=True)
    columns: dict[str, object] = {"age": frame["age"].to_numpy()}
    for dimension in ("age_bracket", "sex", "race_ethnicity", "education", "income"):
        levels = list(DIMENSIONS[dimension])
        codes = pd.Index(levels).get_indexer(frame[dimension])
        if (codes < 0).any():
            row = int(np.flatnonzero(codes < 0)[0])
            raise ValueError(
                f"row {row}: {dimension} {frame[dimension].iloc[row]!r} is not one of {', '.join(levels)}"
            )
        columns[dimension] = pd.Categorical.from_codes(codes, categories=levels)
    if "state" in frame:
        columns["state"] = pd.Categorical(frame["state"])
    return pd.DataFrame(columns)


def profile_draw(demographics: pd.DataFrame, *, rng: np.random.Generator) -> pd.DataFrame:
    """The full profile of every persona in ``demographics``, in the same order and index.

    ``state`` (USPS code) is optional: without it, or for a state the party data do not cover, party
    identification is drawn without the state level.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in demographics.columns]
    if missing:
        raise ValueError(f"demographics lack column(s): {', '.join(missing)}")
    frame = _coded(demographics)
    # The order of the steps fixes how the generator's stream is consumed: keep it stable.
    big_five = big_five_draw(frame, rng=rng)
    model = big_five_model()
    extraversion_index = BIG_FIVE.index("extraversion")
    extraversion_z = (
        big_five["extraversion"].to_numpy() - model.sample_mean[extraversion_index]
    ) / model.sample_sd[extraversion_index]
    behaviour = behaviour_draw(frame, rng=rng, extraversion_z=extraversion_z)
    work = occupation_draw(frame, rng=rng)
    occupation_or_status = np.where(
        work["occupation"] == "none", work["employment_status"], work["occupation"]
    )
    tech = tech_draw(
        pd.DataFrame(
            {
                "age_bracket": frame["age_bracket"].to_numpy(),
                "education": frame["education"].to_numpy(),
                "occupation": occupation_or_status,
            }
        ),
        rng=rng,
    )
    names = name_draw(frame, rng=rng)
    result = pd.concat([behaviour, big_five, work, tech, names], axis=1)
    result.index = demographics.index
    return result[list(PROFILE_COLUMNS)]
