"""What a run through the persona engine would cost: the tokens of the prompts rendered for a sample
of its personas (`PersonaEngine.estimate`), with typical reply sizes, at the model's price."""

from __future__ import annotations

from decimal import Decimal

from llm.gateway import estimate_cost
from llm.types import LLMConfig

# Typical reply sizes in tokens, for the cost estimate (measured on the fake server's replies and
# on hand-checked model answers of this schema; the estimate says they are assumptions).
OUTPUT_TOKENS = {"context": 700, "consistency": 120, "episode": 130, "experience_base": 200}
OUTPUT_TOKENS_PER_ITEM = 150
CHARS_PER_TOKEN = 4


def run_cost(
    *,
    config: LLMConfig,
    steps: list[str],
    prompt_tokens: dict[str, list[int]],
    mean_episodes: float,
    items: int,
    total: int,
    sampled: int,
) -> dict:
    """The estimate of `total` personas taken through `steps`, one call each: `prompt_tokens` are
    the input tokens of each step's prompt for each sampled persona, `mean_episodes` the episodes
    asked of them on average; replies are the typical sizes, capped at the config's max_tokens."""
    out = {
        "context": OUTPUT_TOKENS["context"],
        "consistency": OUTPUT_TOKENS["consistency"],
        "experience": int(
            OUTPUT_TOKENS["experience_base"] + mean_episodes * OUTPUT_TOKENS["episode"]
        ),
        "participation": OUTPUT_TOKENS_PER_ITEM * max(1, items),
    }
    breakdown = {}
    amount: Decimal | None = Decimal("0")
    currency = "USD"
    in_total = out_total = 0
    for s in steps:
        mean_in = int(sum(prompt_tokens[s]) / len(prompt_tokens[s])) if prompt_tokens[s] else 0
        out_tokens = min(out[s], config.max_tokens)
        est = estimate_cost(
            config=config,
            calls=total,
            input_tokens_per_call=mean_in,
            output_tokens_per_call=out_tokens,
        )
        currency = est.currency
        in_total += est.input_tokens
        out_total += est.output_tokens
        amount = None if (amount is None or est.amount is None) else amount + est.amount
        breakdown[s] = {
            "calls": total,
            "input_tokens_per_call": mean_in,
            "output_tokens_per_call": out_tokens,
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
            f"{CHARS_PER_TOKEN}); typical reply sizes per step; at the model's price in the "
            "admin's price table. Calls served from the cache cost nothing, and answers "
            "retried for invalid output cost more."
        ),
    }
