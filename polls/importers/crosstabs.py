"""Crosstabs: computed from respondent microdata, or read from a published table.

A crosstab cell is (question, dimension, category, option) -> weighted share and unweighted n,
where n is the group's base (respondents in the group who answered). Computation is vectorized
with pandas: one groupby per question and dimension, whatever the number of respondents.
"""

from __future__ import annotations

import pandas as pd

from environment.categories import AGE_BRACKETS
from polls.importers.common import (
    PollImportError,
    file_row,
    normalize_column,
    require,
    select_rows,
)
from polls.importers.demographics import CATEGORY_DIMENSIONS
from polls.importers.geography import poll_with_country, state_problem, us_states
from polls.importers.microdata import ImportPlan, OptionPlan, QuestionPlan

CrosstabRow = tuple[str, str, str, str, float, int]

DIMENSIONS = (
    "all",
    "age_bracket",
    "sex",
    "race_ethnicity",
    "education",
    "income",
    "party",
    "state",
)
TABLE_COLUMNS = ("question_code", "dimension", "category", "option_code", "share", "n")


def age_bracket_of(age_min: pd.Series, age_max: pd.Series) -> pd.Series:
    """The census bracket holding a respondent's whole age range, blank if it spans several.

    The last bracket (65+) is open-ended in the census, so a source's "70+" lies inside it.
    """
    lo_all = pd.to_numeric(age_min, errors="coerce")
    hi_all = pd.to_numeric(age_max, errors="coerce")
    result = pd.Series("", index=age_min.index, dtype=object)
    last = list(AGE_BRACKETS)[-1]
    for code, (lo, hi) in AGE_BRACKETS.items():
        upper = float("inf") if code == last else hi
        inside = (lo_all >= lo) & (hi_all <= upper)
        result = result.where(~inside, code)
    return result


def crosstabs_compute(plan: ImportPlan) -> list[CrosstabRow]:
    """Every (question, dimension, category, option) cell the plan's respondents measure."""
    if not plan.respondents:
        return []
    people = pd.DataFrame(
        {
            "weight": [r.weight for r in plan.respondents],
            "age_min": [r.age_min for r in plan.respondents],
            "age_max": [r.age_max for r in plan.respondents],
            **{
                dim: [getattr(r, dim) for r in plan.respondents]
                for dim in ("sex", "race_ethnicity", "education", "income", "party", "state")
            },
        }
    )
    people["age_bracket"] = age_bracket_of(people["age_min"], people["age_max"])
    people["all"] = "all"
    answers = pd.DataFrame(
        [(i, q, o) for i, r in enumerate(plan.respondents) for q, o in r.answers.items()],
        columns=["person", "question", "option"],
    )
    rows: list[CrosstabRow] = []
    if answers.empty:
        return rows
    long = answers.join(people, on="person")
    for question in plan.questions:
        q_answers = long[long["question"] == question.code]
        option_codes = [o.code for o in question.options]
        for dim in DIMENSIONS:
            measured = q_answers[q_answers[dim] != ""]
            if measured.empty:
                continue
            weights = (
                measured.groupby([dim, "option"])["weight"]
                .sum()
                .unstack("option", fill_value=0.0)
                .reindex(columns=option_codes, fill_value=0.0)
            )
            shares = weights.div(weights.sum(axis=1), axis=0).clip(0.0, 1.0)
            bases = measured.groupby(dim).size()
            for category, share_row in shares.iterrows():
                n = int(bases[category])
                rows += [
                    (question.code, dim, str(category), code, float(share), n)
                    for code, share in share_row.items()
                ]
    return rows


def category_problem(dimension: str, category: str) -> str | None:
    """Why a category is not valid for its dimension, or None."""
    if dimension == "all":
        return None if category == "all" else "the overall row's category must be 'all'"
    if dimension == "state":
        return None if category in us_states().codes else f"'{category}' is not a USPS state code"
    allowed = set(AGE_BRACKETS) if dimension == "age_bracket" else CATEGORY_DIMENSIONS[dimension]
    parts = category.split("|")
    bad = [p for p in parts if p not in allowed]
    if bad or len(set(parts)) != len(parts):
        return (
            f"'{category}' is not a {dimension} category ({', '.join(sorted(allowed))}; join "
            "several with '|' for a group that spans them)"
        )
    return None


def _questions_from_mapping(mapping: dict, problems: list[str]) -> list[QuestionPlan]:
    questions = []
    for q in mapping.get("questions") or []:
        for key in ("code", "text", "options"):
            require(q, key, f"question {q.get('code', '?')}", problems)
        options = []
        for order, o in enumerate(q.get("options") or []):
            if not o.get("code") or not o.get("label"):
                problems.append(
                    f"mapping: question {q.get('code')} option #{order + 1} needs code and label"
                )
                continue
            options.append(OptionPlan(o["code"], o["label"], order, o.get("ordinal_value"), []))
        questions.append(
            QuestionPlan(
                q.get("code", ""), "", q.get("text", ""), list(q.get("topic_tags", [])), options
            )
        )
    if not questions:
        problems.append("mapping: 'questions' must list at least one question")
    return questions


def _cell_code_problems(
    q: str, dim: str, cat: str, opt: str, *, options: dict[str, set[str]], poll: dict
) -> list[str]:
    """What is wrong with a table row's question, option, dimension and category codes."""
    problems = []
    if q not in options:
        problems.append(f"question code '{q}' is not among the mapping's questions")
    elif opt not in options[q]:
        problems.append(f"option code '{opt}' is not an option of question '{q}'")
    if dim not in DIMENSIONS:
        problems.append(f"dimension '{dim}' is not one of {', '.join(DIMENSIONS)}")
    elif dim == "state" and (why := state_problem(poll, "a 'state' row")) is not None:
        problems.append(why.removeprefix("mapping: "))
    elif (why := category_problem(dim, cat)) is not None:
        problems.append(f"category: {why}")
    return problems


def _cell_number_problems(
    share: float, n: float, *, raw_share: str, raw_n: str, scale: float
) -> list[str]:
    """What is wrong with a table row's share (already divided by the scale) and base n."""
    problems = []
    if pd.isna(share) or not 0 <= share <= 1:
        problems.append(f"share '{raw_share}' must be a number between 0 and {scale:g}")
    if pd.isna(n) or n < 0 or n % 1:
        problems.append(f"n '{raw_n}' must be a whole number ≥ 0")
    return problems


def crosstab_table_plan(frame: pd.DataFrame, mapping: dict) -> ImportPlan:
    """A published crosstab table (one row per cell) for a poll that has no microdata.

    Columns: question_code, dimension, category, option_code, share, n (`columns:` in the mapping
    renames them; `share_scale: 100` reads percentages).
    """
    problems: list[str] = []
    poll = mapping.get("poll") or {}
    for key in ("slug", "title", "pollster", "population", "source"):
        require(poll, key, "poll", problems)
    poll = poll_with_country(poll, problems)
    questions = _questions_from_mapping(mapping, problems)
    renames = {**{c: c for c in TABLE_COLUMNS}, **(mapping.get("columns") or {})}
    frame = select_rows(frame, mapping)
    absent = [renames[c] for c in TABLE_COLUMNS if renames[c] not in frame.columns]
    if absent:
        problems.append(
            f"column(s) {absent} are not in the file; a crosstab table needs "
            f"{', '.join(TABLE_COLUMNS)} (rename them under the mapping's 'columns')"
        )
    if problems:
        raise PollImportError(problems)

    scale = float(mapping.get("share_scale", 1))
    col = {c: normalize_column(frame[renames[c]]) for c in TABLE_COLUMNS}
    options = {q.code: {o.code for o in q.options} for q in questions}
    shares = pd.to_numeric(col["share"], errors="coerce") / scale
    ns = pd.to_numeric(col["n"], errors="coerce")
    rows: list[CrosstabRow] = []
    seen: dict[tuple, int] = {}
    for i in frame.index:
        line = file_row(i)
        q, dim, cat, opt = (col[c][i] for c in TABLE_COLUMNS[:4])
        share, n = shares[i], ns[i]
        row_problems = [
            *_cell_code_problems(q, dim, cat, opt, options=options, poll=poll),
            *_cell_number_problems(
                share, n, raw_share=col["share"][i], raw_n=col["n"][i], scale=scale
            ),
        ]
        key = (q, dim, cat, opt)
        if key in seen:
            row_problems.append(f"repeats the cell of row {seen[key]}")
        seen.setdefault(key, line)
        if row_problems:
            problems.append(f"row {line}: " + "; ".join(row_problems))
            continue
        rows.append((q, dim, cat, opt, float(share), int(n)))
    if problems:
        raise PollImportError(problems)
    return ImportPlan(
        poll=poll,
        questions=questions,
        respondents=[],
        rows_read=len(frame),
        crosstabs=rows,
        kind="crosstabs",
    )
