from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from studies.influence.network import Network
from studies.influence.prompt import Statement, deliberation_prompt, neighbour_order
from studies.influence.simulate import Wiring


def test_ties_are_shown_most_similar_first_then_best_connected():
    # Persona 0 is tied to 1, 2 and 3; 2 shares both attributes with 0, 3 one, 1 none; 1 and 3
    # share as much but 3 has more ties.
    edges = [(0, 1), (0, 2), (0, 3), (3, 1), (3, 2)]
    rows, cols = zip(*(edges + [(j, i) for i, j in edges]), strict=True)
    adjacency = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(4, 4))
    codes = np.array([[0, 0], [1, 1], [0, 0], [0, 1]])
    network = Network(adjacency=adjacency, groups=np.zeros(4, int), scale=1.0, clipped_pairs=0)
    wiring = Wiring(
        network=network,
        codes=codes,
        weights=network.row_normalised(),
        susceptibility=np.zeros(4),
    )
    assert neighbour_order(wiring)[0].tolist() == [2, 3, 1]


def test_the_prompt_shows_the_personas_own_answer_and_what_its_ties_said():
    messages = deliberation_prompt(
        scenario="School levy",
        question="Would you vote for the levy?",
        options=[("yes", "Yes"), ("no", "No")],
        context="A teacher in Dallas.",
        own=Statement("no", "Taxes are high."),
        heard=[Statement("yes", "The schools need roofs.")],
        round_number=1,
    )
    text = messages[1]["content"]
    assert messages[0]["role"] == "system"
    assert 'you answered "No" (no), because: Taxes are high.' in text
    assert '1. They answer "Yes": The schools need roofs.' in text
    assert "- yes: Yes" in text and "A teacher in Dallas." in text


def test_the_prompt_is_plain_text_with_nothing_html_escaped():
    messages = deliberation_prompt(
        scenario="Parks & <rec>",
        question='Don\'t you "agree"?',
        options=[("yes", "Yes, it's fine"), ("no", "No")],
        context="A teacher in Dallas.",
        own=Statement("no", "It isn't worth it & costs <a lot>."),
        heard=[Statement("yes", "We'd all gain.")],
        round_number=1,
    )
    text = messages[1]["content"]
    assert "It isn't worth it & costs <a lot>." in text and "We'd all gain." in text
    assert "Yes, it's fine" in text and "&#x27;" not in text and "&amp;" not in text


# --- the rounds' scheduling ---------------------------------------------------------------------
# A line 0-1-2-3-4-5 and a separate pair 6-7: each persona hears its ties.
LINE = {0: [1], 1: [0, 2], 2: [1, 3], 3: [2, 4], 4: [3, 5], 5: [4], 6: [7], 7: [6]}
ROUNDS = 3


def _first() -> list[Statement]:
    return [Statement("yes" if i in (0, 6) else "no", f"p{i}") for i in range(8)]


def _majority(own: Statement, heard: list[Statement]) -> str:
    """A persona moves to what most of its ties said; a tie keeps its answer."""
    yes = sum(s.answer == "yes" for s in heard)
    if yes * 2 > len(heard):
        return "yes"
    return "no" if yes * 2 < len(heard) else own.answer


def _rounds(*, concurrency: int, early: bool, slow: dict | None = None, stop_all: bool = False):
    """Run the scheduler with a stand-in for the model: each call's reply is the majority of what
    it read. Returns the schedule, why it stopped, and every call as (round, persona, what it
    read: its own and its ties' statements, start time, end time)."""
    import asyncio
    import threading
    import time
    from types import SimpleNamespace

    from llm.gateway import CallBuffer
    from personas.engine.results import PersonaResult
    from studies.influence.rounds import _Rounds, _Schedule

    hears = [np.array(LINE[i]) for i in range(8)]
    schedule = _Schedule(first=_first(), asked=list(range(8)), hears=hears, rounds=ROUNDS)
    calls: list[tuple] = []
    lock = threading.Lock()
    clock = time.perf_counter()

    async def ask(i: int, r: int):
        previous = schedule.statements[r - 1]
        read = (previous[i], tuple(previous[j] for j in LINE[i]))
        started = time.perf_counter() - clock
        await asyncio.sleep((slow or {}).get((i, r), 0.01))
        answer = read[0].answer if stop_all else _majority(*read)
        with lock:
            calls.append((r, i, read, started, time.perf_counter() - clock))
        value = SimpleNamespace(answer=answer, reasoning=f"p{i} r{r}")
        return i, value, (PersonaResult(narrative_source="llm"), CallBuffer())

    done: list[int] = []
    stopped = _Rounds(
        schedule=schedule,
        ask=ask,
        concurrency=concurrency,
        may_open=lambda r, early: "",
        round_done=done.append,
        early=early,
    ).run()
    assert done == list(range(1, schedule.complete + 1))
    return schedule, stopped, calls


def test_pipelined_rounds_read_exactly_the_round_before_as_with_a_barrier():
    barrier, _, serial_calls = _rounds(concurrency=1, early=False)
    pipelined, stopped, calls = _rounds(concurrency=4, early=True)
    assert stopped == "" and pipelined.complete == barrier.complete == ROUNDS
    # The same statements after every round, and every call read the same as with barriers.
    assert pipelined.statements == barrier.statements
    assert sorted(c[:3] for c in calls) == sorted(c[:3] for c in serial_calls)
    # By the majority rule: 0 follows 1 to "no" and stays; 1 hears a tie and keeps "no"; 6 and 7
    # swap answers every round.
    answers = [[s.answer for s in statements] for statements in barrier.statements]
    no = ["no"] * 6
    assert answers[1:] == [[*no, "no", "yes"], [*no, "yes", "no"], [*no, "no", "yes"]]


def test_a_persona_does_not_wait_for_a_slow_call_it_does_not_hear():
    # Persona 5's round-1 call is slow; 6 and 7 (another component) and 0-2 need nothing from it.
    slow = {(5, 1): 0.4}
    _, _, calls = _rounds(concurrency=8, early=True, slow=slow)
    end_of_5 = next(c[4] for c in calls if c[:2] == (1, 5))
    started = {(c[0], c[1]): c[3] for c in calls}
    assert started[(2, 6)] < end_of_5 and started[(2, 0)] < end_of_5
    # 4 hears 5: its round-2 call waits for 5's round-1 reply.
    assert started[(2, 4)] >= end_of_5


def test_with_a_budget_each_round_waits_for_the_one_before():
    slow = {(5, 1): 0.2}
    _, _, calls = _rounds(concurrency=8, early=False, slow=slow)
    last_of = {r: max(c[4] for c in calls if c[0] == r) for r in (1, 2)}
    assert min(c[3] for c in calls if c[0] == 2) >= last_of[1]
    assert min(c[3] for c in calls if c[0] == 3) >= last_of[2]


def test_the_rounds_stop_when_a_round_changes_nobody():
    schedule, stopped, calls = _rounds(concurrency=4, early=True, stop_all=True)
    assert stopped == "nobody changed their answer in round 1"
    assert schedule.complete == 1 and {c[0] for c in calls} == {1}
