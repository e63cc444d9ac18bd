"""The shared data-file loader: YAML and JSON mappings, one error style naming the file."""

from pathlib import Path

import pytest

from rag.datafiles import load_yaml_mapping
from rag.errors import ConfigError


def test_yaml_and_json_files_load_as_mappings(tmp_path: Path):
    (tmp_path / "a.yaml").write_text("name: x\nitems: [1, 2]\n", encoding="utf-8")
    (tmp_path / "a.json").write_text('{"name": "x", "items": [1, 2]}', encoding="utf-8")
    assert load_yaml_mapping(tmp_path / "a.yaml") == load_yaml_mapping(tmp_path / "a.json") == {
        "name": "x", "items": [1, 2]
    }


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.json", '{"name": ', r"bad\.json is not valid JSON"),
        ("list.json", "[1, 2]", r"list\.json must hold a JSON mapping"),
        ("bad.yaml", "name: [unclosed", r"bad\.yaml is not valid YAML"),
        ("list.yaml", "- 1\n- 2\n", r"list\.yaml must hold a YAML mapping"),
    ],
)
def test_a_malformed_file_is_one_config_error_naming_it(tmp_path: Path, name: str, text: str, message: str):
    (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_yaml_mapping(tmp_path / name)


def test_a_missing_file_says_what_to_do(tmp_path: Path):
    with pytest.raises(ConfigError, match="missing; run the fitter"):
        load_yaml_mapping(tmp_path / "gone.json", "run the fitter")
