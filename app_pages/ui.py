"""Shared pieces of the Streamlit pages: cached resources, the current user, safe text, grade rendering."""

from __future__ import annotations

import importlib.util
import logging
import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import streamlit as st

from rag import access
from rag.engine import Engine
from rag.errors import PrepError
from rag.grading.files import PromptFiles
from rag.grading.result import Grade, KeyPointVerdict, Verdict
from rag.history import History
from rag.questions import Question, QuestionBank, load_question_bank
from rag.settings import Settings, get_settings

PREVIEW_CHARS = 1500
STREAM_DELAY_S = 0.008
BAND_COLOURS = {"excellent": "green", "good": "blue", "partial": "orange", "not-yet": "red"}
VERDICT_MARKS = {"covered": "✓", "partly": "◐", "missed": "✗", "contradicted": "⚠"}
DISPUTED_MARK = "⚖"
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&^=\"'])")


def escape_markdown(text: str) -> str:
    """Text shown exactly as typed: every Markdown and HTML special character is backslash-escaped."""
    escaped = _MD_SPECIAL.sub(r"\\\1", text)
    return "  \n".join(escaped.splitlines())


def inline_code(text: str) -> str:
    """Text as a Markdown code span, shown exactly as typed and never turned into a link (an email would be).
    The fence is longer than any run of backticks inside."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {' '.join(text.splitlines())} {fence}"


def settings() -> Settings:
    return get_settings()


def prompt_files() -> PromptFiles:
    """The rubric, feedback templates and guard phrases of the configured prompts directory."""
    return PromptFiles.from_settings(settings())


@st.cache_resource(show_spinner=False)
def _bank(path: str, mtime: float) -> QuestionBank:
    return load_question_bank(Path(path))


def bank() -> QuestionBank:
    path = settings().questions_file
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = 0.0
    return _bank(str(path), mtime)


@st.cache_resource(show_spinner=False)
def _engine(data_dir: str, chroma: str, grader: str) -> Engine:
    return Engine(get_settings(), start=False)


GRADER_FACTORY_KEY = "grader_factory"
"""Session-state key through which an AppTest grades with its own `rag.engine.GraderFactory` (a fake grader
for tests of what the page shows). Nothing in the app sets it and no widget has this key."""
_FACTORY_ENGINE_KEY = "engine_with_grader_factory"


def engine() -> Engine:
    """The process-wide engine. The practice page starts its background warm-up once the first question is
    on screen, so the model import does not compete with the first render.

    A session whose state holds GRADER_FACTORY_KEY gets its own engine with that grader factory instead."""
    factory = st.session_state.get(GRADER_FACTORY_KEY)
    if factory is not None:
        if _FACTORY_ENGINE_KEY not in st.session_state:
            st.session_state[_FACTORY_ENGINE_KEY] = Engine(get_settings(), grader_factory=factory, start=False)
        return st.session_state[_FACTORY_ENGINE_KEY]
    s = settings()
    endpoint = f"{s.active_grader}:{s.llm_model}@{s.openai_base_url or ''}"
    return _engine(str(s.data_dir), f"{s.chroma_host}:{s.chroma_port}/{s.collection}", endpoint)


@st.cache_resource(show_spinner=False)
def _history(data_dir: str, database_url: str) -> History:
    return History.from_settings(get_settings())


def history() -> History:
    """The history on PREP_DATABASE_URL when set (shared by every replica), else SQLite in the data directory."""
    s = settings()
    url = s.database_url.get_secret_value() if s.database_url else ""
    return _history(str(s.data_dir), url)


class SignInRequired(PrepError):
    """Team mode and nobody signed in: no page reads or writes a history then."""


def auth_secrets() -> dict[str, Any]:
    """The `[auth]` section of the Streamlit secrets; {} when there is none or no secrets file at all."""
    try:
        section = st.secrets.get("auth")  # st.secrets at call time: AppTest swaps it for its own secrets
    except FileNotFoundError:  # StreamlitSecretNotFoundError: no or unreadable secrets.toml
        return {}
    if not section:
        return {}
    return section.to_dict() if hasattr(section, "to_dict") else dict(section)


def app_mode() -> access.Mode:
    return access.mode(settings().auth, auth_secrets())


def authlib_installed() -> bool:
    return importlib.util.find_spec("authlib") is not None


def viewer() -> access.Viewer | None:
    """Who uses this session. Local mode: the typed name. Team mode: the signed-in identity from `st.user`
    (None when nobody is signed in); nothing else the browser sends is read."""
    s = settings()
    if app_mode() == "local":
        return access.local_viewer(st.session_state.get("user_name"), s.user_name)
    return access.team_viewer(st.user.to_dict(), s.admin_emails, s.admin_claim, s.admin_group)


def current_viewer() -> access.Viewer:
    found = viewer()
    if found is None:
        raise SignInRequired("Sign in to continue.")
    return found


def current_user() -> str:
    """The history key of this session's user; raises SignInRequired in team mode before sign-in."""
    return current_viewer().user


def require(allowed: bool, what: str) -> None:
    """Stop the page with one line when the viewer may not see it (the navigation leaves such pages out too)."""
    if not allowed:
        st.error(f"{what} is only for team admins.", icon=":material/lock:")
        st.stop()


def eval_runs_dir() -> Path:
    return settings().eval_runs_dir


def show_error(exc: Exception) -> None:
    """A one-line error instead of a traceback."""
    if isinstance(exc, PrepError):
        st.error(str(exc), icon=":material/error:")
    else:
        logging.getLogger("app").error("unexpected error in the app", exc_info=exc)
        st.error(
            f"Something went wrong ({type(exc).__name__}). Your progress is saved; reload the page to continue.",
            icon=":material/error:",
        )


def answer_preview(text: str) -> None:
    """A candidate's answer as plain text; very long answers are cut for display."""
    if not text.strip():
        st.caption("(empty answer)")
        return
    st.markdown(escape_markdown(text[:PREVIEW_CHARS]))
    if len(text) > PREVIEW_CHARS:
        st.caption(f"… {len(text) - PREVIEW_CHARS:,} more characters not shown.")


def _stream_words(text: str) -> Iterator[str]:
    for word in re.split(r"(\s+)", text):
        if word:
            yield word
            if not word.isspace():
                time.sleep(STREAM_DELAY_S)


def grader_words(label: str) -> str:
    """The grader in a candidate's words: the engine's "offline" is the built-in grader; an LLM keeps its name."""
    return "built-in (offline, on this machine)" if label == "offline" else label


def last_time(score: float, created_at: str | None) -> str:
    """A repeat's label: "Last time: 2.3 on 2 Dec" (the date left out when it cannot be read)."""
    text = f"Last time: {score:.1f}"
    try:
        when = datetime.fromisoformat(str(created_at))
    except ValueError:
        return text
    return f"{text} on {when.day} {when:%b}"


def grade_author(grade: Grade) -> str:
    """Who graded, in a candidate's words: "built-in grader" or "<model> (LLM)"."""
    return "built-in grader" if grade.grader == "offline" else f"{grade.model} (LLM)"


def graded_caption(grade: Grade, seconds: float, fell_back: bool = False) -> str:
    """The status line after a grade: "Graded in 0.6 s · built-in grader" (or the LLM's model), and any fallback."""
    caption = f"Graded in {seconds:.1f} s · {grade_author(grade)}"
    return caption + (" · the LLM was unavailable" if fell_back else "")


def score_line(grade) -> str:
    if not grade.scored or grade.score is None:
        return ":gray-badge[Unscored]"
    colour = BAND_COLOURS.get(grade.band or "", "gray")
    label = escape_markdown(grade.band_label or grade.band or "")
    return f"**Score {grade.score:g} / 10** · :{colour}-badge[{label}]"


def render_grade(
    grade,
    question: Question | None,
    *,
    stream: bool = False,
    fell_back: bool = False,
    follow_up: bool = False,
    show_model_answer: bool = True,
) -> None:
    """Score, band, key points with evidence, misconceptions, feedback, sources and the model answer."""
    if follow_up:
        st.caption("Follow-up: scored on its own key points. It does not change when the main question comes back.")
    st.markdown(score_line(grade))
    if grade.scored and grade.score is not None:
        st.progress(min(1.0, max(0.0, grade.score / 10)))
    if fell_back:
        st.warning("Graded offline: the LLM grader gave no score for this answer.", icon=":material/swap_horiz:")
    if not grade.scored:
        st.warning(f"Unscored: {grade.unscored_reason or 'the grader gave no score'}", icon=":material/warning:")
    for notice in grade.notices:
        st.info(escape_markdown(notice), icon=":material/info:")
    feedback = escape_markdown(grade.feedback)
    if feedback:
        if stream:
            st.write_stream(_stream_words(feedback))
        else:
            st.markdown(feedback)
    covered = grade.points_with(Verdict.covered)
    partly = grade.points_with(Verdict.partly)
    missed = [kp for kp in grade.points_with(Verdict.missed) if not kp.disputed]
    disputed = [kp for kp in grade.points_with(Verdict.missed) if kp.disputed]
    contradicted = grade.points_with(Verdict.contradicted)
    groups = (("Covered", covered), ("Partly covered", partly), ("Disputed", disputed), ("Missed", missed))
    for title, points in groups:
        if points:
            st.markdown(f"**{title}**")
            st.markdown("\n".join(_point_line(kp) for kp in points))
    if contradicted or grade.misconceptions:
        st.markdown("**Wrong**")
    for kp in contradicted:
        unquoted = "Your answer states the opposite of this key point."
        st.error(_wrong_text(kp.evidence, kp.text, grade.passages, unquoted), icon=":material/report:")
    for finding in grade.misconceptions:
        st.error(
            f"**Misconception:** {escape_markdown(finding.claim)}  \n"
            + _wrong_text(finding.evidence, finding.correction, grade.passages),
            icon=":material/report:",
        )
    for passage in grade.passages:
        with st.expander(f"Source: {escape_markdown(passage.title)} (relevance {passage.score:.2f})"):
            st.markdown(passage.text)  # corpus Markdown, ours; HTML is never rendered either way
    if show_model_answer and question is not None:
        with st.expander("Model answer"):
            st.markdown(escape_markdown(question.model_answer))


def _credit(kp: KeyPointVerdict) -> float:
    """The credit the point earned: the grader's graded credit inside its verdict's range, else the verdict's."""
    return prompt_files().rubric().credit(kp.verdict.value, kp.credit)


def _first_quote(evidence: list[str]) -> str | None:
    """One contiguous quote from the answer, escaped: the first, never several joined (they would read as one)."""
    for quote in evidence:
        if quote.strip():
            return escape_markdown(" ".join(quote.split()))
    return None


def _point_line(kp: KeyPointVerdict) -> str:
    """One key point as a list item: covered points with their credit when below full, partly covered ones
    in full with what they earned, and the candidate's own words for both (one quote)."""
    mark = VERDICT_MARKS.get(kp.verdict.value, "•")
    text = escape_markdown(kp.text)
    if kp.verdict is Verdict.partly:
        line = f"- {mark} You touched on this; the full point is: {text} _({_credit(kp):.0%} credit)_"
    else:
        line = f"- {mark} {text}"
        if kp.verdict is Verdict.covered and _credit(kp) < 1:
            line += f" _({_credit(kp):.0%} credit)_"
    quote = _first_quote(kp.evidence) if kp.credited or kp.disputed else None
    if kp.disputed:
        line = f"- {DISPUTED_MARK} {text} _(no credit)_"
        if quote:
            line += (
                f"  \n  the grading model credited your words _“{quote}”_, but the automated check does not "
                "read them as stating this point"
            )
        return line
    if quote:
        line += f"  \n  your words: _“{quote}”_"
    return line


_WORD = re.compile(r"[a-z0-9]+")
_COMMON = frozenset(
    {
        *("about", "also", "because", "does", "each", "every", "from", "have", "into", "more", "most", "only"),
        *("some", "than", "that", "their", "them", "then", "there", "they", "this", "what", "when", "which"),
        *("will", "with", "would", "your"),
    }
)
MIN_SHARED_WORDS = 2


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if len(w) > 3 and w not in _COMMON}


def source_for(fact: str, passages) -> str | None:
    """The title of the reference passage that shares the most words with `fact` (the first, most relevant,
    on a tie), or None when none shares at least MIN_SHARED_WORDS: no source is named that does not hold it."""
    wanted = _words(fact)
    best, shared = None, 0
    for passage in passages:
        overlap = len(wanted & _words(f"{passage.title} {passage.text}"))
        if overlap > shared:
            best, shared = passage, overlap
    return best.title if best is not None and shared >= MIN_SHARED_WORDS else None


def _wrong_text(evidence: list[str], fact: str, passages, unquoted: str = "") -> str:
    """What the answer got wrong: the candidate's words (one quote, else `unquoted`), the fact, and the
    reference passage that holds it."""
    quote = _first_quote(evidence)
    said = f"**You said:** _“{quote}”_  \n" if quote else (f"{unquoted}  \n" if unquoted else "")
    text = f"{said}**Actually:** {escape_markdown(fact)}"
    source = source_for(fact, passages)
    if source:
        text += f"  \n**Source:** {escape_markdown(source)}"
    return text


_REMOTE_IMAGE = re.compile(r"!\[([^\]]*)\]\(\s*<?[a-z][a-z0-9+.-]*:[^)]*\)", re.IGNORECASE)
_REMOTE_LINK = re.compile(r"(?<!!)\[([^\]]*)\]\(\s*<?[a-z][a-z0-9+.-]*:[^)]*\)", re.IGNORECASE)
_AUTOLINK = re.compile(r"<([a-z][a-z0-9+.-]*:[^>\s]*)>", re.IGNORECASE)


def without_remote_content(markdown: str) -> str:
    """The report with no image or link that would reach out when rendered: images become their alt text
    in brackets, links their text, autolinks plain text. A report is data from a run folder, not trusted."""
    markdown = _REMOTE_IMAGE.sub(lambda m: f"[image: {m.group(1)}]", markdown)
    markdown = _REMOTE_LINK.sub(lambda m: m.group(1), markdown)
    return _AUTOLINK.sub(lambda m: m.group(1).replace(":", ":\u200b", 1), markdown)
