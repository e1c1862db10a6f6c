"""Python's cyclic garbage collector, tuned once for a long-lived process that has loaded the
application: the uvicorn web processes (`config.asgi` lifespan), the Celery pool processes
(`config.celery`) and the command-line processes that run studies in themselves (`run_demo`,
`start_run`, `resume_runs`).

What the process loaded (modules, settings, URL patterns, serializers, about 250,000 objects in a
web process) is frozen out of the collector's generations (`gc.freeze`), so a full collection no
longer walks it; and a collection starts after 20,000 new container objects instead of 700. An LLM
run builds a few dozen objects a call (prompts, parsed replies, call-log rows): with the defaults
the embedded bench's process ran about 8,600 young and 27 full collections (the full ones 4.5 s of
CPU, most of it while the reference data loaded), against 51 and 4 tuned (`/tmp`-free measure:
`gc.callbacks`, README Benchmarks). Objects frozen stay out of cyclic collection for good (they are
still freed by reference counting), so this runs once, after loading, never per run.
"""

from __future__ import annotations

import gc

# A collection starts after this many new container objects (Python's default is 700).
GC_THRESHOLD = (20_000, 50, 100)

_tuned = False


def tune_collector() -> bool:
    """Freeze what is loaded and raise the thresholds, once per process; whether this call did."""
    global _tuned
    if _tuned:
        return False
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
    _tuned = True
    return True
