"""Published toplines: one row per poll, each option's share in its own column, no respondents.

Each row becomes a poll with one question and crosstab rows of dimension "all" (and "state" when
the mapping names a state column), marked as published. Nothing is invented: when the options'
shares do not add up to the whole, the mapping may name a `remainder` option that receives the
difference (undecided, other candidates, no answer), and says so in its label.

Mapping::

    kind: toplines
    rows: {column, in | not_in: [...]} or a list of them   (optional)
    poll: {slug, title, pollster, population, mode, source, licence, year, topic_tags, country}
          string values are templates over the row's columns: "538-{question_id}"; country is
          an ISO 3166-1 alpha-2 code (US when left out)
    dates: {field_start: {column, format}, field_end: {column, format}}   (strptime formats)
    sample_size_column: column holding the question's sample size
    state_column: column holding a USPS code (rows for other places get no state row)
    share_scale: 100 when shares are percentages
    question: {code, text, topic_tags, options: [{code, label, share_column, ordinal_value}],
               remainder: {code, label}}
"""

from __future__ import annotations

import datetime as dt
import string

import pandas as pd

from polls.importers.common import PollImportError, file_row, require, select_rows
from polls.importers.geography import poll_with_country, state_problem, us_states
from polls.importers.microdata import ImportPlan, OptionPlan, QuestionPlan

REMAINDER_TOLERANCE = 0.005


def _template_columns(value) -> set[str]:
    if not isinstance(value, str):
        return set()
    return {name for _, name, _, _ in string.Formatter().parse(value) if name}


def _checked_specs(mapping: dict) -> tuple[dict, dict, bool]:
    """The poll and question specs, and whether the country is a template over a column (then
    checked on every row); PollImportError naming every missing key."""
    problems: list[str] = []
    poll_spec = mapping.get("poll") or {}
    for key in ("slug", "title", "pollster", "population", "source"):
        require(poll_spec, key, "poll", problems)
    q_spec = mapping.get("question") or {}
    for key in ("code", "text", "options"):
        require(q_spec, key, "question", problems)
    # A country written once is checked once; a template over a column is checked on every row.
    row_country = bool(_template_columns(poll_spec.get("country")))
    if not row_country:
        poll_spec = poll_with_country(poll_spec, problems)
        if mapping.get("state_column") and (why := state_problem(poll_spec, "state_column")):
            problems.append(why)
    if problems:
        raise PollImportError(problems)
    return poll_spec, q_spec, row_country


def _named_columns(mapping: dict, poll_spec: dict, options: list[dict]) -> set[str]:
    """Every column the mapping reads: in templates, shares, dates, sample size and state."""
    needed: set[str | None] = set().union(*(_template_columns(v) for v in poll_spec.values()))
    needed |= set().union(*(_template_columns(o.get("label")) for o in options))
    needed |= {o.get("share_column") for o in options}
    needed |= {d.get("column") for d in (mapping.get("dates") or {}).values()}
    needed |= {mapping.get("sample_size_column"), mapping.get("state_column")}
    return {c for c in needed if c is not None}


def _row_dates(values: dict, dates: dict, problems: list[str]) -> dict[str, dt.date]:
    parsed = {}
    for key, spec in dates.items():
        raw = values[spec["column"]].strip()
        try:
            parsed[key] = dt.datetime.strptime(raw, spec.get("format", "%Y-%m-%d")).date()
        except ValueError:
            problems.append(f"{spec['column']} '{raw}' is not a date ({spec.get('format')})")
    return parsed


def _row_sample_size(values: dict, column: str | None, problems: list[str]) -> int:
    """The row's sample size; 0 when the mapping names no column for it."""
    if not column:
        return 0
    raw = values[column]
    number = pd.to_numeric(raw, errors="coerce")
    if pd.isna(number) or number < 0:
        problems.append(f"sample size '{raw}' is not a number ≥ 0")
        return 0
    return round(float(number))


def _row_shares(
    values: dict, options: list[dict], scale: float, problems: list[str]
) -> list[float]:
    """Each option's share of the whole (NaN where the cell is not a number)."""
    shares = []
    for o in options:
        raw = values[o["share_column"]]
        share = pd.to_numeric(raw, errors="coerce") / scale
        if pd.isna(share) or not 0 <= share <= 1:
            problems.append(f"{o['share_column']} '{raw}' is not a share 0–{scale:g}")
        shares.append(float(share))
    return shares


def _row_plan(
    values: dict,
    mapping: dict,
    *,
    poll_spec: dict,
    q_spec: dict,
    row_country: bool,
    scale: float,
) -> tuple[ImportPlan | None, list[str]]:
    """One row's poll with its question and published cells, or None and what is wrong with it."""
    problems: list[str] = []

    def fill(value):
        return value.format(**values) if isinstance(value, str) else value

    poll = {k: fill(v) for k, v in poll_spec.items()}
    if row_country:
        poll = poll_with_country(poll, problems)
        if mapping.get("state_column") and (why := state_problem(poll, "state_column")):
            problems.append(why)
    poll.update(_row_dates(values, mapping.get("dates") or {}, problems))
    n = _row_sample_size(values, mapping.get("sample_size_column"), problems)
    options = q_spec["options"]
    shares = _row_shares(values, options, scale, problems)
    rest = 1 - sum(s for s in shares if not pd.isna(s))
    if rest < -REMAINDER_TOLERANCE:
        problems.append(f"the options' shares add up to more than {scale:g}")
    if problems:
        return None, problems
    option_plans = [
        OptionPlan(o["code"], fill(o.get("label", o["code"])), k, o.get("ordinal_value"), [])
        for k, o in enumerate(options)
    ]
    codes = [o["code"] for o in options]
    remainder = q_spec.get("remainder")
    if remainder:
        option_plans.append(
            OptionPlan(remainder["code"], remainder["label"], len(options), None, [])
        )
        codes.append(remainder["code"])
        shares.append(max(rest, 0.0))
    poll["sample_size"] = n
    cells = [(q_spec["code"], "all", "all", c, s, n) for c, s in zip(codes, shares, strict=True)]
    state = values.get(mapping.get("state_column") or "", "").strip().upper()
    if state in us_states().codes:
        cells += [
            (q_spec["code"], "state", state, c, s, n) for c, s in zip(codes, shares, strict=True)
        ]
    question = QuestionPlan(
        q_spec["code"], "", q_spec["text"], list(q_spec.get("topic_tags", [])), option_plans
    )
    plan = ImportPlan(
        poll=poll,
        questions=[question],
        respondents=[],
        rows_read=1,
        crosstabs=cells,
        kind="toplines",
    )
    return plan, []


def toplines_plans(frame: pd.DataFrame, mapping: dict) -> list[ImportPlan]:
    poll_spec, q_spec, row_country = _checked_specs(mapping)
    frame = select_rows(frame, mapping)
    needed = _named_columns(mapping, poll_spec, q_spec["options"])
    absent = sorted(c for c in needed if c not in frame.columns)
    if absent:
        raise PollImportError(
            [f"column '{c}' named in the mapping is not in the file" for c in absent]
        )

    scale = float(mapping.get("share_scale", 1))
    problems: list[str] = []
    plans: list[ImportPlan] = []
    for i, row in frame.astype(str).iterrows():
        plan, row_problems = _row_plan(
            row.to_dict(),
            mapping,
            poll_spec=poll_spec,
            q_spec=q_spec,
            row_country=row_country,
            scale=scale,
        )
        if plan is None:
            problems.append(f"row {file_row(i)}: " + "; ".join(row_problems))
        else:
            plans.append(plan)
    slugs = pd.Series([p.poll["slug"] for p in plans])
    if slugs.duplicated().any():
        problems.append(
            f"poll slug template gives repeated slugs: {sorted(set(slugs[slugs.duplicated()]))[:5]}"
        )
    if problems:
        raise PollImportError(problems)
    return plans
