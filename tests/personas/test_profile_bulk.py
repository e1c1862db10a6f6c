"""Profile documents for bulk generation: the fast scalar encoder writes, character for character,
what json.dumps wrote before, so the same seed still stores the same text."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from environment.categories import DIMENSIONS
from personas.generation import json_documents
from personas.profile import profile_draw


def _dumps_documents(frame: pd.DataFrame) -> list[str]:
    """The documents as the encoder before the fast path built them: json.dumps on every value."""

    def value(v) -> str:
        if isinstance(v, float) and not math.isfinite(v):
            return "null"
        if isinstance(v, np.generic):
            v = v.item()
        return json.dumps(list(v) if isinstance(v, tuple) else v, separators=(",", ":"))

    return [
        "{" + ",".join(json.dumps(str(k)) + ":" + value(v) for k, v in row.items()) + "}"
        for row in frame.astype(object).where(frame.notna(), None).to_dict("records")
    ]


def test_drawn_profiles_are_stored_as_the_same_text():
    rng = np.random.default_rng(11)
    n = 3000
    demographics = pd.DataFrame(
        {
            "age": rng.integers(18, 90, n),
            **{
                d: rng.choice(list(DIMENSIONS[d]), n)
                for d in ("age_bracket", "sex", "race_ethnicity", "education", "income")
            },
            "state": rng.choice(["TX", "MI", "MN", "AZ"], n),
        }
    )
    profile = profile_draw(demographics, rng=np.random.default_rng(12))
    assert json_documents(profile) == _dumps_documents(profile)


@pytest.mark.parametrize(
    "values",
    [
        ["José Núñez", 'Zoë "Z" O\'Neil', "tab\there", "back\\slash", "\u2028", "😀", ""],
        [0.1, 1e-07, 1e22, -0.0, 73.2, 123456789.123, 2.5],
        [np.float64(0.3), np.float32(0.5), np.float64(-1e-300), np.float64(7.0), 1.0, 2.0, 3.0],
        [0, -1, 2**63, np.int64(42), np.int8(-3), 7, 8],
        [True, False, np.bool_(True), True, False, True, False],
    ],
    ids=["text", "floats", "numpy-floats", "integers", "booleans"],
)
def test_scalar_values_are_encoded_exactly_as_json_dumps(values):
    frame = pd.DataFrame({"value": pd.Series(values, dtype=object)})
    assert json_documents(frame) == _dumps_documents(frame)


def test_non_finite_scores_are_stored_as_null():
    frame = pd.DataFrame({"score": [1.5, math.nan, math.inf, -math.inf]})
    assert [json.loads(d)["score"] for d in json_documents(frame)] == [1.5, None, None, None]
