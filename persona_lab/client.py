"""A small Python client for the Persona Lab API: create a population and a study, start a run,
follow it with a progress bar, and read its answers into pandas.

    from persona_lab.client import Client

    lab = Client("http://127.0.0.1:8000", token="…")          # or PERSONA_LAB_URL / _TOKEN
    population = lab.create_population(["dallas_tx_city"], size=500, seed=1)
    question = lab.question("cces-2018-abortion", "employers-decline-abortion-coverage")
    study = lab.create_study("Coverage", questions=[question])
    run = lab.start_run(study, population, backend="poll_model").wait()
    answers = run.to_pandas()           # one row per persona × item
    results = run.results_frame()       # the result tables, one row per statistic

Only `requests` and pandas are needed (pyarrow for Parquet, which `to_pandas` downloads).
"""

from __future__ import annotations

import io
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self, TextIO

import pandas as pd
import requests

FINISHED = frozenset({"completed", "failed", "cancelled", "stopped"})


class ApiError(Exception):
    """The API refused a request: its HTTP status, the error's code, message and fields."""

    def __init__(self, status: int, code: str, message: str, fields: dict | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.fields = status, code, message, fields or {}


class RunFailed(Exception):
    """A run that ended without completing (failed, cancelled, stopped at its budget)."""

    def __init__(self, run: Run):
        super().__init__(f"Run {run.id} ended {run.status}: {run.data.get('error_message', '')}")
        self.run = run


class HeldRunFailed(Exception):
    """A held run the server could not start (its population failed, a quota, the budget)."""

    def __init__(self, held: HeldRun):
        self.held = held
        super().__init__(f"Held run {held.id} failed: {held.data.get('error_message', '')}")


class PopulationFailed(Exception):
    """A population the server could not build (its `error_message` says why)."""

    def __init__(self, population: Population):
        super().__init__(
            f"Population {population.id} failed to build: "
            f"{population.data.get('error_message', '')}"
        )
        self.population = population


class _Bar:
    """A text progress bar on stderr (tqdm is not a dependency of the project)."""

    def __init__(self, label: str, total: int, stream: TextIO | None = None, width: int = 30):
        self.label, self.total, self.width = label, total, width
        self.stream = stream if stream is not None else sys.stderr

    def show(self, done: int, total: int) -> None:
        self.total = total or self.total
        fraction = done / self.total if self.total else 1.0
        filled = int(fraction * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {done}/{self.total} {fraction:4.0%}")
        self.stream.flush()

    def close(self, status: str) -> None:
        self.stream.write(f"  {status}\n")
        self.stream.flush()


@dataclass
class _Resource:
    """An object of the API as last read (`data`), at `{path}/{id}/`."""

    client: Client = field(repr=False)
    data: dict
    path: ClassVar[str]

    @property
    def id(self) -> int:
        return int(self.data["id"])

    def refresh(self) -> Self:
        self.data = self.client._get(f"{self.path}/{self.id}/").json()
        return self


@dataclass
class Population(_Resource):
    path = "populations"

    @property
    def status(self) -> str:
        # A server from before off-request builds has no status: its populations are all ready.
        return str(self.data.get("status", "ready"))

    def wait(self, *, interval: float = 1.0, timeout: float | None = 3600) -> Population:
        """Poll until the server has built the population; raises PopulationFailed when it
        failed, TimeoutError when it is still being built after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.status in ("queued", "building"):
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(
                    f"Population {self.id} is still {self.status} after {timeout} s "
                    f"({self.data.get('personas_done', 0)} of {self.data['size']} personas)"
                )
            time.sleep(interval)
            self.refresh()
        if self.status == "failed":
            raise PopulationFailed(self)
        return self

    def to_pandas(self, *, anonymized: bool = False) -> pd.DataFrame:
        """One row per persona: area, demographics and every profile field."""
        return self.client._table(
            f"populations/{self.id}/export/", {"format": "parquet", "anonymized": anonymized}
        )


@dataclass
class Study(_Resource):
    path = "studies"


@dataclass
class Run(_Resource):
    path = "runs"

    @property
    def status(self) -> str:
        return str(self.data["status"])

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def wait(
        self,
        *,
        progress: bool = True,
        interval: float = 0.5,
        timeout: float | None = None,
        stream: TextIO | None = None,
    ) -> Run:
        """Poll the run until it finishes, drawing a progress bar; raises RunFailed when it does
        not complete, TimeoutError after `timeout` seconds."""
        bar = _Bar(f"Run {self.id}", int(self.data["personas_total"]), stream) if progress else None
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self.refresh()
            if bar is not None:
                bar.show(int(self.data["personas_done"]), int(self.data["personas_total"]))
            if self.finished:
                break
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"Run {self.id} is still {self.status} after {timeout} s")
            time.sleep(interval)
        if bar is not None:
            bar.close(self.status)
        if self.status != "completed":
            raise RunFailed(self)
        return self

    def results(self) -> dict:
        """The results as the API gives them (per item: shares, intervals, breakdowns)."""
        return self.client._get(f"runs/{self.id}/results/").json()

    def to_pandas(self, *, anonymized: bool = False) -> pd.DataFrame:
        """One row per persona × item: persona, area, condition, answer, its probability,
        reasoning (downloaded as Parquet, so the columns keep their types)."""
        return self.client._table(
            f"runs/{self.id}/answers/", {"format": "parquet", "anonymized": anonymized}
        )

    def results_frame(self) -> pd.DataFrame:
        """The result tables: one row per item × group × option × statistic."""
        response = self.client._get(f"runs/{self.id}/results/", params={"format": "csv"})
        return pd.read_csv(io.BytesIO(response.content), keep_default_na=False, na_values=[""])


@dataclass
class HeldRun(_Resource):
    """A run held for a population still being built: the server starts it when the build
    completes (`wait` follows it until then and gives the run)."""

    path = "held-runs"

    @property
    def status(self) -> str:
        return str(self.data["status"])

    def run(self) -> Run:
        """The run it became (once `status` is "started")."""
        if self.data.get("run") is None:
            raise ValueError(f"Held run {self.id} is {self.status} and has no run.")
        return self.client.run(int(self.data["run"]))

    def wait(self, *, interval: float = 1.0, timeout: float | None = 3600) -> Run:
        """Poll until the server has started it, then its run; raises HeldRunFailed when it
        could not be started, TimeoutError when still held after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.status == "held":
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"Held run {self.id} is still held after {timeout} s")
            time.sleep(interval)
            self.refresh()
        if self.status == "failed":
            raise HeldRunFailed(self)
        return self.run()

    def _act(self, action: str) -> HeldRun:
        self.data = self.client._post(f"held-runs/{self.id}/{action}/", {})
        return self

    def start(self) -> HeldRun:
        """Start it now (its population is ready but the run was not started)."""
        return self._act("start")

    def retry(self) -> HeldRun:
        """Give a failed one another go: started on a ready population, held again on one
        still being built."""
        return self._act("retry")

    def cancel(self) -> None:
        self.client._request("POST", f"held-runs/{self.id}/cancel/", json={})
        self.data = {**self.data, "status": "cancelled"}


class Client:
    """The API at `base_url`, authenticated with a DRF token or an API key (both sent as
    ``Authorization: Bearer …``); defaults from PERSONA_LAB_URL and PERSONA_LAB_TOKEN."""

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 120,
        session: requests.Session | None = None,
    ) -> None:
        base = base_url or os.environ.get("PERSONA_LAB_URL", "http://127.0.0.1:8000")
        self.api = base.rstrip("/") + "/api/v1/"
        self.timeout = timeout
        self.session = session or requests.Session()
        token = token or os.environ.get("PERSONA_LAB_TOKEN")
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    # --- HTTP ---------------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        response = self.session.request(
            method, self.api + path.lstrip("/"), timeout=self.timeout, **kwargs
        )
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
            except (ValueError, KeyError, TypeError):
                error = {"code": "http_error", "message": response.text[:500]}
            raise ApiError(
                response.status_code, error.get("code", ""), error.get("message", ""),
                error.get("fields"),
            )  # fmt: skip
        return response

    def _get(self, path: str, **kwargs: Any) -> requests.Response:
        return self._request("GET", path, **kwargs)

    def _post(self, path: str, payload: dict) -> dict:
        return self._request("POST", path, json=payload).json()

    def _table(self, path: str, params: dict) -> pd.DataFrame:
        params = {k: ("true" if v is True else v) for k, v in params.items() if v is not False}
        response = self._get(path, params=params)
        return pd.read_parquet(io.BytesIO(response.content))

    # --- resources ----------------------------------------------------------------------------

    def question(self, poll_slug: str, code: str) -> dict:
        """A poll question (id, code, text, options), by its poll's slug and its code."""
        polls = self._get("polls/", params={"limit": 200}).json()["results"]
        poll = next((p for p in polls if p["slug"] == poll_slug), None)
        if poll is None:
            raise ApiError(404, "not_found", f"No poll {poll_slug!r}.")
        detail = self._get(f"polls/{poll['id']}/").json()
        for question in detail["questions"]:
            if question["code"] == code:
                return question
        raise ApiError(404, "not_found", f"Poll {poll_slug!r} has no question {code!r}.")

    def create_population(
        self,
        areas: list[str] | dict[str, float],
        *,
        size: int = 1000,
        seed: int | None = None,
        name: str = "",
        profile: bool = False,
        wait: bool = True,
        wait_timeout: float | None = 3600,
        wait_interval: float = 1.0,
    ) -> Population:
        """Generate a population over areas (ids, or {id: weight}). A large one is built by the
        server off the request (202): this waits until it is ready (at most `wait_timeout`
        seconds, then TimeoutError; PopulationFailed when the build failed), unless `wait` is
        false (then `hold_run` can queue a run on it meanwhile)."""
        if isinstance(areas, dict):
            spec = [{"area": a, "weight": w} for a, w in areas.items()]
        else:
            spec = [{"area": a} for a in areas]
        payload: dict[str, Any] = {
            "size": size,
            "areas": spec,
            "name": name,
            "include_behavioral_characteristics": profile,
        }
        if seed is not None:
            payload["seed"] = seed
        population = Population(self, self._post("populations/", payload))
        return population.wait(interval=wait_interval, timeout=wait_timeout) if wait else population

    def create_study(
        self,
        title: str,
        *,
        questions: list[dict] | None = None,
        items: list[dict] | None = None,
        kind: str = "policy_support",
        **fields: Any,
    ) -> Study:
        """A study whose items are poll questions (from `question`; they bring their wording
        and options) and/or items in the API's own form."""
        spec = [
            {"code": q["code"], "text": q["text"], "poll_question": q["id"]}
            for q in questions or []
        ]
        payload = {"title": title, "kind": kind, "items": spec + list(items or []), **fields}
        return Study(self, self._post("studies/", payload))

    def start_run(
        self,
        study: Study | int,
        population: Population | int,
        *,
        backend: str = "poll_model",
        seed: int | None = None,
        **fields: Any,
    ) -> Run:
        return Run(
            self, self._post("runs/", _run_payload(study, population, backend, seed, fields))
        )

    def hold_run(
        self,
        study: Study | int,
        population: Population | int,
        *,
        backend: str = "poll_model",
        seed: int | None = None,
        **fields: Any,
    ) -> HeldRun:
        """`start_run` for a population still being built (one from `create_population(...,
        wait=False)` that is not ready yet): the server holds the run and starts it when the
        build completes; on a ready population it starts at once. `.wait()` gives the run."""
        payload = _run_payload(study, population, backend, seed, fields)
        return HeldRun(self, self._post("held-runs/", payload))

    def run(self, run_id: int) -> Run:
        return Run(self, self._get(f"runs/{run_id}/").json())

    def runs(self) -> list[Run]:
        return [Run(self, r) for r in self._get("runs/").json()["results"]]


def _run_payload(
    study: Study | int, population: Population | int, backend: str, seed: int | None, fields: dict
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "study": study.id if isinstance(study, Study) else study,
        "population": population.id if isinstance(population, Population) else population,
        "backend": backend,
        **fields,
    }
    if seed is not None:
        payload["seed"] = seed
    return payload
