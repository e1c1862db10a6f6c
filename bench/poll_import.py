"""Time importing the CCES 2018 file (59,756 respondents) with crosstabs, fresh and again, into a
fresh SQLite database, and count the queries of the poll and event lists at two page sizes.

Run as `python -m bench.poll_import` (or through `python -m bench.run`); writes
bench/results/poll_import.json.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "bench" / "results" / "poll_import.json"
PAGE_SIZES = (5, 50)
BUDGET_SECONDS = 30.0


def main() -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="bench-polls-"))
    # A fresh database of its own: the bench never touches the developer's data.
    os.environ["SQLITE_PATH"] = str(workdir / "bench.sqlite3")
    os.environ["PERSONALAB_VAR_DIR"] = str(workdir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    from polls.importers import load_mapping, plans_for, read_csv_source
    from polls.models import Crosstab, MajorEvent, Poll
    from polls.services import polls_import

    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0)
    csv = ROOT / "polls" / "data" / "cces2018_abortion.csv"
    mapping = ROOT / "polls" / "mappings" / "cces2018_abortion.yaml"

    def timed_import() -> tuple[float, dict]:
        started = time.perf_counter()
        reports = polls_import(plans=plans_for(read_csv_source(csv), load_mapping(mapping)))
        seconds = time.perf_counter() - started
        r = reports[0]
        return seconds, {"respondents": r.respondents, "responses": r.responses,
                         "crosstabs": r.crosstabs}  # fmt: skip

    fresh_s, counts = timed_import()
    again_s, _ = timed_import()

    Poll.objects.bulk_create(
        [Poll(slug=f"bench-{i}", title=f"Bench {i}", pollster="bench", population="-",
              source="bench", year=2000 + i % 20) for i in range(60)]
    )  # fmt: skip
    MajorEvent.objects.bulk_create(
        [MajorEvent(date=dt.date(2020, 1, 1) + dt.timedelta(days=i), title=f"Bench {i}",
                    type="other", source="bench") for i in range(60)]
    )  # fmt: skip
    user = get_user_model().objects.create_user("bench", password="bench-password-long")
    client = APIClient()
    client.force_authenticate(user)
    queries = {}
    for endpoint in ("/api/v1/polls/", "/api/v1/events/"):
        for size in PAGE_SIZES:
            with CaptureQueriesContext(connection) as ctx:
                response = client.get(endpoint, {"limit": size})
            assert response.status_code == 200, response.content
            queries[f"{endpoint}?limit={size}"] = len(ctx.captured_queries)

    result = {
        "benchmark": "poll_import",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "dataset": "CCES 2018 MRP extract (polls/data/cces2018_abortion.csv)",
        "rows": counts,
        "crosstab_rows": Crosstab.objects.count(),
        "fresh_import_seconds": round(fresh_s, 2),
        "reimport_seconds": round(again_s, 2),
        "budget_seconds": BUDGET_SECONDS,
        "within_budget": max(fresh_s, again_s) < BUDGET_SECONDS,
        "list_queries": queries,
        "database": f"SQLite {connection.Database.sqlite_version} (fresh file)",
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
        },
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
