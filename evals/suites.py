"""Generated suites: answers built by rules from the bank's *test* questions, graded like any answer.

- swap: a key point rewritten with two terms' roles swapped, or an antonym swapped in; it must be
  contradicted (or caught as a misconception): `swap_contradiction_recall`.
- paraphrase: each key point's listed paraphrases, alone; the point must be covered: `paraphrase_covered`.
- hedge: every key point said as "A or not A"; it must earn nothing: `hedge_gain` (mean score).
- keywords: every key point's content words as a bare list, alone (`keyword_list_score`) and appended to
  the first half of the model answer (`keyword_list_gain`).
- honest wording: honest answers that look like instructions (evals/suites/honest_wording.txt) must get
  no injection notice: `honest_injection_false_positives`.
The rewrites are the judge's training rules (evals/judge_data.py), but the judge trained only on the
bank's tuning questions; these suites use the test questions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from evals.gate import markdown_rows
from evals.judge_data import antonym_swap, hedge, keyword_list, role_swap, stable_rng
from evals.split import load_split
from rag.grading.base import Grader
from rag.grading.clauses import split_sentences
from rag.grading.guard import prepare_answer
from rag.grading.lexicon import Lexicon, load_lexicon
from rag.grading.result import Grade, Verdict
from rag.grading.service import grade_answer
from rag.questions import Question
from rag.settings import Settings

SUITES_DIR = Path(__file__).resolve().parent / "suites"
HONEST_FILE = SUITES_DIR / "honest_wording.txt"


def honest_answers(path: Path = HONEST_FILE) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def flagged(grade: Grade, point_id: str | None = None) -> bool:
    """A misconception was found, or the point (any point when None) was contradicted."""
    contradicted = [v for v in grade.key_points if v.verdict is Verdict.contradicted]
    if point_id is not None:
        contradicted = [v for v in contradicted if v.key_point_id == point_id]
    return bool(grade.misconceptions or contradicted)


def first_half(question: Question) -> str:
    sentences = [s.text for s in split_sentences(question.model_answer)]
    return " ".join(sentences[: max(1, len(sentences) // 2)])


def suite_cases(questions: Sequence[Question], lexicon: Lexicon) -> list[dict[str, Any]]:
    """Every generated case: suite, question, the key point it is about (if one), the answer, and a base answer."""
    cases: list[dict[str, Any]] = []
    for question in questions:
        rng = stable_rng("suite", question.id)
        for kp in question.key_points:
            for kind, rewrite in (("swap", role_swap(kp.text)), ("antonym", antonym_swap(kp.text, lexicon))):
                if rewrite and rewrite != kp.text:
                    cases.append(
                        {"suite": "swap", "kind": kind, "question": question, "point": kp.id, "answer": rewrite}
                    )
            for wording in kp.paraphrases:
                cases.append({"suite": "paraphrase", "question": question, "point": kp.id, "answer": wording})
        hedged = [h for h in (hedge(kp.text, rng) for kp in question.key_points) if h]
        if hedged:
            cases.append({"suite": "hedge", "question": question, "answer": " ".join(hedged)})
        listed = " ".join(k for k in (keyword_list(kp.text, lexicon, rng) for kp in question.key_points) if k)
        if listed:
            cases.append({"suite": "keywords", "question": question, "answer": listed})
            half = first_half(question)
            cases.append(
                {"suite": "keywords-appended", "question": question, "answer": f"{half}\n{listed}", "base": half}
            )
    return cases


def run_suites(
    questions: Sequence[Question],
    grader: Grader,
    settings: Settings,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(metrics, items) of every suite over `questions` (the bank's test questions)."""
    split = load_split()
    questions = [q for q in questions if split.part(q.id) == "test"]
    cases = suite_cases(questions, load_lexicon())
    items = []
    for index, case in enumerate(cases):
        question = case["question"]
        grade = grade_answer(question, case["answer"], grader, passages=[], settings=settings)
        item = {
            "suite": case["suite"],
            "kind": case.get("kind", case["suite"]),
            "question_id": question.id,
            "point": case.get("point"),
            "answer": case["answer"],
            "score": grade.score,
            "status": grade.status,
        }
        point = case.get("point")
        if case["suite"] == "swap":
            item["passed"] = flagged(grade, point)
        elif case["suite"] == "paraphrase":
            verdict = next(v.verdict for v in grade.key_points if v.key_point_id == point)
            item["passed"] = verdict is Verdict.covered
            item["verdict"] = verdict.value
        elif case["suite"] == "keywords-appended":
            base = grade_answer(question, case["base"], grader, passages=[], settings=settings)
            item["base_score"] = base.score
        items.append(item)
        if progress:
            progress(index + 1, len(cases))
    honest = honest_answers()
    honest_flags = [bool(prepare_answer(answer).injection_signals) for answer in honest]
    metrics = summarise(items)
    metrics["honest_wording"] = {"n": len(honest), "injection_false_positives": sum(honest_flags)}
    metrics["questions"] = len(questions)
    return metrics, items


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def summarise(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    def of(suite: str) -> list[dict[str, Any]]:
        return [i for i in items if i["suite"] == suite and i["status"] == "scored"]

    swaps, paraphrases = of("swap"), of("paraphrase")
    appended = [i for i in of("keywords-appended") if i.get("base_score") is not None]
    return {
        "swap": {
            "n": len(swaps),
            "contradiction_recall": _mean([float(i["passed"]) for i in swaps]),
            "by_kind": {
                kind: _mean([float(i["passed"]) for i in swaps if i["kind"] == kind])
                for kind in sorted({i["kind"] for i in swaps})
            },
        },
        "paraphrase": {"n": len(paraphrases), "covered_share": _mean([float(i["passed"]) for i in paraphrases])},
        "hedge": {"n": len(of("hedge")), "gain": _mean([i["score"] for i in of("hedge")])},
        "keywords": {
            "n": len(of("keywords")),
            "score": _mean([i["score"] for i in of("keywords")]),
            "appended_gain": _mean([i["score"] - i["base_score"] for i in appended]),
        },
    }


def metrics_table(m: dict[str, Any]) -> list[str]:
    """The suites' metrics as a Markdown table (the report and docs/evals.md share it)."""

    def value(number: float | None) -> str:
        return "–" if number is None else f"{number:.3f}"

    return [
        "| suite | n | metric | value |",
        "|---|---|---|---|",
        f"| swap (roles, antonym) | {m['swap']['n']} | contradicted | {value(m['swap']['contradiction_recall'])} |",
        f"| paraphrase | {m['paraphrase']['n']} | covered | {value(m['paraphrase']['covered_share'])} |",
        f"| hedge (A or not A) | {m['hedge']['n']} | mean score | {value(m['hedge']['gain'])} |",
        f"| keyword list alone | {m['keywords']['n']} | mean score | {value(m['keywords']['score'])} |",
        f"| keyword list appended | {m['keywords']['n']} | mean gain | {value(m['keywords']['appended_gain'])} |",
        f"| honest wording | {m['honest_wording']['n']} | injection notices | "
        f"{m['honest_wording']['injection_false_positives']} |",
    ]


def render_markdown(results: dict[str, Any]) -> str:
    """A short report of a suites run: each metric and each gate."""
    m = results["metrics"]
    title = f"# Generated suites: {results['config']['grader']} grader, {m['questions']} test questions"
    lines = [title, "", *metrics_table(m), "", *markdown_rows(results.get("gates", []))]
    return "\n".join(lines) + "\n"
