from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
from playwright.sync_api import sync_playwright

from tests.stack import Stack

SEEDS = {"services": "postgres_seed", "embedded": "sqlite_seed"}


# The reference data is loaded once per database engine (a minute's work on a busy machine) and
# copied for every stack: the shared ones below and the ones a module needs of its own (other
# settings, or servers a fault test stops). A copy holds the same rows as a fresh load.
@pytest.fixture(scope="session")
def seeds(request, tmp_path_factory) -> Iterator[dict[str, Future[Stack]]]:
    """The seeds the selected tests need, loading side by side from the first use on: each load
    is one process, and there are two cores."""
    needed = {name for item in request.session.items for name in item.fixturenames}
    stacks = {
        mode: Stack(mode=mode, workdir=tmp_path_factory.mktemp(f"{mode}-seed"))
        for mode, fixture in SEEDS.items()
        if fixture in needed
    }
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {mode: pool.submit(stack.prepare) for mode, stack in stacks.items()}
        try:
            yield futures
        finally:
            for stack in stacks.values():
                stack.stop()


@pytest.fixture(scope="session")
def postgres_seed(seeds) -> Stack:
    return seeds["services"].result()


@pytest.fixture(scope="session")
def sqlite_seed(seeds) -> Stack:
    return seeds["embedded"].result()


@pytest.fixture(scope="session")
def services_stack(tmp_path_factory, postgres_seed):
    stack = Stack(
        mode="services", workdir=tmp_path_factory.mktemp("services-stack"), seed=postgres_seed
    )
    try:
        yield stack.start()
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def embedded_stack(tmp_path_factory, sqlite_seed):
    stack = Stack(
        mode="embedded",
        workdir=tmp_path_factory.mktemp("embedded-stack"),
        seed=sqlite_seed,
        # A language-model run of two chunks or more spreads over two processes (studies.lanes).
        extra_env={"RUN_LOCAL_PROCESSES": "2", "RUN_LOCAL_PROCESSES_MIN_PERSONAS": "1"},
    )
    try:
        yield stack.start()
    finally:
        stack.stop()


CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


# One Chromium per module, not per session: while sync Playwright is open its event loop runs in
# this thread, and the socket tests' `asyncio.run` refuses to start inside a running loop.
@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield browser
        browser.close()
