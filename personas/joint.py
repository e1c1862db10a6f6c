"""The joint distribution personas are drawn from: a real seed table raked to an area's marginals.

The seed keeps the correlations the census publishes only jointly (older adults hold fewer degrees,
degrees go with income, …); raking (IPF) then moves it onto the area's own marginals, and
integerisation turns the fitted table into whole personas whose marginals are exact. Every figure
comes from a file in ``personas/data/`` (see PROVENANCE.md there); nothing is typed in.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import humanleague
import numpy as np

from config.errors import DomainError
from environment.categories import AGE_BRACKETS, DIMENSIONS

DATA_DIR = Path(__file__).resolve().parent / "data"
SEED_FILE = "misterP_poststrat_df.csv"
INCOME_FILES = {  # household income by race of householder, ACS 2018 1-year, per state
    "white": "acs1_2018_state_B19001H.csv",  # White alone, not Hispanic
    "black": "acs1_2018_state_B19001B.csv",  # Black alone (any ethnicity: no non-Hispanic table)
    "hispanic": "acs1_2018_state_B19001I.csv",
    "asian": "acs1_2018_state_B19001D.csv",  # Asian alone
    "other": "acs1_2018_state_B19001.csv",  # all households: no table for "other or multiple"
}
EDUCATION_INCOME_FILE = "non-voters_nonvoters_data.csv"

DIMS: tuple[str, ...] = tuple(DIMENSIONS)
CODES: dict[str, tuple[str, ...]] = {d: tuple(DIMENSIONS[d]) for d in DIMS}
SHAPE: tuple[int, ...] = tuple(len(CODES[d]) for d in DIMS)
MAX_AGE = AGE_BRACKETS["65_plus"][1]
MIN_AGE = AGE_BRACKETS["18_24"][0]

# The seed file's codes (Gelman's MRP case study: male = +0.5 for ACS SEX 1, -0.5 for SEX 2).
SEED_SEX = {"-0.5": "female", "0.5": "male"}
SEED_ETH = ("White", "Black", "Hispanic", "Other")
SEED_AGE_YEARS = {  # "70+" is open-ended; capped where the platform caps exact ages
    "18-29": (18, 29),
    "30-39": (30, 39),
    "40-49": (40, 49),
    "50-59": (50, 59),
    "60-69": (60, 69),
    "70+": (70, MAX_AGE),
}
SEED_EDUC = {
    "No HS": "lt_hs",
    "HS": "hs",
    "Some college": "some_college",
    "4-Year College": "bachelors",
    "Post-grad": "graduate",
}

# B19001's 16 brackets (variables _002.._017) nest exactly in the platform's six and in Ipsos's four.
ACS_BRACKET_TO_INCOME = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 3, 4, 4, 5, 5])
ACS_BRACKET_TO_IPSOS = np.array([0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3, 3])
IPSOS_INCOME = ("Less than $40k", "$40-75k", "$75-125k", "$125k or more")
IPSOS_EDUC = {"High school or less": 0, "Some college": 1, "College": 2}
EDUCATION_TO_IPSOS = np.array([0, 0, 1, 2, 2])  # lt_hs, hs | some_college | bachelors, graduate
IPSOS_RACE = {"White": 0, "Black": 1, "Hispanic": 2, "Other/Mixed": 3}
RACE_TO_IPSOS = np.array([0, 1, 2, 3, 3])  # white, black, hispanic | asian, other
# Pseudo-respondents pulling a thin Ipsos education × race cell towards its race's income mix.
IPSOS_PRIOR_RESPONDENTS = 20.0


@dataclass(frozen=True)
class Constraints:
    """Who may be in a population: an age window and, per dimension, the allowed categories."""

    age_min: int = MIN_AGE
    age_max: int = MAX_AGE
    allowed: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_spec(cls, spec: dict | None) -> Constraints:
        """Validate a request's constraints (`age_min`, `age_max`, `<dimension>: [codes]`)."""
        spec = dict(spec or {})
        age_min = spec.pop("age_min", None)
        age_max = spec.pop("age_max", None)
        age_min = MIN_AGE if age_min is None else int(age_min)
        age_max = MAX_AGE if age_max is None else int(age_max)
        if age_min > MAX_AGE:
            raise DomainError(
                f"Personas' ages run from {MIN_AGE} to {MAX_AGE}; age_min={age_min} leaves nobody.",
                code="impossible_constraint",
                fields={"constraints": ["age_min"]},
            )
        if age_min < MIN_AGE or age_max < age_min:
            raise DomainError(
                f"Age constraints must satisfy {MIN_AGE} <= age_min <= age_max; got "
                f"age_min={age_min}, age_max={age_max}.",
                code="impossible_constraint",
                fields={"constraints": ["age_min/age_max"]},
            )
        allowed: dict[str, tuple[str, ...]] = {}
        for dimension, categories in spec.items():
            if dimension not in CODES:
                raise DomainError(
                    f"Unknown constraint {dimension!r}; use age_min, age_max or one of "
                    f"{', '.join(DIMS)}.",
                    fields={"constraints": [f"unknown key {dimension}"]},
                )
            categories = list(categories or [])
            unknown = [c for c in categories if c not in CODES[dimension]]
            if unknown:
                raise DomainError(
                    f"Unknown {dimension} categories: {', '.join(map(str, unknown))}; valid are "
                    f"{', '.join(CODES[dimension])}.",
                    fields={"constraints": [f"unknown {dimension} category"]},
                )
            if not categories:
                raise DomainError(
                    f"The {dimension} constraint allows no category, so nobody qualifies.",
                    code="impossible_constraint",
                    fields={"constraints": [f"empty {dimension} list"]},
                )
            # Kept in the dimension's own order so equal specs give equal personas.
            allowed[dimension] = tuple(c for c in CODES[dimension] if c in categories)
        return cls(age_min=age_min, age_max=min(age_max, MAX_AGE), allowed=allowed)

    def as_spec(self) -> dict:
        spec: dict = {}
        if self.age_min != MIN_AGE:
            spec["age_min"] = self.age_min
        if self.age_max != MAX_AGE:
            spec["age_max"] = self.age_max
        spec.update({d: list(c) for d, c in self.allowed.items()})
        return spec

    def bracket_years(self) -> np.ndarray:
        """Per age bracket, the (low, high) ages allowed; high < low where none are."""
        return np.array(
            [
                (max(lo, self.age_min), min(hi, self.age_max))
                for lo, hi in (AGE_BRACKETS[b] for b in CODES["age_bracket"])
            ]
        )

    def mask(self, dimension: str) -> np.ndarray:
        allowed = self.allowed.get(dimension)
        mask = np.array([allowed is None or c in allowed for c in CODES[dimension]])
        if dimension == "age_bracket":
            years = self.bracket_years()
            mask &= years[:, 1] >= years[:, 0]
        return mask


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> int:
    """Whole years in both closed ranges."""
    return max(0, min(a[1], b[1]) - max(a[0], b[0]) + 1)


def _number(value: str) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    # ACS marks suppressed or unavailable estimates with large negative sentinels.
    return None if number < 0 else number


@cache
def _seed_tables() -> dict[str, np.ndarray]:
    """{USPS state: counts[seed age 6, sex 2, seed eth 4, education 5]} of adult citizens."""
    ages = list(SEED_AGE_YEARS)
    sexes = list(CODES["sex"])
    educs = list(CODES["education"])
    tables: dict[str, np.ndarray] = {}
    with open(DATA_DIR / SEED_FILE, newline="") as handle:
        for row in csv.DictReader(handle):
            table = tables.setdefault(row["state"], np.zeros((6, 2, 4, 5)))
            table[
                ages.index(row["age"]),
                sexes.index(SEED_SEX[row["male"]]),
                SEED_ETH.index(row["eth"]),
                educs.index(SEED_EDUC[row["educ"]]),
            ] += float(row["n"])
    return tables


@cache
def _acs_income_tables() -> dict[str, dict[str, np.ndarray]]:
    """{race: {state name: households in B19001's 16 brackets}}; suppressed states left out."""
    result: dict[str, dict[str, np.ndarray]] = {}
    for race, filename in INCOME_FILES.items():
        table = filename.removeprefix("acs1_2018_state_").removesuffix(".csv")
        columns = [f"{table}_{i:03d}E" for i in range(2, 18)]
        by_state: dict[str, np.ndarray] = {}
        with open(DATA_DIR / filename, newline="") as handle:
            for row in csv.DictReader(handle):
                values = [_number(row[c]) for c in columns]
                if all(v is not None for v in values) and sum(values) > 0:
                    by_state[row["NAME"]] = np.array(values)
        result[race] = by_state
    return result


@cache
def _education_income_ratio() -> np.ndarray:
    """ratio[ipsos race 4, ipsos education 3, ipsos income 4] = P(income | educ, race) / P(income | race).

    The shared data hold no state table of household income by education; Ipsos's 2020
    KnowledgePanel sample (weighted to CPS benchmarks) gives that tilt nationally, and the ACS
    state tables keep the level for each race.
    """
    weights = np.zeros((4, 3, 4))
    with open(DATA_DIR / EDUCATION_INCOME_FILE, newline="") as handle:
        for row in csv.DictReader(handle):
            weights[
                IPSOS_RACE[row["race"]],
                IPSOS_EDUC[row["educ"]],
                IPSOS_INCOME.index(row["income_cat"]),
            ] += float(row["weight"])
    # Weights rescaled to a mean of one so the prior's strength is in respondents.
    respondents = weights / weights.sum() * _ipsos_respondents()
    by_race = respondents.sum(axis=1, keepdims=True)
    p_race = by_race / by_race.sum(axis=2, keepdims=True)
    p_cell = (respondents + IPSOS_PRIOR_RESPONDENTS * p_race) / (
        respondents.sum(axis=2, keepdims=True) + IPSOS_PRIOR_RESPONDENTS
    )
    return p_cell / p_race


@cache
def _ipsos_respondents() -> int:
    with open(DATA_DIR / EDUCATION_INCOME_FILE, newline="") as handle:
        return sum(1 for _ in csv.DictReader(handle))


def _income_given_race_education(state_name: str) -> np.ndarray:
    """P(income 6 | race 5, education 5) for a state: ACS level by race, Ipsos tilt by education."""
    acs = _acs_income_tables()
    ratio = _education_income_ratio()
    result = np.zeros((5, 5, 6))
    for r, race in enumerate(CODES["race_ethnicity"]):
        by_state = acs[race]
        # A state whose table ACS suppressed (too few households) falls back to the nation.
        brackets = by_state.get(state_name)
        if brackets is None:
            brackets = np.sum(list(by_state.values()), axis=0)
        p_acs = brackets / brackets.sum()
        for e in range(5):
            tilt = ratio[RACE_TO_IPSOS[r], EDUCATION_TO_IPSOS[e], ACS_BRACKET_TO_IPSOS]
            fine = p_acs * tilt
            result[r, e] = np.bincount(ACS_BRACKET_TO_INCOME, weights=fine, minlength=6)
            result[r, e] /= result[r, e].sum()
    return result


@dataclass(frozen=True)
class Seed:
    table: np.ndarray  # [age 6, sex 2, race 5, education 5, income 6]
    source: str


def seed_for(
    *, state: str, state_name: str, asian_share_of_other: float, constraints: Constraints
) -> Seed:
    """The seed table for an area of `state`, re-binned to the platform and cut to `constraints`."""
    tables = _seed_tables()
    counts = tables.get(state)
    source = f"misterP ACS 2014-18 PUMS adult citizens, {state}"
    if counts is None:
        # DC and Puerto Rico are not in the seed file: the nation's table stands in.
        counts = np.sum(list(tables.values()), axis=0)
        source = f"misterP ACS 2014-18 PUMS adult citizens, all 50 states (no table for {state})"
    # Seed age groups split over platform brackets by years of overlap (uniform ages within a
    # group), counting only the years the constraints allow.
    years = constraints.bracket_years()
    rebin = np.array(
        [
            [_overlap(span, (lo, hi)) / (span[1] - span[0] + 1) for lo, hi in years]
            for span in SEED_AGE_YEARS.values()
        ]
    )
    by_bracket = np.einsum("sxre,sb->bxre", counts, rebin)
    # The seed's "Other" holds Asian and other non-Hispanic adults together; the area's own
    # marginal says how they divide.
    race = np.zeros((*by_bracket.shape[:2], 5, *by_bracket.shape[3:]))
    race[:, :, :3] = by_bracket[:, :, :3]
    race[:, :, 3] = by_bracket[:, :, 3] * asian_share_of_other
    race[:, :, 4] = by_bracket[:, :, 3] * (1 - asian_share_of_other)
    income = _income_given_race_education(state_name)
    table = np.einsum("axre,rei->axrei", race, income)
    for axis, dimension in enumerate(DIMS):
        shape = [1] * len(DIMS)
        shape[axis] = -1
        table = table * constraints.mask(dimension).reshape(shape)
    return Seed(table=table, source=source)


@dataclass(frozen=True)
class AreaJoint:
    """An area's joint table among the adults who meet the constraints, as shares summing to one."""

    table: np.ndarray  # [age, sex, race, education, income]
    targets: dict[str, np.ndarray]  # the table's marginal shares per dimension
    source: str
    asian_share_of_seed_other: float
    ipf_converged: bool  # the rake of the whole seed onto the area's full marginals
    ipf_max_error: float


def _marginal(table: np.ndarray, axis: int) -> np.ndarray:
    return table.sum(axis=tuple(a for a in range(table.ndim) if a != axis))


def area_joint(
    *,
    state: str,
    state_name: str,
    marginals: dict[str, dict[str, float]],
    constraints: Constraints,
    area_id: str,
) -> AreaJoint:
    """The area's joint table conditional on the constraints.

    The whole seed is raked to the area's full census marginals first, and only then are the
    cells outside the constraints removed, so each dimension's share within the constraints is
    conditional: adults aged 18–29 keep the education mix of young adults in that area, not the
    mix of all its adults.
    """
    race = marginals["race_ethnicity"]
    pooled = race.get("asian", 0.0) + race.get("other", 0.0)
    asian_share = race.get("asian", 0.0) / pooled if pooled > 0 else 0.5
    whole = seed_for(
        state=state,
        state_name=state_name,
        asian_share_of_other=asian_share,
        constraints=Constraints(),
    )
    shares = []
    for axis, dimension in enumerate(DIMS):
        share = np.array([marginals[dimension].get(c, 0.0) for c in CODES[dimension]], dtype=float)
        share = share / share.sum()
        missing = [
            c
            for c, s, seeded in zip(
                CODES[dimension], share, _marginal(whole.table, axis) > 0, strict=True
            )
            if s > 0 and not seeded
        ]
        if missing:
            raise DomainError(
                f"The seed table for {area_id} has nobody with {dimension}={', '.join(missing)}, "
                "so its census marginals cannot be met; choose another area.",
                code="area_incomplete",
                fields={"areas": [f"{dimension} unreachable in {area_id}"]},
            )
        shares.append(share)
    fitted, stats = humanleague.ipf(
        whole.table, [np.array([axis]) for axis in range(len(DIMS))], shares
    )
    fitted = np.clip(fitted, 0.0, None)
    # Each cell keeps the part of it the constraints allow: nothing outside an allowed category,
    # and in an age bracket cut by age_min/age_max the seed's share of that cell in the allowed
    # years (uniform ages within each seed age group).
    cut_seed = seed_for(
        state=state,
        state_name=state_name,
        asian_share_of_other=asian_share,
        constraints=constraints,
    )
    kept = np.divide(
        cut_seed.table, whole.table, out=np.zeros_like(whole.table), where=whole.table > 0
    )
    for axis, dimension in enumerate(DIMS):
        if (_marginal(fitted, axis) * constraints.mask(dimension)).sum() <= 0:
            raise DomainError(
                f"No adults of {area_id} meet the {dimension.replace('_', ' ')} constraint "
                f"({constraints.as_spec()}), so no population can be drawn there.",
                code="impossible_constraint",
                fields={"constraints": [f"no {dimension} left in {area_id}"]},
            )
    table = fitted * kept
    if table.sum() <= 0:
        raise DomainError(
            f"No adults of {area_id} meet all the constraints together ({constraints.as_spec()}), "
            "so no population can be drawn there; loosen one of them.",
            code="impossible_constraint",
            fields={"constraints": [f"no combination left in {area_id}"]},
        )
    table = table / table.sum()
    return AreaJoint(
        table=table,
        targets={d: _marginal(table, axis) for axis, d in enumerate(DIMS)},
        source=whole.source,
        asian_share_of_seed_other=asian_share,
        ipf_converged=bool(stats.get("conv", False)),
        ipf_max_error=float(stats.get("maxError", 0.0)),
    )


def allocate(size: int, weights: np.ndarray) -> np.ndarray:
    """Largest-remainder allocation of `size` whole units in proportion to `weights`."""
    exact = weights / weights.sum() * size
    counts = np.floor(exact).astype(np.int64)
    remainder = size - int(counts.sum())
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:remainder]] += 1
    return counts


@dataclass(frozen=True)
class Fit:
    counts: np.ndarray  # integer personas per cell [age, sex, race, education, income]
    ipf_converged: bool
    ipf_iterations: int
    ipf_max_error: float
    integerised: bool


def fit(*, table: np.ndarray, targets: dict[str, np.ndarray], size: int, area_id: str) -> Fit:
    """Rake `table` to `size` × the target shares, then integerise with exact marginals."""
    marginals = [allocate(size, targets[d]).astype(float) for d in DIMS]
    for axis, dimension in enumerate(DIMS):
        others = tuple(a for a in range(len(DIMS)) if a != axis)
        support = table.sum(axis=others) > 0
        missing = [
            c
            for c, m, s in zip(CODES[dimension], marginals[axis], support, strict=True)
            if m and not s
        ]
        if missing:
            raise DomainError(
                f"Within the constraints, the seed table for {area_id} has nobody with "
                f"{dimension}={', '.join(missing)}, so those census targets cannot be met; "
                "loosen the constraints.",
                code="impossible_constraint",
                fields={"constraints": [f"{dimension} unreachable in {area_id}"]},
            )
    fitted, stats = humanleague.ipf(
        table, [np.array([axis]) for axis in range(len(DIMS))], marginals
    )
    # Floors carry the bulk; only the fractional remainder (at most one persona per cell) goes
    # through humanleague's integerise, which keeps every marginal exact and stays fast at 1M.
    floor = np.floor(fitted + 1e-9)
    remainder = np.clip(fitted - floor, 0.0, None)
    integerised = True
    if remainder.sum() > 0.5:
        rounded, int_stats = humanleague.integerise(remainder)
        integerised = bool(int_stats.get("conv", False))
        if not integerised:
            # Rare: integerise found no exact table; keep the largest remainders instead.
            rounded = np.zeros(remainder.size)
            rounded[np.argsort(-remainder.ravel(), kind="stable")[: round(remainder.sum())]] = 1
            rounded = rounded.reshape(remainder.shape)
        counts = floor + rounded
    else:
        counts = floor
    return Fit(
        counts=counts.astype(np.int64),
        ipf_converged=bool(stats.get("conv", False)),
        ipf_iterations=int(stats.get("iterations", 0)),
        ipf_max_error=float(stats.get("maxError", 0.0)),
        integerised=integerised,
    )
