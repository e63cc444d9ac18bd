"""The scale-out path: a real `chroma run` server reached through HttpClient."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag.corpus import load_corpus
from rag.retrieval import search
from rag.settings import PROJECT_ROOT, Settings
from rag.store import VectorStore
from tests.conftest import free_port
from tests.integration.servers import running_server

pytestmark = pytest.mark.integration
CHROMA = Path(sys.executable).parent / "chroma"


@pytest.fixture
def chroma_server(tmp_path):
    port = free_port()
    import chromadb

    command = [str(CHROMA), "run", "--path", str(tmp_path / "server-data"), "--host", "127.0.0.1", "--port", str(port)]

    def ready() -> bool:
        chromadb.HttpClient(host="127.0.0.1", port=port).heartbeat()
        return True

    with running_server(command, tmp_path / "chroma.log", ready, "chroma run", startup_s=60):
        yield port


def test_ingest_and_search_through_a_chroma_server(chroma_server, tmp_path, embedder):
    settings = Settings(
        data_dir=tmp_path / "client", chroma_host="127.0.0.1", chroma_port=chroma_server, _env_file=None
    )
    store = VectorStore(settings, embedder=embedder)
    sections = load_corpus(PROJECT_ROOT / "corpus")
    first = store.ingest(sections)
    assert first.added > len(sections) - 1 and first.deleted == 0
    assert store.ingest(sections).added == 0
    [best, *_] = search(store, "difference between a security group and a network ACL", k=3)
    assert best.section_id == "sg-vs-nacl"
    assert not (tmp_path / "client" / "chroma").exists(), "the server path must not write an embedded index"


def test_cli_against_the_server_and_against_a_stopped_one(chroma_server, tmp_path):
    env = {**os.environ, "CHROMA_HOST": "127.0.0.1", "CHROMA_PORT": str(chroma_server), "PREP_DATA_DIR": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "-m", "rag", "ingest", "--quiet"], env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    assert f"127.0.0.1:{chroma_server}" in run.stdout
    down = {**env, "CHROMA_PORT": str(free_port())}
    run = subprocess.run(
        [sys.executable, "-m", "rag", "search", "vpc"], env=down, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 2
    assert run.stderr.startswith("error: cannot reach the Chroma server") and "Traceback" not in run.stderr
