from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from studies.influence.deliberation import Statement, deliberation_prompt, neighbour_order
from studies.influence.network import Network
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
