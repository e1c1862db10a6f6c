"""Sizing a run through the persona engine before it starts (`PersonaEngine.estimate`): the
prompts of a sample of its personas rendered as the run would render them, and the typical reply
of each step, costed by `personas.engine.estimate`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from personas.engine.estimate import (
    CHARS_PER_TOKEN,
    OUTPUT_TOKENS,
    item_output_tokens,
    run_cost,
    step_max_tokens,
    typical_output_tokens,
)
from personas.engine.persona_sheet import describe, profile_doc

if TYPE_CHECKING:
    from personas.engine.engine import PersonaEngine


def run_estimate(engine: PersonaEngine, *, personas: list[Any], total: int) -> dict:
    """What a run over `total` personas would cost, from prompts rendered for a sample of them.

    Input tokens: the rendered prompts of the sampled personas (characters / 4), with what a
    model would have written in earlier steps (study-relevant attributes, context,
    experience) stood in for by text of the typical size, and the poll grounding by its
    wording with placeholder figures (the polls' answers are not read); sampled personas take
    the study's conditions in turn. Output tokens: the typical reply sizes (the most episodes
    the persona's level and the depth allow; per-item sizes by item type), capped at the
    step's max_tokens. It is an upper bound in one way: calls answered from the cache cost
    nothing.
    """
    steps = ["analyze", "context", "experience", "participation"]
    if engine.options.consistency_check:
        steps.insert(2, "consistency")
    sample = personas[:20]
    filler_context = "x" * OUTPUT_TOKENS["context"] * CHARS_PER_TOKEN
    filler_attributes = "x" * OUTPUT_TOKENS["analyze"] * CHARS_PER_TOKEN
    item_tokens = sum(
        item_output_tokens(
            item["type"],
            len(item["options"]),
            think_aloud=engine.study.think_aloud,
            measures=len(engine.measures) + int(engine.study.time_on_task),
        )
        for item in engine.item_view
    )
    per_step_in: dict[str, list[int]] = {s: [] for s in steps}
    per_step_out: dict[str, list[int]] = {s: [] for s in steps}
    max_tokens = dict(engine.max_tokens)
    for n, persona in enumerate(sample):
        condition = engine.conditions[n % len(engine.conditions)] if engine.conditions else None
        doc = profile_doc(persona)
        text = describe(doc)
        with_attributes = f"{text}\n{filler_attributes}"
        environment = engine.surroundings.environment(persona)
        try:
            episodes = engine.prompts.experience_values(
                doc.tech_profile.proficiency if doc.tech_profile else None
            )
        except ValueError:  # that persona fails at once: it costs no experience call
            episodes = engine.prompts.experience_values(None)
        hi = episodes["max_episodes"]
        max_tokens["experience"] = max(
            max_tokens.get("experience", 0),
            step_max_tokens("experience", engine.config, max_episodes=hi),
        )
        filler_experience = (
            "x" * typical_output_tokens("experience", episodes=hi) * (CHARS_PER_TOKEN)
        )
        prompts = {
            "analyze": engine.prompts.messages("analyze", condition, profile_text=text),
            "context": engine.prompts.messages(
                "context", condition, profile_text=with_attributes, environment=environment
            ),
            "consistency": engine.prompts.messages(
                "consistency",
                condition,
                profile_text=with_attributes,
                context_text=filler_context,
            ),
            "experience": engine.prompts.messages(
                "experience",
                condition,
                profile_text=with_attributes,
                context_text=filler_context,
                **episodes,
            ),
            "participation": engine.prompts.messages(
                "participation",
                condition,
                profile_text=with_attributes,
                context_text=filler_context,
                experience_text=filler_experience,
                environment=environment,
                grounding=engine.surroundings.grounding_size_text(persona),
            ),
        }
        for s in steps:
            chars = sum(len(m["content"]) for m in prompts[s])
            per_step_in[s].append(chars // CHARS_PER_TOKEN)
            typical = typical_output_tokens(s, episodes=hi, item_tokens=item_tokens)
            cap = (
                step_max_tokens("experience", engine.config, max_episodes=hi)
                if s == "experience"
                else max_tokens[s]
            )
            per_step_out[s].append(min(typical, cap))
    max_tokens.setdefault("experience", engine.config.max_tokens)
    return run_cost(
        config=engine.config,
        steps=steps,
        prompt_tokens=per_step_in,
        output_tokens=per_step_out,
        max_tokens=max_tokens,
        total=total,
        sampled=len(sample),
    )
