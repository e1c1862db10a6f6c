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
    demographics: {age, sex, race_ethnicity, education, income, party, state}
          (each one's keys: `polls.importers.demographics`)
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
from polls.importers.demographics import (
    CATEGORY_DIMENSIONS,
    AgesAndStates,
    DroppedRows,
    ages_and_states,
    harmonize,
    unmapped,
)
from polls.importers.geography import poll_with_country, state_problem


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
    problems += unmapped(q["column"], values[mapped == ""], set(), q_missing)
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
    people: AgesAndStates,
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
    people = ages_and_states(demographics, columns, missing_codes, frame.index, problems)
    if people.leave_out.all():
        problems.append("the mapping leaves every respondent of the file out (see above)")
    if people.leave_out.any():
        keep = ~people.leave_out
        frame = frame[keep]
        columns = {c: values[keep] for c, values in columns.items()}
        people.age_min, people.age_max = people.age_min[keep], people.age_max[keep]
        people.states = people.states[keep]

    harmonized = {
        dim: harmonize(dim, spec, columns, missing_codes, problems)
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
