"""The persona engine's episode counts and valence mix (seed 004 §6.4, depth §11.3), the
strong-opinion episode, and the output budget that grows with the episodes."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from llm.types import LLMConfig
from personas.engine.episodes import episode_range, level_for, valence_problems
from personas.engine.estimate import step_max_tokens
from personas.engine.schemas import experience_model
from personas.profile.tech import PROFICIENCY, proficiency_level

# Seed 004 §6.4 and §11.3, written out by hand: (level, depth) -> (fewest, most) episodes.
EXPECTED = {
    ("novice", "shallow"): (2, 4),
    ("novice", "standard"): (2, 4),
    ("novice", "deep"): (4, 8),
    ("beginner", "shallow"): (2, 4),
    ("beginner", "standard"): (4, 6),
    ("beginner", "deep"): (8, 12),
    ("intermediate", "shallow"): (2, 4),
    ("intermediate", "standard"): (6, 10),
    ("intermediate", "deep"): (12, 20),
    ("advanced", "shallow"): (2, 4),
    ("advanced", "standard"): (10, 15),
    ("advanced", "deep"): (20, 30),
    ("expert", "shallow"): (2, 4),
    ("expert", "standard"): (15, 20),
    ("expert", "deep"): (30, 40),
}
# Valences that fit each level's mix, as a function of the episode count.
FITTING = {
    "novice": lambda n: [-0.5] + [0.0] * (n - 1),
    "beginner": lambda n: [0.6 if i % 2 == 0 else 0.0 for i in range(n)],
    "intermediate": lambda n: [0.5 if i % 2 == 0 else -0.5 for i in range(n)],
    "advanced": lambda n: [-0.4] + [0.7] * (n - 1),
    "expert": lambda n: [0.9] + [-0.6 if i % 2 == 0 else 0.3 for i in range(n - 1)],
}


def episodes(valences: list[float], *, strong: int | None = -1) -> dict:
    n = len(valences)
    flagged = None if strong is None else range(n)[strong]
    return {
        "episodes": [
            {
                "number": i + 1,
                "timeframe": f"spring {2010 + i}",
                "scenario": "Tried to pay a parking ticket on the city's new app.",
                "reaction": "Swore at it, then called.",
                "takeaway": "Keep the phone number handy.",
                "valence": v,
                "refers_to": [i] if i else [],
                "creates_strong_opinion": i == flagged,
                "strong_opinion": "Apps are built for the city, not for me."
                if i == flagged
                else None,
            }
            for i, v in enumerate(valences)
        ],
        "synthesized_memory": "Every new system cost an afternoon before it saved one.",
        "emotional_residue": "Tired wariness",
        "learned_behaviours": ["Keeps paper copies"],
    }


@pytest.mark.parametrize(("level", "depth"), list(EXPECTED))
def test_the_episode_count_follows_the_seed_table_and_depth(level, depth):
    assert episode_range(level, depth) == EXPECTED[level, depth]


@pytest.mark.parametrize(("level", "depth"), list(EXPECTED))
def test_the_experience_schema_holds_the_model_to_that_count(level, depth):
    lo, hi = EXPECTED[level, depth]
    schema = experience_model(min_episodes=lo, max_episodes=hi, level=level)
    json_schema = schema.model_json_schema()["properties"]["episodes"]
    assert (json_schema["minItems"], json_schema["maxItems"]) == (lo, hi)
    for n in (lo, hi):
        schema.model_validate(episodes(FITTING[level](n)))
    for n in (lo - 1, hi + 1):
        if n < 1:
            continue
        with pytest.raises(ValidationError, match="episodes"):
            schema.model_validate(episodes(FITTING[level](max(n, 1))))


def test_basic_is_read_as_the_seeds_beginner():
    assert proficiency_level("basic") == "beginner"
    assert level_for("basic") == "beginner"
    assert episode_range("basic", "standard") == (4, 6)
    # Both names are accepted in profiles and pools.
    assert {"basic", "beginner"} <= set(PROFICIENCY)


def test_a_persona_without_a_proficiency_counts_as_intermediate():
    assert episode_range(None, "standard") == (6, 10)


def test_an_unknown_proficiency_or_depth_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="use one of novice, beginner, intermediate"):
        episode_range("wizard", "standard")
    with pytest.raises(ValueError, match="use shallow, standard or deep"):
        episode_range("novice", "bottomless")


@pytest.mark.parametrize(
    ("level", "valences", "fits"),
    [
        ("novice", [-0.5, 0.0], True),
        ("novice", [0.0, 0.1, 0.0], False),  # never a negative episode: why did they stop?
        ("novice", [-0.5, 0.6, 0.5], False),  # mostly positive, not mostly neutral
        ("beginner", [0.5, 0.0, -0.4, 0.3], True),
        ("beginner", [0.5, 0.6, 0.7, 0.8], False),  # not mixed
        ("beginner", [-0.5, -0.6, 0.4, 0.0], False),  # skewing sour, not curious
        ("intermediate", [0.5, -0.5, 0.4, -0.4, 0.0, 0.3], True),
        ("intermediate", [0.5, 0.5, 0.5, 0.5, 0.5, -0.5], False),  # 5 to 1 is not balanced
        ("advanced", [0.5, 0.5, -0.3, 0.0], True),
        ("advanced", [0.5, 0.5, 0.5, 0.5], False),  # no frustration at all
        ("expert", [0.9, -0.3, 0.2], True),
        ("expert", [0.5, -0.5, 0.3], False),  # nothing strongly felt
    ],
)
def test_the_valence_mix_is_checked_loosely_per_level(level, valences, fits):
    problems = valence_problems(level, valences)
    assert (problems == []) is fits, problems
    if not fits:
        assert f"a {level} user's mix" in problems[0]


def test_a_valence_mix_that_does_not_fit_is_refused_with_the_rule():
    schema = experience_model(min_episodes=2, max_episodes=4, level="novice")
    with pytest.raises(ValidationError, match="at least one negative episode"):
        schema.model_validate(episodes([0.5, 0.5, 0.0]))


def test_at_least_one_episode_must_create_a_strong_opinion():
    schema = experience_model(min_episodes=2, max_episodes=4, level="intermediate")
    with pytest.raises(ValidationError, match="at least one episode must create a strong opinion"):
        schema.model_validate(episodes([0.5, -0.5], strong=None))
    # The JSON Schema says so too: the episode list must contain a flagged episode.
    contains = schema.model_json_schema()["properties"]["episodes"]["contains"]
    assert contains["properties"]["creates_strong_opinion"] == {"const": True}


def test_a_flagged_episode_must_state_its_opinion():
    reply = episodes([0.5, -0.5])
    reply["episodes"][1]["strong_opinion"] = None
    schema = experience_model(min_episodes=2, max_episodes=4, level="intermediate")
    with pytest.raises(ValidationError, match="state it in strong_opinion"):
        schema.model_validate(reply)


@pytest.mark.parametrize(("level", "depth"), list(EXPECTED))
def test_the_output_budget_grows_with_the_episodes(level, depth):
    config = LLMConfig(provider="openai", model="gpt-test")  # max_tokens 1024
    _, hi = EXPECTED[level, depth]
    # 600 tokens for the synthesis and 300 for each episode: never below the run's own.
    assert step_max_tokens("experience", config, max_episodes=hi) == max(1024, 600 + 300 * hi)


def test_the_output_budget_is_never_lowered_below_the_runs_own():
    config = LLMConfig(provider="openai", model="gpt-test", max_tokens=50_000)
    assert step_max_tokens("experience", config, max_episodes=40) == 50_000
    assert step_max_tokens("analyze", config) == 50_000
