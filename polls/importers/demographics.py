"""Respondents' demographics as a microdata mapping reads them: each categorical demographic
harmonized to the platform's categories, ages as inclusive ranges, states as USPS codes, and the
respondents the mapping leaves out for their age or state (`DroppedRows`). Problems are added to
the caller's list rather than raised, so that the import names them all at once.

The mapping's `demographics` (the rest of the mapping file: `polls.importers.microdata`)::

    demographics:
      age: {column, brackets: {"18-29": [18, 29], ...}}  or  {column, numeric: true},
           min_age: youngest age imported (default 16), below_min: error | drop
          Numeric ages are whole numbers 0–120. A respondent younger than min_age fails the
          import (the message names the rows and both ways out) unless `below_min: drop` leaves
          them out of the import; the import summary then says how many. To keep respondents
          aged 15-17, lower min_age (min_age: 15); to keep adults only, write min_age: 18,
          below_min: drop. Bracketed ages are taken as the mapping writes them unless min_age
          is given: then a bracket wholly below it is younger, and one that straddles it is an
          error.
      sex | race_ethnicity | education | income | party: {column, codes: {source code: platform
          code, a list of platform codes when the source category spans several, or null when it
          cannot be harmonized}, override: {column, codes}  (optional: a second column whose
          mapped, non-null codes take precedence, e.g. a Hispanic-origin flag over race)}
      state: {column, codes: {source value: USPS code, or null when unknown},
              unrecognised: error | drop}
          Each value is read through `codes` first, then as a USPS code, a state name in any
          case ("CALIFORNIA", "New York") or a FIPS code (6, "06"): the 50 states, DC and
          Puerto Rico as `environment/data/` lists them (see `polls.importers.geography`). A
          value none of these recognise fails the import, naming the value and its rows, unless
          the state says `unrecognised: drop`: then those respondents are left out of the
          import and the import summary says how many and which values.
      each may also carry `missing: [codes]` read as missing in that column only
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from environment.categories import DIMENSIONS, PARTY
from polls.importers.common import file_row, normalize_code, rows_listing
from polls.importers.geography import us_states

CATEGORY_DIMENSIONS = {d: set(c) for d, c in DIMENSIONS.items() if d != "age_bracket"}
CATEGORY_DIMENSIONS["party"] = set(PARTY)


@dataclass(frozen=True)
class DroppedRows:
    """Respondents the mapping explicitly leaves out, and why (reported in the import summary)."""

    count: int
    reason: str  # completes "N respondents ...", e.g. "younger than 18 (age below_min: drop)"


def unmapped(column: str, values: pd.Series, known: set[str], missing: set[str]) -> list[str]:
    """One problem per code of `values` that is neither `known` nor `missing`, naming its rows."""
    problems = []
    bad = values[~values.isin(known | missing)]
    for code, idx in bad.groupby(bad).groups.items():
        rows = [file_row(i) for i in idx]
        problems.append(
            f"column '{column}': code '{code}' is not in the mapping ({len(rows)} "
            f"{rows_listing(rows)}); add it to the mapping's codes (or to 'missing')"
        )
    return problems


def _category_codes(dim: str, codes_spec: dict, problems: list[str]) -> dict[str, str | None]:
    allowed = CATEGORY_DIMENSIONS[dim]
    codes: dict[str, str | None] = {}
    for src, target in (codes_spec or {}).items():
        targets = target if isinstance(target, list) else ([] if target is None else [target])
        bad = [t for t in targets if t not in allowed]
        if bad:
            problems.append(
                f"mapping: {dim} code '{src}' maps to {bad}, not platform categories "
                f"({', '.join(sorted(allowed))})"
            )
        codes[normalize_code(src)] = "|".join(targets) if targets else None
    return codes


def harmonize(
    dim: str, spec: dict, columns: dict[str, pd.Series], missing: set[str], problems: list[str]
) -> pd.Series:
    codes = _category_codes(dim, spec.get("codes"), problems)
    col_missing = missing | {normalize_code(m) for m in spec.get("missing", [])}
    values = columns[spec["column"]]
    problems += unmapped(spec["column"], values, set(codes), col_missing)
    result = values.map(lambda v: codes.get(v) or "")
    override = spec.get("override")
    if override:
        o_codes = _category_codes(dim, override.get("codes"), problems)
        o_values = columns[override["column"]]
        o_missing = missing | {normalize_code(m) for m in override.get("missing", [])}
        problems += unmapped(override["column"], o_values, set(o_codes), o_missing)
        mapped = o_values.map(lambda v: o_codes.get(v) or "")
        result = result.where(mapped == "", mapped)
    return result


DEFAULT_MIN_AGE = 16
MAX_AGE = 120
AGE_BELOW_MIN = ("error", "drop")


def _min_age(spec: dict, problems: list[str]) -> tuple[int, str]:
    min_age, policy = spec.get("min_age", DEFAULT_MIN_AGE), spec.get("below_min", "error")
    if isinstance(min_age, bool) or not isinstance(min_age, int) or not 0 <= min_age <= MAX_AGE:
        problems.append(
            f"mapping: age 'min_age' must be a whole number 0–{MAX_AGE}, not '{min_age}'"
        )
        min_age = DEFAULT_MIN_AGE
    if policy not in AGE_BELOW_MIN:
        problems.append(
            f"mapping: age 'below_min' must be one of {', '.join(AGE_BELOW_MIN)}, not '{policy}'"
        )
    return min_age, policy


def _ages(
    spec: dict, columns: dict[str, pd.Series], missing: set[str], problems: list[str]
) -> tuple[pd.Series, pd.Series, pd.Series, DroppedRows | None]:
    """Each respondent's age as an inclusive range (None when unknown), and who is left out.

    Respondents younger than `min_age` fail the import unless `below_min: drop` leaves them out;
    the third value marks them then, and the fourth says so for the import summary.
    """
    column = spec["column"]
    values = columns[column]
    age_min = pd.Series([None] * len(values), index=values.index, dtype=object)
    age_max = age_min.copy()
    young = pd.Series(False, index=values.index)
    min_age, policy = _min_age(spec, problems)
    col_missing = missing | {normalize_code(m) for m in spec.get("missing", [])}
    present = values[~values.isin(col_missing)]
    if spec.get("numeric"):
        ages = pd.to_numeric(present, errors="coerce")
        bad = ages.isna() | (ages < 0) | (ages > MAX_AGE) | (ages % 1 != 0)
        if bad.any():
            problems.append(
                f"column '{column}': ages must be whole numbers 0–{MAX_AGE} "
                f"({rows_listing([file_row(i) for i in ages[bad].index])}); "
                "list codes for unknown ages under the age's 'missing'"
            )
        good = ages[~bad].astype(int)
        age_min[good.index] = good.tolist()
        age_max[good.index] = good.tolist()
        young[good.index] = good < min_age
    else:
        brackets = {normalize_code(k): v for k, v in (spec.get("brackets") or {}).items()}
        problems += unmapped(column, values, set(brackets), col_missing)
        known = present[present.isin(brackets)]
        age_min[known.index] = [int(brackets[v][0]) for v in known]
        age_max[known.index] = [int(brackets[v][1]) for v in known]
        # A bracket is taken as the mapping writes it unless the mapping sets min_age.
        if "min_age" in spec:
            for code, (lo, hi) in brackets.items():
                if int(lo) < min_age <= int(hi):
                    problems.append(
                        f"mapping: age bracket '{code}' ({lo}–{hi}) straddles min_age {min_age}: "
                        "the file cannot tell which of its respondents are younger; set min_age "
                        f"to {lo} or {int(hi) + 1}"
                    )
            young[known.index] = [int(brackets[v][1]) < min_age for v in known]

    if not young.any() or policy not in AGE_BELOW_MIN:
        return age_min, age_max, pd.Series(False, index=values.index), None
    count = int(young.sum())
    if policy == "drop":
        return (
            age_min,
            age_max,
            young,
            DroppedRows(count, f"younger than {min_age} (age below_min: drop)"),
        )
    youngest = int(pd.to_numeric(age_min[young]).min())
    by_age = pd.DataFrame({"value": values[young], "age": pd.to_numeric(age_min[young])})
    aged = ", ".join(by_age.drop_duplicates("value").sort_values("age")["value"].tolist()[:10])
    adults = " (min_age: 18 keeps adults only)" if min_age != 18 else ""
    problems.append(
        f"column '{column}': {count} respondent{'s are' if count > 1 else ' is'} younger than "
        f"{min_age} (aged {aged}; {rows_listing([file_row(i) for i in young[young].index])}); "
        f"to import them, lower the age's min_age (min_age: {youngest}); to leave them out of the "
        f"import, set below_min: drop under the age{adults}; list a code that stands for an "
        "unknown age under the age's 'missing'"
    )
    return age_min, age_max, pd.Series(False, index=values.index), None


STATE_UNRECOGNISED = ("error", "drop")
MAX_VALUES_LISTED = 20


def _states(
    spec: dict, columns: dict[str, pd.Series], missing: set[str], problems: list[str]
) -> tuple[pd.Series, pd.Series]:
    """USPS codes of a state column, and which respondents' state is not recognised.

    A value is read through the mapping's `codes` first, then as a USPS code, a state name (any
    case) or a FIPS code; `missing` values (and codes mapped to null) are an unknown state.
    """
    table = us_states()
    codes: dict[str, str] = {}
    codes_spec = spec.get("codes") or {}
    if not isinstance(codes_spec, dict):
        problems.append("mapping: state 'codes' must map source values to USPS codes (or null)")
        codes_spec = {}
    for src, target in codes_spec.items():
        if target is None:
            codes[normalize_code(src)] = ""
        elif isinstance(target, str) and target.upper() in table.codes:
            codes[normalize_code(src)] = target.upper()
        else:
            problems.append(
                f"mapping: state code '{src}' maps to '{target}', not a USPS code of a state the "
                f"platform has ({', '.join(sorted(table.codes))}); map it to null for an unknown "
                "state"
            )
    values = columns[spec["column"]]
    lookup: dict[str, str | None] = {}
    for value in pd.unique(values):
        if value in codes:
            lookup[value] = codes[value]
        elif value in missing:
            lookup[value] = ""
        else:
            lookup[value] = table.usps_of(value)
    states = values.map(lookup)
    return states.fillna(""), states.isna()


def _state_column(
    spec: dict,
    columns: dict[str, pd.Series],
    missing: set[str],
    kept: pd.Series,
    problems: list[str],
) -> tuple[pd.Series, pd.Series, DroppedRows | None]:
    """USPS codes of the respondents' states, and who is left out for an unrecognised state.

    Only the respondents still `kept` (not left out for their age) are checked. An unrecognised
    state fails the import unless `unrecognised: drop` leaves them out; the second value marks
    them then, and the third says so for the import summary.
    """
    column = spec["column"]
    col_missing = missing | {normalize_code(m) for m in spec.get("missing", [])}
    states, unrecognised = _states(spec, columns, col_missing, problems)
    unrecognised &= kept
    none = pd.Series(False, index=states.index)
    policy = spec.get("unrecognised", "error")
    if policy not in STATE_UNRECOGNISED:
        problems.append(
            f"mapping: state 'unrecognised' must be one of {', '.join(STATE_UNRECOGNISED)}, "
            f"not '{policy}'"
        )
        return states, none, None
    if not unrecognised.any():
        return states, none, None
    count = int(unrecognised.sum())
    lines, counts = _unrecognised_states(column, columns[column][unrecognised])
    if policy == "drop":
        reason = f"whose state is not recognised: {counts} (state unrecognised: drop)"
        return states, unrecognised, DroppedRows(count, reason)
    problems += lines
    problems.append(
        f"column '{column}': {count} respondent{'s have' if count > 1 else ' has'} a state that "
        "is not recognised; map each value under the state's 'codes' (to a USPS code, or to "
        "null for an unknown state), list it under the state's 'missing', or set "
        "'unrecognised: drop' under the state to leave those respondents out"
    )
    return states, none, None


def _unrecognised_states(column: str, values: pd.Series) -> tuple[list[str], str]:
    """One line per unrecognised value (with its rows), and the values with their counts."""
    lines, counts = [], []
    groups = sorted(values.groupby(values).groups.items(), key=lambda kv: -len(kv[1]))
    for value, idx in groups[:MAX_VALUES_LISTED]:
        rows = [file_row(i) for i in idx]
        lines.append(
            f"column '{column}': '{value}' is not a US state name, USPS code or FIPS code "
            f"({len(rows)} {rows_listing(rows)})"
        )
        counts.append(f"'{value}' {len(rows)}")
    if len(groups) > MAX_VALUES_LISTED:
        more = len(groups) - MAX_VALUES_LISTED
        lines.append(f"column '{column}': … and {more} more values that are not US states")
        counts.append(f"{more} more values")
    return lines, ", ".join(counts)


@dataclass
class AgesAndStates:
    """Each respondent's age range and state, and whom the mapping leaves out (`dropped` says
    why, for the import summary)."""

    age_min: pd.Series
    age_max: pd.Series
    states: pd.Series
    leave_out: pd.Series
    dropped: list[DroppedRows]


def ages_and_states(
    demographics: dict,
    columns: dict[str, pd.Series],
    missing: set[str],
    index: pd.Index,
    problems: list[str],
) -> AgesAndStates:
    age_min = pd.Series([None] * len(index), index=index, dtype=object)
    age_max = age_min.copy()
    # Respondents the mapping leaves out are set aside before their other columns are checked.
    dropped: list[DroppedRows] = []
    leave_out = pd.Series(False, index=index)
    if "age" in demographics:
        age_min, age_max, young, left_out = _ages(demographics["age"], columns, missing, problems)
        if left_out:
            leave_out |= young
            dropped.append(left_out)
    states = pd.Series("", index=index, dtype=object)
    if "state" in demographics:
        states, unrecognised, left_out = _state_column(
            demographics["state"], columns, missing, ~leave_out, problems
        )
        if left_out:
            leave_out |= unrecognised
            dropped.append(left_out)
    return AgesAndStates(age_min, age_max, states, leave_out, dropped)
