"""The committed judge: rows in order, each pair read on its own, and what the review relies on."""

import numpy as np
import pytest

from rag.errors import ModelIntegrityError
from rag.grading.judge import (
    ENTAILS,
    NEITHER,
    ContrastWords,
    Judge,
    build_network,
    card_contrast,
    contrast_line,
    pair_text,
)

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


WORDS = ContrastWords(stopwords={"are", "the", "is", "by", "a", "of", "while"}, negations={"not", "arent", "never"})


def test_the_contrast_line_names_what_an_edit_changed():
    claim = "Security groups are stateful."
    assert contrast_line(claim, "Security groups are stateless.", WORDS) == "missing: stateful. added: stateless"
    assert contrast_line(claim, "Security groups aren't stateful.", WORDS) == "missing: -. added: not"
    swapped = contrast_line("Security groups allow, NACLs deny.", "NACLs allow, security groups deny.", WORDS)
    assert swapped.startswith("missing: -. added: -. order: ")
    assert contrast_line(claim, claim, WORDS) == "missing: -. added: -"
    long_span = " ".join(f"word{i}" for i in range(40))
    assert len(contrast_line(claim, long_span, WORDS).split("added: ")[1].split()) == 6, "at most six listed"


def test_the_pair_text_carries_the_contrast_line_only_for_a_judge_trained_with_it():
    assert pair_text("Q?", "A is B.", "A is C.") == "Q? [SEP] A is B."
    assert pair_text("Q?", "A is B.", "A is C.", WORDS).endswith("[SEP] missing: b. added: c")


def test_a_card_states_how_its_judge_reads_pairs():
    assert card_contrast({}) is None
    assert card_contrast({"contrast": {"stopwords": ["a"], "negations": ["not"]}}) == ContrastWords(
        stopwords={"a"}, negations={"not"}
    )
    with pytest.raises(ModelIntegrityError, match="contrast"):
        card_contrast({"contrast": {"stopwords": []}})
    with pytest.raises(ModelIntegrityError, match="pooling"):
        build_network(pooling="median")
