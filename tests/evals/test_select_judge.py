"""The threshold selection replays the offline grader exactly: a setting scores answers as the grader would."""

from __future__ import annotations

import pytest

from evals.select_judge import collect, settings_grid, simulate
from rag.grading.offline import OfflineGrader
from rag.grading.rubric import default_rubric

pytestmark = pytest.mark.slow


def test_the_replayed_score_is_the_graders_score(embedder, question_bank):
    grader = OfflineGrader()
    params = grader.judge_params
    rubric = default_rubric()
    for question in question_bank.questions[::16]:
        for answer in (question.model_answer, " ".join(m.claim for m in question.misconceptions), question.question):
            grade = grader.grade(question, answer)
            score, flagged = simulate(collect(grader, question, answer), params, rubric)
            assert score == grade.score, question.id
            assert flagged == bool(grade.misconceptions or any(v.verdict == "contradicted" for v in grade.key_points))


def test_the_grid_keeps_partly_below_covered():
    grid = settings_grid()
    assert grid and all(p.partly <= p.covered for p in grid)
