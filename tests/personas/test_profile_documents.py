"""Profiles are written as JSON built column-wise (personas.generation.json_documents): each
document holds exactly what pandas' to_json wrote before, value for value."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from environment.categories import DIMENSIONS
from personas.generation import json_documents
from personas.profile import profile_draw


def test_documents_equal_what_to_json_wrote_for_drawn_profiles():
    rng = np.random.default_rng(4)
    n = 2000
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
    profile = profile_draw(demographics, rng=np.random.default_rng(5))
    before = profile.to_json(orient="records", lines=True).splitlines()
    after = json_documents(profile)
    assert len(after) == n
    assert [json.loads(d) for d in after] == [json.loads(d) for d in before]
    assert list(json.loads(after[0])) == list(profile.columns)  # the columns' order


def test_missing_values_tuples_and_non_ascii_text():
    frame = pd.DataFrame(
        {
            "score": [1.5, np.nan, 73.2],
            "level": pd.Categorical(["low", None, "high"]),
            "devices": [("smartphone", "laptop"), (), ("tablet",)],
            "name": ["José Núñez", 'Zoë "Z" O\'Neil', "Ann"],
            "count": np.array([1, 2, 3], dtype=np.int8),
        }
    )
    before = [json.loads(d) for d in frame.to_json(orient="records", lines=True).splitlines()]
    assert [json.loads(d) for d in json_documents(frame)] == before
    assert json.loads(json_documents(frame)[1])["score"] is None
    assert json_documents(frame.iloc[:0]) == []
