"""The platform's harmonized demographic categories.

Census marginals, poll respondents and personas all speak these codes; each poll's mapping file
translates its own codes into them. Order within a dimension is meaningful (ordinal dimensions).
"""

from __future__ import annotations

from typing import Final

AGE_BRACKETS: Final = {
    "18_24": (18, 24),
    "25_34": (25, 34),
    "35_44": (35, 44),
    "45_54": (45, 54),
    "55_64": (55, 64),
    # The census bracket is open-ended; personas' exact ages are drawn up to 90.
    "65_plus": (65, 90),
}

DIMENSIONS: Final[dict[str, dict[str, str]]] = {
    "age_bracket": {
        "18_24": "18–24",
        "25_34": "25–34",
        "35_44": "35–44",
        "45_54": "45–54",
        "55_64": "55–64",
        "65_plus": "65+",
    },
    "sex": {"female": "Female", "male": "Male"},
    "race_ethnicity": {
        "white": "White (non-Hispanic)",
        "black": "Black (non-Hispanic)",
        "hispanic": "Hispanic (any race)",
        "asian": "Asian (non-Hispanic)",
        "other": "Other or multiple (non-Hispanic)",
    },
    "education": {
        "lt_hs": "Less than high school",
        "hs": "High school graduate",
        "some_college": "Some college or associate degree",
        "bachelors": "Bachelor's degree",
        "graduate": "Graduate or professional degree",
    },
    "income": {
        "lt_25k": "Under $25,000",
        "25_50k": "$25,000–49,999",
        "50_75k": "$50,000–74,999",
        "75_100k": "$75,000–99,999",
        "100_150k": "$100,000–149,999",
        "150k_plus": "$150,000 or more",
    },
}

# Harmonized in polls only (census files carry no party identification).
PARTY: Final = {
    "democrat": "Democrat",
    "republican": "Republican",
    "independent": "Independent",
    "other": "Other",
}

DEMOGRAPHIC_DIMENSIONS: Final = tuple(DIMENSIONS)


def choices(dimension: str) -> list[tuple[str, str]]:
    table = PARTY if dimension == "party" else DIMENSIONS[dimension]
    return list(table.items())


def label(dimension: str, code: str | None) -> str:
    if code is None:
        return "unknown"
    table = PARTY if dimension == "party" else DIMENSIONS.get(dimension, {})
    return table.get(code, code)
