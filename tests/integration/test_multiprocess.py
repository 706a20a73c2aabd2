"""``offsetsite serve --workers 2`` against the real services: PostgreSQL for Django's
tables, Redis for live notices between the processes (docs/design.md, Several processes).

Worker 0 holds the engine; worker 1 forwards requests about it to worker 0 and asks it
for the live parts its sockets are sent.
Each test talks to one worker on purpose through the loopback address the parent
prints for it. A fresh PostgreSQL database and a Redis key prefix of their own per
session, so runs never collide. Under CI=true a missing service fails the run; on a
laptop without them the tests skip with the reason.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from local_services import need, psql

from offsetsite.cli import main as cli_main
from offsetsite.cli.workers import redis_problem

REPO = Path(__file__).resolve().parents[2]
DEADLINE_S = 90.0  # generous: a loaded CI machine starts three Django processes
WORKER_RE = re.compile(r"worker (\d+) \(process (\d+)\) also on (http://\S+)")
HW_RE = re.compile(r'id="hw-p0">(\d+)<')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Site:
    urls: dict[int, str]  # worker -> its loopback address
    public: int
    token: str
    pids: dict[int, int]


SETUP = """
import django, sys
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth.models import Group, User
from offsetsite.api.models import ApiToken
user = User.objects.create_user("mp-operator", password=None)
user.groups.add(Group.objects.get(name="operator"))
_, raw = ApiToken.issue(user, "test_multiprocess", None)
sys.stdout.write(raw)
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    need(5432, "PostgreSQL", "serve --workers N needs it")
    need(6379, "Redis", "serve --workers N needs it")
    tag = uuid.uuid4().hex[:10]
    db = f"offsetsite_mp_{tag}"
    psql(f"CREATE DATABASE {db}")
    var = tmp_path_factory.mktemp("mp-var")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFSETSITE_")}
    env.update(
        OFFSETSITE_VAR=str(var),
        OFFSETSITE_DATA_DIR=str(var / "data"),
        OFFSETSITE_DB=f"postgres://postgres@127.0.0.1:5432/{db}",
        OFFSETSITE_REDIS="redis://127.0.0.1:6379/0",
        OFFSETSITE_REDIS_PREFIX=f"offsetsite-mp-{tag}",
        OFFSETSITE_SECRET_KEY="test-multiprocess-not-secret",
        OFFSETSITE_LAB_RUNNER="0",
        OFFSETSITE_KAFKA_LISTENER="off",  # 9092 stays free for a developer's own use
        DJANGO_SETTINGS_MODULE="offsetsite.settings",
        PYTHONUNBUFFERED="1",
    )
    proc: subprocess.Popen[str] | None = None
    try:
        setup = subprocess.run(
            [sys.executable, "-c", SETUP], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
        )
        assert setup.returncode == 0, setup.stderr
        port = _free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "offsetsite", "serve", "--port", str(port), "--workers", "2"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines: queue.Queue[str] = queue.Queue()
        log: list[str] = []

        def pump() -> None:
            assert proc is not None and proc.stderr is not None
            for line in proc.stderr:
                lines.put(line)

        threading.Thread(target=pump, daemon=True).start()
        urls: dict[int, str] = {}
        pids: dict[int, int] = {}
        deadline = time.monotonic() + DEADLINE_S
        while len(urls) < 2 or not all(_answers(u) for u in urls.values()):
            assert proc.poll() is None, "serve --workers 2 exited:\n" + "".join(log)
            assert time.monotonic() < deadline, "the workers did not answer in time:\n" + "".join(log)
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                continue
            log.append(line)
            if m := WORKER_RE.search(line):
                urls[int(m[1])] = m[3]
                pids[int(m[1])] = int(m[2])
        yield Site(urls, port, setup.stdout.strip(), pids)
    finally:
        if proc is not None and proc.poll() is None:
            # SIGTERM: under a background shell (CI) SIGINT is ignored, and killing the
            # parent after the timeout left its workers running.
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def _answers(url: str) -> bool:
    try:
        return _request(url, "GET", "/login/")[0] == 200
    except OSError:
        return False


def _request(
    url: str, method: str, path: str, body: object = None, token: str | None = None
) -> tuple[int, str, dict[str, str]]:
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port, timeout=60)
    headers = {"Accept": "application/json" if token else "text/html"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read().decode(), dict(resp.getheaders())
    finally:
        conn.close()


class Page:
    """A live topic page's websocket on one worker; frames read on a thread of its own."""

    def __init__(self, url: str, topic: str) -> None:
        from websockets.sync.client import connect
        from websockets.typing import Origin

        self._stack = contextlib.ExitStack()
        self.ws = self._stack.enter_context(
            connect(f"ws{url[4:]}/ws/topic/{topic}/", origin=Origin(url), open_timeout=DEADLINE_S)
        )
        self.hws: queue.Queue[int] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for msg in self.ws:
                text = msg if isinstance(msg, str) else msg.decode()
                for hw in HW_RE.findall(text):
                    self.hws.put(int(hw))
        except Exception:  # closed at the end of the test
            return

    def wait_for_hw(self, hw: int) -> None:
        deadline = time.monotonic() + DEADLINE_S
        seen: list[int] = []
        while time.monotonic() < deadline:
            try:
                got = self.hws.get(timeout=0.5)
            except queue.Empty:
                continue
            seen.append(got)
            if got >= hw:
                return
        raise AssertionError(f"no frame showed high watermark {hw}; frames showed {seen}")

    def close(self) -> None:
        self._stack.close()


def _produce(site: Site, worker: int, topic: str, n: int) -> int:
    body = {"records": [{"value": {"base64": "aGk="}, "partition": 0} for _ in range(n)]}
    status, text, _ = _request(site.urls[worker], "POST", f"/api/topics/{topic}/records", body, site.token)
    assert status == 201, text
    return int(max(r["offset"] for r in json.loads(text)["results"])) + 1


@pytest.fixture(scope="module")
def topic(site: Site) -> str:
    # Created through worker 1: the write is forwarded to worker 0, which owns the engine.
    status, text, headers = _request(
        site.urls[1], "POST", "/api/topics", {"name": "mp-seats", "partitions": 1}, site.token
    )
    assert status == 201, text
    assert headers.get("X-Offsetsite-Worker") == "0"
    return "mp-seats"


pytestmark = pytest.mark.integration


def test_workers_without_redis_are_refused(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("OFFSETSITE_REDIS", raising=False)
    assert redis_problem(1) is None
    assert cli_main(["serve", "--workers", "2"]) == 1
    err = capsys.readouterr().err
    assert "--workers 2 needs Redis" in err and "OFFSETSITE_REDIS=redis://" in err


def test_a_produce_through_worker_0_reaches_a_page_of_worker_1(site: Site, topic: str) -> None:
    page = Page(site.urls[1], topic)
    try:
        hw = _produce(site, 0, topic, 7)
        page.wait_for_hw(hw)
    finally:
        page.close()


def test_a_produce_through_worker_1_reaches_pages_of_both(site: Site, topic: str) -> None:
    pages = [Page(site.urls[0], topic), Page(site.urls[1], topic)]
    try:
        hw = _produce(site, 1, topic, 5)  # forwarded to worker 0
        for page in pages:
            page.wait_for_hw(hw)
    finally:
        for page in pages:
            page.close()


def test_a_page_of_worker_1_shows_worker_0s_data(site: Site, topic: str) -> None:
    hw = _produce(site, 0, topic, 3)
    status, html, headers = _request(site.urls[1], "GET", f"/topics/{topic}/")
    assert status == 200
    assert headers.get("X-Offsetsite-Worker") == "0"  # rendered by the engine's process, in one hop
    assert f'id="hw-p0">{hw}<' in html
    # What worker 1's live pages are sent is rendered there too, for the socket's viewer.
    status, parts, _ = _request(site.urls[0], "GET", f"/live/parts/topic/?key={topic}")
    assert status == 200 and f'id="hw-p0">{hw}<' in parts and 'hx-swap-oob="true"' in parts
    status, text, _ = _request(site.urls[0], "GET", "/live/parts/nope/?key=x")
    assert status == 400 and "unknown live page kind" in text
    status, html, _ = _request(site.urls[1], "GET", "/")
    assert status == 200 and topic in html
    # The shared port answers too, whichever worker the kernel picked.
    status, html, _ = _request(f"http://127.0.0.1:{site.public}", "GET", f"/topics/{topic}/")
    assert status == 200 and f'id="hw-p0">{hw}<' in html


def test_stopping_the_server_stops_every_worker(tmp_path: Path) -> None:
    """Even when SIGINT is ignored, as in a job a non-interactive shell started in the background."""
    need(5432, "PostgreSQL", "serve --workers N needs it")
    need(6379, "Redis", "serve --workers N needs it")
    db = f"offsetsite_mp_{uuid.uuid4().hex[:10]}"
    psql(f"CREATE DATABASE {db}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFSETSITE_")}
    env.update(
        OFFSETSITE_VAR=str(tmp_path),
        OFFSETSITE_DB=f"postgres://postgres@127.0.0.1:5432/{db}",
        OFFSETSITE_REDIS="redis://127.0.0.1:6379/0",
        OFFSETSITE_REDIS_PREFIX=f"offsetsite-{db}",
        OFFSETSITE_SAMPLER="0",
        PYTHONUNBUFFERED="1",
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [sys.executable, "-m", "offsetsite", "--data-dir", str(tmp_path / "data"), "serve"]
    argv += ["--port", str(port), "--workers", "2", "--no-kafka-listener"]
    proc = subprocess.Popen(
        argv,
        cwd=REPO,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    pids: list[int] = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if m := WORKER_RE.search(line):
                pids.append(int(m[2]))
            if len(pids) == 2:
                break  # stop while the workers may still be starting: they must not outlive it
        assert len(pids) == 2, pids
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        for pid in pids:
            deadline = time.monotonic() + 30
            while True:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                assert time.monotonic() < deadline, f"worker {pid} outlived the server"
                time.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
