"""What a persona is asked in a deliberation round (`studies.influence.deliberation`): the ties it
hears, in order, the prompt (`templates/influence/deliberation.md`), the reply's schema, and what
the rounds' prompts cost.

Most influential first: the ties who share the most of the homophily attributes with the persona
(the tie's affinity), then the best-connected (degree), then position — the same order for the
same network, so the same seed gives the same prompts.

The run's estimate includes the rounds (`deliberation_estimate`, added by
`studies.services.run_start` before the budget is checked).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from django.conf import settings
from django.template import Context, Engine
from pydantic import BaseModel, Field, create_model

from llm.types import Message
from personas.engine.estimate import CHARS_PER_TOKEN, run_cost
from studies.backends.llm import parse_config
from studies.influence.simulate import Wiring

TEMPLATE_DIR = settings.BASE_DIR / "templates" / "influence"
SYSTEM = (
    "You are taking part in a social simulation as the person described. Stay in character: "
    "answer as this person would, after hearing the people they talk to. People may keep their "
    "view or change it; say honestly which and why."
)
# A typical reply (answer, a few sentences of reasoning) and a neighbour's reasoning, in tokens.
REPLY_TOKENS = 160
MAX_TOKENS = 400


@dataclass
class Statement:
    answer: str
    reasoning: str


def neighbour_order(wiring: Wiring) -> list[np.ndarray]:
    """Each persona's ties, most influential first (shared attributes, degree, position)."""
    adjacency = wiring.network.adjacency.tocsr()
    degrees = wiring.network.degrees
    codes = wiring.codes
    ordered = []
    for i in range(adjacency.shape[0]):
        ties = adjacency.indices[adjacency.indptr[i] : adjacency.indptr[i + 1]]
        shared = ((codes[ties] == codes[i]) & (codes[ties] >= 0)).sum(axis=1)
        ordered.append(ties[np.lexsort((ties, -degrees[ties], -shared))])
    return ordered


def reply_schema(options: list[str]) -> type[BaseModel]:
    answer: Any = Literal[tuple(options)]  # the options are known only at run time
    return create_model(
        "Deliberation",
        answer=(answer, Field(description="your answer: one option code")),
        reasoning=(str, Field(min_length=1, description="why, in your own words, 1-4 sentences")),
        changed_mind=(bool, Field(description="true if your answer differs from before")),
    )


def prompt_template(engine: Engine | None = None):
    return (engine or Engine(dirs=[str(TEMPLATE_DIR)], autoescape=False)).get_template(
        "deliberation.md"
    )


def deliberation_prompt(
    *,
    scenario: str,
    question: str,
    options: list[tuple[str, str]],
    context: str,
    own: Statement,
    heard: list[Statement],
    round_number: int,
    template=None,
) -> list[Message]:
    """The messages of one persona's call in one round."""
    labels = dict(options)
    text = (template or prompt_template()).render(
        Context(
            {
                "scenario": scenario,
                "question": question,
                "options": options,
                "context": context,
                "own_answer": labels.get(own.answer, own.answer),
                "own_code": own.answer,
                "own_reasoning": own.reasoning,
                "heard": [
                    {"answer": labels.get(s.answer, s.answer), "reasoning": s.reasoning}
                    for s in heard
                ],
                "round": round_number,
            },
            autoescape=False,  # plain text: the ties' reasoning is shown as they wrote it
        )
    )
    return [
        Message(role="system", content=SYSTEM),
        Message(role="user", content=text.strip()),
    ]


def deliberation_estimate(
    *, config: dict, personas: int, rounds: int, neighbours: int, question: str, options: list
) -> dict:
    """What the rounds would cost: a prompt of the template with a typical context and
    `neighbours` typical statements, a typical reply, once per persona and round."""
    parsed = parse_config(config)
    filler = "x" * REPLY_TOKENS * CHARS_PER_TOKEN
    messages = deliberation_prompt(
        scenario=question,
        question=question,
        options=options,
        context="x" * 400 * CHARS_PER_TOKEN,
        own=Statement(options[0][0], filler),
        heard=[Statement(options[0][0], filler)] * neighbours,
        round_number=1,
    )
    tokens = sum(len(m["content"]) for m in messages) // CHARS_PER_TOKEN
    return run_cost(
        config=parsed.llm,
        steps=["deliberation"],
        prompt_tokens={"deliberation": [tokens]},
        output_tokens={"deliberation": [REPLY_TOKENS]},
        max_tokens={"deliberation": MAX_TOKENS},
        total=personas * rounds,
        sampled=1,
    )
