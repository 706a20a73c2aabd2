"""``python -m offsetsite`` as a user runs it: separate processes sharing a data directory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from logcore.log_manager import read_lock_info

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def _env(var: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFSETSITE_")}
    env["OFFSETSITE_VAR"] = str(var)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def offsetsite(
    var: Path, data: Path, *argv: str, stdin: str = "", check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "offsetsite", "--data-dir", str(data), *argv],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        env=_env(var),
        timeout=60,
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def test_create_produce_consume_commit_describe(tmp_path: Path) -> None:
    var, data = tmp_path / "var", tmp_path / "data"
    out = offsetsite(var, data, "topics", "--create", "--topic", "seats", "--partitions", "2").stdout
    assert out == "Created topic seats.\n"
    lines = "".join(f"seat-{i}\tpassenger {i}\n" for i in range(8))
    offsetsite(var, data, "produce", "--topic", "seats", "--property", "parse.key=true", stdin=lines)

    read = offsetsite(
        var,
        data,
        "consume",
        "--topic",
        "seats",
        "--from-beginning",
        "--property",
        "print.key=true",
        "--property",
        "print.offset=true",
    )
    assert read.stderr.endswith("Processed a total of 8 messages\n")
    rows = [line.split("\t") for line in read.stdout.splitlines()]
    assert sorted((key, value) for _, key, value in rows) == sorted((f"seat-{i}", f"passenger {i}") for i in range(8))
    # Offsets count from 0 on each partition: the column holds two runs 0, 1, 2, ...
    offsets = sorted(int(o.removeprefix("Offset:")) for o, _, _ in rows)
    assert offsets[0] == 0 and len(offsets) == 8

    group = offsetsite(var, data, "consume", "--topic", "seats", "--group", "checker", "--from-beginning")
    assert len(group.stdout.splitlines()) == 8
    described_run = offsetsite(var, data, "groups", "--describe", "--group", "checker")
    described = described_run.stdout
    assert "Consumer group 'checker' has no active members." in described_run.stderr  # stderr, as Kafka
    table = [line.split() for line in described.splitlines() if line.startswith("checker ")]
    assert [row[2] for row in table] == ["0", "1"]
    assert all(row[3] == row[4] and row[5] == "0" for row in table)  # CURRENT = LOG-END, LAG 0

    again = offsetsite(var, data, "consume", "--topic", "seats", "--group", "checker")
    assert again.stdout == "" and "Processed a total of 0 messages" in again.stderr

    bad = offsetsite(var, data, "consume", "--topic", "nope", check=False)
    assert bad.returncode == 1 and "Topic 'nope' does not exist" in bad.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Path, Path, str]]:
    """``offsetsite serve`` on a fresh data directory (after migrate and the demo seed)."""
    var, data = tmp_path / "var", tmp_path / "data"
    env = _env(var)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=REPO, env=env, check=True, timeout=120)
    offsetsite(var, data, "demo", "--if-empty")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "offsetsite", "--data-dir", str(data), "serve", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,  # a file, not a pipe: access logs must never block the server
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/", timeout=2).close()
                break
            except urllib.error.HTTPError:
                break  # it answers: up (what a page says is not this test's business)
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    proc.wait()
                    raise AssertionError(f"server did not start: {(tmp_path / 'serve.log').read_text()}") from None
                time.sleep(0.2)
        yield var, data, url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_commands_reach_the_running_server(server: tuple[Path, Path, str]) -> None:
    var, data, url = server
    # The server holds the data directory and says where it listens; the command line
    # goes through its API.
    assert read_lock_info(data)["url"] == url
    listed = offsetsite(var, data, "topics", "--list", "--exclude-internal").stdout
    assert listed == "orders\ntrain-seats\n"
    offsetsite(var, data, "produce", "--topic", "orders", "--key", "Z", "--value", '{"order":999}')
    everything = offsetsite(
        var, data, "consume", "--topic", "orders", "--from-beginning", "--property", "print.key=true"
    ).stdout
    assert 'Z\t{"order":999}' in everything.splitlines()
    assert len(everything.splitlines()) == 25  # the demo's 24 orders and this one
    kitchen = offsetsite(var, data, "groups", "--describe", "--group", "kitchen").stdout
    lags = [line.split()[5] for line in kitchen.splitlines() if line.startswith("kitchen ")]
    assert sorted(lags) == ["0", "1"]  # caught up before; one new order since
