"""`python -m rag`: ingest the corpus, search it, list questions, grade an answer, check the setup."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from rag.errors import PrepError, StoreError
from rag.grading.llm_log import redact
from rag.settings import DEBUG_VARIABLE, Settings, load_settings


def _store(settings: Settings):
    from rag.store import VectorStore

    return VectorStore(settings)


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from rag.corpus import load_corpus
    from rag.store import move_aside

    corpus_dir = Path(args.corpus) if args.corpus else settings.corpus_dir
    sections = load_corpus(corpus_dir)
    if args.rebuild:
        if settings.chroma_host:
            from rag.store import open_client

            client = open_client(settings)
            if settings.collection in [c.name for c in client.list_collections()]:
                client.delete_collection(settings.collection)
        else:
            moved = move_aside(settings.chroma_dir)
            if moved:
                print(f"Moved the old index to {moved}")
    try:
        store = _store(settings)
    except StoreError as exc:
        raise StoreError(f"{exc} (or pass --rebuild)") from exc
    report = store.ingest(sections, show_progress=not args.quiet)
    where = f"{settings.chroma_host}:{settings.chroma_port}" if settings.chroma_host else str(settings.chroma_dir)
    print(
        f"Indexed {report.sections} sections from {corpus_dir} into '{settings.collection}' at {where}: "
        f"{report.added} chunks added, {report.deleted} deleted, {report.unchanged} unchanged ({report.seconds:.1f} s)"
    )
    return 0


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    from rag.errors import EmptyQueryError
    from rag.retrieval import search

    if not args.text.strip():
        raise EmptyQueryError("the search query is empty; type a few words to search for")
    passages = search(_store(settings), args.text, k=args.k, topic=args.topic)
    if args.json:
        print(json.dumps([p.model_dump() for p in passages], indent=2))
        return 0
    if not passages:
        print("No passages found" + (f" in topic '{args.topic}'" if args.topic else "") + ".")
    for rank, passage in enumerate(passages, 1):
        preview = " ".join(passage.text.split())[:240]
        print(f"{rank}. [{passage.score:.3f}] {passage.title}  ({passage.section_id}, topic {passage.topic})")
        print(f"   {preview}")
    return 0


def _bank(settings: Settings):
    from rag.questions import load_question_bank

    return load_question_bank(settings.questions_file)


def cmd_questions(args: argparse.Namespace, settings: Settings) -> int:
    bank = _bank(settings)
    questions = bank.filter(topics=[args.topic] if args.topic else None, levels=[args.level] if args.level else None)
    if args.topic and not questions and args.topic not in bank.topics:
        raise PrepError(f"no topic '{args.topic}'; topics are: {', '.join(bank.topics)}")
    if args.json:  # each main question carries its follow-ups, each with its own id and `parent`
        print(json.dumps([q.model_dump(mode="json") for q in questions], indent=2))
        return 0
    for question in questions:
        print(f"{question.id}  [{question.topic} / {question.level.value}]")
        print(f"    {question.question}")
        for follow_up in question.follow_ups:
            print(f"    follow-up {follow_up.id}")
            print(f"        {follow_up.question}")
    follow_ups = sum(len(q.follow_ups) for q in questions)
    print(f"{len(questions)} question(s), {follow_ups} follow-up(s)")
    return 0


def _read_answer(value: str) -> str:
    if value == "-":
        return sys.stdin.read()
    return value


def cmd_grade(args: argparse.Namespace, settings: Settings) -> int:
    from rag.grading.service import grade_answer, make_grader
    from rag.questions import load_question_bank

    bank = load_question_bank(settings.questions_file)
    try:
        question = bank.get(args.question_id)
    except KeyError:
        raise PrepError(f"no question with id '{args.question_id}'; list them with `python -m rag questions`") from None
    answer = _read_answer(args.answer)
    grader = make_grader(args.grader, settings)
    store = None if args.no_retrieval else _store(settings)
    grade = grade_answer(question, answer, grader, store=store, settings=settings)
    if args.json:
        print(grade.model_dump_json(indent=2))
    else:
        print(format_grade(grade))
    return 0 if grade.scored else 3


def format_grade(grade) -> str:
    """A readable, plain-text rendering of a Grade for the terminal."""
    lines = []
    if not grade.scored:
        lines.append(f"UNSCORED ({grade.grader}, {grade.model}): {grade.unscored_reason}")
    else:
        lines.append(f"Score {grade.score:.1f}/10  {grade.band_label}   ({grade.grader}, {grade.model})")
        lines.append("  " + "   ".join(f"{c.name}: {c.score:.1f}" for c in grade.criteria))
    marks = {"covered": "[x]", "partly": "[~]", "missed": "[ ]", "contradicted": "[!]"}
    for kp in grade.key_points:
        lines.append(f"{marks[kp.verdict.value]} ({kp.weight}) {kp.text}")
        for quote in kp.evidence:
            lines.append(f'      "{quote}"')
        if kp.note:
            lines.append(f"      note: {kp.note}")
    for finding in grade.misconceptions:
        lines.append(f"Misconception: {finding.claim}  ->  {finding.correction}")
    for notice in grade.notices:
        lines.append(f"Notice: {notice}")
    if grade.feedback:
        lines.append(f"Feedback: {grade.feedback}")
    if grade.passages:
        lines.append("References: " + "; ".join(f"{p.title} ({p.section_id})" for p in grade.passages))
    return "\n".join(lines)


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    """Report the configuration and whether each component works; exit 1 when something is broken."""
    problems = 0

    def line(name: str, ok: bool, detail: str) -> None:
        nonlocal problems
        problems += 0 if ok else 1
        print(f"{'ok ' if ok else 'ERR'}  {name:<16} {detail}")

    line("settings", True, f"data dir {settings.data_dir}; corpus {settings.corpus_dir}")
    grader = settings.active_grader
    if grader == "llm":
        endpoint = redact(settings.openai_base_url or "https://api.openai.com/v1")
        line(
            "grader",
            True,
            f"llm: {settings.llm_model} at {endpoint} (key {'set' if settings.openai_api_key else 'not set'})",
        )
    else:
        line("grader", True, "offline (no OPENAI_API_KEY / OPENAI_BASE_URL set)")
    from rag.history import History

    try:
        history = History.from_settings(settings)  # the URL is shown with its password hidden
        if history.path is not None and not history.path.exists():
            line("history", True, f"sqlite {history.where} (created on the first answer)")
        else:
            line("history", True, f"{history.backend} {history.where}; {len(history.users())} users")
    except PrepError as exc:
        line("history", False, str(exc))
    try:
        bank = _bank(settings)
        line(
            "questions",
            True,
            f"{len(bank.questions)} questions, {len(bank.follow_ups)} follow-ups in {settings.questions_file}",
        )
    except PrepError as exc:
        line("questions", False, str(exc))
    from rag.embeddings import model_dir, verify_model

    try:
        verify_model(model_dir())
        line("embedding model", True, f"all-MiniLM-L6-v2 checksum verified ({model_dir()})")
    except PrepError as exc:
        line("embedding model", False, str(exc))
    from rag.grading.roles import verify_parser

    try:
        line("parser", True, f"en_core_web_sm checksums verified ({verify_parser()})")
    except PrepError as exc:
        line("parser", False, str(exc))
    try:
        from rag.store import open_client

        client = open_client(settings)
        mode = f"server {settings.chroma_host}:{settings.chroma_port}" if settings.chroma_host else "embedded"
        names = [c.name for c in client.list_collections()]
        if settings.collection in names:
            from rag.store import VectorStore

            store = VectorStore(settings, client=client)
            count = store.count()
            unfinished = store.completeness_problem() if count > 0 else None
            detail = f"{mode}; collection '{settings.collection}' holds {count} chunks"
            line("index", count > 0 and unfinished is None, f"{detail}: {unfinished}" if unfinished else detail)
        else:
            line("index", False, f"{mode}; collection '{settings.collection}' missing: run `python -m rag ingest`")
    except PrepError as exc:
        line("index", False, str(exc))
    return 1 if problems else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rag",
        description="AWS interview practice: the knowledge base and the grader. Settings come from "
        "environment variables (PREP_*, OPENAI_*, CHROMA_*) and a .env file; see the README.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ingest = sub.add_parser("ingest", help="index a folder of Markdown files (idempotent)")
    ingest.add_argument("--corpus", metavar="DIR", help="folder of *.md files (default: PREP_CORPUS_DIR or corpus/)")
    ingest.add_argument("--rebuild", action="store_true", help="move the current index aside and build it anew")
    ingest.add_argument("--quiet", action="store_true", help="no progress bar")
    ingest.set_defaults(func=cmd_ingest)

    search = sub.add_parser("search", help="find the reference passages closest to a text")
    search.add_argument("text", help="what to search for")
    search.add_argument("-k", type=int, default=3, help="number of passages (default 3)")
    search.add_argument("--topic", help="only passages of this topic")
    search.add_argument("--json", action="store_true", help="print JSON")
    search.set_defaults(func=cmd_search)

    questions = sub.add_parser("questions", help="list the question bank, each question with its follow-ups")
    questions.add_argument("--topic", help="only this topic")
    questions.add_argument("--level", choices=["associate", "professional", "architect"], help="only this level")
    questions.add_argument("--json", action="store_true", help="print JSON")
    questions.set_defaults(func=cmd_questions)

    grade = sub.add_parser("grade", help="grade an answer to a question or follow-up from the bank")
    grade.add_argument(
        "--question-id", required=True,
        help="the id of a question or of a follow-up, graded against its own key points (see `questions`)",
    )  # fmt: skip
    grade.add_argument("--answer", required=True, help="the answer text, or - to read it from stdin")
    grade.add_argument("--grader", choices=["offline", "llm"], help="default: llm when OPENAI_* is set, else offline")
    grade.add_argument("--json", action="store_true", help="print the grade as JSON")
    grade.add_argument("--no-retrieval", action="store_true", help="grade without reference passages")
    grade.set_defaults(func=cmd_grade)

    doctor = sub.add_parser("doctor", help="check the setup: settings, active grader, model, index")
    doctor.set_defaults(func=cmd_doctor)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "k", 1) is not None and getattr(args, "k", 1) < 1:
        parser.error("-k must be at least 1")
    try:
        return args.func(args, load_settings())
    except PrepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get(DEBUG_VARIABLE):
            raise
        print(
            f"error: unexpected {type(exc).__name__}: {exc} (set {DEBUG_VARIABLE}=1 to see the traceback)",
            file=sys.stderr,
        )
        return 1
