"""Technology profile: proficiency, devices, apps and attitude toward technology.

ASSUMPTION, throughout: no survey bundled offline measures technology use with the platform's
demographics, so every number in this module is a stated judgement, not an estimate. The rules only
encode directions (younger, more educated and professional personas are more proficient; more
proficient personas own more devices and use more kinds of apps); replace them with estimates when a
real source (e.g. Pew Research Center internet surveys) is added to the project's data.

Proficiency: a latent standard-normal score plus the shifts below (in standard deviations), cut at
the standard-normal quantiles 10/30/70/90% — so a population with every shift at zero would be
10% novice, 20% beginner, 40% intermediate, 20% advanced, 10% expert. Devices and apps: each drawn
independently with the probability the tables give for the persona's proficiency level. Attitude:
the proficiency score plus fresh noise, cut into quartiles.

Level names are seed 004's (§3.1, §6.4): novice, beginner, intermediate, advanced, expert. Personas
drawn before the seed's names were adopted say "basic" for the second level; "basic" stays an
accepted value (pools exported from them import unchanged) and is an alias, read as "beginner" by
`proficiency_level` wherever a level is looked up (the persona engine's episode table).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd
from scipy.special import ndtri

from personas.profile.conditional import shift_values

# The levels drawn, lowest first (seed 004's names).
PROFICIENCY_LEVELS: Final = ("novice", "beginner", "intermediate", "advanced", "expert")
# Earlier names of a level, still accepted in profiles and pools.
PROFICIENCY_ALIASES: Final = {"basic": "beginner"}
# Every value a profile may hold (a pool's rows are checked against it).
PROFICIENCY: Final = (*PROFICIENCY_LEVELS, *PROFICIENCY_ALIASES)
ATTITUDE: Final = ("skeptical", "cautious", "pragmatic", "enthusiastic")

# Assumption: split of an unshifted population over the proficiency levels.
PROFICIENCY_CUTS: Final = ndtri(np.array([0.1, 0.3, 0.7, 0.9]))
PROFICIENCY_SHIFTS: Final = {
    "age_bracket": {
        "18_24": 0.6,
        "25_34": 0.5,
        "35_44": 0.3,
        "45_54": 0.0,
        "55_64": -0.4,
        "65_plus": -0.9,
    },
    "education": {
        "lt_hs": -0.6,
        "hs": -0.3,
        "some_college": 0.0,
        "bachelors": 0.3,
        "graduate": 0.4,
    },
    "occupation": {
        "professional": 0.4,
        "business_finance": 0.3,
        "office_administrative": 0.2,
        "sales": 0.1,
        "student": 0.3,
    },
}

# Assumption: P(owns device | proficiency level), levels in PROFICIENCY_LEVELS order.
DEVICE_PROBABILITIES: Final = {
    "smartphone": (0.70, 0.85, 0.95, 0.98, 0.99),
    "laptop": (0.25, 0.50, 0.75, 0.90, 0.95),
    "desktop": (0.20, 0.30, 0.35, 0.45, 0.60),
    "tablet": (0.20, 0.35, 0.50, 0.55, 0.60),
    "smartwatch": (0.03, 0.10, 0.25, 0.40, 0.50),
    "smart_speaker": (0.05, 0.15, 0.30, 0.40, 0.50),
    "game_console": (0.05, 0.15, 0.30, 0.40, 0.45),
}
# Assumption: P(uses app kind | proficiency level).
APP_PROBABILITIES: Final = {
    "email": (0.60, 0.85, 0.95, 0.98, 0.99),
    "messaging": (0.60, 0.80, 0.90, 0.95, 0.97),
    "social_media": (0.35, 0.60, 0.75, 0.80, 0.80),
    "video_streaming": (0.30, 0.55, 0.75, 0.85, 0.90),
    "online_banking": (0.20, 0.50, 0.75, 0.85, 0.90),
    "online_shopping": (0.25, 0.55, 0.80, 0.90, 0.92),
    "news": (0.30, 0.45, 0.55, 0.65, 0.70),
    "ride_hailing": (0.05, 0.15, 0.35, 0.50, 0.60),
    "productivity_suite": (0.05, 0.20, 0.45, 0.70, 0.85),
    "developer_tools": (0.00, 0.01, 0.05, 0.20, 0.50),
}


def proficiency_level(value: str | None) -> str | None:
    """The seed's name of a proficiency level ("basic" -> "beginner"); None for no value. An
    unknown value raises ValueError naming the levels."""
    if value is None or value == "":
        return None
    level = PROFICIENCY_ALIASES.get(value, value)
    if level not in PROFICIENCY_LEVELS:
        raise ValueError(
            f"unknown tech proficiency {value!r}; use one of {', '.join(PROFICIENCY_LEVELS)} "
            f"(or {', '.join(PROFICIENCY_ALIASES)}, an earlier name)"
        )
    return level


def _shifted_score(frame: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    score = rng.standard_normal(len(frame))
    for column, table in PROFICIENCY_SHIFTS.items():
        score += shift_values(frame[column], table)
    return score


def _draw_sets(
    level: np.ndarray, table: dict[str, tuple[float, ...]], rng: np.random.Generator
) -> np.ndarray:
    """One tuple of item names per persona, built through a bitmask lookup (no per-row loop)."""
    items = list(table)
    probabilities = np.array([table[item] for item in items]).T  # (levels, items)
    owned = rng.random((len(level), len(items))) < probabilities[level]
    masks = owned.astype(np.int64) @ (1 << np.arange(len(items)))
    lookup = np.empty(1 << len(items), dtype=object)
    for mask in range(1 << len(items)):
        lookup[mask] = tuple(item for bit, item in enumerate(items) if mask >> bit & 1)
    return lookup[masks]


def tech_draw(frame: pd.DataFrame, *, rng: np.random.Generator) -> pd.DataFrame:
    """Tech profile for every persona; ``frame`` holds age_bracket, education and occupation, where
    occupation is the occupation group or, for personas not employed, the employment status."""
    score = _shifted_score(frame, rng)
    level = np.searchsorted(PROFICIENCY_CUTS, score)
    attitude_score = (score + rng.standard_normal(len(frame))) / np.sqrt(2.0)
    attitude = np.searchsorted(ndtri(np.array([0.25, 0.5, 0.75])), attitude_score)
    return pd.DataFrame(
        {
            "tech_proficiency": pd.Categorical.from_codes(
                level, categories=list(PROFICIENCY_LEVELS)
            ),
            "tech_devices": _draw_sets(level, DEVICE_PROBABILITIES, rng),
            "tech_apps": _draw_sets(level, APP_PROBABILITIES, rng),
            "tech_attitude": pd.Categorical.from_codes(attitude, categories=list(ATTITUDE)),
        }
    )
