"""Turn a respondent-level table plus a mapping file into validated, harmonized rows.

Nothing here touches the database: `poll_import_plan` either returns a complete plan or raises
`PollImportError` listing every problem (missing columns, unmapped codes with the rows they are on),
so that the writing service can be all or nothing.

Mapping file (YAML or JSON)::

    poll: {slug, title, pollster, year, field_start, field_end, population, mode, source, licence,
           topic_tags, country}
          country: where the poll was fielded, an ISO 3166-1 alpha-2 code (US, GB, CA, CL; any
          case; US when left out). A poll fielded elsewhere cannot have a `state` demographic.
    id_column: respondent id column (optional; row number otherwise)
    weight_column: survey weight column (optional; 1.0 otherwise)
    missing: [codes read as missing in every column, e.g. "", "NA"]
    rows: {column, in: [values]}   (optional: keep only these rows, e.g. one year of a pooled file)
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
    questions:
      - {code, column, text, topic_tags, missing: [codes], universe: "likely voters",
         options: [{code, label, codes: [source codes] or range: [min, max], ordinal_value}]}
      `universe` says the question was asked of part of the sample only, by design (voters,
      parents, workers): respondents without an answer are outside that universe, and the poll
      model estimates shares among it (a run weights each persona by its modelled probability of
      belonging). Leave it out when everyone was asked and blanks are nonresponse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from environment.categories import DIMENSIONS, PARTY
from polls.importers.common import (
    MAX_ROWS_LISTED,
    PollImportError,
    file_row,
    normalize_code,
    normalize_column,
    require,
    rows_listing,
    select_rows,
)
from polls.importers.geography import poll_with_country, state_problem, us_states

CATEGORY_DIMENSIONS = {d: set(c) for d, c in DIMENSIONS.items() if d != "age_bracket"}
CATEGORY_DIMENSIONS["party"] = set(PARTY)


@dataclass
class OptionPlan:
    code: str
    label: str
    order: int
    ordinal_value: float | None
    source_codes: list[str]


@dataclass
class QuestionPlan:
    code: str
    column: str
    text: str
    topic_tags: list[str]
    options: list[OptionPlan]
    # Whom the question was asked of, when only part of the sample by design ("likely voters"):
    # respondents with no answer are outside it. Blank: everyone was asked.
    universe: str = ""


@dataclass
class RespondentPlan:
    external_id: str
    weight: float
    age_min: int | None
    age_max: int | None
    sex: str
    race_ethnicity: str
    education: str
    income: str
    party: str
    state: str
    answers: dict[str, str] = field(default_factory=dict)  # question code -> option code


@dataclass(frozen=True)
class DroppedRows:
    """Respondents the mapping explicitly leaves out, and why (reported in the import summary)."""

    count: int
    reason: str  # completes "N respondents ...", e.g. "younger than 18 (age below_min: drop)"


@dataclass
class ImportPlan:
    poll: dict[str, Any]
    questions: list[QuestionPlan]
    respondents: list[RespondentPlan]
    rows_read: int
    # Published crosstab rows (crosstab-table and topline imports): (question code, dimension,
    # category, option code, share, n). Microdata imports compute theirs from `respondents`.
    crosstabs: list[tuple[str, str, str, str, float, int]] = field(default_factory=list)
    kind: str = "microdata"
    dropped: list[DroppedRows] = field(default_factory=list)

    @property
    def dropped_summary(self) -> str:
        """What the mapping left out, for the import summary ("" when nothing)."""
        return "; ".join(
            f"{d.count:,} respondent{'s' if d.count != 1 else ''} {d.reason}" for d in self.dropped
        )


def _unmapped(column: str, values: pd.Series, known: set[str], missing: set[str]) -> list[str]:
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


def _harmonize(
    dim: str, spec: dict, columns: dict[str, pd.Series], missing: set[str], problems: list[str]
) -> pd.Series:
    codes = _category_codes(dim, spec.get("codes"), problems)
    col_missing = missing | {normalize_code(m) for m in spec.get("missing", [])}
    values = columns[spec["column"]]
    problems += _unmapped(spec["column"], values, set(codes), col_missing)
    result = values.map(lambda v: codes.get(v) or "")
    override = spec.get("override")
    if override:
        o_codes = _category_codes(dim, override.get("codes"), problems)
        o_values = columns[override["column"]]
        o_missing = missing | {normalize_code(m) for m in override.get("missing", [])}
        problems += _unmapped(override["column"], o_values, set(o_codes), o_missing)
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
        problems += _unmapped(column, values, set(brackets), col_missing)
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


def _option_lookup(q: dict, problems: list[str]) -> tuple[list[OptionPlan], dict, list]:
    options, code_to_option, ranges = [], {}, []
    for order, o in enumerate(q["options"]):
        src = [normalize_code(c) for c in o.get("codes", []) or []]
        span = o.get("range")
        valid_span = (
            isinstance(span, list)
            and len(span) == 2
            and all(isinstance(x, int | float) for x in span)
        )
        if not o.get("code") or not o.get("label") or not (src or valid_span):
            problems.append(
                f"mapping: question {q['code']} option #{order + 1} needs code, label and codes "
                "(or range: [min, max])"
            )
            continue
        for c in src:
            code_to_option[c] = o["code"]
        if valid_span:
            ranges.append((float(span[0]), float(span[1]), o["code"]))
        options.append(OptionPlan(o["code"], o["label"], order, o.get("ordinal_value"), src))
    return options, code_to_option, ranges


def _checked_mapping(mapping: dict) -> tuple[dict, list, dict]:
    """The poll (with its country), the questions and the demographics of the mapping;
    PollImportError naming every problem with them."""
    problems: list[str] = []
    poll = mapping.get("poll") or {}
    if not isinstance(poll, dict):
        raise PollImportError(["mapping: 'poll' must be a mapping of poll fields"])
    for key in ("slug", "title", "pollster", "population", "source"):
        require(poll, key, "poll", problems)
    poll = poll_with_country(poll, problems)
    questions_spec = mapping.get("questions") or []
    if not questions_spec:
        problems.append("mapping: 'questions' must list at least one question")
    demographics = mapping.get("demographics") or {}
    unknown_dims = set(demographics) - set(CATEGORY_DIMENSIONS) - {"age", "state"}
    if unknown_dims:
        problems.append(
            f"mapping: unknown demographic(s) {sorted(unknown_dims)}; use "
            f"{sorted(set(CATEGORY_DIMENSIONS) | {'age', 'state'})}"
        )
    if "state" in demographics and (why := state_problem(poll, "demographics.state")):
        problems.append(why)
    if problems:
        raise PollImportError(problems)
    return poll, questions_spec, demographics


def _mapped_columns(
    frame: pd.DataFrame, mapping: dict, demographics: dict, questions_spec: list
) -> dict[str, pd.Series]:
    """Every column the mapping names, normalized; PollImportError naming those not in the file."""
    needed = [mapping[key] for key in ("id_column", "weight_column") if mapping.get(key)]
    for spec in demographics.values():
        if isinstance(spec, dict):
            needed.append(spec.get("column"))
            if isinstance(spec.get("override"), dict):
                needed.append(spec["override"].get("column"))
    needed += [q.get("column") for q in questions_spec if isinstance(q, dict)]
    absent = [c for c in needed if c and c not in frame.columns]
    if absent:
        raise PollImportError(
            [
                f"column '{c}' named in the mapping is not in the file (columns: "
                f"{', '.join(map(str, list(frame.columns)[:20]))})"
                for c in absent
            ]
        )
    return {c: normalize_column(frame[c]) for c in set(needed) if c}


@dataclass
class _AgesAndStates:
    """Each respondent's age range and state, and whom the mapping leaves out (`dropped` says
    why, for the import summary)."""

    age_min: pd.Series
    age_max: pd.Series
    states: pd.Series
    leave_out: pd.Series
    dropped: list[DroppedRows]


def _ages_and_states(
    demographics: dict,
    columns: dict[str, pd.Series],
    missing: set[str],
    index: pd.Index,
    problems: list[str],
) -> _AgesAndStates:
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
    return _AgesAndStates(age_min, age_max, states, leave_out, dropped)


def _weights(
    mapping: dict, columns: dict[str, pd.Series], index: pd.Index, problems: list[str]
) -> pd.Series:
    """The survey weights; 1.0 for everyone when the mapping names no weight column."""
    column = mapping.get("weight_column")
    if not column:
        return pd.Series(1.0, index=index)
    weights = pd.to_numeric(columns[column], errors="coerce")
    bad = ~(weights > 0)
    if bad.any():
        problems.append(
            f"column '{column}': weights must be positive numbers "
            f"({rows_listing([file_row(i) for i in weights[bad].index])})"
        )
    return weights


def _respondent_ids(
    mapping: dict, columns: dict[str, pd.Series], index: pd.Index, problems: list[str]
) -> pd.Series:
    """The respondents' ids; their row numbers when the mapping names no id column."""
    column = mapping.get("id_column")
    if not column:
        return pd.Series([str(file_row(i) - 1) for i in index], index=index)
    ids = columns[column]
    dupes = ids[ids.duplicated()].unique().tolist()
    if dupes:
        problems.append(
            f"column '{column}': respondent ids must be unique; repeated: {dupes[:MAX_ROWS_LISTED]}"
        )
    return ids


def _question_answers(
    q: dict, columns: dict[str, pd.Series], missing: set[str], problems: list[str]
) -> tuple[QuestionPlan, list[str]] | None:
    """A question's plan and each respondent's option code ("" for no answer), or None when the
    question lacks the options or column to read it by."""
    for key in ("code", "column", "text", "options"):
        require(q, key, f"question {q.get('code', '?')}", problems)
    if (
        not q.get("options")
        or q.get("column") not in columns
        or not q.get("code")
        or "text" not in q
    ):
        return None  # each missing key is already a reported problem
    options, code_to_option, ranges = _option_lookup(q, problems)
    values = columns[q["column"]]
    q_missing = missing | {normalize_code(m) for m in q.get("missing", [])}
    mapped = values.map(lambda v: code_to_option.get(v, ""))
    if ranges:
        numbers = pd.to_numeric(values, errors="coerce")
        for lo, hi, code in ranges:
            mapped = mapped.where(~((mapped == "") & numbers.between(lo, hi)), code)
    problems += _unmapped(q["column"], values[mapped == ""], set(), q_missing)
    question = QuestionPlan(
        q["code"],
        q["column"],
        q["text"],
        list(q.get("topic_tags", [])),
        options,
        universe=str(q.get("universe") or "").strip(),
    )
    return question, mapped.tolist()


def _respondent_plans(
    *,
    ids: pd.Series,
    weights: pd.Series,
    people: _AgesAndStates,
    harmonized: dict[str, pd.Series],
    answers: dict[str, list[str]],
) -> list[RespondentPlan]:
    blank = pd.Series([""] * len(ids), index=ids.index, dtype=object)
    dims = {dim: harmonized.get(dim, blank).tolist() for dim in CATEGORY_DIMENSIONS}
    mins, maxs, state_list = (
        people.age_min.tolist(),
        people.age_max.tolist(),
        people.states.tolist(),
    )
    id_list, weight_list = ids.tolist(), weights.astype(float).tolist()
    return [
        RespondentPlan(
            external_id=id_list[i],
            weight=weight_list[i],
            age_min=mins[i],
            age_max=maxs[i],
            sex=dims["sex"][i],
            race_ethnicity=dims["race_ethnicity"][i],
            education=dims["education"][i],
            income=dims["income"][i],
            party=dims["party"][i],
            state=state_list[i],
            answers={code: vals[i] for code, vals in answers.items() if vals[i]},
        )
        for i in range(len(id_list))
    ]


def poll_import_plan(frame: pd.DataFrame, mapping: dict) -> ImportPlan:
    poll, questions_spec, demographics = _checked_mapping(mapping)
    frame = select_rows(frame, mapping)
    missing_codes = {normalize_code(m) for m in mapping.get("missing", [""])} | {""}
    columns = _mapped_columns(frame, mapping, demographics, questions_spec)
    rows_read = len(frame)

    problems: list[str] = []
    people = _ages_and_states(demographics, columns, missing_codes, frame.index, problems)
    if people.leave_out.all():
        problems.append("the mapping leaves every respondent of the file out (see above)")
    if people.leave_out.any():
        keep = ~people.leave_out
        frame = frame[keep]
        columns = {c: values[keep] for c, values in columns.items()}
        people.age_min, people.age_max = people.age_min[keep], people.age_max[keep]
        people.states = people.states[keep]

    harmonized = {
        dim: _harmonize(dim, spec, columns, missing_codes, problems)
        for dim, spec in demographics.items()
        if dim not in ("age", "state")
    }
    weights = _weights(mapping, columns, frame.index, problems)
    ids = _respondent_ids(mapping, columns, frame.index, problems)
    questions: list[QuestionPlan] = []
    answers: dict[str, list[str]] = {}
    for q in questions_spec:
        read = _question_answers(q, columns, missing_codes, problems)
        if read is not None:
            questions.append(read[0])
            answers[q["code"]] = read[1]
    if problems:
        raise PollImportError(problems)

    return ImportPlan(
        poll=poll,
        questions=questions,
        respondents=_respondent_plans(
            ids=ids, weights=weights, people=people, harmonized=harmonized, answers=answers
        ),
        rows_read=rows_read,
        dropped=people.dropped,
    )
