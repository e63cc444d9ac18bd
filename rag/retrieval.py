"""Retrieval of reference passages: chunk hits from Chroma, grouped into sections."""

from __future__ import annotations

from rag.errors import EmptyQueryError, StoreError
from rag.passage import Passage
from rag.store import VectorStore

OVERFETCH = 4


def search(store: VectorStore, query: str, k: int = 3, topic: str | None = None) -> list[Passage]:
    """The `k` best sections for `query` (optionally within one topic), best first, one passage per section."""
    if query is None or not query.strip():
        raise EmptyQueryError("the search query is empty; type a few words to search for")
    if k < 1:
        raise ValueError("k must be at least 1")
    if store.count() == 0:
        raise StoreError("the index is empty; run `python -m rag ingest` first")
    where = {"topic": topic} if topic else None
    result = store.query(query.strip(), n_results=k * OVERFETCH, where=where)
    best: dict[str, Passage] = {}
    for text, meta, distance in zip(
        result["documents"][0], result["metadatas"][0], result["distances"][0], strict=True
    ):
        score = round(1.0 - float(distance), 4)
        section_id = str(meta["section_id"])
        if section_id in best and best[section_id].score >= score:
            continue
        best[section_id] = Passage(
            section_id=section_id,
            title=str(meta.get("title", "")),
            topic=str(meta.get("topic", "")),
            text=text or "",
            score=score,
            source=str(meta.get("source", "")),
        )
    return sorted(best.values(), key=lambda p: (-p.score, p.section_id))[:k]
