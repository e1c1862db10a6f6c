"""Redis databases for the unit tests that talk to the machine's Redis.

Each such test file empties its database (`flushdb`), so two files must never share one, and under
pytest-xdist (`make test` runs the SQLite tests in two worker processes) the same file may run in
both workers at once: each worker gets databases of its own. The integration stack uses 11
(`TEST_REDIS_URL`) and the benchmarks 13 and 14 outside the tests."""

from __future__ import annotations

import os

# One database per test file and worker: gw0 takes the first of each pair, gw1 the second. The
# throttle tests never empty theirs (every test writes under a key prefix of its own), so both
# workers share one.
DATABASES = {
    "ratelimit": (13, 9),
    "async": (10, 8),
    "observability": (12, 7),
    "throttles": (4, 4),
    "tracing": (5, 6),
}


def redis_test_url(purpose: str) -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker.removeprefix("gw") or 0)
    choices = DATABASES[purpose]
    if index >= len(choices):
        raise RuntimeError(
            f"tests/redis_db.py has Redis databases for {len(choices)} xdist workers; "
            f"{worker} needs one more in DATABASES[{purpose!r}]"
        )
    return f"redis://127.0.0.1:6379/{choices[index]}"
