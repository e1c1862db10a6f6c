"""The ten behavioural characteristics, drawn conditional on a persona's demographics.

Seven are estimated from real surveys (see ``sources``), three are stated assumptions. Draws are
conditionally independent given the keys named for each characteristic, except that political
ideology and environmental concern are drawn given the persona's drawn party identification, which is
how the General Social Survey lets them be estimated jointly.
"""

from __future__ import annotations

import functools
from typing import Final

import numpy as np
import pandas as pd
from scipy.special import ndtr

from personas.profile import sources
from personas.profile.conditional import (
    ConditionalTable,
    draw_by_cell,
    estimate,
    level_codes,
    shift_values,
)

BEHAVIOURAL_CHARACTERISTICS: Final = (
    "media_consumption",
    "risk_tolerance",
    "spending_style",
    "civic_engagement",
    "trust_in_institutions",
    "political_ideology",
    "party_identification",
    "religiosity",
    "social_connectedness",
    "environmental_concern",
)

MEDIA_DAYS: Final = tuple(str(d) for d in range(8))  # ANES 1996 TVnews: days a week, 0–7
CIVIC_ENGAGEMENT: Final = (  # ANES polint 1–4
    "hardly_at_all",
    "only_now_and_then",
    "some_of_the_time",
    "most_of_the_time",
)
TRUST: Final = (  # ANES distrust_govt 1–4 (trust the federal government to do what is right …)
    "just_about_always",
    "most_of_the_time",
    "some_of_the_time",
    "never",
)
IDEOLOGY: Final = (  # GSS polviews 1–7
    "extremely_liberal",
    "liberal",
    "slightly_liberal",
    "moderate",
    "slightly_conservative",
    "conservative",
    "extremely_conservative",
)
RELIGIOSITY: Final = tuple(str(v) for v in range(1, 11))  # WVS: importance of God, 1–10
ENVIRONMENTAL_CONCERN: Final = (
    "low",
    "moderate",
    "high",
)  # GSS natenvir: too much/right/too little
RISK_TOLERANCE: Final = ("very_low", "low", "moderate", "high", "very_high")
SPENDING_STYLE: Final = ("saver", "balanced", "spender")
SOCIAL_CONNECTEDNESS: Final = ("isolated", "somewhat_connected", "connected", "very_connected")

_EDUCATION: Final = sources.EDUCATION_CODES
_PARTIES: Final = sources.PARTY_CODES


# ----------------------------------------------------------------------------- estimated tables
@functools.lru_cache(maxsize=1)
def media_table() -> ConditionalTable:
    return estimate(
        sources.anes96(),
        keys=("age_bracket", "education"),
        levels=(sources.AGE_BRACKET_CODES, _EDUCATION),
        outcome="tv_news_days",
        outcomes=MEDIA_DAYS,
    )


@functools.lru_cache(maxsize=1)
def civic_table() -> ConditionalTable:
    return estimate(
        sources.anes_cumulative(),
        keys=("age_bracket", "education", "anes_race"),
        levels=(sources.AGE_BRACKET_CODES, _EDUCATION, tuple(sources.ANES_RACE.values())),
        outcome="polint",
        outcomes=("1", "2", "3", "4"),
    )


@functools.lru_cache(maxsize=1)
def trust_table() -> ConditionalTable:
    return estimate(
        sources.anes_cumulative(),
        keys=("age_bracket", "education", "anes_race"),
        levels=(sources.AGE_BRACKET_CODES, _EDUCATION, tuple(sources.ANES_RACE.values())),
        outcome="distrust_govt",
        outcomes=("1", "2", "3", "4"),
    )


_CCES_KEYS: Final = ("cces_race", "sex", "cces_age", "education")
_CCES_LEVELS: Final = (
    tuple(sources.CCES_RACE.values()),
    sources.SEX_CODES,
    sources.CCES_AGE,
    _EDUCATION,
)


@functools.lru_cache(maxsize=1)
def party_table() -> ConditionalTable:
    """P(party | race, sex, age group, education, state) from CCES 2018, state shrunk last."""
    data = sources.cces2018()
    states = tuple(sorted(data["state"].dropna().unique()))
    return estimate(
        data,
        keys=(*_CCES_KEYS, "state"),
        levels=(*_CCES_LEVELS, states),
        outcome="party",
        outcomes=_PARTIES,
    )


@functools.lru_cache(maxsize=1)
def party_table_without_state() -> ConditionalTable:
    """The same model one level up, for personas whose state the extract does not cover."""
    return estimate(
        sources.cces2018(), keys=_CCES_KEYS, levels=_CCES_LEVELS, outcome="party", outcomes=_PARTIES
    )


@functools.lru_cache(maxsize=1)
def party_income_table() -> ConditionalTable:
    """P(party | income band) from ANES 1996: the income effect the CCES extract cannot show."""
    return estimate(
        sources.anes96(),
        keys=("income",),
        levels=(sources.INCOME_CODES,),
        outcome="party",
        outcomes=_PARTIES,
    )


def party_income_ratios() -> np.ndarray:
    """(income bands, parties) likelihood ratios P(party | income) / P(party), from ANES 1996."""
    table = party_income_table()
    data = sources.anes96().dropna(subset=["party"])
    overall = data["party"].value_counts(normalize=True).reindex(_PARTIES).to_numpy()
    return table.probabilities / overall


@functools.lru_cache(maxsize=1)
def ideology_table() -> ConditionalTable:
    return estimate(
        sources.gss2018(),
        keys=("party", "age_bracket", "education"),
        levels=(_PARTIES, sources.AGE_BRACKET_CODES, _EDUCATION),
        outcome="polviews",
        outcomes=tuple(str(v) for v in range(1, 8)),
    )


@functools.lru_cache(maxsize=1)
def environment_table() -> ConditionalTable:
    return estimate(
        sources.gss2018(),
        keys=("party", "age_bracket", "education"),
        levels=(_PARTIES, sources.AGE_BRACKET_CODES, _EDUCATION),
        outcome="natenvir",
        outcomes=ENVIRONMENTAL_CONCERN,
    )


@functools.lru_cache(maxsize=1)
def religiosity_table() -> ConditionalTable:
    return estimate(
        sources.wvs_usa(),
        keys=("sex", "age_bracket", "college"),
        levels=(sources.SEX_CODES, sources.AGE_BRACKET_CODES, ("no", "yes")),
        outcome="god_important",
        outcomes=RELIGIOSITY,
    )


# ----------------------------------------------------------------------------- assumptions
# ASSUMPTION (no bundled survey measures these three). Each persona gets a latent standard-normal
# score plus the shifts below (in standard deviations), cut at the standard-normal quantiles that
# would split an unshifted population evenly over the levels. So with every shift at zero the levels
# are uniform; the shifts only encode the direction of commonly described gradients, and their sizes
# are judgement, not estimates.
RISK_TOLERANCE_SHIFTS: Final = {
    "age_bracket": {
        "18_24": 0.4,
        "25_34": 0.3,
        "35_44": 0.1,
        "45_54": -0.1,
        "55_64": -0.3,
        "65_plus": -0.5,
    },
    "sex": {"female": -0.1, "male": 0.1},
    "income": {
        "lt_25k": -0.2,
        "25_50k": -0.1,
        "50_75k": 0.0,
        "75_100k": 0.1,
        "100_150k": 0.2,
        "150k_plus": 0.3,
    },
}
SPENDING_STYLE_SHIFTS: Final = {  # positive = toward "spender"
    "age_bracket": {
        "18_24": 0.3,
        "25_34": 0.2,
        "35_44": 0.1,
        "45_54": 0.0,
        "55_64": -0.1,
        "65_plus": -0.2,
    },
    "income": {
        "lt_25k": -0.3,
        "25_50k": -0.1,
        "50_75k": 0.0,
        "75_100k": 0.1,
        "100_150k": 0.2,
        "150k_plus": 0.3,
    },
}
SOCIAL_CONNECTEDNESS_SHIFTS: Final = {  # positive = more connected
    "age_bracket": {
        "18_24": 0.1,
        "25_34": 0.1,
        "35_44": 0.0,
        "45_54": 0.0,
        "55_64": -0.1,
        "65_plus": -0.2,
    },
    "education": {
        "lt_hs": -0.2,
        "hs": -0.1,
        "some_college": 0.0,
        "bachelors": 0.1,
        "graduate": 0.2,
    },
    # Plus the persona's Big Five extraversion (drawn from real data), as a z-score against the bfi
    # sample, at half weight: outgoing people are assumed better connected.
}
EXTRAVERSION_WEIGHT: Final = 0.5


def _latent_levels(
    demographics: pd.DataFrame,
    shifts: dict[str, dict[str, float]],
    levels: tuple[str, ...],
    rng: np.random.Generator,
    extra: np.ndarray | None = None,
) -> pd.Categorical:
    score = rng.standard_normal(len(demographics))
    for column, table in shifts.items():
        score += shift_values(demographics[column], table)
    if extra is not None:
        score += extra
    # Cut points: standard-normal quantiles at i / len(levels); ndtr maps a score to its quantile.
    index = np.minimum((ndtr(score) * len(levels)).astype(np.int64), len(levels) - 1)
    return pd.Categorical.from_codes(index, categories=list(levels))


# ----------------------------------------------------------------------------- the draw
def _categorical(values: np.ndarray, levels: tuple[str, ...]) -> pd.Categorical:
    return pd.Categorical.from_codes(values, categories=list(levels))


def _grouped(values: pd.Series, groups: dict[str, str], levels: tuple[str, ...]) -> pd.Series:
    """Recode a categorical column into a coarser survey grouping, through its categories only."""
    categorical = values.astype("category")
    mapped = [groups.get(c, c) for c in categorical.cat.categories]
    codes = np.array([levels.index(m) for m in mapped], dtype=np.int64)[
        categorical.cat.codes.to_numpy()
    ]
    return pd.Series(pd.Categorical.from_codes(codes, categories=list(levels)), name=values.name)


@functools.lru_cache(maxsize=1)
def party_cell_table() -> tuple[np.ndarray, tuple[str, ...]]:
    """(cells × income bands, parties) shares: the CCES cell tilted by ANES 1996's income ratios.

    The last block of cells (state index = number of covered states) holds the model without state,
    for personas whose state the CCES extract does not cover.
    """
    with_state = party_table()
    without = party_table_without_state().probabilities
    k = len(_PARTIES)
    combined = np.concatenate([with_state.probabilities, without[..., None, :]], axis=-2)
    ratios = party_income_ratios()  # (income, k)
    tilted = combined[..., None, :] * ratios  # (..., states + 1, income, k)
    tilted /= tilted.sum(axis=-1, keepdims=True)
    return tilted.reshape(-1, k), with_state.levels[-1]


def party_draw(keys: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    table, states = party_cell_table()
    index = np.zeros(len(keys), dtype=np.int64)
    for key, levels in zip(_CCES_KEYS, _CCES_LEVELS, strict=True):
        index = index * len(levels) + level_codes(keys[key], levels)
    state = pd.Index(list(states)).get_indexer(keys["state"]).astype(np.int64)
    state[state < 0] = len(states)  # not covered: the model without state
    index = index * (len(states) + 1) + state
    index = index * len(sources.INCOME_CODES) + level_codes(keys["income"], sources.INCOME_CODES)
    return draw_by_cell(table, index, rng)


def behaviour_draw(
    demographics: pd.DataFrame,
    *,
    rng: np.random.Generator,
    extraversion_z: np.ndarray | None = None,
) -> pd.DataFrame:
    """The ten characteristics for every row of ``demographics`` (platform codes; categorical
    columns are fastest)."""
    n = len(demographics)
    race = demographics["race_ethnicity"]
    keys = pd.DataFrame(
        {
            "age_bracket": demographics["age_bracket"],
            "sex": demographics["sex"],
            "education": demographics["education"],
            "income": demographics["income"],
            "state": demographics["state"] if "state" in demographics else pd.Series([None] * n),
            "cces_age": pd.Categorical(
                sources.cces_age_group(demographics["age"].to_numpy()), categories=sources.CCES_AGE
            ),
            "cces_race": _grouped(race, {"asian": "other"}, tuple(sources.CCES_RACE.values())),
            "anes_race": _grouped(race, {"asian": "other"}, tuple(sources.ANES_RACE.values())),
            "college": _grouped(
                demographics["education"],
                {
                    "lt_hs": "no",
                    "hs": "no",
                    "some_college": "no",
                    "bachelors": "yes",
                    "graduate": "yes",
                },
                ("no", "yes"),
            ),
        }
    )
    out: dict[str, object] = {}
    party = party_draw(keys, rng)
    out["party_identification"] = _categorical(party, _PARTIES)
    keys["party"] = pd.Categorical.from_codes(party, categories=list(_PARTIES))

    out["media_consumption"] = media_table().draw(keys, rng).astype(np.int8)
    out["civic_engagement"] = _categorical(civic_table().draw(keys, rng), CIVIC_ENGAGEMENT)
    out["trust_in_institutions"] = _categorical(trust_table().draw(keys, rng), TRUST)
    out["political_ideology"] = _categorical(ideology_table().draw(keys, rng), IDEOLOGY)
    out["environmental_concern"] = _categorical(
        environment_table().draw(keys, rng), ENVIRONMENTAL_CONCERN
    )
    out["religiosity"] = (religiosity_table().draw(keys, rng) + 1).astype(np.int8)
    out["risk_tolerance"] = _latent_levels(keys, RISK_TOLERANCE_SHIFTS, RISK_TOLERANCE, rng)
    out["spending_style"] = _latent_levels(keys, SPENDING_STYLE_SHIFTS, SPENDING_STYLE, rng)
    social_extra = (
        None if extraversion_z is None else EXTRAVERSION_WEIGHT * np.asarray(extraversion_z)
    )
    out["social_connectedness"] = _latent_levels(
        keys, SOCIAL_CONNECTEDNESS_SHIFTS, SOCIAL_CONNECTEDNESS, rng, social_extra
    )
    return pd.DataFrame({name: out[name] for name in BEHAVIOURAL_CHARACTERISTICS})
