"""The domain's errors live apart from the API layer."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_domain_errors_import_without_the_web_stack() -> None:
    # Generation, validation and the poll selector raise DomainError; importing it must not pull
    # in DRF for them.
    code = (
        "import sys, config.errors; print(sorted(m for m in sys.modules if 'rest_framework' in m))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_domain_errors_are_imported_from_config_errors() -> None:
    # config.api imports them for its exception handler, so an old import would keep working
    # and hide where they live.
    pattern = re.compile(r"from config\.api import [^\n]*\b(DomainError|ConflictError)\b")
    sources = [p for p in ROOT.rglob("*.py") if ".venv" not in p.parts]
    offenders = [str(p.relative_to(ROOT)) for p in sources if pattern.search(p.read_text())]
    assert offenders == []
