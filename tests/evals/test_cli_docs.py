"""docs/cli.md is generated from every command's --help and must say what the commands say."""

from evals import cli_docs


def test_the_committed_cli_reference_matches_every_commands_help(capsys):
    assert cli_docs.main(["--check"]) == 0, capsys.readouterr().err


def test_the_check_fails_on_a_stale_reference(tmp_path, capsys):
    stale = tmp_path / "cli.md"
    stale.write_text("# Command-line reference\n\nold text\n", encoding="utf-8")
    assert cli_docs.main(["--check", "--out", str(stale)]) == 1
    assert "out of date" in capsys.readouterr().err


def test_paths_under_the_project_are_shown_relative():
    root = str(cli_docs.PROJECT_ROOT)
    text = f"(default: {root}/docs/evals.md) and {cli_docs.PROJECT_ROOT.parent}/shared/datasets"
    assert cli_docs.relative(text) == "(default: docs/evals.md) and ../shared/datasets"
