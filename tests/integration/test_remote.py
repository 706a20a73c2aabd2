"""RemoteCluster against a live server: `offsetsite serve` in a subprocess holds the data
directory; this process reaches it through the lock file's advertisement, and must see
the same results and the same errors as the embedded engine gives."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from logcore import EmbeddedCluster, errors
from logcore.admin import Scenario, Scope, execute_reset, plan_reset, undo_reset
from logcore.groups import OffsetAndMetadata
from logcore.log_manager import read_lock_info
from offsetsite.cli.remote import TOKEN_FILE, RemoteCluster, ServerUnreachable, connect_from_lock

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, base: Path) -> None:
        self.data = base / "data"
        self.var = base / "var"
        self.var.mkdir()
        self.env = {
            **os.environ,
            "OFFSETSITE_VAR": str(self.var),
            "OFFSETSITE_DATA_DIR": str(self.data),
            "DJANGO_SETTINGS_MODULE": "offsetsite.settings",
        }
        self.env.pop("OFFSETSITE_METRICS_TOKEN", None)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = base / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "offsetsite", "--data-dir", str(self.data), *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def start(self) -> None:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            env=self.env,
            cwd=ROOT,
            check=True,
            timeout=120,
        )
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "offsetsite",
                    "--data-dir",
                    str(self.data),
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited: {self.log.read_text()[-3000:]}")
            if read_lock_info(self.data).get("url") == self.url:
                try:
                    with urllib.request.urlopen(self.url + "/metrics", timeout=2) as r:
                        if r.status == 200:
                            return
                except OSError:
                    pass
            time.sleep(0.1)
        raise AssertionError(f"the server did not come up: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(tmp_path_factory.mktemp("remote"))
    s.start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def remote(server: Server) -> RemoteCluster:
    cluster = connect_from_lock(server.data)
    assert isinstance(cluster, RemoteCluster)
    return cluster


@pytest.fixture
def local(tmp_path: Path) -> Iterator[EmbeddedCluster]:
    """An embedded engine to compare the remote one with."""
    with EmbeddedCluster(tmp_path / "local") as c:
        yield c


def same_error(fn: Callable[[Any], Any], remote: RemoteCluster, local: EmbeddedCluster) -> errors.KafkaError:
    with pytest.raises(errors.KafkaError) as got_local:
        fn(local)
    with pytest.raises(errors.KafkaError) as got_remote:
        fn(remote)
    assert type(got_remote.value) is type(got_local.value)
    assert str(got_remote.value) == str(got_local.value)
    assert got_remote.value.code == got_local.value.code
    return got_remote.value


# --- connecting ---------------------------------------------------------------


def test_advertisement_and_token_file(server: Server) -> None:
    info = read_lock_info(server.data)
    assert info["url"] == server.url
    token_file = Path(info["token_file"])
    assert token_file == server.data / TOKEN_FILE
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert token_file.read_text().strip().startswith("oss_")


def test_connect_from_lock_ignores_unheld_directories(tmp_path: Path) -> None:
    assert connect_from_lock(tmp_path / "nothing") is None
    # A stale advertisement left by a server that is gone: nobody holds the lock.
    stale = tmp_path / "stale"
    stale.mkdir()
    (stale / ".lock").write_text(json.dumps({"pid": 1, "url": "http://127.0.0.1:1", "token_file": "/x"}))
    assert connect_from_lock(stale) is None


def test_unreachable_server_and_bad_token(server: Server) -> None:
    with pytest.raises(ServerUnreachable, match="cannot reach"):
        RemoteCluster(f"http://127.0.0.1:{free_port()}", "oss_x", timeout=2).list_topics()
    with pytest.raises(errors.KafkaError) as e:
        RemoteCluster(server.url, "oss_wrong").list_topics()
    assert e.value.code == "UNAUTHORIZED"


# --- topics and records -----------------------------------------------------------


def test_topics_match_the_embedded_engine(remote: RemoteCluster, local: EmbeddedCluster) -> None:
    for c in (remote, local):
        c.create_topic("rt-topics", 2, {"retention.ms": "60000"})
        c.add_partitions("rt-topics", 3)
    got, want = remote.describe_topic("rt-topics"), local.describe_topic("rt-topics")
    assert got.config == want.config and len(got.partitions) == 3
    assert [(p.partition, p.log_start_offset, p.high_watermark) for p in got.partitions] == [
        (p.partition, p.log_start_offset, p.high_watermark) for p in want.partitions
    ]
    assert "rt-topics" in remote.list_topics()
    assert "__consumer_offsets" in remote.list_topics(True)
    assert "__consumer_offsets" not in remote.list_topics(False)
    same_error(lambda c: c.create_topic("rt-topics"), remote, local)
    same_error(lambda c: c.create_topic("bad name"), remote, local)
    same_error(lambda c: c.describe_topic("rt-missing"), remote, local)
    same_error(lambda c: c.add_partitions("rt-topics", 2), remote, local)
    same_error(lambda c: c.read("rt-topics", 0, 5), remote, local)  # OffsetOutOfRange
    e = same_error(lambda c: c.read("rt-topics", 0, 5), remote, local)
    assert isinstance(e, errors.OffsetOutOfRange) and (e.log_start, e.log_end) == (0, 0)
    remote.delete_topic("rt-topics")
    assert "rt-topics" not in remote.list_topics()


def test_records_round_trip(remote: RemoteCluster) -> None:
    remote.create_topic("rt-records", 2)
    blob = bytes(range(256))
    t0 = int(time.time() * 1000)  # recent: the server's retention (7 days) runs every second
    assert remote.produce("rt-records", blob, b"\x00key", [("h", b"\xff"), ("n", None)], 1, t0) == (1, 0)
    assert remote.produce("rt-records", None, b"k", partition=1, timestamp=t0 + 1000) == (1, 1)
    assert remote.produce("rt-records", b"text", partition=1, timestamp=t0 + 2000) == (1, 2)
    records = remote.read("rt-records", 1, 0)
    assert [(r.offset, r.timestamp, r.key, r.value, r.headers) for r in records] == [
        (0, t0, b"\x00key", blob, (("h", b"\xff"), ("n", None))),
        (1, t0 + 1000, b"k", None, ()),
        (2, t0 + 2000, None, b"text", ()),
    ]
    assert [r.offset for r in remote.read("rt-records", 1, 1, max_records=1)] == [1]
    assert remote.read("rt-records", 1, 3) == []
    assert remote.watermarks("rt-records", 1) == (0, 3)
    assert remote.offset_for_timestamp("rt-records", 1, t0 + 500) == 1
    assert remote.offset_for_timestamp("rt-records", 1, t0 + 99_000) is None
    assert remote.timestamp_at("rt-records", 1, 2) == t0 + 2000
    assert remote.timestamp_at("rt-records", 1, 3) is None
    with pytest.raises(errors.UnknownTopicOrPartition):
        remote.watermarks("rt-records", 7)


# --- groups and resets --------------------------------------------------------------


def test_groups_match_the_embedded_engine(remote: RemoteCluster, local: EmbeddedCluster) -> None:
    for c in (remote, local):
        c.create_topic("rt-groups", 2)
        for i in range(4):
            c.produce("rt-groups", b"v%d" % i, partition=0)
        c.commit_offsets("team/a", {("rt-groups", 0): OffsetAndMetadata(3, "meta"), ("rt-groups", 1): 0})
    got = remote.committed_offsets("team/a")
    assert {tp: (om.offset, om.metadata) for tp, om in got.items()} == {
        ("rt-groups", 0): (3, "meta"),
        ("rt-groups", 1): (0, ""),
    }
    d_remote, d_local = remote.describe_group("team/a"), local.describe_group("team/a")
    assert (d_remote.state, d_remote.total_lag) == (d_local.state, d_local.total_lag) == ("Empty", 1)
    assert [(o.topic, o.partition, o.committed, o.high_watermark, o.lag) for o in d_remote.offsets] == [
        (o.topic, o.partition, o.committed, o.high_watermark, o.lag) for o in d_local.offsets
    ]
    assert "team/a" in [g.group_id for g in remote.list_groups()]
    same_error(lambda c: c.describe_group("rt-nobody"), remote, local)
    same_error(lambda c: c.delete_group("rt-nobody"), remote, local)
    same_error(
        lambda c: c.commit_offsets("team/a", {("rt-groups", 0): OffsetAndMetadata(1, "x" * 5000)}), remote, local
    )
    assert remote.delete_offsets("team/a", [("rt-groups", 1)]) == [("rt-groups", 1)]
    assert list(remote.committed_offsets("team/a")) == [("rt-groups", 0)]
    remote.delete_group("team/a")
    with pytest.raises(errors.GroupIdNotFound):
        remote.describe_group("team/a")


def test_reset_plan_execute_undo_through_the_cluster_interface(remote: RemoteCluster) -> None:
    from datetime import UTC, datetime

    remote.create_topic("rt-reset", 1)
    t0 = (int(time.time()) - 60) * 1000  # whole seconds: an exact to-datetime below
    for i in range(10):
        remote.produce("rt-reset", b"v", partition=0, timestamp=t0 + i * 1000)
    remote.commit_offsets("rt-g", {("rt-reset", 0): 8})
    when = datetime.fromtimestamp((t0 + 4000) / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.000")
    plan = plan_reset(
        remote, "rt-g", Scenario("to-datetime", when), Scope.parse(["rt-reset"]), now_ms=int(time.time() * 1000)
    )
    assert plan.refusal is None
    row = plan.rows[0]
    assert (row.before, row.after, row.reread, row.before_timestamp, row.after_timestamp) == (
        8,
        4,
        4,
        t0 + 8000,
        t0 + 4000,
    )
    restore = remote.restore_points()
    execute_reset(remote, plan, restore)
    assert remote.committed_offsets("rt-g")[("rt-reset", 0)].offset == 4
    # The restore point lives on the server: the web page could undo this too.
    assert restore.latest("rt-g") is not None
    undo_reset(remote, "rt-g", restore)
    assert remote.committed_offsets("rt-g")[("rt-reset", 0)].offset == 8
    assert restore.latest("rt-g") is None
    with pytest.raises(errors.InvalidRequest, match="no reset to undo"):
        undo_reset(remote, "rt-g", restore)
    audit = remote._call("GET", "audit", {"group": "rt-g"})["entries"]
    assert [(e["action"], e["source"], e["username"]) for e in audit][:2] == [
        ("offsets.undo", "cli", "offsetsite-cli"),
        ("offsets.reset", "cli", "offsetsite-cli"),
    ]


# --- the command line, while the server holds the directory ---------------------------


def test_cli_reaches_the_server(server: Server, remote: RemoteCluster) -> None:
    remote.create_topic("rt-cli", 1)
    for _ in range(6):
        remote.produce("rt-cli", b"v", partition=0)
    remote.commit_offsets("rt-cli-g", {("rt-cli", 0): 6})
    listed = server.cli("groups", "--list")
    assert listed.returncode == 0, listed.stderr
    assert "rt-cli-g" in listed.stdout.split()
    done = server.cli(
        "groups", "--reset-offsets", "--group", "rt-cli-g", "--topic", "rt-cli", "--to-earliest", "--execute"
    )
    assert done.returncode == 0, done.stderr
    assert remote.committed_offsets("rt-cli-g")[("rt-cli", 0)].offset == 0
    # Undo through the API: the command line's reset left its restore point on the server.
    status, body = _post(server, remote, "groups/rt-cli-g/reset/undo")
    assert status == 200, body
    assert remote.committed_offsets("rt-cli-g")[("rt-cli", 0)].offset == 6
    missing = server.cli("groups", "--describe", "--group", "rt-nobody")
    assert missing.returncode == 1
    assert "Consumer group 'rt-nobody' does not exist." in missing.stdout  # stdout, as Kafka


def test_cli_reset_through_the_server_is_audited_as_a_reset(server: Server, remote: RemoteCluster) -> None:
    """Regression: a reset executed from a terminal was logged as ``offsets.commit``."""
    remote.create_topic("rt-audit", 2)
    for p in (0, 1):
        for _ in range(5):
            remote.produce("rt-audit", b"v", partition=p)
    remote.commit_offsets("rt-audit-g", {("rt-audit", 0): 5, ("rt-audit", 1): 4})
    done = server.cli(
        "groups", "--reset-offsets", "--group", "rt-audit-g", "--topic", "rt-audit", "--to-offset", "2", "--execute"
    )
    assert done.returncode == 0, done.stderr
    assert {tp: om.offset for tp, om in remote.committed_offsets("rt-audit-g").items()} == {
        ("rt-audit", 0): 2,
        ("rt-audit", 1): 2,
    }
    entries = remote._call("GET", "audit", {"group": "rt-audit-g"})["entries"]
    newest = entries[0]
    assert (newest["action"], newest["source"], newest["username"]) == ("offsets.reset", "cli", "offsetsite-cli")
    assert [e["action"] for e in entries].count("offsets.commit") == 1  # only the setup's own commit
    assert newest["offsets"] == [
        {"topic": "rt-audit", "partition": 0, "before": 5, "after": 2},
        {"topic": "rt-audit", "partition": 1, "before": 4, "after": 2},
    ]
    assert newest["cluster"] == "local"
    assert newest["details"]["scenario"] == "to-offset" and not newest["details"].get("mismatch")


def _post(server: Server, remote: RemoteCluster, path: str) -> tuple[int, Any]:
    try:
        return 200, remote._call("POST", path, body={})
    except errors.KafkaError as e:
        return 400, str(e)
