"""The local OpenAI-compatible server both tools of the race talk to, in a process of its own.

It is the project's fake server (tests/llm/fake_llm_server.py) at a fixed latency per answer, with a
responder for both clients: a request with a JSON schema (Persona Lab's engine steps) gets the
persona responder's answer; a plain chat request (EDSL's questions) gets a valid answer to the
question asked: for a multiple-choice question with codes, one of the listed codes (chosen from a
hash of the prompt, so the same persona gets the same answer) and a comment; otherwise a sentence.
Prints its URL, serves until SIGTERM.

    .venv/bin/python -m bench.peers.server --latency 0.2
"""

from __future__ import annotations

import argparse
import hashlib
import re
import signal

from tests.llm.fake_llm_server import FakeLLMServer
from tests.llm.persona_responder import _schema, persona_responder

OPTION = re.compile(r"^\s*(\d+): ", re.MULTILINE)


def _prompt(body: dict) -> str:
    parts = []
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, list):
            parts += [c.get("text", "") for c in content if isinstance(c, dict)]
        else:
            parts.append(str(content or ""))
    return "\n".join(parts)


def race_responder(body: dict) -> dict | str:
    if _schema(body):
        return persona_responder(body)
    prompt = _prompt(body)
    codes = OPTION.findall(prompt)
    digest = int(hashlib.sha256(prompt.encode()).hexdigest()[:8], 16)
    if codes and "code corresponding to one of the options" in prompt:
        return f"{codes[digest % len(codes)]}\nThat is closest to how I see it."
    return "Prices and jobs here shape what I think more than national news does."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per answer")
    args = parser.parse_args()
    # One event loop answers every connection (a thread each cost the machine the two tools
    # share as much CPU as a tool being measured).
    server = FakeLLMServer(
        latency_s=args.latency, responder=race_responder, event_loop=True
    ).start()
    print(server.url, flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    server.stop()


if __name__ == "__main__":
    main()
