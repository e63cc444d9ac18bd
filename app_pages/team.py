"""Team members (team admins only): each member's attempt count, mean score by topic and weakest key points.

Admins see the aggregates, not the members' answers or grades.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from app_pages import ui
from rag.history import History


def _member_rows(history: History, members: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per member (attempts, scored answers, mean score) and one per member and topic (mean score)."""
    overview, by_topic = [], []
    for member in members:
        counts = history.progress_counts(member)
        overview.append(
            {
                "member": member,
                "attempts": counts.attempts,
                "scored": counts.scored,
                "mean score": round(counts.mean_score, 2) if counts.mean_score is not None else None,
            }
        )
        means = history.topic_means(member)
        by_topic.extend(
            {"member": member, "topic": m.topic, "mean score": m.mean_score, "attempts": m.attempts} for m in means
        )
    return pd.DataFrame(overview), pd.DataFrame(by_topic, columns=["member", "topic", "mean score", "attempts"])


def _topic_chart(by_topic: pd.DataFrame) -> None:
    st.markdown("**Mean score by topic**")
    if by_topic.empty:
        st.caption("No scored answers yet.")
        return
    chart = (
        alt.Chart(by_topic)
        .mark_rect()
        .encode(
            x=alt.X("topic:N", title=None, axis=alt.Axis(labelAngle=-30)),
            y=alt.Y("member:N", title=None),
            color=alt.Color("mean score:Q", scale=alt.Scale(domain=[0, 10], scheme="redyellowgreen")),
            tooltip=["member", "topic", "mean score", "attempts"],
        )
        .properties(height=max(120, 32 * by_topic["member"].nunique()))
    )
    st.altair_chart(chart, width="stretch")


def _weak_points(history: History, member: str) -> None:
    weak = history.weakest_key_points(member, 10)
    if not weak:
        st.caption("Nothing missed so far.")
        return
    data = pd.DataFrame(
        [{"key point": p.text, "missed": p.missed, "seen": p.seen, "miss rate": round(p.miss_rate, 2)} for p in weak]
    )
    chart = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("miss rate:Q", scale=alt.Scale(domain=[0, 1])),
            y=alt.Y("key point:N", sort="-x", title=None, axis=alt.Axis(labelLimit=360)),
            tooltip=["key point", "missed", "seen", "miss rate"],
        )
        .properties(height=max(120, 26 * len(data)))
    )
    st.altair_chart(chart, width="stretch")
    st.dataframe(data, hide_index=True, width="stretch")


def main() -> None:
    ui.require(ui.current_viewer().sees_members, "The Team members page")
    history = ui.history()
    st.markdown("#### Team members")
    st.caption("Attempts, scores by topic and weakest key points per member. Members' answers stay private.")
    members = history.users()
    if not members:
        st.info("Nobody has practised yet.", icon=":material/info:")
        return
    overview, by_topic = _member_rows(history, members)
    st.dataframe(
        overview,
        hide_index=True,
        width="stretch",
        column_config={"mean score": st.column_config.NumberColumn("mean score", format="%.1f")},
        key="team_overview",
    )
    _topic_chart(by_topic)
    st.markdown("**Weakest key points**")
    member = st.selectbox("Member", members, key="team_member")
    if member is not None:
        _weak_points(history, member)
    st.page_link("app_pages/eval_reports.py", label="Grading quality reports", icon=":material/fact_check:")


main()
