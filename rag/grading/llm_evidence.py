"""The LLM grader's checks of a reply's evidence: every quote against the answer, then the judge's reading of it.

A credited verdict whose quotes are not words of the answer (or only of sentences addressed to the grader)
becomes missed and an unquoted misconception is dropped; samples are combined by majority vote, the judge reads
the sentence that holds each credited quote (`second_opinion`), and the model's feedback is sanitised for showing.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from rag.grading.clauses import Span, split_sentences
from rag.grading.guard import GuardRules, detect_injection, load_guard_rules
from rag.grading.judge import CONTRADICTS, ENTAILS, NEITHER, Judge
from rag.grading.llm_errors import LLMFailure
from rag.grading.llm_reply import MAX_FEEDBACK_CHARS, Judgement
from rag.grading.result import KeyPointVerdict, MisconceptionFinding, Verdict
from rag.grading.review import Reading, ReviewParams, review, sentence_of_unit
from rag.questions import Question

MIN_FEEDBACK_WORDS = 4
MIN_QUOTE_WORDS = 3
MIN_QUOTE_LETTERS = 12

NOTE_NOT_FOUND = "quoted words not found in the answer: no credit"
NOTE_NO_QUOTE = "no quote from the answer given: no credit"
NOTE_INJECTED = "quoted words are addressed to the grader, not an answer: no credit"
NOTE_LISTED = "quoted words are a list of words with no statement: no credit"
NOTE_CONTRADICTION_UNSUPPORTED = "quoted words not found in the answer: no penalty"
NOTE_DISPUTED = "disputed: the judge does not read the quoted sentence as stating this point: no credit"

_VERDICT_RANK = {Verdict.contradicted: 0, Verdict.missed: 1, Verdict.partly: 2, Verdict.covered: 3}
_WORD = re.compile(r"[^\W_]+")
_HTML_TAG = re.compile(r"<[^<>]{0,200}>")


@dataclass(frozen=True)
class _Word:
    text: str
    start: int
    end: int


class AnswerEvidence:
    """The answer as a word sequence, for checking quotes whatever their case, punctuation, quote marks or datamarks.

    Sentences that match a guard injection pattern are "tainted": quoting them earns nothing. So are
    quotes that lie inside a word list (`listed`, rag/grading/wordlists.py): they state nothing.
    """

    def __init__(
        self,
        answer: str,
        rules: GuardRules | None = None,
        not_evidence: Sequence[str] = (),
        listed: Sequence[Span] = (),
    ) -> None:
        self.answer = answer
        self.words = [_Word(m.group().casefold(), m.start(), m.end()) for m in _WORD.finditer(answer)]
        self._texts = [w.text for w in self.words]
        self.tainted = _tainted_spans(answer, rules or load_guard_rules())
        self.listed = [(span.start, span.end) for span in listed]
        self._not_evidence = {tuple(_words(text)) for text in not_evidence}

    @classmethod
    def for_question(
        cls, answer: str, question: Question, rules: GuardRules | None = None, listed: Sequence[Span] = ()
    ) -> AnswerEvidence:
        """Key point and misconception ids are labels from the prompt: quoting one is never evidence."""
        ids = [kp.id for kp in question.key_points] + [m.id for m in question.misconceptions]
        return cls(answer, rules, not_evidence=ids, listed=listed)

    def check(self, quote: str) -> Literal["found", "not-found", "too-short", "injected", "listed"]:
        fragments = [f for f in re.split(r"\.\.\.|…", quote) if _WORD.search(f)]
        words = [w for f in fragments for w in _words(f)]
        if len(words) < MIN_QUOTE_WORDS or sum(len(w) for w in words) < MIN_QUOTE_LETTERS:
            return "too-short"
        if tuple(words) in self._not_evidence:
            return "not-found"
        outcome: Literal["found", "injected", "listed"] = "found"
        for fragment in fragments:
            spans = self._find(_words(fragment))
            if not spans:
                return "not-found"
            if all(self._is_tainted(span) for span in spans):
                outcome = "injected"
            elif outcome == "found" and all(self._is_listed(span) for span in spans):
                outcome = "listed"
        return outcome

    def locate_all(self, quotes: Sequence[str]) -> list[Span]:
        """Where each quote sits in the answer (first occurrence, from its first to its last fragment)."""
        found = []
        for quote in quotes:
            fragments = [f for f in re.split(r"\.\.\.|…", quote) if _WORD.search(f)]
            places = [self._find(_words(fragment)) for fragment in fragments]
            if places and all(places):
                start, end = places[0][0][0], max(places[-1][0][1], places[0][0][1])
                found.append(Span(start, end, self.answer[start:end]))
        return found

    def _find(self, needle: list[str]) -> list[tuple[int, int]]:
        n = len(needle)
        return [
            (self.words[i].start, self.words[i + n - 1].end)
            for i in range(len(self._texts) - n + 1)
            if self._texts[i : i + n] == needle
        ]

    def _is_tainted(self, span: tuple[int, int]) -> bool:
        return any(span[0] < end and start < span[1] for start, end in self.tainted)

    def _is_listed(self, span: tuple[int, int]) -> bool:
        return any(start <= span[0] and span[1] <= end for start, end in self.listed)


def _words(text: str) -> list[str]:
    return [w.casefold() for w in _WORD.findall(text)]


def _tainted_spans(answer: str, rules: GuardRules) -> list[tuple[int, int]]:
    """Whole sentences around every injection-pattern match."""
    spans = []
    for pattern in rules.injection_patterns.values():
        for match in pattern.finditer(answer):
            before = max(answer.rfind(ch, 0, match.start()) for ch in ".!?\n")
            after = [i for i in (answer.find(ch, match.end()) for ch in ".!?\n") if i != -1]
            spans.append((before + 1, min(after) + 1 if after else len(answer)))
    return spans


@dataclass
class Sample:
    """One validated, evidence-checked reply."""

    verdicts: dict[str, KeyPointVerdict]
    findings: dict[str, list[str]]
    feedback: str
    injection_suspected: bool
    adjusted: bool


def check_judgement(judgement: Judgement, question: Question, evidence: AnswerEvidence) -> Sample:
    """Validate ids against the question, then check every quote against the answer."""
    known = {kp.id: kp for kp in question.key_points}
    given = [v.key_point_id for v in judgement.verdicts]
    problems = []
    if unknown := sorted(set(given) - known.keys()):
        problems.append(f"key point ids not in the question: {', '.join(unknown)}")
    if missing := [kp_id for kp_id in known if kp_id not in given]:
        problems.append(f"no verdict for key points: {', '.join(missing)}")
    if repeated := sorted({i for i in given if given.count(i) > 1}):
        problems.append(f"more than one verdict for: {', '.join(repeated)}")
    misconceptions = {m.id: m for m in question.misconceptions}
    if unknown_m := sorted({f.misconception_id for f in judgement.misconceptions_found} - misconceptions.keys()):
        problems.append(f"misconception ids not in the question: {', '.join(unknown_m)}")
    if problems:
        raise LLMFailure("schema", "; ".join(problems), retryable=True)

    adjusted = False
    verdicts: dict[str, KeyPointVerdict] = {}
    for item in judgement.verdicts:
        kp = known[item.key_point_id]
        verdict = item.verdict
        outcomes = {quote: evidence.check(quote) for quote in item.quotes if quote.strip()}
        good = [q.strip() for q, outcome in outcomes.items() if outcome == "found"]
        note = ""
        if verdict is not Verdict.missed and not good:
            if verdict is Verdict.contradicted:
                note = NOTE_CONTRADICTION_UNSUPPORTED
            elif not outcomes or set(outcomes.values()) == {"too-short"}:
                note = NOTE_NO_QUOTE
            elif "injected" in outcomes.values() and "not-found" not in outcomes.values():
                note = NOTE_INJECTED
            elif "listed" in outcomes.values() and "not-found" not in outcomes.values():
                note = NOTE_LISTED
            else:
                note = NOTE_NOT_FOUND
            verdict = Verdict.missed
            adjusted = True
        verdicts[kp.id] = KeyPointVerdict(
            key_point_id=kp.id,
            text=kp.text,
            weight=kp.weight,
            verdict=verdict,
            evidence=good if verdict is not Verdict.missed else [],
            note=note,
        )
    findings: dict[str, list[str]] = {}
    for finding in judgement.misconceptions_found:
        if evidence.check(finding.quote) == "found":
            findings.setdefault(finding.misconception_id, []).append(finding.quote.strip())
        else:
            adjusted = True
    return Sample(verdicts, findings, judgement.feedback, judgement.injection_suspected, adjusted)


def combine_samples(
    question: Question, samples: Sequence[Sample]
) -> tuple[list[KeyPointVerdict], list[MisconceptionFinding]]:
    """Majority verdict per key point (ties go to the lower credit); misconceptions found by a majority."""
    total = len(samples)
    verdicts = []
    for kp in question.key_points:
        votes = Counter(s.verdicts[kp.id].verdict for s in samples)
        winner, count = max(votes.items(), key=lambda item: (item[1], -_VERDICT_RANK[item[0]]))
        agreeing = [s.verdicts[kp.id] for s in samples if s.verdicts[kp.id].verdict is winner]
        evidence = list(dict.fromkeys(q for v in agreeing for q in v.evidence))
        notes = [v.note for v in agreeing if v.note]
        if total > 1:
            notes.append(f"{count} of {total} samples agreed")
        verdicts.append(
            agreeing[0].model_copy(
                update={
                    "evidence": evidence,
                    "note": "; ".join(notes),
                    "confidence": round(count / total, 3) if total > 1 else None,
                }
            )
        )
    findings = []
    for misconception in question.misconceptions:
        found_in = [s.findings[misconception.id] for s in samples if misconception.id in s.findings]
        if len(found_in) * 2 > total:
            findings.append(
                MisconceptionFinding(
                    misconception_id=misconception.id,
                    claim=misconception.claim,
                    correction=misconception.correction,
                    evidence=list(dict.fromkeys(q for quotes in found_in for q in quotes)),
                )
            )
    return verdicts, findings


def second_opinion(
    judge: Judge,
    params: ReviewParams | None,
    question: Question,
    evidence: AnswerEvidence,
    verdicts: Sequence[KeyPointVerdict],
) -> tuple[list[KeyPointVerdict], dict[str, int]]:
    """The verdicts after the judge's review of every credited quote, and how many it checked and disputed.

    The judge reads the whole sentence that holds a quote (the model may quote a fragment); of several
    quotes for one point, the sentence it reads most clearly as stating the point counts. A point earns
    credit only if the judge reads that sentence as stating it (entails is its likeliest reading);
    otherwise the point is disputed: missed, with the quote kept and `disputed` set, so the candidate sees
    both opinions. `params` add the review's own rules (a sentence read as contradicting the point makes
    it contradicted).
    """
    credited = [v for v in verdicts if v.credited and v.evidence]
    sentences = split_sentences(evidence.answer)
    located = {
        id(v): [sentence_of_unit(evidence.answer, sentences, span) for span in evidence.locate_all(v.evidence)]
        for v in credited
    }
    pairs = [(question.question, v.text, span.text) for v in credited for span in located[id(v)]]
    rows = iter(judge.probabilities(pairs))
    readings: dict[int, Reading] = {}
    disputed = 0
    for verdict in credited:
        judged = [(span, next(rows)) for span in located[id(verdict)]]
        if not judged:
            continue
        span, row = max(judged, key=lambda pair: pair[1][ENTAILS])
        disputed += not _entails(row)
        readings[id(verdict)] = Reading((), np.zeros((0, 3)), span, row)
    originals = list(verdicts)
    reviewed = list(verdicts)
    if params is not None:
        no_reading = Reading((), np.zeros((0, 3)))
        # Readings of quotes carry no near sentences, so only the credited-sentence rules can act.
        reviewed, _ = review(originals, [], [readings.get(id(v), no_reading) for v in originals], (), (), params)
    checked = []
    for before, after in zip(originals, reviewed, strict=True):
        reading = readings.get(id(before))
        if reading is not None and after.credited and not _entails(reading.evidence_probabilities):
            after = after.model_copy(
                update={"verdict": Verdict.missed, "credit": None, "disputed": True, "note": NOTE_DISPUTED}
            )
        checked.append(after)
    return checked, {"checked": len(credited), "disputed": disputed}


def _entails(row: np.ndarray | None) -> bool:
    """The judge's likeliest reading of the sentence is that it states the point."""
    return row is not None and bool(row[ENTAILS] >= max(row[CONTRADICTS], row[NEITHER]))


def sanitise_feedback(text: str, rules: GuardRules | None = None) -> str | None:
    """Model feedback fit to show: no HTML, at most 600 characters, nothing that reads like a grade demand."""
    text = " ".join(_HTML_TAG.sub(" ", text or "").split())
    if len(text.split()) < MIN_FEEDBACK_WORDS or detect_injection(text, rules):
        return None
    if len(text) > MAX_FEEDBACK_CHARS:
        cut = text.rfind(" ", 0, MAX_FEEDBACK_CHARS - 1)
        text = text[: cut if cut > MAX_FEEDBACK_CHARS // 2 else MAX_FEEDBACK_CHARS - 1].rstrip(" ,;:") + "…"
    return text
