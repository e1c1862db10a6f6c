"""Writes for studies and runs (`studies.py`, `runs.py`); the executor that runs them is
`studies.pipeline`."""

from studies.services.runs import run_cancel, run_estimate, run_resume, run_start
from studies.services.studies import (
    ConditionSpec,
    ItemSpec,
    OptionSpec,
    prompt_template_problems,
    study_create,
)

__all__ = [
    "ConditionSpec",
    "ItemSpec",
    "OptionSpec",
    "prompt_template_problems",
    "run_cancel",
    "run_estimate",
    "run_resume",
    "run_start",
    "study_create",
]
