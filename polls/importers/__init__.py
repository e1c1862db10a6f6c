"""Importers turn a file plus a mapping into validated plans; they never touch the database.

A mapping's `kind` says what the file holds:

- `microdata` (the default): one row per respondent (see `polls.importers.microdata`);
- `crosstabs`: a published crosstab table, one row per cell (see `polls.importers.crosstabs`);
- `toplines`: published toplines, one row per poll (see `polls.importers.toplines`).
"""

from __future__ import annotations

import pandas as pd

from polls.importers.common import (
    PollImportError,
    load_mapping,
    load_mapping_text,
    normalize_code,
    read_csv_source,
    read_rdataset,
    read_statsmodels_dataset,
)
from polls.importers.crosstabs import crosstab_table_plan, crosstabs_compute
from polls.importers.microdata import (
    ImportPlan,
    OptionPlan,
    QuestionPlan,
    RespondentPlan,
    poll_import_plan,
)
from polls.importers.toplines import toplines_plans

KINDS = ("microdata", "crosstabs", "toplines")

__all__ = [
    "KINDS",
    "ImportPlan",
    "OptionPlan",
    "PollImportError",
    "QuestionPlan",
    "RespondentPlan",
    "crosstab_table_plan",
    "crosstabs_compute",
    "load_mapping",
    "load_mapping_text",
    "normalize_code",
    "plans_for",
    "poll_import_plan",
    "read_csv_source",
    "read_rdataset",
    "read_statsmodels_dataset",
    "toplines_plans",
]


def plans_for(frame: pd.DataFrame, mapping: dict) -> list[ImportPlan]:
    """Validated plans for a file of any kind; raises PollImportError listing every problem."""
    kind = mapping.get("kind", "microdata")
    if kind == "microdata":
        return [poll_import_plan(frame, mapping)]
    if kind == "crosstabs":
        return [crosstab_table_plan(frame, mapping)]
    if kind == "toplines":
        return toplines_plans(frame, mapping)
    raise PollImportError([f"mapping: kind '{kind}' is not one of {', '.join(KINDS)}"])
