"""A stand-in model for the persona engine's prompts, for the local fake server.

It reads what a real model would read — the request's JSON Schema (OpenAI `response_format`, the
Anthropic `respond` tool, or the schema written into the system message) and the user prompt — and
writes an answer that fits the step: study-relevant attributes, a life context that repeats the
profile's facts, numbered episodes that refer back with the valence mix the prompt asks of the
persona's level and one strong opinion, and participation answers derived from the schema itself
(each item's answer an option code of its enum, distinct codes within the array bounds, a
permutation, a number within its bounds, or text; every required field filled), and deliberation
answers (a persona moves to the majority of the ties it heard when more than half of them disagree
with it, unless stubborn). Choices are
deterministic in the prompt text, so the same persona gets the same answer and different personas
spread over the options. It never looks at anything but the request.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

EPISODES = re.compile(r"Write (?P<lo>\d+) to (?P<hi>\d+) episodes")
LEVEL = re.compile(r"This is an? (?P<level>\w+) technology user")
ITEM_CODE = re.compile(r"^- \[(?P<code>[^\]]+)\]", re.MULTILINE)
# The deliberation prompt (templates/influence/deliberation.md): the options, the persona's own
# previous answer, and what each tie it heard answered.
OPTION_LINE = re.compile(r"^- (?P<code>\S+): (?P<label>.+)$", re.MULTILINE)
OWN_ANSWER = re.compile(r'you answered "[^"]*" \((?P<code>[^)]+)\)')
HEARD_ANSWER = re.compile(r'^\d+\. They answer "(?P<label>[^"]*)":', re.MULTILINE)

# Episode valences that fit each level's mix as the experience prompt states it (seed 004 §6.4):
# a function of the episode count.
VALENCES = {
    "novice": lambda n: [-0.6] + [0.0] * (n - 1),
    "beginner": lambda n: [0.5 if i % 2 == 0 else 0.0 for i in range(n)],
    "intermediate": lambda n: [0.5 if i % 2 == 0 else -0.5 for i in range(n)],
    "advanced": lambda n: [-0.5] + [0.6] * (n - 1),
    "expert": lambda n: [0.8] + [-0.5 if i % 2 == 0 else 0.3 for i in range(n - 1)],
}


def _schema(body: dict) -> dict:
    """The JSON Schema the request asks the answer to follow ({} when it names none)."""
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return fmt["json_schema"]["schema"]
    for tool in body.get("tools") or []:
        return tool.get("input_schema", {})
    system = body.get("system") or ""
    if isinstance(system, list):
        system = " ".join(block.get("text", "") for block in system)
    for message in body.get("messages", []):
        if message.get("role") == "system":
            system += _text(message)
    _, marker, schema = system.partition("JSON Schema:\n")
    if not marker:
        return {}
    try:
        return json.loads(schema.strip())
    except ValueError:
        return {}


def _text(message: dict) -> str:
    content = message.get("content", "")
    if isinstance(content, list):
        return " ".join(block.get("text", "") for block in content if isinstance(block, dict))
    return content


def _prompt(body: dict) -> str:
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    return _text(users[0]) if users else ""


def _digest(seed: str) -> int:
    return int(hashlib.sha256(seed.encode()).hexdigest(), 16)


def _pick(seed: str, choices: list[Any]) -> Any:
    return choices[_digest(seed) % len(choices)]


def _shuffled(seed: str, choices: list[Any]) -> list[Any]:
    return sorted(choices, key=lambda c: _digest(f"{seed}/{c}"))


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


def _analysis(prompt: str) -> dict:
    codes = ITEM_CODE.findall(prompt) or ["study"]
    return {
        "attributes": [
            {
                "name": "household_budget_pressure",
                "value": _pick(prompt, ["low", "moderate", "high"]),
                "relevance": "Every item asks, one way or another, what it would cost them.",
            },
            {
                "name": "stake_in_" + re.sub(r"[^a-z0-9_]", "_", codes[0].lower())[:30],
                "value": _pick(prompt + "stake", ["direct", "indirect", "none"]),
                "relevance": f"Whether item {codes[0]} touches their own life decides how firmly "
                "they answer.",
            },
        ]
    }


def _experience(prompt: str) -> dict:
    match = EPISODES.search(prompt)
    n = int(match.group("lo")) if match else 2
    n = max(n, 2)
    level = LEVEL.search(prompt)
    valences = VALENCES[level.group("level") if level else "intermediate"](n)
    episodes = [
        {
            "number": i,
            "timeframe": f"{2000 + i}",
            "scenario": f"Episode {i}: a decision about money and local services.",
            "reaction": "Weighed it carefully.",
            "takeaway": "Costs matter as much as promises.",
            "valence": valences[i - 1],
            "refers_to": [i - 1] if i > 1 else [],
            "creates_strong_opinion": i == n,
            "strong_opinion": "Never trust a promise without a price tag." if i == n else None,
        }
        for i in range(1, n + 1)
    ]
    return {
        "episodes": episodes,
        "synthesized_memory": "A run of decisions where the cost showed up later than promised.",
        "emotional_residue": "Wary but open",
        "learned_behaviours": ["Checks the price before the pitch"],
    }


def _resolve(schema: dict, defs: dict) -> dict:
    while "$ref" in schema:
        schema = {
            **defs[schema["$ref"].rsplit("/", 1)[-1]],
            **{k: v for k, v in schema.items() if k != "$ref"},
        }
    return schema


def _number(schema: dict, seed: str) -> float:
    lo = schema.get("minimum", schema.get("exclusiveMinimum"))
    hi = schema.get("maximum", schema.get("exclusiveMaximum"))
    fraction = (_digest(seed) % 997) / 997
    if lo is None and hi is None:
        return 20.0
    if lo is None:
        return float(hi) - 1 - round(fraction * 10, 1)
    if hi is None:
        return float(lo) + 1 + round(fraction * 10, 1)
    value = round(lo + fraction * (hi - lo), 1)
    if "exclusiveMinimum" in schema and value <= lo:
        value = (lo + hi) / 2
    return min(max(value, lo), hi)


def _text_for(name: str, answer: Any) -> str:
    if name == "reasoning":
        return f"Given my circumstances, {json.dumps(answer)} is what I would honestly give."
    if name == "think_aloud":
        return "Let me think about what this would mean for me."
    if name == "answer":
        return "Honestly it depends on what it costs us and who pays for it in the end."
    return f"My {name.replace('_', ' ')}, as I see it."


def _instance(schema: dict, defs: dict, seed: str, name: str = "", answer: Any = None) -> Any:
    """A value valid under `schema` (the subset pydantic writes), chosen deterministically."""
    schema = _resolve(schema, defs)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return _pick(seed, schema["enum"])
    if "anyOf" in schema:
        usable = [s for s in schema["anyOf"] if s.get("type") != "null"]
        return _instance(usable[0], defs, seed, name, answer)
    kind = schema.get("type")
    if kind == "object":
        value: dict[str, Any] = {}
        properties = schema.get("properties", {})
        # The answer first: the reasoning refers to it.
        for key in sorted(schema.get("required", []), key=lambda k: k != "answer"):
            value[key] = _instance(properties[key], defs, f"{seed}/{key}", key, value.get("answer"))
        return value
    if kind == "array":
        items = _resolve(schema.get("items", {}), defs)
        lo = schema.get("minItems", 1)
        hi = schema.get("maxItems", max(lo, 3))
        n = lo + _digest(seed + "#") % (hi - lo + 1)
        if "enum" in items:
            return _shuffled(seed, list(items["enum"]))[:n]
        return [_instance(items, defs, f"{seed}[{i}]", name) for i in range(n)]
    if kind == "number":
        return _number(schema, seed)
    if kind == "integer":
        lo = schema.get("minimum", 0)
        return int(lo + _digest(seed) % (min(schema.get("maximum", lo + 3), lo + 3) - lo + 1))
    if kind == "boolean":
        return bool(_digest(seed) % 2)
    text = _text_for(name, answer)
    return (text + " " * schema.get("minLength", 0))[: schema.get("maxLength", len(text) + 99)]


def _participation(prompt: str, schema: dict) -> dict:
    defs = schema.get("$defs", {})
    responses = _resolve(schema["properties"]["responses"], defs)
    return {
        "responses": {
            code: _instance(item, defs, prompt + code)
            for code, item in responses["properties"].items()
        }
    }


def _deliberation(prompt: str) -> dict:
    """A persona that follows the majority of what it heard when more than half of it disagrees
    with its own answer, unless it is stubborn (one persona and round in three, by the prompt)."""
    listed = prompt.split("Options (answer with the code):", 1)[-1].split("\n\n", 1)[0]
    codes = {label.strip(): code for code, label in OPTION_LINE.findall(listed)}
    own = OWN_ANSWER.search(prompt)
    answer = own.group("code") if own else next(iter(codes.values()), "")
    heard = [codes.get(label, label) for label in HEARD_ANSWER.findall(prompt)]
    others = [code for code in heard if code != answer]
    if len(others) * 2 > len(heard) and _digest(prompt) % 3:
        majority = max(sorted(set(others)), key=others.count)
        return {
            "answer": majority,
            "reasoning": f"Most of the people I talked to said {majority}, and they convinced me.",
            "changed_mind": True,
        }
    return {
        "answer": answer,
        "reasoning": f"I heard the others out, but I still think {answer} is right for me.",
        "changed_mind": False,
    }


def persona_responder(body: dict) -> dict:
    """The answer for one engine request (the step is read off the schema's title)."""
    schema = _schema(body)
    title = schema.get("title", "")
    prompt = _prompt(body)
    if title == "StudyAnalysis":
        return _analysis(prompt)
    if title == "PersonaContext":
        return _context(prompt)
    if title == "ConsistencyReport":
        return {"consistent": True, "issues": []}
    if title == "Experience":
        return _experience(prompt)
    if title == "Participation":
        return _participation(prompt, schema)
    if title == "Deliberation":
        return _deliberation(prompt)
    return {"error": f"the stand-in model does not know the schema {title!r}"}


if __name__ == "__main__":  # pragma: no cover - a quick look at one answer
    print(json.dumps(persona_responder({"messages": []}), indent=2))
