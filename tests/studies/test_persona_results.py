"""The pipeline's thread pool (`studies.pipeline._persona_results`), with a backend that touches no
database: threads take personas on their own, at most `concurrency` at once, and the results of
personas in flight when the consumer stops are handed back instead of lost."""

from __future__ import annotations

import threading
import time

from studies.backends.base import PersonaResult
from studies.pipeline import _persona_results


class SlowBackend:
    def __init__(self, concurrency: int, seconds: float) -> None:
        self.concurrency = concurrency
        self.seconds = seconds
        self.started: list[int] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()

    def answer_persona(self, persona: int) -> PersonaResult:
        with self._lock:
            self.started.append(persona)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        time.sleep(self.seconds)
        with self._lock:
            self.in_flight -= 1
        return PersonaResult(calls=f"calls of {persona}")


def test_threads_take_their_next_persona_while_the_consumer_is_busy():
    backend = SlowBackend(concurrency=3, seconds=0.05)
    results = _persona_results(backend, list(range(12)))
    first = next(results)
    time.sleep(1.0)  # the consumer writes a batch; the threads carry on meanwhile
    assert len(backend.started) == 12
    rest = list(results)
    assert sorted([first[0]] + [p for p, _ in rest]) == list(range(12))
    assert backend.max_in_flight == 3


def test_results_in_flight_when_the_consumer_stops_are_handed_back():
    backend = SlowBackend(concurrency=4, seconds=0.2)
    dropped: list[PersonaResult] = []
    results = _persona_results(backend, list(range(40)), dropped=dropped)
    taken = [next(results)]
    results.close()  # e.g. the budget is reached

    started = set(backend.started)
    handed_back = {r.calls for r in dropped}
    assert len(started) < 40  # no new persona was started after the stop
    assert handed_back == {f"calls of {p}" for p in started} - {taken[0][1].calls}
    assert backend.in_flight == 0
