"""Helpers shared by the AppTest and browser tests: one real index per test session, copied per test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from rag.settings import PROJECT_ROOT

_lock = threading.Lock()
_built: Path | None = None


def prebuilt_data_dir() -> Path:
    """A data directory holding the real Chroma index of the corpus, built once per test session.

    Built by `python -m rag ingest` in a separate process, so the index on disk is complete and closed
    before tests copy it.
    """
    global _built
    with _lock:
        if _built is None:
            target = Path(tempfile.mkdtemp(prefix="prep-app-index-")) / "data"
            env = {**os.environ, "PREP_DATA_DIR": str(target)}
            for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "CHROMA_HOST", "PREP_GRADER"):
                env.pop(name, None)
            subprocess.run(
                [sys.executable, "-m", "rag", "ingest", "--quiet"], cwd=PROJECT_ROOT, env=env, check=True, timeout=600
            )
            _built = target
        return _built


def fresh_data_dir(destination: Path) -> Path:
    """A private copy of the prebuilt index (history starts empty)."""
    shutil.copytree(prebuilt_data_dir(), destination)
    return destination
