"""`make train-judge` on a tiny slice, so the training code cannot rot; and the rules that generate its pairs."""

from __future__ import annotations

import json
import random

import pytest

from evals.judge_data import (
    DATASETS_DIR,
    antonym_swap,
    bank_pairs,
    hedge,
    keyword_list,
    negate,
    notes_style,
    role_swap,
)
from evals.split import load_split
from evals.train_judge import is_dev_group, main, training_data
from rag.errors import ModelIntegrityError
from rag.grading.judge import CARD_FILE, CONTRADICTS, ENTAILS, NEITHER, WEIGHTS_FILE, Judge, verify_weights
from rag.grading.lexicon import load_lexicon
from rag.questions import Question

needs_datasets = pytest.mark.skipif(not DATASETS_DIR.is_dir(), reason=f"{DATASETS_DIR} is not available")


def test_a_role_swap_trades_the_first_two_names():
    assert role_swap("Use SQS for queues and SNS for fan-out.") == "Use SNS for queues and SQS for fan-out."
    assert role_swap("no names here at all") is None


def test_a_role_swap_trades_whole_names_and_skips_names_that_play_one_role():
    assert role_swap("SCPs cap what IAM policies grant.") == "IAM cap what SCPs policies grant."
    assert role_swap("S3 Glacier Deep Archive is cheaper to store than EBS snapshots.") == (
        "EBS is cheaper to store than S3 Glacier Deep Archive snapshots."
    )
    # "A and B" says the same as "B and A": swapping them is no contradiction.
    assert role_swap("Aurora Global Database and Route 53 give recovery in a second region.") is None


def test_negation_flips_an_auxiliary_or_removes_a_not():
    assert negate("Security groups are stateful.") == "Security groups are not stateful."
    assert negate("NACLs do not track connections.") == "NACLs do track connections."
    assert negate("Consumers can read it twice.") == "Consumers cannot read it twice."


def test_an_antonym_swap_uses_the_lexicon_and_keeps_case():
    lexicon = load_lexicon()
    assert antonym_swap("Security groups are stateful.", lexicon) == "Security groups are stateless."
    assert antonym_swap("Sessions last one hour.", lexicon) is None


def test_hedges_and_keyword_lists_state_nothing_of_their_own():
    rng = random.Random(1)
    hedged = hedge("Security groups are stateful", rng)
    assert hedged and "stateful" in hedged
    listed = keyword_list("Security groups are stateful and evaluate every rule", load_lexicon(), rng)
    assert listed and "are" not in listed.split()


@pytest.fixture
def tuning(question_bank) -> list[Question]:
    """The first three tuning questions: the only bank questions the judge trains on."""
    split = load_split()
    return [q for q in question_bank.questions if q.id in split.tuning][:3]


def test_bank_pairs_cover_all_three_labels_from_tuning_questions_only(tuning):
    pairs = bank_pairs(tuning, load_lexicon())
    assert {p.label for p in pairs} == {ENTAILS, CONTRADICTS, NEITHER}
    assert {p.group for p in pairs} <= {f"bank:{q.id}" for q in tuning}


def test_mirrored_pairs_make_each_rewrite_a_claim_and_change_nothing_else(tuning):
    plain = bank_pairs(tuning, load_lexicon())
    mirrored = bank_pairs(tuning, load_lexicon(), mirrored=True)
    assert [p for p in mirrored if "mirror" not in p.source] == plain
    rewrites = [p for p in plain if p.label == CONTRADICTS and p.source != "bank-misconception"]
    mirrors = [p for p in mirrored if p.source.startswith("bank-mirror-") and p.label == CONTRADICTS]
    assert rewrites and len(mirrors) == len(rewrites)
    for mirror in mirrors:
        assert any(mirror.claim[1:] in p.span for p in rewrites)  # the rewrite, said bare, is the claim
        entailed = [p for p in mirrored if p.claim == mirror.claim and p.source == "bank-mirror-restated"]
        assert entailed and all(p.label == ENTAILS for p in entailed)


def test_notes_style_writes_digits_and_abbreviations_and_keeps_the_words_that_relate():
    lexicon = load_lexicon()
    noted = notes_style(
        "Aurora keeps six copies of the data across three Availability Zones.", lexicon, random.Random(1)
    )
    assert noted == "Aurora keeps 6 copies of data across 3 AZs"
    arrows = {
        notes_style("The route table routes 0.0.0.0/0 to an internet gateway.", lexicon, random.Random(s))
        for s in range(6)
    }
    assert "Route table routes 0.0.0.0/0 → internet gateway" in arrows
    # a one-word expansion with a capital is part of a name; "not" keeps its copula
    assert notes_style("The Aurora Global Database is not regional.", lexicon, random.Random(1)) == (
        "Aurora Global Database is not regional"
    )
    assert notes_style("Nothing here changes.", lexicon, random.Random(1)) is None


def test_notes_pairs_shorten_a_rewrite_the_same_way_and_leave_the_other_pairs_alone(tuning):
    plain = bank_pairs(tuning, load_lexicon(), mirrored=True)
    noted = bank_pairs(tuning, load_lexicon(), mirrored=True, notes=True)
    assert [p for p in noted if "notes" not in p.source] == plain
    entailing = [p for p in noted if p.source == "bank-notes"]
    contradicting = [p for p in noted if p.source.startswith("bank-notes-")]
    assert entailing and contradicting
    assert all(p.label == ENTAILS for p in entailing) and all(p.label == CONTRADICTS for p in contradicting)
    for rewrite in contradicting:
        # shortened the same way: a noted original of the same claim with about as many words, most shared
        said = rewrite.span.split()
        originals = [p.span.split() for p in entailing if p.claim == rewrite.claim]
        assert any(abs(len(o) - len(said)) <= 2 and len(set(o) & set(said)) >= len(said) / 2 for o in originals)


@needs_datasets
def test_selection_questions_never_reach_training():
    train, dev = training_data()
    held_out = {p.group for p in dev if p.source.startswith("semeval")}
    assert held_out and all(is_dev_group(g) for g in held_out)
    assert not held_out & {p.group for p in train}
    assert not {p.source for p in train} & {"breaking-nli"}


@needs_datasets
@pytest.mark.parametrize("options", [[], ["--pooling", "mean+max", "--contrast"]], ids=["default", "contrast"])
def test_training_on_a_tiny_slice_writes_verified_weights_and_a_card(tmp_path, options):
    args = ["--limit", "48", "--epochs", "1", "--batch-size", "16", "--out", str(tmp_path), "--quiet", *options]
    assert main(args) == 0
    card = json.loads((tmp_path / CARD_FILE).read_text())
    assert card["training"]["limit"] == 48 and sum(card["data"]["train"].values()) == 48
    assert card["pooling"] == ("mean+max" if options else "mean") and (card["contrast"] is not None) == bool(options)
    assert verify_weights(tmp_path) == tmp_path / WEIGHTS_FILE
    judge = Judge(tmp_path)
    row = judge.probabilities([("What are security groups?", "Security groups are stateful.", "They are stateful.")])
    assert row.shape == (1, 3) and abs(row.sum() - 1) < 1e-3
    (tmp_path / WEIGHTS_FILE).write_bytes((tmp_path / WEIGHTS_FILE).read_bytes()[:-8] + b"tampered")
    with pytest.raises(ModelIntegrityError, match="refusing to load unverified"):
        Judge(tmp_path)
