"""A stand-in model for the persona engine's prompts, for the local fake server.

It reads what a real model would read — the request's JSON Schema (OpenAI `response_format`, the
Anthropic `respond` tool, or the schema written into the system message) and the user prompt — and
writes an answer that fits the step: a life context that repeats the profile's facts, numbered
episodes that refer back, and one answer per listed item, chosen from the listed option codes.
Choices are deterministic in the prompt text, so the same persona gets the same answer and
different personas spread over the options. It never looks at anything but the request.
"""

from __future__ import annotations

import hashlib
import json
import re

ITEM_LINE = re.compile(r"^\[(?P<code>[^\]]+)\] ", re.MULTILINE)
OPTION_LINE = re.compile(r"^  - (?P<code>[^:]+): ", re.MULTILINE)
EPISODES = re.compile(r"Write (?P<lo>\d+) to (?P<hi>\d+) episodes")


def _schema_title(body: dict) -> str:
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return fmt["json_schema"]["schema"].get("title", "")
    for tool in body.get("tools") or []:
        return tool.get("input_schema", {}).get("title", "")
    system = body.get("system") or ""
    if isinstance(system, list):
        system = " ".join(block.get("text", "") for block in system)
    for message in body.get("messages", []):
        if message.get("role") == "system":
            system += _text(message)
    _, marker, schema = system.partition("JSON Schema:\n")
    if not marker:
        return ""
    try:
        return json.loads(schema.strip()).get("title", "")
    except ValueError:
        return ""


def _text(message: dict) -> str:
    content = message.get("content", "")
    if isinstance(content, list):
        return " ".join(block.get("text", "") for block in content if isinstance(block, dict))
    return content


def _prompt(body: dict) -> str:
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    return _text(users[0]) if users else ""


def _pick(seed: str, choices: list[str]) -> str:
    digest = int(hashlib.sha256(seed.encode()).hexdigest(), 16)
    return choices[digest % len(choices)]


def _context(prompt: str) -> dict:
    profile = prompt.split("Profile:", 1)[-1].strip().split("\n\n", 1)[0]
    return {
        "life_narrative": (
            "Grew up and still lives where the profile places them. "
            f"The facts of their life, as recorded: {profile[:600]}"
        ),
        "relevant_habits": ["Reads the local news most mornings"],
        "attitudes_and_opinions": ["Judges new policies by what they cost the household"],
        "pain_points": ["Prices rising faster than pay"],
        "motivations": ["Security for the family"],
    }


def _experience(prompt: str) -> dict:
    match = EPISODES.search(prompt)
    n = int(match.group("lo")) if match else 2
    n = max(n, 2)
    episodes = [
        {
            "number": i,
            "timeframe": f"{2010 + 3 * i}",
            "scenario": f"Episode {i}: a decision about money and local services.",
            "reaction": "Weighed it carefully.",
            "takeaway": "Costs matter as much as promises.",
            "valence": round(((i % 3) - 1) * 0.5, 1),
            "refers_to": [i - 1] if i > 1 else [],
        }
        for i in range(1, n + 1)
    ]
    return {
        "episodes": episodes,
        "synthesized_memory": "A run of decisions where the cost showed up later than promised.",
        "emotional_residue": "Wary but open",
        "learned_behaviours": ["Checks the price before the pitch"],
    }


def _participation(prompt: str) -> dict:
    items_part = prompt.split("Items (answer each once, in this order):", 1)[-1]
    wants_think = '"think_aloud"' in prompt
    wants_time = '"time_on_task_seconds"' in prompt
    responses = []
    blocks = ITEM_LINE.split(items_part)[1:]  # [code, rest, code, rest, …]
    for code, rest in zip(blocks[::2], blocks[1::2], strict=True):
        options = OPTION_LINE.findall(rest)
        answer = _pick(prompt + code, options)
        response = {
            "item": code,
            "answer": answer,
            "reasoning": f"Given my circumstances, '{answer}' is what I would honestly pick.",
        }
        if wants_think:
            response["think_aloud"] = "Let me think about what this would mean for me."
        if wants_time:
            response["time_on_task_seconds"] = 20.0
        responses.append(response)
    return {"responses": responses}


def persona_responder(body: dict) -> dict:
    """The answer for one engine request (the step is read off the schema's title)."""
    title = _schema_title(body)
    prompt = _prompt(body)
    if title == "PersonaContext":
        return _context(prompt)
    if title == "ConsistencyReport":
        return {"consistent": True, "issues": []}
    if title == "Experience":
        return _experience(prompt)
    if title == "Participation":
        return _participation(prompt)
    return {"error": f"the stand-in model does not know the schema {title!r}"}


if __name__ == "__main__":  # pragma: no cover - a quick look at one answer
    print(json.dumps(persona_responder({"messages": []}), indent=2))
