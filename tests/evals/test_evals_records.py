"""One grading's record: built from a grade or an error, written as one JSON line, read back validated."""

from __future__ import annotations

from evals.records import GradingRecord, error_record, grade_record, read_record
from rag.grading.base import unscored_grade
from tests.interview_support import FakeGrader, make_question


def test_a_grade_becomes_a_record_that_reads_back_the_same():
    question = make_question("a")
    grade = FakeGrader().grade(question, f"{question.key_points[0].id} is covered", [])
    record = grade_record("item-1", 1, "shuffled", grade, 0.123456, cached=True)
    assert record.status == "scored" and record.score == grade.score and record.seconds == 0.1235
    assert record.verdicts[question.key_points[0].id] == "covered"
    assert read_record(record.model_dump_json()) == record.model_dump()


def test_an_unscored_grade_and_an_error_keep_their_reason_and_no_score():
    question = make_question("a")
    failed = unscored_grade(question, "bad reply", grader="llm", model="m")
    unscored = grade_record("i", 0, "retrieved", failed, 1, cached=False)
    assert unscored.status == "unscored" and unscored.score is None and unscored.unscored_reason == "bad reply"
    error = error_record("i", 0, "retrieved", TimeoutError("slow"), 2.0)
    assert error.status == "error" and error.score is None and error.unscored_reason == "TimeoutError: slow"
    assert read_record(error.model_dump_json())["status"] == "error"


def test_lines_that_are_not_complete_records_are_not_read():
    record = GradingRecord(item_id="i", repeat=0, variant="retrieved", status="scored", score=5.0, seconds=1)
    whole = record.model_dump_json()
    assert read_record(whole) is not None
    assert read_record(whole[: len(whole) // 2]) is None  # cut short by an interruption
    assert read_record('{"item_id": "i"}') is None
    assert read_record(whole.replace('"scored"', '"great"')) is None
