from pathlib import Path

import pytest

from rag.corpus import load_corpus
from rag.errors import CorpusError, EmptyQueryError, StoreError
from rag.retrieval import search
from rag.settings import Settings
from rag.store import VectorStore, move_aside

NOTES = {
    "networking.md": "## Security groups\n<!-- id: sg; topic: networking -->\n"
    "Security groups are stateful virtual firewalls attached to network interfaces.\n\n"
    "## Network ACLs\n<!-- id: nacl; topic: networking -->\n"
    "Network ACLs are stateless subnet-level filters with numbered allow and deny rules.\n",
    "storage.md": "## S3 versioning\n<!-- id: s3-versioning; topic: storage -->\n"
    "Versioning keeps every version of an object; a delete adds a delete marker.\n",
}


def write_corpus(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_ingest_is_idempotent_and_tracks_changes(tmp_settings: Settings, tmp_path: Path, embedder):
    corpus = write_corpus(tmp_path / "notes", NOTES)
    store = VectorStore(tmp_settings, embedder=embedder)
    first = store.ingest(load_corpus(corpus))
    assert (first.added, first.deleted, first.unchanged) == (3, 0, 0)
    again = store.ingest(load_corpus(corpus))
    assert (again.added, again.deleted, again.unchanged) == (0, 0, 3)
    assert not again.changed

    (corpus / "storage.md").write_text(NOTES["storage.md"].replace("delete marker", "delete marker (restorable)"))
    changed = store.ingest(load_corpus(corpus))
    assert (changed.added, changed.deleted, changed.unchanged) == (1, 1, 2)

    (corpus / "storage.md").unlink()
    removed = store.ingest(load_corpus(corpus))
    assert (removed.added, removed.deleted) == (0, 1)
    assert store.count() == 2


def test_reopened_collection_keeps_its_data_and_embedding_function(tmp_settings, tmp_path, embedder):
    VectorStore(tmp_settings, embedder=embedder).ingest(load_corpus(write_corpus(tmp_path / "n", NOTES)))
    reopened = VectorStore(tmp_settings, embedder=embedder)
    assert reopened.count() == 3
    assert reopened.collection.query(query_texts=["stateless subnet filter"], n_results=1)["ids"][0][0].startswith(
        "nacl:"
    )


def test_search_returns_sections_with_metadata_and_filters_by_topic(tmp_settings, tmp_path, embedder):
    store = VectorStore(tmp_settings, embedder=embedder)
    store.ingest(load_corpus(write_corpus(tmp_path / "n", NOTES)))
    [best, *_] = search(store, "which firewall is stateless and works on subnets?", k=2)
    assert (best.section_id, best.title, best.topic) == ("nacl", "Network ACLs", "networking")
    assert 0 < best.score <= 1
    only_storage = search(store, "firewall", k=3, topic="storage")
    assert [p.section_id for p in only_storage] == ["s3-versioning"]


@pytest.mark.parametrize("query", ["", "   \n\t"])
def test_empty_queries_are_refused(guide_store, query):
    with pytest.raises(EmptyQueryError):
        search(guide_store, query)


def test_bad_corpus_leaves_the_index_untouched(tmp_settings, tmp_path, embedder):
    store = VectorStore(tmp_settings, embedder=embedder)
    store.ingest(load_corpus(write_corpus(tmp_path / "n", NOTES)))
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError):
        store.ingest(load_corpus(tmp_path / "empty"))
    assert store.count() == 3


def test_a_corrupt_index_is_reported_and_can_be_moved_aside(tmp_settings, embedder):
    tmp_settings.chroma_dir.mkdir(parents=True)
    (tmp_settings.chroma_dir / "chroma.sqlite3").write_bytes(b"this is not a sqlite database" * 100)
    with pytest.raises(StoreError, match="--rebuild"):
        VectorStore(tmp_settings, embedder=embedder).count()
    moved = move_aside(tmp_settings.chroma_dir)
    assert moved is not None and (moved / "chroma.sqlite3").exists()
    assert VectorStore(tmp_settings, embedder=embedder).count() == 0


def test_a_chroma_server_that_is_down_is_a_clear_error(tmp_path):
    from tests.conftest import free_port

    settings = Settings(data_dir=tmp_path, chroma_host="127.0.0.1", chroma_port=free_port(), _env_file=None)
    with pytest.raises(StoreError, match=r"cannot reach the Chroma server at 127\.0\.0\.1:.*chroma run"):
        VectorStore(settings)


def test_question_text_retrieves_its_source_section(guide_store, question_bank):
    hits = 0
    for question in question_bank.questions:
        passages = search(guide_store, question.question, k=3)
        hits += bool({p.section_id for p in passages} & set(question.sources))
    assert hits / len(question_bank.questions) >= 0.9


def test_an_ingest_that_stops_midway_leaves_an_index_that_says_so_and_a_rerun_finishes_it(
    tmp_settings, tmp_path, embedder, monkeypatch
):
    import rag.store

    corpus = load_corpus(write_corpus(tmp_path / "notes", NOTES))
    store = VectorStore(tmp_settings, embedder=embedder)
    monkeypatch.setattr(rag.store, "ADD_BATCH", 1)
    real_add, calls = VectorStore._add, []

    def add_then_die(self, batch):
        calls.append(batch)
        if len(calls) == 2:
            raise KeyboardInterrupt  # as if the process were stopped after the first batch
        real_add(self, batch)

    monkeypatch.setattr(VectorStore, "_add", add_then_die)
    with pytest.raises(KeyboardInterrupt):
        store.ingest(corpus)
    reopened = VectorStore(tmp_settings, embedder=embedder)
    assert reopened.count() == 1
    assert "did not finish" in reopened.completeness_problem()

    monkeypatch.setattr(VectorStore, "_add", real_add)
    report = VectorStore(tmp_settings, embedder=embedder).ingest(corpus)
    assert (report.added, report.unchanged) == (2, 1)
    assert VectorStore(tmp_settings, embedder=embedder).completeness_problem() is None


def test_an_index_with_no_record_of_a_finished_ingest_is_untrusted_until_ingest_runs(tmp_settings, tmp_path, embedder):
    corpus = load_corpus(write_corpus(tmp_path / "notes", NOTES))
    store = VectorStore(tmp_settings, embedder=embedder)
    store.ingest(corpus)
    store.collection.modify(metadata={"embedding_model": "all-MiniLM-L6-v2"})  # an index built before the record
    assert "no record of a finished ingest" in VectorStore(tmp_settings, embedder=embedder).completeness_problem()
    assert VectorStore(tmp_settings, embedder=embedder).ingest(corpus).added == 0
    assert VectorStore(tmp_settings, embedder=embedder).completeness_problem() is None


def test_moving_a_damaged_index_aside_keeps_only_the_newest_copy(tmp_path):
    index = tmp_path / "chroma"
    for name in ("chroma.damaged-20260101-000000", "chroma.damaged-20260102-000000"):
        (tmp_path / name).mkdir()
    index.mkdir()
    (index / "chroma.sqlite3").write_bytes(b"broken")
    moved = move_aside(index)
    assert moved is not None and (moved / "chroma.sqlite3").read_bytes() == b"broken"
    assert sorted(p.name for p in tmp_path.iterdir()) == [moved.name]
