"""``./dev`` as a new user meets it: the help, an unknown verb, a wrong Python.

Each case runs the real bash script in a subprocess; none of them sets anything up
(help never touches .venv, and the Python check runs before a venv is made).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEV = REPO / "dev"

pytestmark = pytest.mark.integration


def dev(*argv: str, script: Path = DEV, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script), *argv],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def _verbs() -> set[str]:
    """The verbs the script's case statement handles (the help must name each)."""
    text = DEV.read_text()
    labels = re.findall(r"^    ([a-z|-]+)\)$", text, re.MULTILINE)
    return {verb for label in labels for verb in label.split("|") if not verb.startswith("-")}


@pytest.mark.parametrize("argv", [(), ("help",), ("-h",), ("--help",)])
def test_help_lists_every_verb_and_the_environment_and_exits_0(argv: tuple[str, ...]) -> None:
    done = dev(*argv)
    assert done.returncode == 0, done.stderr
    assert "set -euo pipefail" not in done.stdout + done.stderr
    verbs = _verbs()
    assert {"demo", "test", "serve", "setup", "lint", "bench", "shell", "help"} <= verbs
    listed = {line.split()[0] for line in done.stdout.splitlines() if line.startswith("  ") and line.split()}
    assert verbs <= listed, f"verbs missing from the help: {verbs - listed}"
    for var in ("PORT", "HOST", "PYTHON", "OFFSETSITE_DATA", "OFFSETSITE_VAR", "OFFSETSITE_DB"):
        assert re.search(rf"^  {var}\b", done.stdout, re.MULTILINE), var


def test_an_unknown_verb_is_named_and_the_help_goes_to_stderr_with_exit_2() -> None:
    done = dev("nosuchverb")
    assert done.returncode == 2
    assert done.stdout == ""
    assert "unknown verb 'nosuchverb'" in done.stderr
    assert "Usage: ./dev VERB" in done.stderr and "set -euo pipefail" not in done.stderr


def test_a_python_other_than_3_11_is_refused_before_any_venv_is_made(tmp_path: Path) -> None:
    # A copy of the script in an empty directory: no .venv there, so setup must pick an
    # interpreter. The fake one answers the version question as a Python 3.12 would.
    script = tmp_path / "checkout" / "dev"
    script.parent.mkdir()
    shutil.copy(DEV, script)
    fake = tmp_path / "python3.12"
    fake.write_text("#!/bin/sh\necho 3.12.1\n")
    fake.chmod(0o755)
    done = dev("demo", script=script, env={"PYTHON": str(fake)})
    assert done.returncode != 0
    assert "needs Python 3.11" in done.stderr and "Python 3.12.1" in done.stderr
    assert "PYTHON=/path/to/python3.11 ./dev demo" in done.stderr
    assert not (script.parent / ".venv").exists()
    assert not (script.parent / "var").exists()


def test_a_missing_python_is_named(tmp_path: Path) -> None:
    script = tmp_path / "dev"
    shutil.copy(DEV, script)
    done = dev("setup", script=script, env={"PYTHON": str(tmp_path / "no-such-python")})
    assert done.returncode != 0
    assert "no-such-python: not found" in done.stderr
    assert not (tmp_path / ".venv").exists()
