"""``pip install .`` then ``offsetsite serve``, as someone without a checkout runs it.

The wheel is built from a copy of the sources (building writes build/ and *.egg-info
next to them, which must not race other runs in the checkout), installed with
``pip install --target`` and started from a directory outside the repository with a
fresh state directory: nothing has been migrated, and templates and static files can
only come from the wheel. Dependencies come from this venv.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Generous: the first start migrates a new database. Polled, never slept through.
START_DEADLINE_S = 120.0

pytestmark = [pytest.mark.integration, pytest.mark.slow]


# What the wheel is built from: the build configuration, the packages pyproject.toml
# finds (logcore*, offsetsite*) and the site directories setup.py copies in. Only these:
# caches and other work in the checkout change while the suite runs.
BUILD_INPUTS = (
    "pyproject.toml",
    "setup.py",
    "MANIFEST.in",
    "README.md",
    "logcore",
    "offsetsite",
    "templates",
    "static",
)


def _sources(target: Path) -> Path:
    """A copy of the build inputs (building writes build/ and *.egg-info beside them)."""
    target.mkdir()
    for name in BUILD_INPUTS:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(source, target / name)
    return target


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import setuptools

    if tuple(int(p) for p in setuptools.__version__.split(".")[:2]) < (77, 0):
        pytest.skip(f"setuptools {setuptools.__version__} cannot build wheels alone: run ./dev setup")
    root = tmp_path_factory.mktemp("wheel")
    src = _sources(root / "src")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(root / "dist"),
            ".",
        ],
        cwd=src,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = (root / "dist").glob("offsetsite-*.whl")
    target = root / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return target


@pytest.fixture
def server(installed: Path, tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFSETSITE_")}
    env.update(
        PYTHONPATH=str(installed),
        OFFSETSITE_VAR=str(tmp_path / "var"),
        OFFSETSITE_DATA=str(tmp_path / "var" / "data"),
        PYTHONUNBUFFERED="1",
    )
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(  # from outside the repository: nothing of the checkout is on the path
        [sys.executable, "-m", "offsetsite", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_DEADLINE_S
        while True:
            try:
                status, _ = _get(url + "/")
                break
            except OSError:  # not listening yet
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"no answer within {START_DEADLINE_S} s:\n{(tmp_path / 'server.log').read_text()}")
            try:
                proc.wait(timeout=0.2)  # a poll interval that returns at once if the server dies
            except subprocess.TimeoutExpired:
                continue
            pytest.fail(f"the server exited with {proc.returncode}:\n{(tmp_path / 'server.log').read_text()}")
        assert status == 200, (tmp_path / "server.log").read_text()
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_the_installed_wheel_serves_pages_and_static_files(server: str, installed: Path) -> None:
    import offsetsite

    assert Path(offsetsite.__file__).is_relative_to(REPO)  # this process: the checkout
    assert (installed / "offsetsite" / "_site" / "templates" / "base.html").is_file()
    status, page = _get(server + "/")
    assert status == 200 and b"<html" in page.lower()
    status, css = _get(server + "/static/offsetsite/site.css")
    assert status == 200
    assert css == (installed / "offsetsite" / "_site" / "static" / "offsetsite" / "site.css").read_bytes()
    assert b"{" in css
