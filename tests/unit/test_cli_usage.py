"""Usage errors of the command line: a mistyped flag is named (with the flags it
resembles), ``--version`` answers, and every usage error exits 2 (docs/cli.md)."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from offsetsite import cli


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = cli.main(list(argv))
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_version_comes_from_the_package_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "--version")
    assert rc == 0
    assert out == f"offsetsite {importlib.metadata.version('offsetsite')}\n"


@pytest.mark.parametrize(
    ("argv", "named", "suggested"),
    [
        (["--verison"], "--verison", "--version"),
        (["topics", "--lst"], "--lst", "--list"),  # argparse alone: "one of the arguments ... is required"
        (["topics", "--create", "--topic", "t", "--partitons", "3"], "--partitons", "--partitions"),
        (["topics", "--list", "--exclude-internl"], "--exclude-internl", "--exclude-internal"),
        (["groups", "--list", "--stat"], None, None),  # an abbreviation of --state: accepted
        (["consume", "--topic", "t", "--from-begining"], "--from-begining", "--from-beginning"),
        (["serve", "--prot", "9000"], "--prot", "--port"),
        (["demo", "--if-emty"], "--if-emty", "--if-empty"),
    ],
)
def test_a_mistyped_flag_is_named_with_the_flags_it_resembles(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], named: str | None, suggested: str | None
) -> None:
    rc, _, err = run(capsys, "--data-dir", str(tmp_path), *argv)
    if named is None:
        assert rc == 0, err
        return
    assert rc == 2
    assert f"unrecognized arguments: {named} (did you mean {suggested}" in err
    if argv[0] != named:  # the subcommand's parser speaks, with its own usage
        assert f"offsetsite {argv[0]}: error:" in err


def test_an_abbreviation_says_which_flag_it_was_taken_for(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc, _, err = run(capsys, "--data-dir", str(tmp_path), "topics", "--create", "--topic", "t", "--part")
    assert rc == 2
    assert "argument --partitions (given as --part): expected one argument" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["groups", "--describe"], "--describe needs --group G or --all-groups"),
        (["groups", "--reset-offsets", "--group", "g", "--topic", "t"], "needs exactly one scenario"),
        (["groups", "--list", "--to-earliest"], "--to-earliest only work with --reset-offsets"),
        (["topics", "--create"], "--create needs --topic T"),
        (["topics", "--list", "--config", "a=b"], "--config is only accepted with --create"),
        (["produce", "--topic", "t", "--header", "nokv", "--value", "v"], "expected key=value"),
        (["consume", "--topic", "t", "--no-commit"], "--no-commit only makes sense with --group G"),
    ],
)
def test_usage_errors_found_after_parsing_exit_2_too(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], message: str
) -> None:
    cli.main(["--data-dir", str(tmp_path), "topics", "--create", "--topic", "t"])
    capsys.readouterr()
    rc, _, err = run(capsys, "--data-dir", str(tmp_path), *argv)
    assert rc == 2, err
    assert message in err
