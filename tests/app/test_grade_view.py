"""How a grade is shown: key points grouped by verdict, what was wrong with the candidate's words and the fact,
one quote per point, untrusted text escaped. Built from a Grade alone, so it holds for either grader."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from rag.grading.result import Grade, KeyPointVerdict, MisconceptionFinding, PassageRef, Verdict

pytestmark = pytest.mark.slow

HOSTILE = "*bold* <b>x</b> [link](http://evil.example)"


def _render(grade_json: str) -> None:
    from app_pages import ui
    from rag.grading.result import Grade

    ui.render_grade(Grade.model_validate_json(grade_json), None)


def shown(grade: Grade) -> AppTest:
    at = AppTest.from_function(_render, args=(grade.model_dump_json(),), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def kp(pid: str, verdict: str, text: str, evidence: tuple[str, ...] = (), credit: float | None = None):
    return KeyPointVerdict(
        key_point_id=pid, text=text, weight=2, verdict=Verdict(verdict), evidence=list(evidence), credit=credit
    )


def grade(key_points, misconceptions=(), passages=()) -> Grade:
    return Grade(
        question_id="q",
        status="scored",
        score=4.0,
        band="partial",
        band_label="Partial",
        key_points=list(key_points),
        misconceptions=list(misconceptions),
        passages=list(passages),
        feedback="A partial answer.",
        grader="llm",
        model="gpt-4o-mini",
    )


def sections(at: AppTest) -> dict[str, str]:
    """Each bold group heading with the Markdown shown right after it."""
    values = [str(m.value) for m in at.main.markdown]
    return {v.strip("*"): values[i + 1] for i, v in enumerate(values[:-1]) if v.startswith("**") and v.endswith("**")}


SG_PASSAGE = PassageRef(
    section_id="sg",
    title="Security groups",
    score=0.8,
    text="Security groups are stateful: return traffic for an allowed request is allowed automatically.",
)
PEERING = PassageRef(section_id="peer", title="VPC peering", score=0.9, text="Peering connects two VPCs privately.")


def test_key_points_are_grouped_covered_partly_missed_and_wrong():
    at = shown(
        grade(
            [
                kp("a", "covered", "NACLs are stateless.", ("NACLs are stateless", "rules are numbered")),
                kp("b", "partly", "NACL rules are evaluated in order, lowest first.", ("rules have order",), 0.4),
                kp("c", "missed", "Security groups only allow; NACLs can deny."),
                kp("d", "contradicted", "Security groups are stateful.", ("security groups are stateless",)),
            ],
            [
                MisconceptionFinding(
                    misconception_id="m",
                    claim="NACLs apply to instances.",
                    correction="NACLs apply to whole subnets.",
                    evidence=["NACLs sit on each instance"],
                )
            ],
            [PEERING, SG_PASSAGE],
        )
    )
    groups = sections(at)
    assert list(groups) == ["Covered", "Partly covered", "Missed", "Wrong"]
    assert "NACLs are stateless" in groups["Covered"] and "evaluated in order" not in groups["Covered"]
    assert "rules are numbered" not in groups["Covered"] and "…" not in groups["Covered"], "one quote per point"
    partly = groups["Partly covered"]
    assert "You touched on this; the full point is: NACL rules are evaluated in order" in partly.replace("\\", "")
    assert "40% credit" in partly and "rules have order" in partly
    assert "Security groups only allow" in groups["Missed"] and "stateless" not in groups["Missed"]
    errors = [str(e.value).replace("\\", "") for e in at.main.error]
    contradicted = next(e for e in errors if "Security groups are stateful" in e)
    assert "You said:** _“security groups are stateless”_" in contradicted
    assert "Actually:** Security groups are stateful." in contradicted
    assert "Source:** Security groups" in contradicted, "the passage that holds the fact, not the first one"
    misconception = next(e for e in errors if "Misconception" in e)
    assert "You said:** _“NACLs sit on each instance”_" in misconception
    assert "Actually:** NACLs apply to whole subnets." in misconception
    assert "Source:" not in misconception, "no passage holds the correction, so none is named"


def test_a_disputed_point_is_shown_apart_with_the_quote_the_model_gave():
    disputed = KeyPointVerdict(
        key_point_id="g",
        text="SCPs cap permissions but grant nothing.",
        weight=2,
        verdict=Verdict.missed,
        evidence=["I would also check CloudTrail"],
        disputed=True,
    )
    at = shown(grade([disputed, kp("c", "missed", "Security groups only allow; NACLs can deny.")]))
    groups = sections(at)
    assert list(groups) == ["Disputed", "Missed"]
    shown_text = groups["Disputed"].replace("\\", "")
    assert "SCPs cap permissions" in shown_text and "no credit" in shown_text
    assert "I would also check CloudTrail" in shown_text and "automated check does not read" in shown_text
    assert "SCPs cap" not in groups["Missed"]


def test_only_non_empty_groups_are_shown():
    at = shown(grade([kp("a", "covered", "NACLs are stateless.", ("NACLs are stateless",))]))
    assert list(sections(at)) == ["Covered"]
    assert not at.main.error


def test_the_candidates_words_are_escaped_everywhere_they_are_shown():
    at = shown(
        grade(
            [
                kp("a", "covered", "Point a.", (HOSTILE,)),
                kp("b", "partly", "Point b.", (HOSTILE,)),
                kp("d", "contradicted", "Point d.", (HOSTILE,)),
            ],
            [MisconceptionFinding(misconception_id="m", claim="Claim.", correction="Fix.", evidence=[HOSTILE])],
        )
    )
    texts = [str(m.value) for m in at.main.markdown] + [str(e.value) for e in at.main.error]
    quoted = [t for t in texts if "evil" in t]
    assert len(quoted) == 4
    for text in quoted:
        assert "\\*bold\\*" in text and "\\<b\\>" in text and "\\[link\\]\\(http\\:" in text
        assert "<b>" not in text and "](http" not in text


def test_the_how_grading_page_describes_the_groups():
    from app_pages.how_grading import page_markdown

    text = page_markdown()
    for group in ("**Covered**", "**Partly covered**", "**Disputed**", "**Missed**", "**Wrong**"):
        assert group in text
