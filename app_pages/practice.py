"""The interview: a question, the candidate's answer, the grade with feedback, then a follow-up or the next question."""

from __future__ import annotations

import random
import time
from datetime import datetime

import streamlit as st

from app_pages import ui
from rag.engine import Engine, grade_with_fallback
from rag.errors import GradingError, PrepError, StoreError
from rag.session import InterviewSession, Turn, command_for
from rag.summary import SessionSummary

ASSISTANT = ":material/record_voice_over:"
CANDIDATE = ":material/person:"
ENGINE_WAIT_S = 180


def _session() -> InterviewSession:
    user = ui.current_user()
    topics = list(st.session_state.get("topics") or [])
    levels = list(st.session_state.get("levels") or [])
    session: InterviewSession | None = st.session_state.get("interview")
    if session is None or session.user != user:
        session = InterviewSession(
            user, ui.bank(), ui.history(), topics=topics, levels=levels,
            rng=random.Random(st.session_state.get("rng_seed")), files=ui.prompt_files(),
        )  # fmt: skip
        session.start()
        st.session_state.interview = session
    else:
        session.set_filters(topics, levels)
    return session


def _queue(action: str) -> None:
    st.session_state.pending_action = action


def _apply(session: InterviewSession, action: str, typed: str | None = None) -> None:
    if action == "hint":
        session.hint()
    elif action == "next":
        session.next_question()
    elif action == "skip":
        session.skip()
    elif action == "idk":
        session.dont_know(typed)
    elif action == "again":
        session.try_again()
    elif action == "summary":
        session.show_summary()


def _question_for(session: InterviewSession, turn: Turn):
    try:
        return session.bank.get(turn.question_id) if turn.question_id else None
    except KeyError:
        return None


def render_summary(summary: SessionSummary) -> None:
    """The session so far: scores as a chart, the points made and missed most, what is due next."""
    if not summary.answers:
        st.markdown("**Session summary.** No graded answers in this session yet.")
        return
    st.markdown(f"**Session summary.** {summary.answers} graded answer{'s' if summary.answers != 1 else ''}, "
                f"average {summary.mean:.1f} / 10.")  # fmt: skip
    st.bar_chart({"score": list(summary.scores)}, x_label="answer", y_label="score", height=160)
    if summary.strongest:
        st.markdown("Made most often:\n" + "\n".join(f"- {ui.escape_markdown(t)}" for t in summary.strongest))
    if summary.weakest:
        st.markdown("Missed most often:\n" + "\n".join(f"- {ui.escape_markdown(t)}" for t in summary.weakest))
    if summary.due_next:
        lines = [f"- {ui.escape_markdown(d.question)} ({d.due.astimezone():%d %b %H:%M})" for d in summary.due_next]
        st.markdown("Due for review next:\n" + "\n".join(lines))


def render_turn(session: InterviewSession, turn: Turn) -> None:
    if turn.role == "user":
        with st.chat_message("user", avatar=CANDIDATE):
            if turn.kind == "command":
                st.markdown(f"_{ui.escape_markdown(turn.text)}_")
            else:
                ui.answer_preview(turn.text)
        return
    with st.chat_message("assistant", avatar=ASSISTANT):
        question = _question_for(session, turn)
        if turn.kind == "question":
            meta = turn.meta
            caption = f"Question {turn.number} · {meta.get('topic', '')} · {meta.get('level', '')}"
            if meta.get("resumed"):
                caption += " · picking up where you left off"
            if meta.get("again"):
                caption += " · trying again"
            if meta.get("last_score") is not None:
                caption += " · " + ui.last_time(meta["last_score"], meta.get("last_at"))
            st.caption(ui.escape_markdown(caption))
            st.markdown(ui.escape_markdown(turn.text))
        elif turn.kind == "followup":
            st.caption("Follow-up")
            st.markdown(ui.escape_markdown(turn.text))
        elif turn.kind == "hint":
            if turn.meta.get("exhausted"):
                st.markdown("No more hints for this one. Give it your best shot, or say you don't know.")
            else:
                st.markdown(f"**Hint.** {ui.escape_markdown(turn.text)}")
        elif turn.kind in ("grade", "followup-grade"):
            grade = turn.grade()
            if grade is not None:
                ui.render_grade(grade, question, fell_back=turn.fell_back, follow_up=turn.kind == "followup-grade")
        elif turn.kind == "summary":
            render_summary(turn.meta["summary"])
        elif turn.kind == "idk":
            grade = turn.grade()
            st.markdown("That's fine in practice: it counts as 0 and the question comes back soon. A model answer:")
            if question is not None:
                st.markdown(ui.escape_markdown(question.model_answer))
            if grade is not None:
                st.caption(ui.escape_markdown(grade.feedback))
        elif turn.kind == "model-answer":
            st.markdown("Here is how the model answer covers it:")
            st.markdown(ui.escape_markdown(turn.text))
        else:
            st.info(ui.escape_markdown(turn.text))


def rebuild_index(engine: Engine, container) -> bool:
    """Rebuild a missing or damaged index with a progress bar. True when the index is usable afterwards."""
    problem = engine.index_problem
    how = (
        "The chunks already stored are kept and the missing ones added."
        if engine.index_state == "incomplete"
        else "A damaged index is moved aside, not deleted (only the newest such copy is kept)."
    )
    container.write(f"The reference index needs rebuilding ({ui.escape_markdown(problem or 'missing')}). {how}")
    bar = container.progress(0.0, text="Rebuilding the reference index from the corpus…")

    def progress(done: int, total: int) -> None:
        bar.progress(done / total if total else 1.0, text=f"Embedding chunk {done} of {total}")

    try:
        report = engine.rebuild(progress)
    except PrepError as exc:
        container.error(f"The index could not be rebuilt: {ui.escape_markdown(str(exc))}")
        return False
    bar.progress(1.0, text=f"Index rebuilt: {report.added} chunks from {report.sections} sections.")
    return True


def grade_live(session: InterviewSession, engine: Engine, answer: str) -> None:
    """Grade the answer just typed, showing each step, then the grade and whatever comes next."""
    settings = ui.settings()
    question = session.question()
    target = session.grading_target()
    if question is None or target is None:
        session.skip()
        return
    started = time.perf_counter()
    with st.chat_message("assistant", avatar=ASSISTANT):
        with st.status("Grading your answer…", expanded=True) as status:
            if not engine.loaded:
                status.write("Loading the embedding model and the reference index (only the first answer waits)…")
                engine.wait(ENGINE_WAIT_S)
            if engine.needs_rebuild:
                rebuild_index(engine, status)
            if engine.primary is None:
                raise GradingError(engine.grader_problem or "no grader could be loaded")
            passages = []
            if engine.store is not None and engine.index_state == "ready":
                status.write("Retrieving reference passages…")
                try:
                    passages = engine.passages_for(question)
                except PrepError as exc:
                    if isinstance(exc, StoreError):
                        engine.mark_damaged(str(exc))
                    status.write(f"Reference passages unavailable ({ui.escape_markdown(str(exc))}); grading without.")
            else:
                status.write("Reference passages unavailable; grading against the rubric only.")
            if passages:
                status.write("Found: " + "; ".join(ui.escape_markdown(p.title) for p in passages))
            status.write(f"Grading ({ui.escape_markdown(ui.grader_words(engine.grader_label()))})…")
            grade, fell_back = grade_with_fallback(
                target, answer, engine.primary, engine.fallback, passages=passages, settings=settings
            )
            elapsed_ms = (time.perf_counter() - started) * 1000
            status.update(
                label=ui.graded_caption(grade, elapsed_ms / 1000, fell_back),
                state="complete" if grade.scored else "error",
                expanded=False,
            )
        before = len(session.turns)
        turn = session.record_answer(answer, grade, fell_back)
        ui.render_grade(grade, question, stream=True, fell_back=fell_back, follow_up=turn.kind == "followup-grade")
    for later in session.turns[before + 1 :]:
        render_turn(session, later)


def recent_attempts(session: InterviewSession) -> None:
    """The last few attempts from before this visit (a refresh or restart keeps them)."""
    before = session.started_at.isoformat()
    attempts = [a for a in session.history.attempts_for(session.user, limit=5) if a.created_at < before]
    if not attempts:
        return
    total = sum(1 for a in session.history.attempts_for(session.user) if a.created_at < before)
    with st.expander(f"Your earlier answers ({total})", icon=":material/history:"):
        for attempt in reversed(attempts):
            try:
                text = session.bank.get(attempt.question_id).question
            except KeyError:
                text = attempt.question_id
            score = f"{attempt.score:g}/10" if attempt.score is not None else attempt.kind
            when = datetime.fromisoformat(attempt.created_at).astimezone().strftime("%d %b %H:%M")
            short = text if len(text) <= 90 else text[:87] + "…"
            st.markdown(f"- {ui.escape_markdown(when)} · **{ui.escape_markdown(score)}** · {ui.escape_markdown(short)}")
        st.page_link("app_pages/progress.py", label="All attempts and full feedback", icon=":material/insights:")


def _try_again_button(container, label: str) -> None:
    container.button(label, key="btn_again", icon=":material/replay:", on_click=_queue, args=("again",),
                     help="Asks the question you just answered once more, as a new attempt.",
                     width="stretch")  # fmt: skip


def _summary_button(container) -> None:
    container.button("Session summary", key="btn_summary", icon=":material/summarize:", on_click=_queue,
                     args=("summary",), width="stretch")  # fmt: skip


def action_buttons(session: InterviewSession) -> None:
    if session.current is None:
        if not session.paused:
            return
        cols = st.columns(3)
        cols[0].button("Next question", key="btn_next", icon=":material/skip_next:", on_click=_queue,
                       args=("next",), type="primary", width="stretch")  # fmt: skip
        if session.can_try_again():
            _try_again_button(cols[1], "Try this question again")
        _summary_button(cols[2])
        return
    follow_up = session.current.mode == "followup"
    cols = st.columns(3)
    cols[0].button("Hint", key="btn_hint", icon=":material/lightbulb:", on_click=_queue, args=("hint",),
                   width="stretch")  # fmt: skip
    cols[1].button("I don't know", key="btn_idk", icon=":material/help:", on_click=_queue, args=("idk",),
                   width="stretch")  # fmt: skip
    if follow_up:
        cols[2].button("Next question", key="btn_next", icon=":material/skip_next:", on_click=_queue,
                       args=("next",), width="stretch")  # fmt: skip
    else:
        cols[2].button("Skip", key="btn_skip", icon=":material/redo:", on_click=_queue, args=("skip",),
                       width="stretch")  # fmt: skip
    more = st.columns(2)
    if session.can_try_again():
        _try_again_button(more[0], "Try the last question again")
    _summary_button(more[1])

def main() -> None:
    engine = ui.engine()
    session = _session()
    placeholder = (
        "Type next for the next question (or: try again, summary)"
        if session.paused
        else "Your answer (or type: hint, skip, next, try again, I don't know)"
    )
    prompt = st.chat_input(placeholder, key="answer_input", submit_mode="disable")
    action = st.session_state.pop("pending_action", None)
    to_grade: str | None = None
    if action:
        _apply(session, action)
    elif prompt is not None:
        command = command_for(prompt, ui.prompt_files())
        if command in ("hint", "idk") and session.current is None:
            session.answer_without_question(prompt)
        elif command:
            _apply(session, command, typed=prompt if command == "idk" else None)
        elif session.current is not None:
            session.turns.append(Turn("user", "answer", text=prompt))
            to_grade = prompt
        elif prompt.strip():
            session.answer_without_question(prompt)

    st.markdown("#### Interview practice")
    st.caption("Answer as you would out loud in an interview. Hint, skip or say you don't know at any time.")
    recent_attempts(session)
    for turn in session.turns:
        render_turn(session, turn)
    if to_grade is not None:
        grade_live(session, engine, to_grade)
    action_buttons(session)
    engine.start()
    question, target = session.question(), session.grading_target()
    if question is not None and target is not None:
        engine.prefetch(question, target)
    if engine.loaded and engine.needs_rebuild:
        with st.status("Preparing the reference index…", expanded=True) as status:
            ok = rebuild_index(engine, status)
            status.update(label="Reference index ready" if ok else "Reference index unavailable",
                          state="complete" if ok else "error", expanded=not ok)  # fmt: skip


main()
