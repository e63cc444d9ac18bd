"""The Chroma vector store: embedded PersistentClient by default, HttpClient when CHROMA_HOST is set.

Chroma's default embedding function downloads a model on first use, so the MiniLM function is
always passed explicitly, when a collection is created and when it is reopened.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.utils.embedding_functions import register_embedding_function

from rag.corpus import Chunk, Section, chunk_corpus
from rag.embeddings import EXPECTED_SHA256, MODEL_NAME, Embedder, get_embedder
from rag.errors import StoreError
from rag.settings import Settings

log = logging.getLogger(__name__)
ADD_BATCH = 64
INGESTED_CHUNKS_KEY = "ingested_chunks"
"""Collection metadata: the chunk count the last finished ingest left, or IN_PROGRESS while one runs."""
IN_PROGRESS = -1
ProgressCallback = Callable[[int, int], None]


@register_embedding_function
class MiniLMEmbeddingFunction(EmbeddingFunction[Documents]):
    """Chroma embedding function backed by the bundled, verified all-MiniLM-L6-v2."""

    def __init__(self, embedder: Embedder | None = None) -> None:
        self._embedder = embedder

    def __call__(self, input: Documents) -> Embeddings:
        embedder = self._embedder or get_embedder()
        return list(embedder.embed_uncached(list(input)))

    @staticmethod
    def name() -> str:
        return "prep-all-minilm-l6-v2"

    def get_config(self) -> dict[str, Any]:
        return {"model": MODEL_NAME, "sha256": EXPECTED_SHA256}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> MiniLMEmbeddingFunction:
        return MiniLMEmbeddingFunction()

    def default_space(self) -> str:  # type: ignore[override]
        return "cosine"


@dataclass(frozen=True)
class IngestReport:
    added: int
    deleted: int
    unchanged: int
    sections: int
    seconds: float

    @property
    def changed(self) -> bool:
        return bool(self.added or self.deleted)


def _chroma_settings() -> Any:
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


def open_client(settings: Settings) -> Any:
    """A Chroma client for the configured deployment, with errors that say what to do."""
    import chromadb

    if settings.chroma_host:
        where = f"{settings.chroma_host}:{settings.chroma_port}"
        try:
            client = chromadb.HttpClient(
                host=settings.chroma_host, port=settings.chroma_port, settings=_chroma_settings()
            )
            client.heartbeat()
        except Exception as exc:
            raise StoreError(
                f"cannot reach the Chroma server at {where} ({type(exc).__name__}); start it with `chroma run "
                f"--path DIR --host {settings.chroma_host} --port {settings.chroma_port}` or unset CHROMA_HOST"
            ) from exc
        return client
    path = settings.chroma_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=_chroma_settings())
    except Exception as exc:
        raise StoreError(
            f"the index at {path} cannot be opened ({type(exc).__name__}: {exc}); "
            "run `python -m rag ingest --rebuild` to rebuild it from the corpus"
        ) from exc


class VectorStore:
    """One Chroma collection of corpus chunks."""

    def __init__(self, settings: Settings, client: Any | None = None, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.client = client if client is not None else open_client(settings)
        self.embedding_function = MiniLMEmbeddingFunction(embedder)
        self._embedder = embedder
        try:
            self.collection = self.client.get_or_create_collection(
                name=settings.collection,
                embedding_function=self.embedding_function,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"embedding_model": MODEL_NAME},
            )
        except Exception as exc:
            raise StoreError(
                f"the Chroma collection '{settings.collection}' cannot be opened ({type(exc).__name__}: {exc}); "
                "run `python -m rag ingest --rebuild`"
            ) from exc

    @property
    def embedder(self) -> Embedder:
        return self._embedder or get_embedder()

    def count(self) -> int:
        try:
            return self.collection.count()
        except Exception as exc:
            raise _unreadable(exc) from exc

    def _mark_ingest(self, chunks: int) -> None:
        """Record in the collection's metadata how many chunks a finished ingest left (IN_PROGRESS while one runs).

        The rest of the metadata is kept; nothing is written when the record already says so."""
        metadata = dict(self.collection.metadata or {})
        if metadata.get(INGESTED_CHUNKS_KEY) == chunks:
            return
        try:
            self.collection.modify(metadata={**metadata, INGESTED_CHUNKS_KEY: chunks})
        except Exception as exc:
            raise _unreadable(exc) from exc

    def completeness_problem(self) -> str | None:
        """Why the index cannot be trusted as complete, or None: the last ingest finished and nothing is missing.

        Ingest marks the collection as in progress before it changes anything and writes the chunk count
        only when it is done, so a killed ingest leaves an index that says so, whatever it holds."""
        recorded = (self.collection.metadata or {}).get(INGESTED_CHUNKS_KEY)
        count = self.count()
        if recorded is None:
            return f"the index ({count} chunks) has no record of a finished ingest; run `python -m rag ingest`"
        if recorded == IN_PROGRESS:
            return f"the last ingest did not finish ({count} chunks stored); run `python -m rag ingest` to finish it"
        if recorded != count:
            return (
                f"the index holds {count} chunks but its last ingest left {recorded}; "
                "run `python -m rag ingest --rebuild`"
            )
        return None

    def existing_ids(self) -> set[str]:
        try:
            return set(self.collection.get(include=[])["ids"])
        except Exception as exc:
            raise _unreadable(exc) from exc

    def ingest(
        self, sections: list[Section], progress: ProgressCallback | None = None, show_progress: bool = False
    ) -> IngestReport:
        """Make the collection hold exactly the chunks of `sections`: add new, delete stale, keep the rest."""
        started = time.perf_counter()
        chunks = chunk_corpus(sections)
        wanted = {chunk.id: chunk for chunk in chunks}
        existing = self.existing_ids()
        to_add = [chunk for chunk_id, chunk in wanted.items() if chunk_id not in existing]
        stale = sorted(existing - wanted.keys())
        if to_add or stale:
            self._mark_ingest(IN_PROGRESS)
        bar = None
        if show_progress and to_add:
            from tqdm import tqdm

            bar = tqdm(total=len(to_add), desc="Embedding chunks", unit="chunk")
        for start in range(0, len(to_add), ADD_BATCH):
            batch = to_add[start : start + ADD_BATCH]
            self._add(batch)
            done = min(start + ADD_BATCH, len(to_add))
            if bar is not None:
                bar.update(len(batch))
            if progress is not None:
                progress(done, len(to_add))
        if bar is not None:
            bar.close()
        if stale:
            self.collection.delete(ids=stale)
        self._mark_ingest(len(wanted))
        return IngestReport(
            added=len(to_add),
            deleted=len(stale),
            unchanged=len(wanted) - len(to_add),
            sections=len(sections),
            seconds=time.perf_counter() - started,
        )

    def _add(self, batch: list[Chunk]) -> None:
        vectors = self.embedder.embed_uncached([chunk.embed_text for chunk in batch])
        self.collection.upsert(
            ids=[chunk.id for chunk in batch],
            documents=[chunk.text for chunk in batch],
            embeddings=vectors,
            metadatas=[
                {
                    "section_id": chunk.section_id,
                    "title": chunk.title,
                    "topic": chunk.topic,
                    "source": chunk.source,
                    "chunk_index": chunk.index,
                }
                for chunk in batch
            ],
        )

    def query(self, text: str, n_results: int, where: dict[str, Any] | None = None) -> dict[str, Any]:
        vector = self.embedder.embed([text])
        try:
            return self.collection.query(
                query_embeddings=vector,
                n_results=n_results,
                where=where,
                include=["documents", "metadatas", "distances"],
            )
        except Exception as exc:
            raise StoreError(
                f"search failed ({type(exc).__name__}: {exc}); "
                "run `python -m rag ingest --rebuild` if the index is damaged"
            ) from exc


def _unreadable(exc: Exception) -> StoreError:
    return StoreError(f"the index cannot be read ({type(exc).__name__}); run `python -m rag ingest --rebuild`")


def _forget_cached_client(path: Path) -> None:
    """Chroma caches one client per path, even a failed one; drop it so the path can be reopened."""
    from chromadb.api.shared_system_client import SharedSystemClient

    system = SharedSystemClient._identifier_to_system.pop(str(path), None)
    SharedSystemClient._identifier_to_refcount.pop(str(path), None)
    if system is not None:
        try:
            system.stop()
        except Exception as exc:
            log.debug("stopping the cached Chroma client for %s failed: %s", path, exc)


def move_aside(path: Path) -> Path | None:
    """Move a damaged on-disk index out of the way, kept for inspection; only the newest one is kept, so
    repeated rebuilds do not pile up copies of the index."""
    _forget_cached_client(path)
    if not path.exists():
        return None
    for older in path.parent.glob(f"{path.name}.damaged-*"):
        shutil.rmtree(older, ignore_errors=True)
        log.info("removed the older damaged index %s", older)
    target = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    shutil.move(str(path), str(target))
    log.warning("moved the damaged index %s to %s", path, target)
    return target
