"""evals.select_review on a few answers per selection group: the code path runs and writes nothing."""

import json

import pytest

from evals import select_review
from evals.judge_data import DATASETS_DIR
from rag.grading.match_params import PARAMS_PATH
from rag.grading.review import ReviewParams

pytestmark = pytest.mark.skipif(not DATASETS_DIR.is_dir(), reason=f"{DATASETS_DIR} is not available")


def test_selection_prints_a_setting_within_the_grid_and_leaves_the_params_alone(capsys):
    before = PARAMS_PATH.read_bytes()
    assert select_review.main(["--limit", "3", "--no-write"]) == 0
    chosen = ReviewParams.model_validate(json.loads(capsys.readouterr().out))
    assert PARAMS_PATH.read_bytes() == before
    for name, values in select_review.GRID.items():
        assert getattr(chosen, name) in values
    figures = chosen.selection["with_review"]
    assert {"team_qwk", "team_false_flags", "swap_recall", "scientsbank_macro_f1"} <= set(figures)
    assert chosen.selection["answers"] == 9


def test_fewer_candidates_cuts_every_reading_to_the_nearest_sentences():
    import numpy as np

    from rag.grading.clauses import Span
    from rag.grading.offline import Assessment
    from rag.grading.review import Reading

    spans = tuple(Span(i, i + 1, "x") for i in range(3))
    reading = Reading(spans, np.eye(3))
    assessment = Assessment((), (), True, (reading,), (reading,))
    cut = select_review.fewer_candidates(assessment, 1)
    assert len(cut.point_readings[0].spans) == 1 and cut.point_readings[0].probabilities.shape == (1, 3)
    assert select_review.fewer_candidates(None, 1) is None
