"""A new user's first ``offsetsite serve``: a busy port, a server already running on the
data directory, a fresh database. Each start is refused (or prepared) before anything
is seeded or announced, and a refused start leaves no lock behind.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from logcore.log_manager import LogManager, lock_holder, read_lock_info

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def _env(var: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFSETSITE_")}
    env["OFFSETSITE_VAR"] = str(var)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def offsetsite(var: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "offsetsite", *argv],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=_env(var),
        timeout=120,
    )


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port another program listens on (this test process)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_a_busy_port_is_refused_before_seeding_or_announcing(tmp_path: Path, busy_port: int) -> None:
    var, data = tmp_path / "var", tmp_path / "data"
    done = offsetsite(var, "--data-dir", str(data), "serve", "--port", str(busy_port), "--seed-demo")
    assert done.returncode == 1, done.stderr
    assert f"port {busy_port} on 127.0.0.1 is already in use" in done.stderr
    assert "./dev demo" in done.stderr and "serve --port " in done.stderr
    assert "Traceback" not in done.stderr and "serving" not in done.stderr
    assert done.stdout == ""  # nothing seeded: no "Created topic ..."
    # Nothing opened: no data directory, so no lock and no advertised URL.
    assert not data.exists()


def test_a_second_server_on_the_data_directory_names_the_first(tmp_path: Path, busy_port: int) -> None:
    var, data = tmp_path / "var", tmp_path / "data"
    data.mkdir()
    with LogManager(data) as first:  # holds the directory as a running server does
        first.advertise(url="http://127.0.0.1:8000", token_file=str(data / ".cli-token"))
        # Even on a busy port the running server is what the user needs to hear about.
        done = offsetsite(var, "--data-dir", str(data), "serve", "--port", str(busy_port), "--seed-demo")
        assert done.returncode == 1, done.stderr
        assert f"offsetsite is already running at http://127.0.0.1:8000 (pid {os.getpid()})" in done.stderr
        assert "DataDirLocked" not in done.stderr and "Traceback" not in done.stderr
        assert done.stdout == ""
        assert read_lock_info(data)["url"] == "http://127.0.0.1:8000"  # the first server's lock untouched


def test_a_lock_file_left_by_a_dead_process_is_ignored(tmp_path: Path, busy_port: int) -> None:
    var, data = tmp_path / "var", tmp_path / "data"
    data.mkdir()
    # What a server killed with SIGKILL leaves: its pid and URL, but no flock.
    (data / ".lock").write_text(json.dumps({"pid": 2**22 + 1, "url": "http://127.0.0.1:1"}))
    assert lock_holder(data) is None
    done = offsetsite(var, "--data-dir", str(data), "serve", "--port", str(busy_port))
    assert "already running" not in done.stderr
    assert f"port {busy_port} on 127.0.0.1 is already in use" in done.stderr  # the next check speaks


def test_a_closed_engine_leaves_no_holder_in_its_lock_file(tmp_path: Path) -> None:
    with LogManager(tmp_path) as lm:
        lm.advertise(url="http://127.0.0.1:8000")
        assert lock_holder(tmp_path) == {"pid": os.getpid(), "url": "http://127.0.0.1:8000"}
    assert read_lock_info(tmp_path) == {}
    assert lock_holder(tmp_path) is None


def test_a_port_out_of_range_is_a_usage_error(tmp_path: Path) -> None:
    done = offsetsite(tmp_path, "serve", "--port", "99999")
    assert done.returncode == 2
    assert "argument --port: '99999' is not a TCP port: use a number from 1 to 65535" in done.stderr


def test_demo_prepares_a_fresh_database_itself(tmp_path: Path) -> None:
    var, data = tmp_path / "var", tmp_path / "data"
    done = offsetsite(var, "--data-dir", str(data), "demo")
    assert done.returncode == 0, done.stderr
    assert "Created demo users: admin, operator, viewer." in done.stdout
    assert "Created topic train-seats" in done.stdout
