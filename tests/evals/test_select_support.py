"""evals.select_support on a few answers per selection group: the code path runs and writes nothing."""

import json

import pytest

from evals import select_support
from evals.judge_data import DATASETS_DIR
from rag.grading.match_params import PARAMS_PATH
from rag.grading.support import SupportParams

pytestmark = pytest.mark.skipif(not DATASETS_DIR.is_dir(), reason=f"{DATASETS_DIR} is not available")


def test_selection_reads_each_group_and_replays_settings_without_writing(capsys):
    from rag.grading.offline import OfflineGrader

    grader = OfflineGrader()
    gated = select_support.selection_cases(grader, DATASETS_DIR, limit=6, judge_gate=True)
    for case in gated:
        for assessment in case.assessments:
            assert assessment is None or all(s is None or s.entails is not None for s in assessment.supports)
    cases = select_support.selection_cases(grader, DATASETS_DIR, limit=6, judge_gate=False)
    assert sorted({c.group for c in cases}) == ["saf", "semeval-beetle", "semeval-scientsbank"]
    # without the gate the judge reads no support, and the SemEval answers come from every train question
    for case in cases:
        for assessment in case.assessments:
            assert assessment is None or all(s is None or s.entails is None for s in assessment.supports)
    # the readings carry the whole-answer similarity the --whole-answer grid replays
    assert all(a.reference_similarity is not None for case in cases for a in case.assessments if a is not None)
    without = select_support.figures(grader, cases, None)
    generous = select_support.figures(grader, cases, SupportParams(low=-1.0, high=0.0, entails=0.0, nearest=2))
    assert {"saf_mean_correct", "scientsbank_macro_f1", "beetle_macro_f1"} <= set(without)
    # similarity above 0 covers a point under this setting, so no SAF answer can score lower with it
    assert generous["saf_mean_correct"] >= without["saf_mean_correct"]

    before = PARAMS_PATH.read_bytes()
    code = select_support.main(["--limit", "6"])
    assert PARAMS_PATH.read_bytes() == before
    if code == 0:
        chosen = SupportParams.model_validate(json.loads(capsys.readouterr().out))
        assert chosen.low in select_support.GRID["low"] and chosen.weight in select_support.GRID["weight"]
        assert chosen.entails == 0.0
    else:
        assert code == 1 and "support stays off" in capsys.readouterr().err


def test_alternatives_below_min_points_keep_their_score_without_support():
    from rag.grading.derive import questions_from_reference

    (short,) = questions_from_reference("a", "Q?", "One sentence.")
    (long,) = questions_from_reference("b", "Q?", "First point here. Second point here. Third point here.")
    case = select_support.Case("saf", "k", (short, long), (None, None), 1.0)
    with_support, without = [[6.0, 5.0]], [[2.0, 3.0]]
    assert select_support.combined_scores([case], with_support, without, 1).tolist() == [6.0]
    assert select_support.combined_scores([case], with_support, without, 2).tolist() == [5.0]
    assert select_support.combined_scores([case], with_support, without, 4).tolist() == [3.0]


def test_whole_answer_selection_keeps_the_shipped_support_and_writes_nothing(capsys):
    from rag.grading.support import MAX_WHOLE_ANSWER_SHARE, WholeAnswerParams

    before = PARAMS_PATH.read_bytes()
    code = select_support.main(["--limit", "6", "--semeval", "scientsbank", "--whole-answer"])
    assert PARAMS_PATH.read_bytes() == before
    captured = capsys.readouterr()
    assert "support as shipped, no whole-answer share" in captured.err
    if code == 0:
        chosen = WholeAnswerParams.model_validate(json.loads(captured.out))
        assert chosen.share <= MAX_WHOLE_ANSWER_SHARE and chosen.high in select_support.WHOLE_ANSWER_GRID["high"]
        assert chosen.selection["with_share"]["saf_pearson"] > chosen.selection["without_share"]["saf_pearson"]
    else:
        assert code == 1 and "whole-answer share stays off" in captured.err
