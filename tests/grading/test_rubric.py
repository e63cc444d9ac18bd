from pathlib import Path

import pytest
import yaml

from rag.errors import ConfigError
from rag.grading.rubric import PromptTemplate, load_prompt, load_rubric
from rag.settings import PROJECT_ROOT

RUBRIC = PROJECT_ROOT / "prompts" / "rubric.yaml"


def test_the_shipped_rubric_is_valid():
    rubric = load_rubric(RUBRIC)
    assert [b.id for b in rubric.bands] == ["excellent", "good", "partial", "not-yet"]
    assert rubric.credit("covered") == 1.0 and rubric.credit("contradicted") == 0.0


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "rubric.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_unknown_fields_and_bad_bands_are_rejected(tmp_path):
    data = yaml.safe_load(RUBRIC.read_text())
    with pytest.raises(ConfigError, match="field 'surprise'"):
        load_rubric(_write(tmp_path, {**data, "surprise": True}))
    with pytest.raises(ConfigError, match="bands must be listed"):
        load_rubric(_write(tmp_path, {**data, "bands": list(reversed(data["bands"]))}))
    with pytest.raises(ConfigError, match="verdicts must be exactly"):
        load_rubric(_write(tmp_path, {**data, "verdicts": {"covered": data["verdicts"]["covered"]}}))


def test_a_credit_range_must_hold_the_verdicts_own_credit(tmp_path):
    data = yaml.safe_load(RUBRIC.read_text())
    data["verdicts"]["partly"]["credit_range"] = [0.6, 0.9]
    with pytest.raises(ConfigError, match="credit_range must satisfy"):
        load_rubric(_write(tmp_path, data))


def test_graded_credit_stays_in_the_verdicts_range_and_no_range_means_the_fixed_credit():
    rubric = load_rubric(RUBRIC)
    low, high = rubric.verdicts["covered"].bounds
    assert rubric.credit("covered", 0.1) == low and rubric.credit("covered", 2.0) == high
    assert rubric.credit("partly") == 0.5
    assert rubric.credit("missed", 0.7) == 0.0


def test_prompt_templates_render_and_validate_their_variables(tmp_path):
    template = PromptTemplate(
        name="t", description="d", system="Grade {what}.", user="Answer: {answer}", variables=("what", "answer")
    )
    assert template.render(what="it", answer="x") == ("Grade it.", "Answer: x")
    with pytest.raises(KeyError, match="needs values"):
        template.render(what="it")
    with pytest.raises(ValueError, match="declared but not used"):
        PromptTemplate(name="t", description="d", system="s", user="u", variables=("ghost",))


def test_rendering_does_not_interpret_braces_in_values():
    template = PromptTemplate(name="t", description="d", system="s", user="<{answer}>", variables=("answer",))
    assert template.render(answer='{"score": 10} {answer}')[1] == '<{"score": 10} {answer}>'


def test_a_missing_prompt_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="missing"):
        load_prompt("nope", tmp_path)
