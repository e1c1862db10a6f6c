"""The backend contract: the registry finds each backend by its own name, and the base class's
defaults are those of a backend that is free, takes no configuration and answers any study."""

from __future__ import annotations

import pytest

from studies.backends.base import RespondentBackend
from studies.backends.registry import BACKENDS


def test_every_registered_backend_is_found_by_its_own_name():
    assert BACKENDS, "no backend registered"
    for name, backend in BACKENDS.items():
        assert issubclass(backend, RespondentBackend)
        assert backend.name == name
        assert backend.label


def test_a_backend_without_a_name_or_label_is_refused_when_defined():
    with pytest.raises(TypeError, match="must set name and label"):

        class Nameless(RespondentBackend):
            pass


def test_the_base_class_defaults_fit_a_free_backend_without_configuration():
    class Minimal(RespondentBackend):
        name = "minimal"
        label = "Minimal"

    assert Minimal.config_problems({"anything": 1}) is None
    assert Minimal.study_problems(study=None) == []
    assert Minimal.default_chunk_size({}) is None
    assert Minimal.estimate(study=None, population=None, config={}) is None
    backend = Minimal(run=None, items=[])
    assert backend.concurrency == 1
    with pytest.raises(NotImplementedError, match="Minimal must implement answer_persona"):
        backend.answer_persona(persona=None)
