"""Major events from a CSV: date, title, type, description, related_topics, source.

`related_topics` holds topics separated by ";" (or a JSON list). Every row is checked before
anything is written; each problem names its row.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import pandas as pd

from polls.importers.common import PollImportError, file_row
from polls.models import MajorEvent

EVENT_COLUMNS = ("date", "title", "type", "description", "related_topics", "source")
REQUIRED = ("date", "title", "type", "source")


@dataclass(frozen=True)
class EventPlan:
    date: dt.date
    title: str
    type: str
    description: str
    related_topics: list[str]
    source: str


def _topics(raw: str) -> list[str] | None:
    raw = raw.strip()
    if not raw:
        return []
    if raw.startswith("["):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            return None
        return [str(v).strip() for v in value] if isinstance(value, list) else None
    return [t.strip() for t in raw.split(";") if t.strip()]


def events_plan(frame: pd.DataFrame) -> list[EventPlan]:
    absent = [c for c in REQUIRED if c not in frame.columns]
    if absent:
        raise PollImportError(
            [f"column(s) {absent} are missing; an events file has {', '.join(EVENT_COLUMNS)}"]
        )
    frame = frame.reset_index(drop=True).fillna("").astype(str)
    types = set(MajorEvent.Type.values)
    problems, plans, seen = [], [], {}
    title_max = MajorEvent._meta.get_field("title").max_length
    for i, row in frame.iterrows():
        line, row_problems = file_row(i), []
        get = lambda c, row=row: row.get(c, "").strip()  # noqa: E731
        date = None
        try:
            date = dt.date.fromisoformat(get("date"))
        except ValueError:
            row_problems.append(f"date '{get('date')}' is not YYYY-MM-DD")
        for column in ("title", "source"):
            if not get(column):
                row_problems.append(f"{column} is empty")
        if len(get("title")) > title_max:
            row_problems.append(f"title is longer than {title_max} characters")
        if get("type") not in types:
            row_problems.append(f"type '{get('type')}' is not one of {', '.join(sorted(types))}")
        topics = _topics(get("related_topics"))
        if topics is None:
            row_problems.append("related_topics must be topics separated by ';' or a JSON list")
        key = (get("date"), get("title"))
        if key in seen:
            row_problems.append(f"repeats the date and title of row {seen[key]}")
        seen.setdefault(key, line)
        if row_problems:
            problems.append(f"row {line}: " + "; ".join(row_problems))
            continue
        plans.append(
            EventPlan(date, get("title"), get("type"), get("description"), topics, get("source"))
        )
    if problems:
        raise PollImportError(problems)
    return plans
