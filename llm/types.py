"""Values that cross the gateway's boundary: the call config, messages, retry policy, results."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Generic, Literal, TypedDict, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Provider(StrEnum):
    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    COMPATIBLE = "compatible"


class Message(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


# How the model is asked for JSON.
#  auto         — the provider's default below.
#  json_object  — OpenAI / compatible `response_format={"type": "json_object"}` (default there:
#                 vLLM, Ollama, llama.cpp server and LiteLLM all accept it).
#  json_schema  — OpenAI `response_format={"type": "json_schema", ...}` with the pydantic schema.
#  tool         — Anthropic forced tool use: one tool whose `input_schema` is the pydantic schema and
#                 `tool_choice` naming it (default there). Prefilling the reply with `{` was the
#                 other classic trick, but current Claude models reject a prefilled last assistant
#                 turn with a 400, while forced tool use works on every Claude 3+ model.
#  prompt       — instructions only, for servers that support none of the above.
StructuredMode = Literal["auto", "json_object", "json_schema", "tool", "prompt"]

_MODES_BY_PROVIDER: dict[str, set[str]] = {
    Provider.OPENAI: {"json_object", "json_schema", "prompt"},
    Provider.COMPATIBLE: {"json_object", "json_schema", "prompt"},
    Provider.ANTHROPIC: {"tool", "prompt"},
}
_DEFAULT_MODE = {
    Provider.OPENAI: "json_object",
    Provider.COMPATIBLE: "json_object",
    Provider.ANTHROPIC: "tool",
}


class LLMConfig(BaseModel):
    """Which model answers and how; safe to store with a run (it never holds a secret)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: Provider
    model: str = Field(min_length=1)
    # None leaves the provider's default (some reasoning models accept no other value).
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int = Field(default=1024, ge=1)
    seed: int | None = None
    base_url: str | None = None
    # Per HTTP request, in seconds; a timed-out request counts as a transient failure.
    timeout_s: float = Field(default=60.0, gt=0)
    structured_mode: StructuredMode = "auto"
    # A key alias the operator declared (settings.LLM_KEYS: alias -> environment variable), when
    # the run should not use the provider's usual key — e.g. two compatible servers with different
    # keys. Never the key, and never an environment variable's name (`llm.outbound`).
    key: str | None = None

    @model_validator(mode="after")
    def _check(self) -> LLMConfig:
        from llm.outbound import base_url_problem, key_alias_problem  # outbound imports errors

        if self.provider == Provider.COMPATIBLE and not self.base_url:
            raise ValueError(
                "provider 'compatible' needs base_url, e.g. http://localhost:8000/v1 for vLLM."
            )
        problem = (self.base_url and base_url_problem(self.base_url)) or (
            self.key and key_alias_problem(self.key)
        )
        if problem:
            raise ValueError(problem)
        if self.structured_mode != "auto" and (
            self.structured_mode not in _MODES_BY_PROVIDER[self.provider]
        ):
            allowed = ", ".join(sorted(_MODES_BY_PROVIDER[self.provider]))
            raise ValueError(
                f"structured_mode '{self.structured_mode}' is not available for "
                f"{self.provider}; use one of: auto, {allowed}."
            )
        return self

    @property
    def effective_mode(self) -> str:
        if self.structured_mode == "auto":
            return _DEFAULT_MODE[self.provider]
        return self.structured_mode

    def parameters(self) -> dict[str, Any]:
        """The sampling parameters as logged and hashed (no secrets, no timeout)."""
        return {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "structured_mode": self.effective_mode,
        }


@dataclass(frozen=True)
class RetryPolicy:
    """Transport retries: exponential backoff with full jitter, at least any `Retry-After`."""

    max_tries: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    # A server asking us to wait longer than this is treated as down rather than slept on.
    max_retry_after_s: float = 120.0

    def delay(self, try_number: int, retry_after: float | None, rand: float) -> float:
        """Seconds to wait after failed try `try_number` (1-based); `rand` is uniform in [0, 1)."""
        backoff = rand * min(self.max_delay_s, self.base_delay_s * 2 ** (try_number - 1))
        if retry_after is not None:
            # The server's figure is a floor; a little jitter keeps the workers from stampeding.
            return retry_after + backoff * 0.1
        return backoff


@dataclass(frozen=True)
class AttemptUsage:
    """One structured attempt: what it used and cost, and its call-log row (an `LLMCall`, saved
    once the gateway's `CallBuffer` holding it is flushed)."""

    call: Any
    input_tokens: int
    output_tokens: int
    cost: Decimal | None
    cached: bool
    ok: bool
    error: str = ""

    @property
    def call_id(self) -> int | None:
        return None if self.call is None else self.call.pk


T = TypeVar("T", bound=BaseModel)


@dataclass
class StructuredResult(Generic[T]):
    value: T
    text: str
    attempts: list[AttemptUsage] = field(default_factory=list)
    currency: str = "USD"

    @property
    def cached(self) -> bool:
        return all(a.cached for a in self.attempts)

    @property
    def cost(self) -> Decimal | None:
        return total_cost(self.attempts)

    @property
    def input_tokens(self) -> int:
        return sum(a.input_tokens for a in self.attempts)

    @property
    def output_tokens(self) -> int:
        return sum(a.output_tokens for a in self.attempts)

    @property
    def call_ids(self) -> list[int]:
        return [a.call_id for a in self.attempts if a.call_id is not None]


@dataclass
class TextResult:
    text: str
    attempt: AttemptUsage
    currency: str = "USD"

    @property
    def cached(self) -> bool:
        return self.attempt.cached

    @property
    def cost(self) -> Decimal | None:
        return self.attempt.cost


@dataclass(frozen=True)
class CostEstimate:
    amount: Decimal | None  # None when the model has no price row
    currency: str
    input_tokens: int
    output_tokens: int
    price_known: bool


def total_cost(attempts: list[AttemptUsage]) -> Decimal | None:
    """Sum of the attempts' costs; unknown (None) as soon as one billed attempt has no price."""
    total = Decimal("0")
    for a in attempts:
        if a.cost is None:
            return None
        total += a.cost
    return total
