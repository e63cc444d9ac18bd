"""RunConfig: the typed run configuration, through config.json and back."""

from __future__ import annotations

import json

import pytest

from evals.cli import main
from evals.config import CONFIG_FILE, BenchmarkRunConfig, TeamRunConfig, parse_config, read_config, write_config
from rag.errors import GradingError

from .conftest import FIXTURES, bench_config, team_config

# config.json as `python -m evals run` wrote it before the configuration was typed
OLD_TEAM_CONFIG = {
    "kind": "team", "grader": "offline", "repeats": 2, "sets": [str(FIXTURES / "team-tiny.jsonl")],
    "questions_file": str(FIXTURES / "bank.yaml"), "passages": "none", "order_check": False, "seed": 13,
    "concurrency": 1, "cache": False, "model": "fake-1",
}


@pytest.mark.parametrize("config", [team_config(), bench_config(splits=["train"], limit=3, threshold=5.5)])
def test_round_trip_through_config_json(tmp_path, config):
    write_config(tmp_path, config)
    loaded = read_config(tmp_path)
    assert loaded == config and type(loaded) is type(config)
    assert json.loads((tmp_path / CONFIG_FILE).read_text()) == config.as_json()


def test_json_form_keeps_the_config_json_key_order():
    assert list(team_config().as_json()) == [
        "kind", "grader", "repeats", "sets", "questions_file", "passages", "order_check", "seed", "concurrency",
        "cache", "model",
    ]
    assert list(bench_config().as_json()) == [
        "kind", "grader", "repeats", "dataset", "splits", "limit", "threshold", "granularity", "order_check", "seed",
        "concurrency", "cache", "model",
    ]
    assert team_config().as_json()["questions_file"] == str(FIXTURES / "bank.yaml")


def test_a_config_json_written_before_typing_still_loads(tmp_path):
    (tmp_path / CONFIG_FILE).write_text(json.dumps({**OLD_TEAM_CONFIG, "note": "kept"}, indent=2) + "\n")
    config = read_config(tmp_path)
    assert isinstance(config, TeamRunConfig)
    assert config.questions_file == FIXTURES / "bank.yaml" and config.passages == "none"
    assert config.as_json() == {**OLD_TEAM_CONFIG, "note": "kept"}

    old_bench = {k: v for k, v in bench_config().as_json().items() if k != "granularity"}
    loaded = parse_config(old_bench, "old.json")
    assert isinstance(loaded, BenchmarkRunConfig) and loaded.granularity == "sentence"


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "not a run configuration (expected a JSON object)"),
    (json.dumps({**OLD_TEAM_CONFIG, "kind": "suites"}), "unknown run kind 'suites' (expected one of: team, benchmark)"),
    (json.dumps({**OLD_TEAM_CONFIG, "repeats": "two"}), "invalid run configuration: repeats: Input should be"),
    (json.dumps({k: v for k, v in OLD_TEAM_CONFIG.items() if k != "sets"}), "sets: Field required"),
    (json.dumps({**OLD_TEAM_CONFIG, "concurrency": 0}), "concurrency: Input should be greater than 0"),
])
def test_a_malformed_config_json_is_a_clear_error_naming_the_file(tmp_path, text, message):
    (tmp_path / CONFIG_FILE).write_text(text)
    with pytest.raises(GradingError) as exc:
        read_config(tmp_path)
    assert str(exc.value).startswith(f"{tmp_path / CONFIG_FILE}: ")
    assert message in str(exc.value)


def test_cli_resume_of_a_malformed_config_is_one_error_line(tmp_path, capsys):
    (tmp_path / CONFIG_FILE).write_text(json.dumps({**OLD_TEAM_CONFIG, "grader": "gpt"}))
    assert main(["run", "--resume", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{tmp_path / CONFIG_FILE}: invalid run configuration: grader:" in err[0]


def test_cli_resume_with_the_wrong_command(tmp_path, capsys):
    write_config(tmp_path, team_config())
    assert main(["benchmark", str(FIXTURES / "bench.csv"), "--resume", str(tmp_path)]) == 2
    assert "holds a team run; resume it with the matching command" in capsys.readouterr().err
