"""Errors the gateway raises; each carries a message a person can act on."""

from __future__ import annotations

from decimal import Decimal

from llm.types import AttemptUsage, total_cost


class LLMError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class MissingAPIKeyError(LLMError):
    pass


class OutboundRefusedError(LLMError):
    """A configuration names a host or a key this server's operator does not allow."""


class ReplayMissError(LLMError):
    """Replay-only mode and the call is not in the cache."""

    def __init__(self, message: str, *, cache_key: str):
        super().__init__(message)
        self.cache_key = cache_key


class ProviderError(LLMError):
    """The provider could not give an answer: retries exhausted, or a request it refuses (4xx)."""

    def __init__(
        self,
        message: str,
        *,
        status: str,
        http_status: int | None = None,
        tries: int = 1,
        retryable: bool = False,
    ):
        super().__init__(message)
        self.status = status
        self.http_status = http_status
        self.tries = tries
        self.retryable = retryable


class StructuredOutputError(LLMError):
    """The model kept answering with invalid output; `reasons` has one entry per attempt."""

    def __init__(self, message: str, *, reasons: list[str], attempts: list[AttemptUsage]):
        super().__init__(message)
        self.reasons = reasons
        self.attempts = attempts

    @property
    def cost(self) -> Decimal | None:
        # The failed attempts were billed all the same; the run's cost must include them.
        return total_cost(self.attempts)

    @property
    def call_ids(self) -> list[int]:
        return [a.call_id for a in self.attempts if a.call_id is not None]
