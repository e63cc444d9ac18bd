"""The benchmark CSV adapter: both gold shapes, SciEntsBank's columns, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.benchmark import BenchmarkError, build_questions, default_granularity, read_benchmark

from .conftest import FIXTURES


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bench.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_label_shape_with_student_answer_and_split():
    bench = read_benchmark(FIXTURES / "bench.csv")
    assert bench.has_labels and not bench.has_scores
    assert bench.splits == ["test-unseen-questions", "train"]
    first = bench.rows[0]
    assert (first.id, first.split, first.answer, first.label) == ("a1", "train", "right closed circuit", True)
    assert first.references == ("The circuit is closed", "the battery is connected")
    assert first.line == 2


def test_score_shape_scales_to_ten():
    bench = read_benchmark(FIXTURES / "bench_scores.csv")
    assert bench.has_scores and not bench.has_labels
    assert [r.gold for r in bench.rows] == [10.0, 0.0, 5.0]
    assert [r.split for r in bench.rows] == [None, None, None]


def test_split_filter_and_limit():
    bench = read_benchmark(FIXTURES / "bench.csv", splits=["train"], limit=3)
    assert [r.id for r in bench.rows] == ["a1", "a2", "a3"]


def test_questions_are_built_per_reference_alternative():
    questions = build_questions(read_benchmark(FIXTURES / "bench.csv"))
    assert len(questions) == 2
    alternatives = next(q for key, q in questions.items() if key[0] == "Q1")
    assert len(alternatives) == 2
    assert alternatives[0].model_answer == "The circuit is closed"


def test_granularity_decides_the_key_points():
    bench = read_benchmark(FIXTURES / "bench.csv")
    whole = build_questions(bench, "whole")
    assert all(len(q.key_points) == 1 for alternatives in whole.values() for q in alternatives)
    assert default_granularity() in ("sentence", "clause", "whole")


def test_missing_columns_are_named(tmp_path):
    path = write(tmp_path, "question,answer\nq,a\n")
    with pytest.raises(BenchmarkError, match=r"missing column\(s\): reference_answer; score and max_score, or label"):
        read_benchmark(path)


def test_missing_answer_column(tmp_path):
    path = write(tmp_path, "question,reference_answer,label\nq,r,correct\n")
    with pytest.raises(BenchmarkError, match=r"missing column\(s\): answer \(or student_answer\)"):
        read_benchmark(path)


def test_bad_label_names_line_and_column(tmp_path):
    path = write(tmp_path, "question,reference_answer,answer,label\nWhy?,Because,ok,correct\nWhy?,Because,no,maybe\n")
    with pytest.raises(BenchmarkError, match=r"bench.csv:3: column 'label': 'maybe' is not 'correct' or 'incorrect'"):
        read_benchmark(path)


def test_bad_score(tmp_path):
    path = write(tmp_path, "question,reference_answer,answer,score,max_score\nWhy?,Because,ok,five,5\n")
    with pytest.raises(BenchmarkError, match=r"bench.csv:2: column 'score': 'five' is not a number"):
        read_benchmark(path)
    path = write(tmp_path, "question,reference_answer,answer,score,max_score\nWhy?,Because,ok,7,5\n")
    with pytest.raises(BenchmarkError, match=r"not within 0..max_score"):
        read_benchmark(path)


def test_ragged_row(tmp_path):
    path = write(tmp_path, "question,reference_answer,answer,label\nWhy?,Because,ok,correct,extra\n")
    with pytest.raises(BenchmarkError, match=r"bench.csv:2: the row has more fields than the header"):
        read_benchmark(path)


def test_missing_file_and_empty_split(tmp_path):
    with pytest.raises(BenchmarkError, match="benchmark file not found"):
        read_benchmark(tmp_path / "nope.csv")
    with pytest.raises(BenchmarkError, match=r"no rows in split\(s\) dev"):
        read_benchmark(FIXTURES / "bench.csv", splits=["dev"])


def test_a_field_over_the_csv_limit_is_one_clear_line(tmp_path):
    import csv

    import pytest

    from evals.benchmark import BenchmarkError, read_benchmark

    path = tmp_path / "huge.csv"
    path.write_text(
        "question,reference_answer,answer,label\nQ?,ref,\"" + "x" * (csv.field_size_limit() + 10) + "\",correct\n",
        encoding="utf-8",
    )
    with pytest.raises(BenchmarkError, match="a field is over 128 KB"):
        read_benchmark(path)
