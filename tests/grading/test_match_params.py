"""The matcher's parameters: validation of offline_params.json and saving one section of it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.errors import ConfigError
from rag.grading.match_params import load_params


def test_params_file_is_validated(tmp_path: Path):
    data = json.loads((Path(__file__).parents[2] / "rag" / "grading" / "offline_params.json").read_text())
    assert load_params().features == tuple(data["features"])
    bad = tmp_path / "params.json"
    bad.write_text(json.dumps({**data, "features": ["made_up"], "weights": [1.0]}))
    with pytest.raises(ConfigError, match="unknown features"):
        load_params(bad)
    bad.write_text(json.dumps({**data, "thresholds": {**data["thresholds"], "partly": 0.9}}))
    with pytest.raises(ConfigError, match="partly"):
        load_params(bad)
    with pytest.raises(ConfigError, match="fit_offline"):
        load_params(tmp_path / "missing.json")


def test_save_params_section_replaces_one_section_and_keeps_the_rest(tmp_path):
    import json

    from rag.grading.match_params import PARAMS_PATH, default_params, load_params, save_params_section

    copy = tmp_path / "offline_params.json"
    copy.write_text(PARAMS_PATH.read_text(encoding="utf-8"), encoding="utf-8")
    assert save_params_section("review", {"candidates": 2}, copy) == copy
    assert save_params_section("extra", {"a": [1]}, copy) == copy, "a dict value is accepted (nothing caches it)"
    data = json.loads(copy.read_text(encoding="utf-8"))
    assert data["review"] == {"candidates": 2} and data["extra"] == {"a": [1]}
    assert load_params(copy).thresholds == default_params().thresholds
    assert default_params() is default_params(), "the committed parameters are read once per process"
