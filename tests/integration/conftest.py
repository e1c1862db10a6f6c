from __future__ import annotations

import pytest
from playwright.sync_api import sync_playwright

from tests.stack import Stack


@pytest.fixture(scope="session")
def services_stack(tmp_path_factory):
    stack = Stack(mode="services", workdir=tmp_path_factory.mktemp("services-stack"))
    try:
        yield stack.start()
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def embedded_stack(tmp_path_factory):
    stack = Stack(mode="embedded", workdir=tmp_path_factory.mktemp("embedded-stack"))
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


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield browser
        browser.close()
