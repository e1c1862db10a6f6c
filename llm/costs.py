"""Money: the cost of a call from its usage and the model's price row."""

from __future__ import annotations

from decimal import Decimal

from llm.models import ModelPrice

_MILLION = Decimal(1_000_000)
_QUANTUM = Decimal("0.00000001")  # LLMCall.cost has eight decimal places


def cost_of(
    *, price: ModelPrice | None, input_tokens: int | None, output_tokens: int | None
) -> Decimal | None:
    """None — unknown, never zero — when the model has no price or the server reported no usage."""
    if price is None or input_tokens is None or output_tokens is None:
        return None
    amount = (
        Decimal(input_tokens) * price.input_per_million
        + Decimal(output_tokens) * price.output_per_million
    ) / _MILLION
    return amount.quantize(_QUANTUM)
