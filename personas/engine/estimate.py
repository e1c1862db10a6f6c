"""What a run through the persona engine would cost, and how many output tokens each step may use.

`PersonaEngine.estimate` renders the prompts for a sample of the run's personas (input tokens,
characters / 4) and sizes each step's reply with `typical_output_tokens`, capped at the step's
output budget `step_max_tokens` — the same budget the engine sends as max_tokens, raised above
the run's own max_tokens where the step's longest valid reply needs more (an expert's 20 or, deep,
40 episodes; many items). Both count episodes with `personas.engine.episodes.episode_range`, the
one table the engine asks the model for.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from llm.gateway import estimate_cost
from llm.types import LLMConfig

CHARS_PER_TOKEN = 4

# Typical reply sizes in tokens, for the cost estimate (measured on the fake server's replies and
# on hand-checked model answers of these schemas; the estimate says they are assumptions).
OUTPUT_TOKENS = {
    "analyze": 250,
    "context": 700,
    "consistency": 120,
    "episode": 140,
    "experience_base": 200,
}
OUTPUT_TOKENS_PER_ITEM = 150  # one answer object: the answer and its reasoning
OUTPUT_TOKENS_BY_TYPE = {"free_text": 300, "multiple_choice": 170}
OUTPUT_TOKENS_PER_RANKED_OPTION = 10
OUTPUT_TOKENS_THINK_ALOUD = 80
OUTPUT_TOKENS_PER_MEASURE = 10  # time on task and each behavioural measure

# The longest valid reply a step may need, in tokens: what max_tokens is raised to (never lowered)
# so a long episode list or questionnaire is not cut off mid-JSON. Each is about twice the typical
# size, the margin a verbose model needs.
MAX_OUTPUT_TOKENS = {"analyze": 800, "context": 1500, "consistency": 600}
MAX_EXPERIENCE_BASE = 600
MAX_PER_EPISODE = 300
MAX_PARTICIPATION_BASE = 300
MAX_PER_ITEM = 400
MAX_PER_FREE_TEXT_ITEM = 1400  # its answer may run to 4,000 characters


def item_output_tokens(item_type: str, options: int, *, think_aloud: bool, measures: int) -> int:
    """The typical reply size of one item's answer object."""
    tokens = OUTPUT_TOKENS_BY_TYPE.get(item_type, OUTPUT_TOKENS_PER_ITEM)
    if item_type == "ranking":
        tokens += OUTPUT_TOKENS_PER_RANKED_OPTION * options
    if think_aloud:
        tokens += OUTPUT_TOKENS_THINK_ALOUD
    return tokens + OUTPUT_TOKENS_PER_MEASURE * measures


def typical_output_tokens(step: str, *, episodes: int = 0, item_tokens: int = 0) -> int:
    """The typical reply of a step: `episodes` asked of the persona (experience), the summed
    `item_output_tokens` of the items (participation)."""
    if step == "experience":
        return OUTPUT_TOKENS["experience_base"] + episodes * OUTPUT_TOKENS["episode"]
    if step == "participation":
        return item_tokens
    return OUTPUT_TOKENS[step]


def step_max_tokens(
    step: str,
    config: LLMConfig,
    *,
    max_episodes: int = 0,
    item_types: Sequence[str] = (),
) -> int:
    """The max_tokens the engine sends for a step: the run's own, or more where the step's
    longest valid reply needs more."""
    if step == "experience":
        needed = MAX_EXPERIENCE_BASE + MAX_PER_EPISODE * max_episodes
    elif step == "participation":
        needed = MAX_PARTICIPATION_BASE + sum(
            MAX_PER_FREE_TEXT_ITEM if t == "free_text" else MAX_PER_ITEM for t in item_types
        )
    else:
        needed = MAX_OUTPUT_TOKENS[step]
    return max(config.max_tokens, needed)


def _mean(values: list[int]) -> int:
    return int(sum(values) / len(values)) if values else 0


def run_cost(
    *,
    config: LLMConfig,
    steps: list[str],
    prompt_tokens: dict[str, list[int]],
    output_tokens: dict[str, list[int]],
    max_tokens: dict[str, int],
    total: int,
    sampled: int,
) -> dict:
    """The estimate of `total` personas taken through `steps`, one call each: `prompt_tokens` and
    `output_tokens` are each step's input and typical reply tokens for each sampled persona (the
    reply already capped at the step's max_tokens), `max_tokens` the step's output budget."""
    breakdown = {}
    amount: Decimal | None = Decimal("0")
    currency = "USD"
    in_total = out_total = 0
    for s in steps:
        mean_in = _mean(prompt_tokens[s])
        mean_out = _mean(output_tokens[s])
        est = estimate_cost(
            config=config,
            calls=total,
            input_tokens_per_call=mean_in,
            output_tokens_per_call=mean_out,
        )
        currency = est.currency
        in_total += est.input_tokens
        out_total += est.output_tokens
        amount = None if (amount is None or est.amount is None) else amount + est.amount
        breakdown[s] = {
            "calls": total,
            "input_tokens_per_call": mean_in,
            "output_tokens_per_call": mean_out,
            "max_tokens": max_tokens[s],
            "amount": None if est.amount is None else str(est.amount),
        }
    return {
        "amount": None if amount is None else str(amount),
        "currency": currency,
        "price_known": amount is not None,
        "calls": total * len(steps),
        "input_tokens": in_total,
        "output_tokens": out_total,
        "steps": breakdown,
        "method": (
            f"prompts rendered for {sampled} sampled personas (characters / "
            f"{CHARS_PER_TOKEN}); typical reply sizes per step, with the most episodes each "
            "persona's proficiency and the depth allow and per-item sizes by item type; at the "
            "model's price in the admin's price table. Calls served from the cache cost "
            "nothing, and answers retried for invalid output cost more."
        ),
    }


def estimates_add(base: dict, extra: dict) -> dict:
    """One estimate of two `run_cost` estimates of the same model (a run's persona steps and a
    later step of the same run, e.g. a multi-agent run's deliberation rounds)."""
    amounts = (base["amount"], extra["amount"])
    amount = None if None in amounts else str(sum(Decimal(a) for a in amounts))
    return {
        **base,
        "amount": amount,
        "price_known": amount is not None,
        "calls": base["calls"] + extra["calls"],
        "input_tokens": base["input_tokens"] + extra["input_tokens"],
        "output_tokens": base["output_tokens"] + extra["output_tokens"],
        "steps": {**base["steps"], **extra["steps"]},
        "method": base["method"] + " " + extra["method"],
    }
