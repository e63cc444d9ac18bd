"""docs/cli.md and docs/settings.md are generated from every command's --help and the settings model."""

from evals import cli_docs


def test_the_committed_cli_reference_matches_every_commands_help(capsys):
    assert cli_docs.main(["--check"]) == 0, capsys.readouterr().err


def test_the_check_fails_on_a_stale_reference(tmp_path, capsys):
    stale = tmp_path / "cli.md"
    stale.write_text("# Command-line reference\n\nold text\n", encoding="utf-8")
    assert cli_docs.main(["--check", "--out", str(stale)]) == 1
    assert "cli.md is out of date" in capsys.readouterr().err


def test_the_check_fails_on_a_stale_settings_table(tmp_path, capsys):
    stale = tmp_path / "settings.md"
    stale.write_text(cli_docs.render_settings().replace("`PREP_RETRIEVAL_K` | `3`", "`PREP_RETRIEVAL_K` | `5`"))
    assert cli_docs.main(["--check", "--settings-out", str(stale)]) == 1
    assert "settings.md is out of date" in capsys.readouterr().err


def test_the_settings_table_shows_defaults_as_a_user_sets_them():
    table = cli_docs.render_settings()
    assert "| `PREP_DATA_DIR` | `data` |" in table
    assert "| `OPENAI_API_KEY` | `unset` |" in table
    assert "| `PREP_ADMIN_EMAILS` | `unset` |" in table
    assert str(cli_docs.PROJECT_ROOT) not in table


def test_paths_under_the_project_are_shown_relative():
    root = str(cli_docs.PROJECT_ROOT)
    text = f"(default: {root}/docs/evals.md) and {cli_docs.PROJECT_ROOT.parent}/shared/datasets"
    assert cli_docs.relative(text) == "(default: docs/evals.md) and ../shared/datasets"
