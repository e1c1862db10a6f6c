"""Free-text results: a seeded sample of answers with their reasoning, and the terms most answers
use."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from studies.analyzers.item_type import ItemTypeAnalysis
from studies.models import Answer

SAMPLE_SIZE = 10
TOP_TERMS = 25
METHOD = (
    f"n answers; a sample of up to {SAMPLE_SIZE} answers with their reasoning, drawn without "
    "replacement with the run's seed (numpy default_rng), overall and per condition; term "
    f"frequencies: the {TOP_TERMS} most frequent lowercase word tokens (letters and inner "
    "apostrophes, one-letter tokens and scikit-learn's English stop words removed), each counted "
    "once per answer (document frequency), with the share of answers using it. No tests: "
    "free text is not compared between conditions or groups."
)
TOKEN = re.compile(r"[a-z][a-z']*[a-z]")


def answer_terms(text: str) -> set[str]:
    """The distinct content words of one answer."""
    return {
        token
        for token in TOKEN.findall(text.lower())
        if token not in ENGLISH_STOP_WORDS and token.split("'")[0] not in ENGLISH_STOP_WORDS
    }


def term_frequencies(texts: list[str], top: int = TOP_TERMS) -> list[dict]:
    """The `top` terms by the number of answers using them (ties alphabetical)."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(answer_terms(text))
    ranked = sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))[:top]
    return [{"term": term, "answers": count, "share": count / len(texts)} for term, count in ranked]


class FreeText(ItemTypeAnalysis):
    method = METHOD

    def summarize(self, answers: pd.DataFrame, *, with_samples: bool = True) -> tuple[list, dict]:
        answered = answers[answers["text"].fillna("").str.strip() != ""]
        texts = answered["text"].tolist()
        summary: dict = {"n": len(texts), "terms": term_frequencies(texts) if texts else []}
        if with_samples:
            summary["sample"] = self._sample(answered)
        return [], summary

    def _sample(self, answered: pd.DataFrame) -> list[dict]:
        if answered.empty:
            return []
        rng = np.random.default_rng(self.seed)
        picked = answered.iloc[
            rng.choice(len(answered), size=min(SAMPLE_SIZE, len(answered)), replace=False)
        ]
        # The reasoning of the sampled answers only: a free-text run's reasoning is long.
        reasoning = dict(
            Answer.objects.filter(id__in=picked["answer_id"].tolist()).values_list(
                "id", "reasoning"
            )
        )
        return [
            {
                "persona_id": int(persona_id),
                "condition": condition,
                "text": text,
                "reasoning": reasoning.get(int(answer_id), ""),
            }
            for answer_id, persona_id, condition, text in zip(
                picked["answer_id"],
                picked["persona_id"],
                picked["condition"],
                picked["text"],
                strict=True,
            )
        ]
