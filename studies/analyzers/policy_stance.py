"""The stance of a policy item's options: support, oppose or neutral, read from an option's label
by a word rule (`STANCE_RULE`) unless the request maps it, and what keeps a mapping from covering
an item's options."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

SUPPORT, OPPOSE, NEUTRAL = "support", "oppose", "neutral"
STANCES: Final = (SUPPORT, OPPOSE, NEUTRAL)

# The stance rule for option labels, checked in this order so "Neither agree nor disagree" is
# neutral and "Disagree" is not read as "agree". Whole words only.
NEUTRAL_WORDS: Final = (
    "neither", "neutral", "not sure", "don't know", "dont know", "no opinion", "undecided",
    "depends", "unsure", "mixed",
)  # fmt: skip
OPPOSE_WORDS: Final = (
    "oppose", "opposed", "against", "disagree", "disapprove", "reject", "no", "decline",
)  # fmt: skip
SUPPORT_WORDS: Final = (
    "support", "supported", "favor", "favour", "in favor", "agree", "approve", "yes", "for",
)  # fmt: skip
STANCE_RULE: Final = (
    "An option label is read as neutral when it contains one of the words "
    f"{', '.join(NEUTRAL_WORDS)}; else as oppose when it contains one of "
    f"{', '.join(OPPOSE_WORDS)}; else as support when it contains one of "
    f"{', '.join(SUPPORT_WORDS)} (whole words, case-insensitive, in that order so 'Neither agree "
    "nor disagree' is neutral and 'Disagree' is oppose). A label none of these words match is not "
    "guessed: the request must map it explicitly (`stances`)."
)


def _has_word(label: str, words: tuple[str, ...]) -> bool:
    text = label.lower().replace("’", "'")
    return any(re.search(rf"(?<![\w']){re.escape(w)}(?![\w'])", text) for w in words)


def infer_stance(label: str) -> str | None:
    """The stance an option label states, by `STANCE_RULE`; None when it states none."""
    if _has_word(label, NEUTRAL_WORDS):
        return NEUTRAL
    if _has_word(label, OPPOSE_WORDS):
        return OPPOSE
    if _has_word(label, SUPPORT_WORDS):
        return SUPPORT
    return None


def stance_problems(stances: Mapping[str, str], option_codes: list[str]) -> list[str]:
    """What keeps a stance mapping from covering an item's options with both sides."""
    problems = [
        f"option '{code}' has no stance; map it to support, oppose or neutral"
        for code in option_codes
        if code not in stances
    ]
    problems += [
        f"'{code}' is not an option of the item ({', '.join(option_codes)})"
        for code in stances
        if code not in option_codes
    ]
    problems += [
        f"option '{code}': '{stance}' is not a stance ({', '.join(STANCES)})"
        for code, stance in stances.items()
        if stance not in STANCES
    ]
    if not problems:
        for side in (SUPPORT, OPPOSE):
            if side not in stances.values():
                problems.append(f"no option means {side}: the item cannot measure support")
    return problems
