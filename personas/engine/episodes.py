"""How many experience episodes a persona gets, and what mix of valences, by its technology
proficiency and the run's depth: seed 004's table (§6.4) and depth control (§11.3).

| proficiency  | episodes | valence distribution                                              |
|--------------|----------|-------------------------------------------------------------------|
| novice       | 2-4      | mostly neutral, 1 negative (why they stopped / never started)     |
| beginner     | 4-6      | mixed, skewing curious                                            |
| intermediate | 6-10     | balanced positive/negative                                        |
| advanced     | 10-15    | mostly positive, some frustrations                                |
| expert       | 15-20    | nuanced, strong opinions from deep experience                     |

Depth: shallow is 2-4 episodes whatever the level, standard is the table, deep doubles both bounds.
The valence mix is checked loosely (`valence_problems`): the rule each level must meet is written
in VALENCE_RULES, stated in the prompt and enforced by the experience schema, so a model that
breaks it reads which rule and retries.
"""

from __future__ import annotations

from collections.abc import Sequence

from personas.profile.tech import PROFICIENCY_LEVELS, proficiency_level

# A persona whose profile has no technology proficiency counts as intermediate.
DEFAULT_PROFICIENCY = "intermediate"

STANDARD_EPISODES: dict[str, tuple[int, int]] = {
    "novice": (2, 4),
    "beginner": (4, 6),
    "intermediate": (6, 10),
    "advanced": (10, 15),
    "expert": (15, 20),
}
SHALLOW_EPISODES = (2, 4)
DEEP_FACTOR = 2

# The seed's words for each level's valence distribution (the prompt quotes them).
VALENCE_MIX: dict[str, str] = {
    "novice": "mostly neutral, with one negative episode (why they stopped or never started)",
    "beginner": "mixed, skewing curious",
    "intermediate": "balanced between positive and negative",
    "advanced": "mostly positive, with some frustrations",
    "expert": "nuanced, with strong opinions from deep experience",
}
# The loose check of that mix, as the prompt states it.
VALENCE_RULES: dict[str, str] = {
    "novice": "at least one negative episode, and at least as many neutral episodes as "
    "positive ones and as negative ones",
    "beginner": "at least one positive episode, not every episode positive, and at least as "
    "many positive as negative episodes",
    "intermediate": "at least one positive and one negative episode, and the two counts differ "
    "by at most a third of the episodes (at least 1)",
    "advanced": "at least one negative episode, and at least as many positive episodes as "
    "negative ones and as neutral ones",
    "expert": "at least one positive and one negative episode, and at least one with a valence "
    "of 0.7 or more either way",
}
# Valence bands: negative at or below -NEUTRAL_BAND, positive at or above it, neutral between.
NEUTRAL_BAND = 0.2
STRONG_VALENCE = 0.7

assert set(STANDARD_EPISODES) == set(VALENCE_MIX) == set(VALENCE_RULES) == set(PROFICIENCY_LEVELS)


def level_for(proficiency: str | None) -> str:
    """The table's level for a profile's proficiency: the seed's name ("basic" is read as
    "beginner"), the default for none. An unknown value raises ValueError naming the levels."""
    return proficiency_level(proficiency) or DEFAULT_PROFICIENCY


def episode_range(proficiency: str | None, depth: str) -> tuple[int, int]:
    """(fewest, most) episodes for a persona of this proficiency at this depth."""
    lo, hi = STANDARD_EPISODES[level_for(proficiency)]
    if depth == "shallow":
        return SHALLOW_EPISODES
    if depth == "standard":
        return lo, hi
    if depth == "deep":
        return DEEP_FACTOR * lo, DEEP_FACTOR * hi
    raise ValueError(f"unknown depth {depth!r}; use shallow, standard or deep")


def valence_counts(valences: Sequence[float]) -> tuple[int, int, int]:
    """(negative, neutral, positive) episodes."""
    negative = sum(v <= -NEUTRAL_BAND for v in valences)
    positive = sum(v >= NEUTRAL_BAND for v in valences)
    return negative, len(valences) - negative - positive, positive


def valence_problems(level: str, valences: Sequence[float]) -> list[str]:
    """Why these episode valences do not fit the level's mix; empty when they do."""
    negative, neutral, positive = valence_counts(valences)
    n = len(valences)
    fits = {
        "novice": negative >= 1 and neutral >= max(positive, negative),
        "beginner": positive >= 1 and positive < n and positive >= negative,
        "intermediate": positive >= 1
        and negative >= 1
        and abs(positive - negative) <= max(1, n // 3),
        "advanced": negative >= 1 and positive >= max(negative, neutral),
        "expert": positive >= 1
        and negative >= 1
        and any(abs(v) >= STRONG_VALENCE for v in valences),
    }[level]
    if fits:
        return []
    return [
        f"the valences do not fit a {level} user's mix ({VALENCE_MIX[level]}): it needs "
        f"{VALENCE_RULES[level]}; got {negative} negative (<= -{NEUTRAL_BAND}), {neutral} "
        f"neutral and {positive} positive (>= {NEUTRAL_BAND})"
    ]
