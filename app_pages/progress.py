"""Progress: attempts over time, mean score per topic, weakest key points, every past attempt with its feedback."""

from __future__ import annotations

import math
from datetime import datetime
from functools import partial

import altair as alt
import pandas as pd
import streamlit as st

from app_pages import ui
from rag.grading.result import Grade
from rag.history import SCORED_KINDS, Attempt
from rag.questions import QuestionBank
from rag.scheduling import due_times

KIND_LABELS = {"answer": "answer", "idk": "I don't know", "skip": "skipped", "followup": "follow-up"}
CHART_POINTS = 500
"""The scores-over-time chart draws the newest this many scored answers (more is unreadable and slow)."""
CHART_WINDOW = 2 * CHART_POINTS
"""Attempts read for the chart: the newest this many, of which the scored ones are drawn."""
WEAK_POINTS_WINDOW = 1000
"""Weakest key points are counted over the newest this many attempts."""
PAGE_SIZE = 100
"""Attempts per page of the table; the page's attempts are the ones the picker opens."""


def _asked(question_id: str, bank: QuestionBank | None = None) -> str | None:
    """The text of the question or follow-up with this id, None when the bank no longer has it.

    Pass `bank` when looking up many ids: each call of the cached `ui.bank()` costs a lookup of its own.
    """
    try:
        return (bank or ui.bank()).get(question_id).question
    except KeyError:
        return None


def _question_text(question_id: str, bank: QuestionBank | None = None) -> str:
    return _asked(question_id, bank) or question_id


def _frame(attempts: list[Attempt]) -> pd.DataFrame:
    """One row per attempt. The band comes from the score and the rubric, so no stored grade is parsed here."""
    rubric, bank = ui.prompt_files().rubric(), ui.bank()
    rows = []
    for attempt in attempts:
        rows.append(
            {
                "id": attempt.id,
                "when": datetime.fromisoformat(attempt.created_at).astimezone().replace(tzinfo=None),
                "question": _question_text(attempt.question_id, bank),
                "topic": attempt.topic,
                "level": attempt.level,
                "kind": KIND_LABELS.get(attempt.kind, attempt.kind),
                "score": attempt.score,
                "band": rubric.band_for(attempt.score).label if attempt.score is not None else "",
                "grader": attempt.grader + (" (fallback)" if attempt.fell_back else ""),
                "hints": attempt.hints,
            }
        )
    return pd.DataFrame(rows)


def _charts(frame: pd.DataFrame, user: str, scored_total: int) -> None:
    scored = frame[frame["kind"].isin([KIND_LABELS[k] for k in SCORED_KINDS]) & frame["score"].notna()]
    left, right = st.columns(2)
    with left:
        st.markdown("**Scores over time**")
        scored = scored.tail(CHART_POINTS)
        if scored_total > len(scored):
            st.caption(f"The newest {len(scored)} of {scored_total} scored answers.")
        if scored.empty:
            st.caption("No scored answers yet.")
        else:
            chart = (
                alt.Chart(scored)
                .mark_line(point=True)
                .encode(
                    x=alt.X("when:T", title=None, axis=alt.Axis(format="%d %b %H:%M", labelAngle=0, tickCount=4)),
                    y=alt.Y("score:Q", scale=alt.Scale(domain=[0, 10]), title="score"),
                    tooltip=["when:T", "topic", "score", "band"],
                )
                .properties(height=240)
            )
            st.altair_chart(chart, width="stretch")
    with right:
        st.markdown("**Mean score per topic**")
        means = ui.history().topic_means(user)
        if not means:
            st.caption("No scored answers yet.")
        else:
            data = pd.DataFrame([{"topic": m.topic, "mean score": m.mean_score, "attempts": m.attempts} for m in means])
            chart = (
                alt.Chart(data)
                .mark_bar()
                .encode(
                    x=alt.X("mean score:Q", scale=alt.Scale(domain=[0, 10])),
                    y=alt.Y("topic:N", sort="x", title=None),
                    tooltip=["topic", "mean score", "attempts"],
                )
                .properties(height=240)
            )
            st.altair_chart(chart, width="stretch")


def _attempt_detail(attempt: Attempt) -> None:
    try:
        question = ui.bank().get(attempt.question_id)
    except KeyError:
        question = None
    st.markdown(f"**Question** · {ui.escape_markdown(attempt.topic)} · {ui.escape_markdown(attempt.level)}")
    st.markdown(ui.escape_markdown(question.question if question else attempt.question_id))
    if question is not None and question.parent:
        st.caption(ui.escape_markdown(f"Follow-up to: {_question_text(question.parent)}"))
    st.markdown("**Your answer**")
    ui.answer_preview(attempt.answer)
    data = attempt.grade_dict()
    if data is None:
        st.caption(f"No grade: this question was {KIND_LABELS.get(attempt.kind, attempt.kind)}.")
        return
    grade = Grade.model_validate(data)
    st.caption(ui.escape_markdown(f"Graded by: {ui.grade_author(grade)}"))
    # A follow-up stored before follow-ups had their own key points sits under its main question's id: its grade
    # checked only the points the first answer missed, so it gets no "own key points" caption.
    own = attempt.kind == "followup" and question is not None and question.parent is not None
    ui.render_grade(grade, question, fell_back=attempt.fell_back, follow_up=own)


def main() -> None:
    user = ui.current_user()
    history = ui.history()
    st.markdown("#### Progress")
    if ui.current_viewer().team:
        st.caption(
            "Everything you have answered, private to you. Team admins see your attempt count, "
            "scores by topic and weakest key points, not your answers."
        )
    else:
        st.caption(f"Everything {ui.escape_markdown(user)} has answered, kept in the practice history across restarts.")
    counts = history.progress_counts(user)
    if not counts.attempts:
        st.info("No attempts yet. Answer a question on the Practice page and it will show up here.")
        return
    due = due_times(history.cards_for(user))
    now = datetime.now().astimezone()
    cols = st.columns(4)
    cols[0].metric("Attempts", counts.attempts)
    cols[1].metric("Mean score", f"{counts.mean_score:.1f}" if counts.mean_score is not None else "–")
    cols[2].metric("Questions seen", counts.questions)
    cols[3].metric("Due for review", sum(1 for when in due.values() if when <= now))
    _charts(_frame(history.attempts_for(user, limit=CHART_WINDOW)), user, counts.scored)

    st.markdown("**Weakest key points**")
    if counts.attempts > WEAK_POINTS_WINDOW:
        st.caption(f"Over your newest {WEAK_POINTS_WINDOW:,} attempts: what you miss now.")
    weak = history.weakest_key_points(user, 10, WEAK_POINTS_WINDOW)
    if weak:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "key point": p.text,
                        "question": _question_text(p.question_id),
                        "missed": p.missed,
                        "seen": p.seen,
                        "miss rate": round(p.miss_rate, 2),
                    }
                    for p in weak
                ]
            ),
            hide_index=True,
            width="stretch",
        )
    else:
        st.caption("Nothing missed so far.")

    st.markdown("**All attempts**")
    pages = max(1, math.ceil(counts.attempts / PAGE_SIZE))
    page = 1
    if pages > 1:
        label = f"Page (of {pages}, newest first)"
        page = int(st.number_input(label, min_value=1, max_value=pages, value=1, step=1, key="attempts_page"))
    shown = history.attempts_page(user, PAGE_SIZE, page - 1)
    st.dataframe(
        _frame(shown),
        hide_index=True,
        width="stretch",
        column_config={
            "id": st.column_config.NumberColumn("#", width="small"),
            "when": st.column_config.DatetimeColumn("when", format="D MMM YYYY, HH:mm"),
            "score": st.column_config.NumberColumn("score", format="%.1f"),
        },
    )
    by_id = {a.id: a for a in shown}
    choice = st.selectbox(
        "Open an attempt" + (" on this page" if pages > 1 else ""),
        list(by_id),
        format_func=lambda i: (
            f"#{i} · {by_id[i].topic} · "
            + (f"{by_id[i].score:g}/10" if by_id[i].score is not None else KIND_LABELS.get(by_id[i].kind, ""))
            + f" · {_question_text(by_id[i].question_id)[:70]}"
        ),
        key="open_attempt",
    )
    if choice is not None:
        with st.container(border=True):
            _attempt_detail(by_id[choice])

    safe_name = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in user)
    left, right = st.columns(2)
    left.download_button(
        "Export CSV", partial(history.export_csv, user, _asked), file_name=f"practice-{safe_name}.csv", mime="text/csv",
        icon=":material/download:", key="export_csv", width="stretch",
    )  # fmt: skip
    right.download_button(
        "Export JSON", partial(history.export_json, user, _asked), file_name=f"practice-{safe_name}.json",
        mime="application/json", icon=":material/download:", key="export_json", width="stretch",
    )  # fmt: skip


main()
