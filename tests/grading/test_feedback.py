"""The feedback composed from a grade's verdicts: what was wrong, what to finish, what to add next time."""

from __future__ import annotations

from rag.grading.base import compose_feedback, feedback_templates
from rag.grading.result import KeyPointVerdict, MisconceptionFinding, Verdict
from rag.grading.rubric import load_rubric


def point(pid: str, verdict: str, weight: int = 1, evidence: tuple[str, ...] = (), text: str = "") -> KeyPointVerdict:
    return KeyPointVerdict(
        key_point_id=pid,
        text=text or f"Point {pid} is stated.",
        weight=weight,
        verdict=Verdict(verdict),
        evidence=list(evidence),
    )


def feedback(verdicts, misconceptions=(), band: str = "partial") -> list[str]:
    return compose_feedback(band, verdicts, list(misconceptions), load_rubric()).splitlines()


def test_add_next_time_lists_only_missed_points_heaviest_first_one_a_line():
    lines = feedback(
        [
            point("a", "covered", 3, ("a is stated",)),
            point("b", "partly", 3, ("b, sort of",)),
            point("c", "missed", 1),
            point("d", "missed", 2),
        ]
    )
    intro = lines.index(feedback_templates()["missed_intro"])
    assert lines[intro + 1 :] == ["- Point d is stated.", "- Point c is stated."]
    assert not any("Point a" in line for line in lines), "a covered point is never listed to add"
    assert "Point b is stated." not in "\n".join(lines[intro:]), "a partly covered point is not listed as missed"
    assert not any(";" in line for line in lines), "no semicolon-joined rubric sentences"


def test_a_partly_covered_point_gets_its_own_finish_sentence():
    lines = feedback([point("a", "covered", 2), point("b", "partly", 1, ("b, sort of",))], band="good")
    assert "Finish: Point b is stated." in lines
    assert not any(line.startswith("Add next time") for line in lines)
    assert "You covered every key point." not in lines


def test_the_missed_list_is_capped_by_the_rubric():
    lines = feedback([point(str(i), "missed", 1) for i in range(6)], band="not-yet")
    assert len([line for line in lines if line.startswith("- ")]) == load_rubric().feedback.max_missed_listed


def test_a_contradicted_point_quotes_the_candidate_then_states_the_fact():
    wrong = point(
        "sg",
        "contradicted",
        2,
        ("security groups are stateless, so return traffic needs a rule.", "another clause"),
        text="Security groups are stateful: return traffic is allowed automatically",
    )
    lines = feedback([point("a", "covered"), wrong])
    assert (
        "You said: “security groups are stateless, so return traffic needs a rule”. "
        "Actually: Security groups are stateful: return traffic is allowed automatically."
    ) in lines
    assert not any("another clause" in line for line in lines), "one quote, never stitched"
    assert "You covered every key point." not in lines, "a contradicted point is not covered"


def test_a_contradicted_point_without_a_quote_still_says_so():
    lines = feedback([point("sg", "contradicted", 2, text="Security groups are stateful.")])
    assert "Your answer states the opposite of this key point. Actually: Security groups are stateful." in lines


def test_a_misconception_quotes_the_candidate_then_gives_the_correction():
    finding = MisconceptionFinding(
        misconception_id="allow-beats-deny",
        claim="If any policy allows the action, it goes through.",
        correction="An explicit deny always wins over any allow.",
        evidence=["an allow anywhere\nbeats a deny."],
    )
    lines = feedback([point("a", "covered")], [finding])
    assert "You said: “an allow anywhere beats a deny”. Actually: An explicit deny always wins over any allow." in lines
    assert "You covered every key point." not in lines
    unquoted = finding.model_copy(update={"evidence": []})
    lines = feedback([point("a", "covered")], [unquoted])
    assert any(
        "If any policy allows the action, it goes through." in line and "Actually: An explicit deny" in line
        for line in lines
    )
    assert not any("You said" in line for line in lines), "no quote is invented"


def test_corrections_come_before_points_to_finish_and_to_add():
    finding = MisconceptionFinding(misconception_id="m", claim="Wrong.", correction="Right.", evidence=["wrong"])
    lines = feedback([point("p", "partly", 1, ("p",)), point("m", "missed"), point("c", "contradicted")], [finding])
    assert lines[0] == feedback_templates()["band"]["partial"]
    said = [i for i, line in enumerate(lines) if "Actually:" in line]
    finish = lines.index("Finish: Point p is stated.")
    add = lines.index(feedback_templates()["missed_intro"])
    assert len(said) == 2 and max(said) < finish < add


def test_every_point_covered_says_so():
    assert feedback([point("a", "covered"), point("b", "covered")], band="excellent")[-1] == (
        "You covered every key point."
    )


def test_a_feedback_file_missing_a_template_is_one_clear_error_naming_it(tmp_path):
    import pytest
    import yaml

    from rag.errors import ConfigError
    from rag.grading.base import feedback_templates
    from rag.settings import PROJECT_ROOT

    data = yaml.safe_load((PROJECT_ROOT / "prompts" / "feedback.yaml").read_text(encoding="utf-8"))
    del data["partly"]
    path = tmp_path / "feedback.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"feedback\.yaml: field 'partly'"):
        feedback_templates(path)
