from __future__ import annotations

from pathlib import Path

import pytest

from rag.settings import get_settings
from tests.app.support import fresh_data_dir


@pytest.fixture
def app_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Environment for one AppTest: a private data directory with the real index, the offline grader."""
    data = fresh_data_dir(tmp_path / "data")
    monkeypatch.setenv("PREP_DATA_DIR", str(data))
    monkeypatch.setenv("PREP_GRADER", "offline")
    monkeypatch.setenv("PREP_EVAL_RUNS_DIR", str(tmp_path / "eval-runs"))
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "CHROMA_HOST"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield data
    get_settings.cache_clear()

