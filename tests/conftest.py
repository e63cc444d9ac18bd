"""Shared fixtures: isolated settings, the real embedding model, and a real index of the AWS guide."""

from __future__ import annotations

import itertools
import os
import socket
import tempfile
from pathlib import Path

import pytest

_SESSION_DATA = Path(tempfile.mkdtemp(prefix="prep-test-data-"))
# Nothing a test does may touch the developer's own data/ or .env settings.
os.environ["PREP_DATA_DIR"] = str(_SESSION_DATA)
for _name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "CHROMA_HOST", "PREP_GRADER", "PREP_DATABASE_URL"):
    os.environ.pop(_name, None)

from rag.settings import PROJECT_ROOT, Settings, get_settings  # noqa: E402

get_settings.cache_clear()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def tmp_settings(tmp_path: Path) -> Settings:
    """Settings with a fresh, empty data directory."""
    return Settings(data_dir=tmp_path / "data", _env_file=None)


@pytest.fixture(scope="session")
def embedder():
    from rag.embeddings import get_embedder

    return get_embedder()


@pytest.fixture(scope="session")
def guide_settings() -> Settings:
    return Settings(data_dir=_SESSION_DATA, _env_file=None)


@pytest.fixture(scope="session")
def guide_store(guide_settings: Settings, embedder):
    """The real AWS guide indexed once per test session in embedded Chroma."""
    from rag.corpus import load_corpus
    from rag.store import VectorStore

    store = VectorStore(guide_settings, embedder=embedder)
    store.ingest(load_corpus(PROJECT_ROOT / "corpus"))
    return store


@pytest.fixture(scope="session")
def question_bank():
    from rag.questions import load_question_bank

    return load_question_bank(PROJECT_ROOT / "corpus" / "questions.yaml")


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server for this test session (Debian's binaries, a temp folder, a free port).

    Missing binaries fail the test that needs the server, never skip it: CI installs them with `make system-deps`.
    """
    from rag.pg_server import PostgresUnavailable, TempPostgres

    try:
        server = TempPostgres(durable=False).start()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


_databases = itertools.count(1)


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """The URL (password included) of a new, empty database on the session's PostgreSQL server."""
    return postgres_server.create_database(f"test_{next(_databases)}")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a data directory of the test's own (a nearer conftest or module may override it)."""
    return Settings(data_dir=tmp_path / "data", _env_file=None)


@pytest.fixture
def history(tmp_path: Path):
    """An empty SQLite history in the test's own data directory."""
    from rag.history import History

    return History.in_data_dir(tmp_path / "data")
