"""Load a folder of Markdown files into sections and retrieval chunks.

A section is a `##` heading and its body. A comment line `<!-- id: x; topic: y -->` right under
the heading gives a stable id and topic; without it the id is derived from the file and heading,
and the topic is the file's name, so any folder of Markdown notes can be ingested.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from rag.errors import CorpusError

_HEADING = re.compile(r"^##\s+(?P<title>.+?)\s*$")
_META = re.compile(r"^<!--\s*(?P<body>.*?)\s*-->\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
CHUNK_WORDS = 170
CHUNK_OVERLAP_WORDS = 30


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    topic: str
    text: str
    source: str


@dataclass(frozen=True)
class Chunk:
    id: str
    section_id: str
    title: str
    topic: str
    source: str
    index: int
    text: str

    @property
    def embed_text(self) -> str:
        """Text given to the embedding model: the title anchors every chunk to its topic."""
        return f"{self.title}\n{self.text}"


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def _parse_meta(line: str) -> dict[str, str]:
    match = _META.match(line.strip())
    if not match:
        return {}
    meta: dict[str, str] = {}
    for part in match.group("body").split(";"):
        key, sep, value = part.partition(":")
        if sep:
            meta[key.strip().lower()] = value.strip()
    return meta


def parse_markdown(text: str, source: str) -> list[Section]:
    """Split one Markdown document into its `##` sections (text before the first is skipped)."""
    sections: list[Section] = []
    title: str | None = None
    body: list[str] = []
    in_fence = False
    stem = Path(source).stem

    def flush() -> None:
        if title is None:
            return
        lines = list(body)
        meta: dict[str, str] = {}
        while lines and not lines[0].strip():
            lines.pop(0)
        if lines:
            meta = _parse_meta(lines[0])
            if meta:
                lines.pop(0)
        content = "\n".join(lines).strip()
        if not content:
            return
        section_id = meta.get("id") or f"{slugify(stem)}--{slugify(title)}"
        sections.append(
            Section(id=section_id, title=title, topic=meta.get("topic") or slugify(stem), text=content, source=source)
        )

    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        heading = None if in_fence else _HEADING.match(line)
        if heading:
            flush()
            title, body = heading.group("title").strip(), []
        elif title is not None:
            body.append(line)
    flush()
    return sections


MAX_SECTION_CHARS = 100_000
"""A `##` section longer than this is refused: the guide's longest is under 10,000 characters, and a pasted
log or dump that size would take minutes to embed. Split it under more `##` headings."""


def load_corpus(corpus_dir: Path) -> list[Section]:
    """Every section of every `*.md` file under `corpus_dir`, validated for unique ids."""
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus folder {corpus_dir} does not exist; pass --corpus DIR or set PREP_CORPUS_DIR")
    files = sorted(p for p in corpus_dir.rglob("*.md") if p.is_file())
    if not files:
        raise CorpusError(f"corpus folder {corpus_dir} holds no Markdown (*.md) files; nothing to ingest")
    sections: list[Section] = []
    seen: dict[str, str] = {}
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise CorpusError(f"{path} is not valid UTF-8 text ({exc.reason}); fix or remove the file") from exc
        rel = str(path.relative_to(corpus_dir))
        for section in parse_markdown(text, rel):
            if len(section.text) > MAX_SECTION_CHARS:
                raise CorpusError(
                    f"{rel}: section '{section.title}' has {len(section.text):,} characters, over the "
                    f"{MAX_SECTION_CHARS:,} limit; split it under more '## ' headings"
                )
            if section.id in seen:
                raise CorpusError(
                    f"section id '{section.id}' appears in {seen[section.id]} and {rel}; ids must be unique"
                )
            seen[section.id] = rel
            sections.append(section)
    if not sections:
        raise CorpusError(f"no '## ' sections with text found in the Markdown files of {corpus_dir}")
    return sections


def _pieces(text: str) -> list[str]:
    """Lines of the text, with any line longer than a chunk split into word windows."""
    pieces: list[str] = []
    for line in text.splitlines():
        words = line.split()
        if len(words) <= CHUNK_WORDS:
            pieces.append(line)
            continue
        for start in range(0, len(words), CHUNK_WORDS - CHUNK_OVERLAP_WORDS):
            pieces.append(" ".join(words[start : start + CHUNK_WORDS]))
    return pieces


def _windows(text: str) -> list[str]:
    """Pack whole lines into windows of about CHUNK_WORDS words, carrying a short overlap."""
    windows: list[str] = []
    current: list[str] = []
    count = 0
    for piece in _pieces(text):
        size = len(piece.split())
        if current and count + size > CHUNK_WORDS:
            windows.append("\n".join(current).strip())
            overlap: list[str] = []
            kept = 0
            for previous in reversed(current):
                kept += len(previous.split())
                if kept > CHUNK_OVERLAP_WORDS:
                    break
                overlap.insert(0, previous)
            current, count = overlap, sum(len(p.split()) for p in overlap)
        current.append(piece)
        count += size
    if any(p.strip() for p in current):
        windows.append("\n".join(current).strip())
    return [w for w in windows if w]


def chunk_section(section: Section) -> list[Chunk]:
    """Line-preserving windows of a section; chunk ids hash their content so unchanged text keeps its id."""
    chunks = []
    for index, piece in enumerate(_windows(section.text)):
        digest = hashlib.sha256(f"{section.id}|{section.title}|{section.topic}|{index}|{piece}".encode()).hexdigest()
        chunks.append(
            Chunk(
                id=f"{section.id}:{digest[:16]}",
                section_id=section.id,
                title=section.title,
                topic=section.topic,
                source=section.source,
                index=index,
                text=piece,
            )
        )
    return chunks


def chunk_corpus(sections: list[Section]) -> list[Chunk]:
    return [chunk for section in sections for chunk in chunk_section(section)]
