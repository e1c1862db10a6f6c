from __future__ import annotations

import pytest

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
