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


def _node_clients(tmp_path: Path, path: str, ci: str) -> subprocess.CompletedProcess[str]:
    """``./dev``'s node_clients step alone, in a copy of tests/clients/node, with ``PATH``."""
    node_dir = tmp_path / "tests" / "clients" / "node"
    if not node_dir.exists():
        node_dir.mkdir(parents=True)
        shutil.copy(REPO / "tests" / "clients" / "node" / "package-lock.json", node_dir)
    text = DEV.read_text()
    step = text[text.index("node_clients() {") : text.index("\n}\n", text.index("node_clients() {")) + 3]
    program = f'set -euo pipefail\nsay() {{ echo "$*" >&2; }}\nROOT={tmp_path}\n{step}\nnode_clients\necho done\n'
    return subprocess.run(
        ["/bin/bash", "-c", program], capture_output=True, text=True, env={"PATH": path, "CI": ci}, timeout=60
    )


def _bin(tmp_path: Path, **scripts: str) -> str:
    """A directory of fake commands (and the few real ones the step uses): a PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("sha256sum", "cut", "cat", "mkdir"):
        real = shutil.which(tool)
        assert real is not None
        (bin_dir / tool).symlink_to(real)
    for name, body in scripts.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    return str(bin_dir)


def test_without_node_setup_says_the_kafkajs_tests_skip_but_ci_fails(tmp_path: Path) -> None:
    path = _bin(tmp_path)
    done = _node_clients(tmp_path, path, ci="")
    assert done.returncode == 0 and "kafkajs tests will skip" in done.stderr
    done = _node_clients(tmp_path, path, ci="true")
    assert done.returncode == 1
    assert "node and npm are needed for the kafkajs tests (CI=true)" in done.stderr


def test_npm_ci_runs_once_per_lock_file(tmp_path: Path) -> None:
    # A fake npm that records its calls and makes node_modules, as npm ci does.
    log = tmp_path / "npm.log"
    path = _bin(tmp_path, node="exit 0", npm=f'echo "$*" >> {log}; mkdir -p node_modules')
    for _ in range(2):
        done = _node_clients(tmp_path, path, ci="true")
        assert done.returncode == 0, done.stderr
    assert log.read_text().splitlines() == ["ci --no-audit --no-fund --loglevel=error"]
    lock = tmp_path / "tests" / "clients" / "node" / "package-lock.json"
    lock.write_text(lock.read_text() + "\n")  # the pins changed: install again
    assert _node_clients(tmp_path, path, ci="true").returncode == 0
    assert len(log.read_text().splitlines()) == 2
