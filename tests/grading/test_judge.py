"""The committed judge: rows in order, each pair read on its own, and what the review relies on."""

import numpy as np

from rag.grading.judge import ENTAILS, NEITHER, Judge

QUESTION = "How do security groups and network ACLs differ?"
CLAIM = "Security groups are stateful: return traffic is allowed automatically."


def test_a_pairs_probabilities_do_not_depend_on_what_else_is_read_with_it():
    alone = Judge().probabilities([(QUESTION, CLAIM, CLAIM)])
    fresh = Judge()
    crowd = fresh.probabilities(
        [(QUESTION, CLAIM, "stateful stateless return traffic allow deny subnet instance"), (QUESTION, CLAIM, CLAIM)]
        + [(QUESTION, CLAIM, f"NACLs are evaluated in rule number order {i}.") for i in range(5)]
    )
    assert np.array_equal(alone[0], crowd[1])
    assert crowd.shape == (7, 3) and np.allclose(crowd.sum(axis=1), 1.0, atol=1e-3)


def test_the_judge_reads_the_claim_itself_as_entailing_and_a_word_list_as_stating_nothing():
    rows = Judge().probabilities(
        [(QUESTION, CLAIM, CLAIM), (QUESTION, CLAIM, "stateful return traffic security groups allowed automatically")]
    )
    assert rows[0].argmax() == ENTAILS
    assert rows[1][NEITHER] > rows[0][NEITHER]
