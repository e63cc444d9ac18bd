"""A configured prompts directory reaches every file a grader reads (rag/grading/files.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from rag.datafiles import SHIPPED_PROMPTS_DIR
from rag.errors import ConfigError
from rag.grading.files import PromptFiles
from rag.grading.offline import OfflineGrader
from rag.grading.service import grade_answer, make_grader
from rag.questions import Question
from rag.session import command_for
from rag.settings import Settings

DONT_KNOW_PHRASE = "pass on this one"
EMPTY_FEEDBACK = "Nothing here yet. Begin with: {first_point}"
DONT_KNOW_FEEDBACK = "Fair enough. Begin with: {first_point}"
COVERED_ALL = "Every point is there."


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


@pytest.fixture(scope="module")
def team_prompts(tmp_path_factory) -> Path:
    """A copy of prompts/ as a team would edit it: another "I don't know" phrase, other feedback and band
    labels, and the lexicon without the word "stateful" among the opposites of "stateless"."""
    directory = tmp_path_factory.mktemp("prompts") / "prompts"
    shutil.copytree(SHIPPED_PROMPTS_DIR, directory)
    _edit(directory / "guard.yaml", lambda d: d["dont_know"].append(DONT_KNOW_PHRASE))
    _edit(directory / "feedback.yaml", lambda d: d.update(empty=EMPTY_FEEDBACK, dont_know=DONT_KNOW_FEEDBACK))
    _edit(directory / "feedback.yaml", lambda d: d.update(covered_all=COVERED_ALL))
    _edit(directory / "rubric.yaml", lambda d: [band.update(label=band["label"].upper()) for band in d["bands"]])
    return directory


def test_the_default_files_are_the_shipped_ones() -> None:
    shipped = PromptFiles()
    assert shipped.directory == SHIPPED_PROMPTS_DIR
    assert shipped.rubric() == PromptFiles.from_settings(Settings(_env_file=None)).rubric()
    assert "i don't know" in shipped.guard_rules().dont_know


def test_each_file_is_read_from_the_given_directory(team_prompts: Path) -> None:
    files = PromptFiles(team_prompts)
    assert DONT_KNOW_PHRASE in files.guard_rules().dont_know
    assert DONT_KNOW_PHRASE not in PromptFiles().guard_rules().dont_know
    assert files.feedback()["covered_all"] == COVERED_ALL
    assert all(band.label.isupper() for band in files.rubric().bands)
    assert files.prompt("llm_grader").system == PromptFiles().prompt("llm_grader").system


def test_a_broken_file_in_the_directory_is_an_error_naming_it(tmp_path: Path) -> None:
    directory = tmp_path / "prompts"
    shutil.copytree(SHIPPED_PROMPTS_DIR, directory)
    (directory / "rubric.yaml").write_text("bands: [", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"rubric\.yaml"):
        PromptFiles(directory).rubric()


def test_the_offline_grader_scores_and_phrases_with_its_files(team_prompts: Path, iam_question: Question) -> None:
    grader = OfflineGrader(files=PromptFiles(team_prompts))
    grade = grader.grade(iam_question, "")
    assert grade.feedback == EMPTY_FEEDBACK.format(first_point=iam_question.key_points[0].text)
    assert grade.band_label.isupper()


def test_the_configured_directory_reaches_the_grader_and_the_guard(
    team_prompts: Path, iam_question: Question, tmp_path: Path, embedder
) -> None:
    settings = Settings(data_dir=tmp_path / "data", prompts_dir=team_prompts, _env_file=None)
    grader = make_grader("offline", settings)
    assert grader.files.directory == team_prompts
    grade = grade_answer(iam_question, DONT_KNOW_PHRASE.title() + ".", grader, passages=[], settings=settings)
    assert grade.score == 0.0
    assert grade.feedback.startswith("Fair enough.")
    shipped = Settings(data_dir=tmp_path / "data", _env_file=None)
    assert not grade_answer(
        iam_question, DONT_KNOW_PHRASE, make_grader("offline", shipped), passages=[], settings=shipped
    ).feedback.startswith("Fair enough.")


def test_a_typed_dont_know_is_read_with_the_configured_phrases(team_prompts: Path) -> None:
    assert command_for(DONT_KNOW_PHRASE, PromptFiles(team_prompts)) == "idk"
    assert command_for(DONT_KNOW_PHRASE) is None
    assert command_for("no idea") == "idk"
