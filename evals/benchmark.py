"""External short-answer-grading benchmarks: a CSV adapter and questions built from reference answers.

Accepted CSV shape (header names are case-insensitive):
- required: `question`, `reference_answer` (several may be joined by " || "), `answer` or `student_answer`;
- gold: `score` and `max_score` (scaled to 0-10), or `label` (correct / incorrect), or both;
- optional: `split` (a `train` split is where the decision threshold is fitted), `question_id`, `answer_id` or `id`.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from rag.errors import PrepError
from rag.grading.derive import ALTERNATIVE_SEPARATOR, questions_from_reference, split_alternatives
from rag.passage import Passage
from rag.questions import Question

REFERENCE_SEPARATOR = f" {ALTERNATIVE_SEPARATOR} "
LABELS = {"correct": True, "incorrect": False}
ANSWER_COLUMNS = ("answer", "student_answer")
Granularity = Literal["sentence", "clause", "whole"]
GRANULARITIES: tuple[str, ...] = get_args(Granularity)
DEFAULT_GRANULARITY: Granularity = "sentence"


class BenchmarkError(PrepError):
    """A benchmark CSV cannot be used; the message names the file, line and column."""


@dataclass(frozen=True)
class BenchmarkRow:
    id: str
    line: int
    split: str | None
    question_key: str
    question: str
    references: tuple[str, ...]
    answer: str
    gold: float | None = None
    label: bool | None = None


@dataclass
class Benchmark:
    name: str
    path: Path
    rows: list[BenchmarkRow]
    has_labels: bool
    has_scores: bool
    splits: list[str] = field(default_factory=list)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "q"


def _float(value: str, column: str, where: str) -> float:
    try:
        return float(value)
    except ValueError as exc:
        raise BenchmarkError(f"{where}: column '{column}': '{value}' is not a number") from exc


def read_benchmark(path: Path, splits: list[str] | None = None, limit: int | None = None) -> Benchmark:
    """Read and check a benchmark CSV; `splits` keeps only those splits, `limit` the first N rows of each."""
    path = Path(path)
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except FileNotFoundError as exc:
        raise BenchmarkError(f"{path}: benchmark file not found") from exc
    except IsADirectoryError as exc:
        raise BenchmarkError(f"{path}: is a directory, expected a CSV file") from exc
    with handle:
        try:
            reader = csv.DictReader(handle)
            header = [(name or "").strip().lower() for name in (reader.fieldnames or [])]
            reader.fieldnames = header
            raw_rows = [(reader.line_num, row) for row in reader]
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                raise BenchmarkError(
                    f"{path}:{reader.line_num}: a field is over {csv.field_size_limit() // 1024} KB; "
                    "a benchmark answer or reference that long is a broken quote or a pasted file: fix that row"
                ) from exc
            raise BenchmarkError(f"{path}: not a readable UTF-8 CSV file ({exc})") from exc
        except UnicodeDecodeError as exc:
            raise BenchmarkError(f"{path}: not a readable UTF-8 CSV file ({exc})") from exc
    answer_column = next((c for c in ANSWER_COLUMNS if c in header), None)
    missing = [c for c in ("question", "reference_answer") if c not in header]
    if answer_column is None:
        missing.append("answer (or student_answer)")
    has_scores = "score" in header and "max_score" in header
    has_labels = "label" in header
    if not has_scores and not has_labels:
        missing.append("score and max_score, or label")
    if missing:
        found = ", ".join(h for h in header if h) or "none"
        raise BenchmarkError(f"{path}: missing column(s): {'; '.join(missing)} (found: {found})")
    rows: list[BenchmarkRow] = []
    per_split: dict[str | None, int] = {}
    seen_ids: set[str] = set()
    for line, raw in raw_rows:
        where = f"{path}:{line}"
        if None in raw or any(raw.get(c) is None for c in header if c):
            raise BenchmarkError(f"{where}: the row has {'more' if None in raw else 'fewer'} fields than the header")
        split = (raw.get("split") or "").strip() or None
        if splits and split not in splits:
            continue
        if limit is not None and per_split.get(split, 0) >= limit:
            continue
        per_split[split] = per_split.get(split, 0) + 1
        question = raw["question"].strip()
        reference = raw["reference_answer"].strip()
        if not question or not reference:
            raise BenchmarkError(f"{where}: column '{'question' if not question else 'reference_answer'}' is empty")
        gold = label = None
        if has_scores and (raw["score"].strip() or raw["max_score"].strip()):
            score = _float(raw["score"].strip(), "score", where)
            top = _float(raw["max_score"].strip(), "max_score", where)
            if top <= 0 or not 0 <= score <= top:
                raise BenchmarkError(f"{where}: column 'score': {score} is not within 0..max_score ({top})")
            gold = round(10.0 * score / top, 4)
        if has_labels and raw["label"].strip():
            value = raw["label"].strip().lower()
            if value not in LABELS:
                raise BenchmarkError(f"{where}: column 'label': '{raw['label']}' is not 'correct' or 'incorrect'")
            label = LABELS[value]
        if gold is None and label is None:
            raise BenchmarkError(f"{where}: the row has neither a score nor a label")
        row_id = (raw.get("answer_id") or raw.get("id") or "").strip() or f"row-{line}"
        if row_id in seen_ids:
            row_id = f"{row_id}@{line}"
        seen_ids.add(row_id)
        question_id = (raw.get("question_id") or "").strip()
        rows.append(
            BenchmarkRow(
                id=row_id,
                line=line,
                split=split,
                question_key=question_id or hashlib.sha256(question.encode()).hexdigest()[:12],
                question=question,
                references=tuple(split_alternatives(reference)),
                answer=raw[answer_column],
                gold=gold,
                label=label,
            )
        )
    if not rows:
        wanted = f" in split(s) {', '.join(splits)}" if splits else ""
        raise BenchmarkError(f"{path}: no rows{wanted}")
    return Benchmark(
        name=path.stem,
        path=path,
        rows=rows,
        has_labels=any(r.label is not None for r in rows),
        has_scores=any(r.gold is not None for r in rows),
        splits=sorted({r.split for r in rows if r.split}),
    )


def default_granularity() -> str:
    """How reference answers are cut into key points: as the offline grader's parameters were fitted
    (offline_params.json, fitted_on.granularity), else one key point per sentence."""
    try:
        from rag.grading.match_params import default_params

        fitted_on = getattr(default_params(), "fitted_on", None)
    except (PrepError, ImportError):
        return DEFAULT_GRANULARITY
    granularity = fitted_on.get("granularity") if isinstance(fitted_on, dict) else None
    return granularity if granularity in GRANULARITIES else DEFAULT_GRANULARITY


def question_alternatives(
    question_id: str, question: str, references: tuple[str, ...], granularity: str = DEFAULT_GRANULARITY
) -> tuple[Question, ...]:
    """Bank-style Questions for a benchmark row, one per alternative reference answer, with key points derived
    from it (rag.grading.derive); an answer is graded against each and keeps its best grade."""
    return tuple(questions_from_reference(question_id, question, REFERENCE_SEPARATOR.join(references), granularity))


def build_questions(
    benchmark: Benchmark, granularity: str = DEFAULT_GRANULARITY
) -> dict[tuple[str, str, tuple[str, ...]], tuple[Question, ...]]:
    """The question alternatives per distinct (question id, question text, references)."""
    questions: dict[tuple[str, str, tuple[str, ...]], tuple[Question, ...]] = {}
    for row in benchmark.rows:
        key = (row.question_key, row.question, row.references)
        if key not in questions:
            digest = hashlib.sha256("\n".join([row.question, *row.references]).encode()).hexdigest()[:8]
            question_id = f"{_slug(row.question_key)}-{digest}"
            questions[key] = question_alternatives(question_id, row.question, row.references, granularity)
    return questions


def reference_passages(references: tuple[str, ...]) -> list[Passage]:
    """The reference answers, as the reference passages a grader sees."""
    return [
        Passage(section_id=f"reference-{i + 1}", title="Reference answer", topic="benchmark", text=ref, score=1.0)
        for i, ref in enumerate(references)
    ]
