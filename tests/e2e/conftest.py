"""The real server in a subprocess, driven by Playwright in Debian's Chromium.

Playwright cannot download its own browsers on these machines (no network but package registries), so the
tests launch /usr/bin/chromium. Without it they skip on a laptop and fail under CI.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import ViewportSize

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("OFFSETSITE_CHROMIUM", "/usr/bin/chromium")

VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
KAFKA_CLUSTER = "tansu"  # the name kafka_server gives the session broker
USERS = {"admin": ("admin-pw", "admin"), "otto": ("otto-pw", "operator"), "vera": ("vera-pw", "viewer")}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI") == "true":
        return  # under CI a missing browser must fail loudly, not skip
    skip = pytest.mark.skip(reason=f"no Chromium at {CHROMIUM}: apt-get install chromium")
    for item in items:
        if "e2e" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    var: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes]

    def manage(self, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=REPO, env=self.env, check=True, capture_output=True, text=True
        )
        return out.stdout


def _wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"server at {url} did not answer in {timeout} s")


def server_env(var: Path) -> dict[str, str]:
    """The environment of a server (and its manage.py commands) on its own var directory."""
    env = {
        **os.environ,
        "OFFSETSITE_VAR": str(var),
        "OFFSETSITE_DATA_DIR": str(var / "data"),
        "OFFSETSITE_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SETTINGS_MODULE": "offsetsite.settings",
        # Kafka's default. The refused-reset test relies on it: a member that joins an
        # Empty group from the consume page stays this long before its first generation.
        "OFFSETSITE_INITIAL_REBALANCE_DELAY_MS": "3000",
    }
    env.pop("OFFSETSITE_DB", None)
    return env


@contextmanager
def running_server(
    var: Path, demo: bool = True, traffic: bool = False, extra_env: Mapping[str, str] | None = None
) -> Iterator[Server]:
    """migrate, the USERS, the demo seed (before the server takes the data directory), daphne.

    ``traffic``: serve as ``./dev demo`` does (``offsetsite serve --demo-traffic``), so groups
    have live members and lag moves. ``extra_env``: more of the server's environment (and its
    manage.py commands'), e.g. ``OFFSETSITE_KAFKA_BOOTSTRAP`` for a Kafka cluster beside the
    embedded engine.
    """
    env = {**server_env(var), **(extra_env or {})}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=REPO, env=env, check=True)
    script = "\n".join(
        [
            "from django.contrib.auth.models import Group, User",
            *(
                f"u = User.objects.create_user({name!r}, password={pw!r}); "
                f"u.groups.add(Group.objects.get(name={role!r}))"
                for name, (pw, role) in USERS.items()
            ),
        ]
    )
    subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=REPO, env=env, check=True)
    if demo:
        # The demo's own users admin/operator/viewer: "admin" exists already and is kept.
        subprocess.run(
            [sys.executable, "-m", "offsetsite", "demo", "--if-empty"],
            cwd=REPO,
            env=env,
            check=True,
            capture_output=True,
        )
    port = free_port()
    log = open(var / "server.log", "wb")  # noqa: SIM115 - closed after the server stops
    command = (
        ["-m", "offsetsite", "serve", "--host", "127.0.0.1", "--port", str(port), "--demo-traffic"]
        if traffic
        else ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "offsetsite.asgi:application"]
    )
    proc = subprocess.Popen(
        [sys.executable, *command],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(url + "/", proc)
        yield Server(url, var, env, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the session, seeded with the demo (train-seats, orders and their groups)."""
    with running_server(tmp_path_factory.mktemp("e2e-var")) as s:
        yield s


@pytest.fixture(scope="session")
def kafka_server(tmp_path_factory: pytest.TempPathFactory, kafka_broker: Any) -> Iterator[Server]:
    """One server for the session that also shows the session's tansu broker as Kafka cluster
    "tansu" (pages under /clusters/tansu/), its watcher sampling every 0.5 s.

    Beside the demo-seeded embedded engine, so the switcher has somewhere to go. Never kill
    the broker: a test that needs an outage takes its own (``isolated_kafka_broker``).
    """
    env = {
        "OFFSETSITE_KAFKA_BOOTSTRAP": kafka_broker.bootstrap,
        "OFFSETSITE_KAFKA_NAME": KAFKA_CLUSTER,
        "OFFSETSITE_KAFKA_SAMPLE_INTERVAL_S": "0.5",
    }
    with running_server(tmp_path_factory.mktemp("e2e-kafka-var"), extra_env=env) as s:
        yield s


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": VIEWPORT}


def sign_in(page: Any, url: str, username: str) -> None:
    """Sign the page in through the real login form and wait for the page it leads to."""
    page.goto(url + "/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", USERS[username][0])
    with page.expect_navigation():
        page.click("button[type=submit]")


@pytest.fixture
def login(server: Server) -> Any:
    """login(page, "otto") signs the page in through the real login form."""

    def do(page: Any, username: str) -> None:
        sign_in(page, server.url, username)

    return do


@pytest.fixture
def user_page(server: Server, new_context: Any) -> Any:
    """user_page("otto") -> a page in its own browser context, signed in (None: anonymous).

    Separate contexts are separate cookie jars: two people at two browsers.
    """

    def make(username: str | None = None) -> Any:
        page = new_context().new_page()
        if username is not None:
            sign_in(page, server.url, username)
        return page

    return make
