"""The practice app through `streamlit.testing.v1.AppTest`, on the real index and the real offline grader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app_pages.ui import GRADER_FACTORY_KEY, escape_markdown
from rag.history import History
from rag.questions import load_question_bank
from rag.session import InterviewSession
from rag.settings import PROJECT_ROOT
from tests.app.support import seed_attempts
from tests.interview_support import FakeGrader

pytestmark = pytest.mark.slow

APP = str(PROJECT_ROOT / "app.py")
TIMEOUT = 240  # the first grade of the session waits for the embedding model
BANK = load_question_bank(PROJECT_ROOT / "corpus" / "questions.yaml")
WITH_FOLLOW_UPS = next(q for q in BANK.questions if q.follow_ups)


def start(
    user: str = "tess",
    seed: int = 1,
    *,
    data: Path | None = None,
    question_id: str | None = None,
    grader: FakeGrader | None = None,
) -> AppTest:
    """The app for `user`; with `grader`, every answer is graded by that fake instead of the real graders."""
    if data is not None and question_id is not None:
        History.in_data_dir(data).set_pending(user, {"question_id": question_id})
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["rng_seed"] = seed
    at.session_state["user_name"] = user
    if grader is not None:
        at.session_state[GRADER_FACTORY_KEY] = lambda name, settings: grader
    return at.run()


def session(at: AppTest) -> InterviewSession:
    return at.session_state["interview"]


def markdown(at: AppTest) -> str:
    return "\n".join(str(m.value) for m in at.main.markdown)


def captions(at: AppTest) -> str:
    return "\n".join(str(c.value) for c in at.main.caption)


def answer(at: AppTest, text: str) -> AppTest:
    at.chat_input(key="answer_input").set_value(text).run()
    assert not at.exception, at.exception
    return at


def no_traceback(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def test_first_question_is_shown_with_topic_and_level(app_env: Path):
    at = start()
    no_traceback(at)
    question = session(at).question()
    assert question is not None
    first = at.chat_message[0]
    assert first.name == "assistant"
    assert f"{question.topic} · {question.level.value}" in " ".join(c.value for c in first.caption)
    assert "Question 1" in first.caption[0].value
    assert {b.label for b in at.button} == {"Hint", "I don't know", "Skip", "Session summary"}
    sidebar = " ".join(str(m.value) for m in at.sidebar.markdown)
    assert "Grader:" in sidebar and "offline" in sidebar
    assert "not a hiring evaluation" in " ".join(c.value for c in at.sidebar.caption)
    assert at.sidebar.text_input(key="user_name").value == "tess"


def test_a_strong_answer_is_graded_with_feedback_and_the_next_question_waits_for_next(app_env: Path):
    question = BANK.questions[0]
    at = start(data=app_env, question_id=question.id)
    assert session(at).question().id == question.id
    answer(at, question.model_answer)
    text = markdown(at)
    assert "Score" in text and "/ 10" in text
    assert "**Covered**" in text
    assert "your words:" in text, "covered points quote the candidate"
    labels = [e.label for e in at.expander]
    assert "Model answer" in labels
    assert any(label.startswith("Source:") for label in labels), "the reference passages are shown"
    assert any(s.label.startswith("Graded in ") and s.label.endswith("s · built-in grader") for s in at.status)
    assert at.progress, "the score bar is shown"
    attempts = History.in_data_dir(app_env).attempts_for("tess")
    assert [(a.question_id, a.kind, a.status) for a in attempts] == [(question.id, "answer", "scored")]
    grade = attempts[0].grade_dict()
    assert grade["score"] >= 6.5
    kinds = [t.kind for t in session(at).turns]
    assert kinds[-1] in ("grade", "followup")
    if kinds[-1] == "grade":
        assert session(at).paused, "the grade stays the last message until Next"
        assert {b.label for b in at.button} == {"Next question", "Try this question again", "Session summary"}
        at.button(key="btn_next").click().run()
        no_traceback(at)
        assert session(at).turns[-1].kind == "question" and session(at).question().id != question.id


def test_try_again_asks_the_graded_question_once_more_with_its_last_score(app_env: Path):
    question = BANK.questions[0]
    at = start(data=app_env, question_id=question.id)
    answer(at, question.model_answer)
    at.button(key="btn_next").click().run()  # past the grade, or past a follow-up
    assert session(at).question().id != question.id
    at.button(key="btn_again").click().run()
    no_traceback(at)
    assert session(at).question().id == question.id
    shown = " ".join(str(c.value) for c in at.caption)
    assert "trying again" in shown and "Last time" in shown
    assert not [b for b in at.button if b.key == "btn_again"], "no Try again while that question is on screen"


def test_the_session_summary_shows_scores_as_a_chart_on_demand(app_env: Path):
    question = BANK.questions[0]
    at = start(data=app_env, question_id=question.id)
    at.button(key="btn_summary").click().run()
    assert "No graded answers in this session yet" in markdown(at)
    answer(at, question.model_answer)
    at.button(key="btn_summary").click().run()
    no_traceback(at)
    assert "**Session summary.** 1 graded answer, average" in markdown(at)
    assert at.get("vega_lite_chart"), "the scores are drawn"


def test_a_weak_answer_gets_a_follow_up_graded_on_its_own_then_moves_on(app_env: Path):
    question = WITH_FOLLOW_UPS
    at = start(data=app_env, question_id=question.id)
    answer(at, question.key_points[0].text)
    assert session(at).turns[-1].kind == "followup"
    follow_up = BANK.get(session(at).turns[-1].question_id)
    assert follow_up in question.follow_ups and session(at).turns[-1].text == follow_up.question
    assert {b.label for b in at.button} == {"Hint", "I don't know", "Next question", "Session summary"}
    at.button(key="btn_hint").click().run()
    no_traceback(at)
    assert f"**Hint.** {escape_markdown(follow_up.key_points[0].hint)}" in markdown(at), "the follow-up's own hint"
    answer(at, follow_up.model_answer)
    assert session(at).turns[-1].kind == "followup-grade" and session(at).paused
    assert "Follow-up: scored on its own key points" in captions(at)
    answer(at, "an answer typed before pressing Next")
    assert "no question is open" in " ".join(str(i.value) for i in at.info), "kept, not graded, and said so"
    at.button(key="btn_next").click().run()
    assert session(at).turns[-1].kind == "question" and session(at).question().id != question.id
    main, stored = History.in_data_dir(app_env).attempts_for("tess")
    assert (main.question_id, main.kind) == (question.id, "answer")
    assert (stored.question_id, stored.kind, stored.parent_attempt_id) == (follow_up.id, "followup", main.id)
    assert stored.score >= 7, "a good follow-up answer scores well against its own checklist"
    assert set(History.in_data_dir(app_env).cards_for("tess")) == {question.id}

    at.switch_page("app_pages/progress.py").run()
    no_traceback(at)
    at.selectbox(key="open_attempt").set_value(stored.id).run()
    assert escape_markdown(follow_up.question) in markdown(at)
    assert escape_markdown(f"Follow-up to: {question.question}") in captions(at)


def test_i_dont_know_on_a_follow_up_shows_the_follow_ups_model_answer(app_env: Path):
    question = WITH_FOLLOW_UPS
    at = start(data=app_env, question_id=question.id)
    answer(at, question.key_points[0].text)
    follow_up = BANK.get(session(at).turns[-1].question_id)
    at.button(key="btn_idk").click().run()
    no_traceback(at)
    assert escape_markdown(follow_up.model_answer) in markdown(at)
    stored = History.in_data_dir(app_env).attempts_for("tess")
    assert [(a.kind, a.question_id, a.score) for a in stored] == [("answer", question.id, stored[0].score),
                                                                  ("followup", follow_up.id, 0.0)]  # fmt: skip
    assert {b.label for b in at.button} >= {"Next question"}, "the model answer stays in view until Next"


def test_hint_skip_and_i_dont_know_buttons(app_env: Path):
    question = BANK.questions[1]
    at = start(data=app_env, question_id=question.id)
    at.button(key="btn_hint").click().run()
    no_traceback(at)
    heaviest = max(question.key_points, key=lambda kp: kp.weight)
    assert f"Hint. {heaviest.hint}" in markdown(at).replace("\\", "").replace("**", "")
    assert heaviest.text not in markdown(at), "the hint does not give the key point away"
    at.button(key="btn_skip").click().run()
    skipped_to = session(at).question()
    assert skipped_to.id != question.id
    at.button(key="btn_idk").click().run()
    no_traceback(at)
    assert skipped_to.model_answer[:60] in markdown(at).replace("\\", "")
    attempts = History.in_data_dir(app_env).attempts_for("tess")
    assert [(a.question_id, a.kind, a.score, a.hints) for a in attempts] == [
        (question.id, "skip", None, 1),
        (skipped_to.id, "idk", 0.0, 0),
    ]


def test_typed_commands_work_like_the_buttons(app_env: Path):
    at = start()
    first = session(at).question().id
    answer(at, "hint")
    assert session(at).turns[-1].kind == "hint"
    answer(at, "skip")
    assert session(at).question().id != first
    answer(at, "I don't know")
    assert History.in_data_dir(app_env).attempts_for("tess")[-1].kind == "idk"


def test_sidebar_filters_choose_the_next_questions_and_keep_the_current_one(app_env: Path):
    at = start()
    on_screen = session(at).question()
    at.sidebar.multiselect(key="topics").set_value(["networking"]).run()
    at.sidebar.multiselect(key="levels").set_value(["architect"]).run()
    no_traceback(at)
    assert session(at).question().id == on_screen.id, "a filter change never abandons the question on screen"
    at.button(key="btn_skip").click().run()
    question = session(at).question()
    assert (question.topic, question.level.value) == ("networking", "architect")
    for _ in range(3):
        at.button(key="btn_skip").click().run()
        question = session(at).question()
        assert (question.topic, question.level.value) == ("networking", "architect")
    at.sidebar.multiselect(key="topics").set_value(["analytics"]).run()
    at.sidebar.multiselect(key="levels").set_value(["architect", "associate", "professional"]).run()
    at.button(key="btn_skip").click().run()
    assert session(at).question().topic == "analytics"


def test_filters_are_saved_per_user_and_come_back_after_a_reload(app_env: Path):
    at = start()
    at.sidebar.multiselect(key="topics").set_value(["networking"]).run()
    at.sidebar.multiselect(key="levels").set_value(["architect"]).run()
    no_traceback(at)
    assert History.in_data_dir(app_env).filters("tess") == (["networking"], ["architect"])

    reloaded = start()  # a new browser session: nothing in session state
    no_traceback(reloaded)
    assert reloaded.sidebar.multiselect(key="topics").value == ["networking"]
    assert reloaded.sidebar.multiselect(key="levels").value == ["architect"]
    assert session(reloaded).topics == ["networking"] and session(reloaded).levels == ["architect"]

    other = start(user="ana")
    assert other.sidebar.multiselect(key="topics").value == [], "another user's filters are their own"


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("   ", "No answer was given"),
        ("<script>alert('x')</script><img src=x onerror=alert(1)> **bold** [link](javascript:alert(1)) # Title", ""),
        ("S3 " * 33_334, "only the first"),
        ("stateful stateless return traffic allow deny subnet instance rule number order first match", "list of words"),
        ("Los grupos de seguridad tienen estado, así que el tráfico de retorno se permite.", "not look like English"),
    ],
    ids=["blank", "html-and-markdown", "100k-chars", "word-list", "other-language"],
)
def test_bad_answers_are_handled_and_shown_as_text(app_env: Path, text: str, expect: str):
    at = start()
    answer(at, text)
    no_traceback(at)
    assert not at.main.get("html"), "nothing is rendered as HTML"
    user_turns = [m for m in at.chat_message if m.name == "user"]
    shown = "\n".join(str(m.value) for m in user_turns[-1].markdown) if user_turns[-1].markdown else ""
    assert "<script>" not in shown and "**bold**" not in shown
    if "<script>" in text:
        assert "\\<script\\>" in shown and "\\*\\*bold\\*\\*" in shown and "\\[link\\]" in shown
    if expect:
        assert expect in markdown(at).replace("\\", "") + " ".join(i.value for i in at.info).replace("\\", "")
    attempts = History.in_data_dir(app_env).attempts_for("tess")
    assert len(attempts) == 1 and attempts[0].answer == text
    assert attempts[0].status in ("scored", "unscored")


def test_an_llm_endpoint_that_is_down_falls_back_to_offline_with_a_notice(app_env: Path, monkeypatch):
    monkeypatch.setenv("PREP_GRADER", "llm")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("PREP_LLM_MAX_RETRIES", "0")
    monkeypatch.setenv("PREP_LLM_TIMEOUT", "3")
    from rag.settings import get_settings

    get_settings.cache_clear()
    at = start()
    assert "LLM" in " ".join(str(m.value) for m in at.sidebar.markdown)
    answer(at, "Use IAM roles with least privilege and rotate credentials.")
    no_traceback(at)
    attempt = History.in_data_dir(app_env).attempts_for("tess")[-1]
    assert attempt.fell_back and attempt.grader == "offline" and attempt.status == "scored"
    assert any("fell back" in w.value for w in at.sidebar.warning)
    assert any("Graded offline" in w.value for w in at.main.warning)


@pytest.mark.parametrize("failure", ["unscored", "crash"])
def test_a_grade_without_a_score_is_shown_as_unscored_and_stored_as_such(app_env: Path, failure: str):
    grader = FakeGrader("offline", unscored=failure == "unscored", crash=failure == "crash")
    at = answer(start(grader=grader), "Use IAM roles with least privilege.")
    no_traceback(at)
    assert "Unscored" in markdown(at) and "/ 10" not in markdown(at)
    reason = "the LLM endpoint is down" if failure == "unscored" else "ConnectionError in the offline grader"
    assert any(w.value == f"Unscored: {reason}" for w in at.main.warning)
    attempt = History.in_data_dir(app_env).attempts_for("tess")[-1]
    assert attempt.status == "unscored" and attempt.score is None and attempt.model == "fake"
    assert attempt.answer == "Use IAM roles with least privilege."


def test_progress_page_and_history_survive_a_new_session(app_env: Path):
    question = BANK.questions[2]
    at = start(data=app_env, question_id=question.id)
    answer(at, question.model_answer)
    at.button(key="btn_skip" if any(b.key == "btn_skip" for b in at.button) else "btn_next").click().run()

    again = start()
    no_traceback(again)
    assert any(e.label.startswith("Your earlier answers") for e in again.expander)
    again.switch_page("app_pages/progress.py").run()
    no_traceback(again)
    metrics = {m.label: m.value for m in again.metric}
    assert int(metrics["Attempts"]) >= 1
    assert float(metrics["Mean score"]) > 0
    assert len(again.dataframe) >= 1
    assert {b.label for b in again.get("download_button")} >= {"Export CSV", "Export JSON"}
    picker = again.selectbox(key="open_attempt")
    first_id = History.in_data_dir(app_env).attempts_for("tess")[0].id
    picker.set_value(first_id).run()
    assert "Score" in markdown(again) and "Your answer" in markdown(again)
    exported = json.loads(History.in_data_dir(app_env).export_json("tess"))
    assert exported["attempts"][0]["question_id"] == question.id


def test_two_tabs_of_the_same_user_both_store_their_attempts(app_env: Path):
    tab1, tab2 = start(seed=1), start(seed=2)
    answer(tab1, "Security groups are stateful.")
    answer(tab2, "Network ACLs are stateless.")
    answers = [a.answer for a in History.in_data_dir(app_env).attempts_for("tess")]
    assert sorted(answers) == ["Network ACLs are stateless.", "Security groups are stateful."]


def test_a_different_user_name_gets_their_own_history(app_env: Path):
    at = start(user="ana")
    answer(at, "skip")
    at.sidebar.text_input(key="user_name").set_value("  Bo   Li ").run()
    no_traceback(at)
    assert session(at).user == "Bo Li"
    assert at.query_params["user"] == ["Bo Li"] or at.query_params["user"] == "Bo Li"
    history = History.in_data_dir(app_env)
    assert len(history.attempts_for("ana")) == 1 and history.attempts_for("Bo Li") == []


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_a_missing_or_corrupt_index_is_rebuilt_with_a_progress_bar(app_env: Path, damage: str):
    chroma = app_env / "chroma"
    import shutil

    shutil.rmtree(chroma)
    if damage == "corrupt":
        chroma.mkdir()
        (chroma / "chroma.sqlite3").write_bytes(b"definitely not sqlite " * 2000)
    at = start()
    answer(at, "Security groups are stateful firewalls on network interfaces.")
    no_traceback(at)
    assert at.progress, "a progress bar showed the rebuild"
    attempt = History.in_data_dir(app_env).attempts_for("tess")[-1]
    assert attempt.status == "scored" and attempt.grade_dict()["passages"], "graded with reference passages"
    if damage == "corrupt":
        assert list(app_env.glob("chroma.damaged-*")), "the damaged index was moved aside, not deleted"


def test_eval_reports_page(app_env: Path, tmp_path: Path):
    at = start()
    at.switch_page("app_pages/eval_reports.py").run()
    no_traceback(at)
    assert "No eval reports yet" in at.info[0].value
    run = tmp_path / "eval-runs" / "20300101-120000-offline"
    run.mkdir(parents=True)
    (run / "results.json").write_text(json.dumps({"schema": 1, "grader": "offline", "items": []}))
    (run / "report.md").write_text("# Eval report\n\nQuadratic weighted kappa: 0.81\n")
    (run / "report.html").write_text("<html><body>report</body></html>")
    at.run()
    no_traceback(at)
    assert "Quadratic weighted kappa: 0.81" in markdown(at)
    assert "Download report.html" in [b.label for b in at.get("download_button")]


def test_how_grading_works_page_shows_the_rubrics_bands_penalties_and_limits(app_env: Path):
    from rag.grading.rubric import load_rubric

    at = start()
    at.switch_page("app_pages/how_grading.py").run()
    no_traceback(at)
    text = markdown(at)
    rubric = load_rubric()
    for band in rubric.bands:
        assert f"| {band.label} | {band.min:g} |" in text
    assert f"minus {rubric.penalties.misconception:g} points for each" in text
    assert "What the grader cannot judge" in text and "Practice, not hiring" in text
    assert "{" not in text, "every placeholder is filled"


def test_grading_quality_reports_sit_in_the_team_section_not_with_the_candidates_pages():
    from rag import access

    sections = access.sections(access.local_viewer("tess", "candidate"))
    assert set(sections) == {"Practice", "Team"}
    assert access.EVAL_REPORTS in sections["Team"] and access.EVAL_REPORTS not in sections["Practice"]


def test_a_repeat_is_labelled_with_its_last_score_and_day():
    from app_pages.ui import last_time

    assert last_time(2.34, "2026-12-02T10:15:00+00:00") == "Last time: 2.3 on 2 Dec"
    assert last_time(7.0, "not a date") == "Last time: 7.0"


def test_graded_caption_names_the_grader_in_plain_words():
    from app_pages.ui import graded_caption
    from rag.grading.result import Grade

    offline = Grade(question_id="q", status="unscored", grader="offline", model="all-MiniLM-L6-v2+lexical")
    assert graded_caption(offline, 0.625) == "Graded in 0.6 s · built-in grader"
    llm = Grade(question_id="q", status="unscored", grader="llm", model="gpt-4o-mini")
    assert graded_caption(llm, 2.0) == "Graded in 2.0 s · gpt-4o-mini (LLM)"
    assert graded_caption(offline, 0.3, fell_back=True).endswith("· the LLM was unavailable")


def test_eval_report_markdown_is_shown_without_remote_images_or_links():
    from app_pages.ui import without_remote_content

    report = (
        "# Run\n![tracker](https://evil.example/pixel.png) see [details](http://evil.example/x) "
        "or <https://evil.example/y>; a [local note](#gates) stays."
    )
    shown = without_remote_content(report)
    assert "evil.example/pixel" not in shown and "](http" not in shown and "<https://" not in shown
    assert "[image: tracker]" in shown and "details" in shown and "[local note](#gates)" in shown


def test_a_long_history_is_paged_and_any_attempt_opens_from_its_page(app_env: Path):
    seed_attempts(app_env, "tess", 520)
    at = start()
    at.switch_page("app_pages/progress.py").run()
    no_traceback(at)
    assert {m.label: m.value for m in at.metric}["Attempts"] in ("520", 520)
    assert "The newest 500 of 520 scored answers." in captions(at)
    picker = at.selectbox(key="open_attempt")
    assert len(picker.options) == 100 and picker.value == 520, "the newest page first"
    at.number_input(key="attempts_page").set_value(6).run()
    no_traceback(at)
    picker = at.selectbox(key="open_attempt")
    assert len(picker.options) == 20 and picker.value == 20, "the last page holds the oldest 20"
    picker.set_value(1).run()
    no_traceback(at)
    assert "#1" in at.selectbox(key="open_attempt").format_func(1)
