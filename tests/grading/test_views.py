"""Evidence units (`build_units`) in the matcher's answer views: clauses, two-clause windows, short whole answers."""

from __future__ import annotations

import numpy as np
import pytest

from rag.grading.matching import Matcher


@pytest.fixture(scope="module")
def matcher(embedder) -> Matcher:
    return Matcher(embedder)


def test_units_are_clauses_windows_and_short_whole_answers(matcher: Matcher):
    answer = "Security groups are stateful. NACLs are stateless, so you allow return ports. They apply to subnets."
    view = matcher.view_answer(answer)
    assert len(view.clauses) == 4
    singles = [u for u in view.units if len(u.clauses) == 1]
    windows = [u for u in view.units if len(u.clauses) == 2]
    assert len(singles) == 4 and len(windows) == 3
    assert not any(len(u.clauses) > 2 for u in view.units), "three sentences are three statements, not one unit"
    for unit in view.units:
        assert answer[unit.span.start : unit.span.end] == unit.span.text
    assert [u.within_sentence for u in windows] == [False, True, False]
    assert view.vectors.shape == (len(view.units), 384)
    assert np.allclose(np.linalg.norm(view.vectors, axis=1), 1.0, atol=1e-5)


def test_a_short_answer_of_one_or_two_sentences_is_also_a_unit_whole(matcher: Matcher):
    two = matcher.view_answer("Security groups are stateful, so return traffic is allowed. NACLs are stateless.")
    assert len(two.clauses) == 3 and any(len(u.clauses) == 3 for u in two.units)
    bullets = matcher.view_answer("- Direct Connect: private link\n- 2 connections\n- VPN backup over the internet")
    assert len(bullets.clauses) == 3 and not any(len(u.clauses) == 3 for u in bullets.units)
