import pytest

from rag.grading.result import KeyPointVerdict, MisconceptionFinding, Verdict
from rag.grading.rubric import load_rubric
from rag.grading.scoring import compute_score


def verdicts(*pairs: tuple[str, int]) -> list[KeyPointVerdict]:
    return [
        KeyPointVerdict(key_point_id=f"kp{i}", text=f"point {i}", weight=weight, verdict=Verdict(verdict))
        for i, (verdict, weight) in enumerate(pairs)
    ]


MISCONCEPTION = MisconceptionFinding(misconception_id="m", claim="wrong", correction="right")


def test_all_covered_is_ten_and_excellent():
    result = compute_score(verdicts(("covered", 3), ("covered", 1)))
    assert (result.score, result.band.id) == (10.0, "excellent")


def test_score_is_the_weighted_credit():
    result = compute_score(verdicts(("covered", 3), ("missed", 1)))
    assert result.score == 7.5 and result.band.id == "good"
    assert compute_score(verdicts(("partly", 2), ("missed", 2))).score == 2.5


def test_misconceptions_and_contradictions_cost_points_and_accuracy():
    clean = compute_score(verdicts(("covered", 2), ("covered", 2), ("missed", 1)))
    wrong = compute_score(verdicts(("covered", 2), ("covered", 2), ("missed", 1)), [MISCONCEPTION])
    rubric = load_rubric()
    assert wrong.score == pytest.approx(clean.score - rubric.penalties.misconception)
    contradicted = compute_score(verdicts(("covered", 2), ("contradicted", 2)))
    assert contradicted.score == pytest.approx(5.0 - rubric.penalties.contradiction)
    accuracy = {c.id: c.score for c in contradicted.criteria}["accuracy"]
    assert accuracy == 10 - rubric.penalties.contradiction


def test_score_never_leaves_the_scale():
    result = compute_score(verdicts(("contradicted", 1)), [MISCONCEPTION, MISCONCEPTION])
    assert result.score == 0.0 and result.band.id == "not-yet"


@pytest.mark.parametrize(
    ("score", "band"), [(0, "not-yet"), (3.4, "not-yet"), (3.5, "partial"), (6.5, "good"), (8.5, "excellent")]
)
def test_bands_follow_the_rubric_anchors(score, band):
    assert load_rubric().band_for(score).id == band


def test_no_key_points_cannot_be_scored():
    with pytest.raises(ValueError, match="no key points"):
        compute_score([])


def graded(verdict: str, credit: float | None, weight: int = 1) -> KeyPointVerdict:
    return KeyPointVerdict(key_point_id="kp", text="point", weight=weight, verdict=Verdict(verdict), credit=credit)


def test_graded_credit_counts_inside_the_verdicts_range():
    assert compute_score([graded("covered", 0.8), graded("missed", None)]).score == 4.0
    assert compute_score([graded("partly", 0.3), graded("covered", None)]).score == 6.5


def test_graded_credit_outside_the_verdicts_range_is_clamped_to_it():
    rubric = load_rubric()
    low, high = rubric.verdicts["partly"].bounds
    assert compute_score([graded("partly", 1.0)]).score == 10 * high
    assert compute_score([graded("partly", 0.0)]).score == 10 * low
    assert compute_score([graded("missed", 0.9)]).score == 0.0
    assert compute_score([graded("contradicted", 0.9)]).score == 0.0


def test_reference_similarity_makes_up_its_share_of_coverage_and_penalties_come_off_the_whole():
    from rag.grading.result import ReferenceSimilarity

    similar = ReferenceSimilarity(similarity=0.6, credit=1.0, share=0.3)
    assert compute_score(verdicts(("missed", 1)), reference_similarity=similar).score == 3.0
    assert compute_score(verdicts(("covered", 1)), reference_similarity=similar).score == 10.0
    half = similar.model_copy(update={"credit": 0.5})
    assert compute_score(verdicts(("covered", 1), ("missed", 1)), reference_similarity=half).score == 5.0
    with_error = compute_score(verdicts(("covered", 1)), [MISCONCEPTION], reference_similarity=similar)
    assert with_error.score == compute_score(verdicts(("covered", 1)), [MISCONCEPTION]).score
    coverage = {c.id: c.score for c in compute_score(verdicts(("missed", 1)), reference_similarity=similar).criteria}
    assert coverage["coverage"] == 3.0
