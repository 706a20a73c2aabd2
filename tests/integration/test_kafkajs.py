"""kafkajs (Node.js) against logcore's Kafka listener.

kafkajs is pinned in tests/clients/node/package-lock.json and installed by ``./dev
setup`` (``npm ci``). Each test drives ``tests/clients/node/driver.js``, a small
kafkajs program that takes one JSON command a line on stdin and answers on stdout,
against one listener for the whole module (test_kafka_listener.py's ``Served``).
Results are read back through the engine, as in that module. Waits are deadlines on
conditions, never sleeps.

Without node or the installed kafkajs the tests skip, except under CI=true, where
they fail: CI runs ``./dev test``, whose setup installs them.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_kafka_listener import DEADLINE_S, Served, listening, unique, until

from logcore.admin import Scenario, Scope, execute_reset, plan_reset
from logcore.events import Event, OffsetsCommitted
from logcore.kafka_server.handlers import SUPPORTED
from logcore.partitioner import partition_for_key

pytestmark = [pytest.mark.integration]

NODE_DIR = Path(__file__).resolve().parents[1] / "clients" / "node"
DRIVER = NODE_DIR / "driver.js"


def _node_or_skip() -> str:
    node = shutil.which("node")
    if node is None:
        reason = "node is not installed (kafkajs tests need Node.js 18+)"
    elif not (NODE_DIR / "node_modules" / "kafkajs" / "package.json").is_file():
        reason = "kafkajs is not installed in tests/clients/node: run ./dev setup"
    else:
        return node
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


class KafkaJS:
    """One ``node driver.js`` process: ``call(op, ...)`` waits for its reply."""

    def __init__(self, node: str, bootstrap: str, sasl: dict[str, str] | None = None) -> None:
        argv = [node, str(DRIVER), bootstrap]
        if sasl is not None:
            argv.append(json.dumps(sasl))
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=NODE_DIR,
        )
        self._n = 0
        self._replies: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.events: list[dict[str, Any]] = []
        self.stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            msg = json.loads(line)
            if "event" in msg:
                self.events.append(msg)
            else:
                self._reply_queue(msg["n"]).put(msg)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def _reply_queue(self, n: int) -> queue.Queue[dict[str, Any]]:
        with self._lock:
            return self._replies.setdefault(n, queue.Queue())

    def call(self, op: str, **args: Any) -> Any:
        """The op's result; AssertionError with kafkajs's error (and log) if it failed."""
        reply = self.attempt(op, **args)
        assert "error" not in reply, f"{op}: {reply['error']}\n{''.join(self.stderr[-20:])}"
        return reply["ok"]

    def attempt(self, op: str, **args: Any) -> dict[str, Any]:
        """The op's reply as sent: ``{"ok": ...}`` or ``{"error": {...}}``."""
        with self._lock:
            self._n += 1
            n = self._n
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"n": n, "op": op, **args}) + "\n")
        self.proc.stdin.flush()
        try:
            return self._reply_queue(n).get(timeout=DEADLINE_S)
        except queue.Empty:
            raise AssertionError(f"kafkajs gave no answer to {op}\n{''.join(self.stderr[-20:])}") from None

    def messages(self, consumer: str | None = None) -> list[dict[str, Any]]:
        return [e for e in list(self.events) if e["event"] == "message" and consumer in (None, e["id"])]

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()  # the driver disconnects its clients and exits
            try:
                self.proc.wait(timeout=DEADLINE_S)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with listening(tmp_path_factory.mktemp("kafkajs") / "data") as s:
        yield s


@pytest.fixture(scope="module")
def kafkajs(served: Served) -> Iterator[KafkaJS]:
    """The module's kafkajs process (its producer and admin are shared by the tests)."""
    client = KafkaJS(_node_or_skip(), served.bootstrap)
    try:
        yield client
    finally:
        client.close()


def text(value: bytes | None) -> str:
    assert value is not None
    return value.decode()


def test_keyed_records_land_where_the_default_partitioner_puts_them(served: Served, kafkajs: KafkaJS) -> None:
    topic = unique("seats")
    kafkajs.call("create", topic=topic, partitions=6)
    keys = [f"seat-{i}" for i in range(120)]
    out = kafkajs.call(
        "produce", topic=topic, partitions=6, messages=[{"key": k, "value": f"ticket {k}"} for k in keys]
    )
    # kafkajs's DefaultPartitioner is the Java client's murmur2: logcore's placement.
    assert out["chosen"] == [partition_for_key(k.encode(), 6) for k in keys]
    stored: dict[str, tuple[int, str]] = {}
    for p in range(6):
        for r in served.cluster.read(topic, p, 0, 1000):
            stored[text(r.key)] = (p, text(r.value))
    assert stored == {k: (partition_for_key(k.encode(), 6), f"ticket {k}") for k in keys}
    # Keys of one partition keep their order (one idempotent batch per partition).
    for p in range(6):
        in_p = [k for k in keys if partition_for_key(k.encode(), 6) == p]
        assert [text(r.key) for r in served.cluster.read(topic, p, 0, 1000)] == in_p


def test_gzip_batches_are_stored_and_read_back(served: Served, kafkajs: KafkaJS) -> None:
    topic, group = unique("gzip"), unique("g")
    kafkajs.call("create", topic=topic, partitions=1)
    values = [f"gzip record {i} " * 5 for i in range(300)]
    kafkajs.call("produce", topic=topic, compression="gzip", messages=[{"key": None, "value": v} for v in values])
    assert [text(r.value) for r in served.cluster.read(topic, 0, 0, 1000)] == values
    kafkajs.call("consumer.start", id="gz", group=group, topic=topic)
    until(lambda: len(kafkajs.messages("gz")) >= 300, "300 gzip records")
    assert [m["value"] for m in kafkajs.messages("gz")] == values
    kafkajs.call("consumer.stop", id="gz")


def test_group_of_three_rebalances_consumes_everything_and_commits(served: Served, kafkajs: KafkaJS) -> None:
    topic, group = unique("orders"), unique("kitchen")
    kafkajs.call("create", topic=topic, partitions=6)
    kafkajs.call(
        "produce", topic=topic, partitions=6, messages=[{"key": f"k{i}", "value": f"v{i}"} for i in range(300)]
    )
    committed: list[Event] = []
    unsubscribe = served.cluster.events.subscribe(
        lambda e: committed.append(e) if isinstance(e, OffsetsCommitted) and e.group == group else None
    )
    ids = [f"{group}-{i}" for i in range(3)]
    kafkajs.call("consumer.start", id=ids[0], group=group, topic=topic)
    until(lambda: kafkajs.messages(ids[0]), "the first member's records")
    for cid in ids[1:]:  # two more members: two more rebalances
        kafkajs.call("consumer.start", id=cid, group=group, topic=topic)

    def desc() -> Any:
        return served.cluster.describe_group(group)

    until(lambda: desc().state == "Stable" and len(desc().members) == 3, "three members in a stable generation")
    hw = {p: served.cluster.watermarks(topic, p)[1] for p in range(6)}

    def at_end() -> bool:
        # Each partition, read to its end by the member that owns it now.
        where: dict[int, int] = {}
        for cid in ids:
            state = kafkajs.call("consumer.state", id=cid)
            for p in state["assigned"].get(topic, []):
                where[p] = state["next"].get(f"{topic}/{p}", 0)
        return where == hw

    until(at_end, "every member at the end of the partitions it owns")
    seen = {(m["partition"], m["offset"]) for m in kafkajs.messages() if m["topic"] == topic}
    assert len(seen) == 300
    group_desc = desc()
    assert sorted(tp for m in group_desc.members for tp in m.assignment) == [(topic, p) for p in range(6)]
    assert group_desc.generation >= 2
    for cid in ids:
        kafkajs.call("consumer.commit", id=cid)
    assert {tp: om.offset for tp, om in served.cluster.committed_offsets(group).items()} == {
        (topic, p): hw[p] for p in range(6)
    }
    unsubscribe()
    assert committed, "commits fire the engine's OffsetsCommitted events"
    for cid in ids:
        kafkajs.call("consumer.stop", id=cid)
    until(lambda: desc().state == "Empty", "the group to empty after the members left")


def read_and_commit(kafkajs: KafkaJS, group: str, topic: str, want: int) -> tuple[list[int], int]:
    """Join ``group``, read at least ``want`` records, commit what was read, leave.

    The offsets read and the offset committed (the member may read past ``want``
    while it runs: it commits where it really is, as a client does)."""
    cid = unique("c")
    kafkajs.call("consumer.start", id=cid, group=group, topic=topic)
    until(lambda: len(kafkajs.messages(cid)) >= want, f"{want} records")
    until(lambda: kafkajs.call("consumer.state", id=cid)["assigned"], "an assignment")
    (commit,) = kafkajs.call("consumer.commit", id=cid)
    kafkajs.call("consumer.stop", id=cid)
    return [m["offset"] for m in kafkajs.messages(cid)], int(commit["offset"])


def test_resume_at_the_commit_and_at_a_reset_made_while_stopped(served: Served, kafkajs: KafkaJS) -> None:
    topic, group = unique("train"), unique("checker")
    kafkajs.call("create", topic=topic, partitions=1)
    kafkajs.call("produce", topic=topic, messages=[{"key": None, "value": f"v{i}"} for i in range(100)])
    read, commit = read_and_commit(kafkajs, group, topic, 30)
    assert read[:30] == list(range(30)) and commit >= 30
    assert served.cluster.committed_offsets(group)[(topic, 0)].offset == commit
    # Stopped, then resumed: it starts at the committed offset (more records first, in
    # case the member read all 100 before it committed).
    kafkajs.call("produce", topic=topic, messages=[{"key": None, "value": f"v{i}"} for i in range(100, 110)])
    read, _ = read_and_commit(kafkajs, group, topic, 1)
    assert read[0] == commit
    # The dashboard's reset (logcore.admin) while the client is stopped.
    until(lambda: served.cluster.describe_group(group).state == "Empty", "the group to be empty")
    plan = plan_reset(served.cluster, group, Scenario("to-offset", 5), Scope(all_topics=True), now_ms=0)
    assert execute_reset(served.cluster, plan).ok
    read, _ = read_and_commit(kafkajs, group, topic, 3)
    assert read[:3] == [5, 6, 7]


def test_logical_offsets_from_reset_offsets_and_seek_are_committed_as_real_ones(
    served: Served, kafkajs: KafkaJS
) -> None:
    # kafkajs commits Kafka's logical offsets, -1 (latest) and -2 (earliest): its
    # admin.resetOffsets does, through a consumer's seek, and so does any seek with
    # autoCommit. The listener answered INVALID_REQUEST (logcore refuses negative
    # offsets) and kafkajs's consumer crashed. resetOffsets takes kafkajs about 5 s (its
    # paused consumer waits maxWaitTimeInMs, a default the admin client does not expose).
    topic, group = unique("reset"), unique("g")
    kafkajs.call("create", topic=topic, partitions=2)
    kafkajs.call("produce", topic=topic, partitions=2, messages=[{"key": f"k{i}", "value": "v"} for i in range(40)])
    hw = {p: served.cluster.watermarks(topic, p)[1] for p in range(2)}
    assert min(hw.values()) > 0

    def committed() -> dict[int, int]:
        return {p: om.offset for (t, p), om in served.cluster.committed_offsets(group).items() if t == topic}

    kafkajs.call("admin", method="resetOffsets", args=[{"groupId": group, "topic": topic, "earliest": False}])
    assert committed() == hw
    fetched = kafkajs.call("admin", method="fetchOffsets", args=[{"groupId": group, "topics": [topic]}])
    assert {p["partition"]: int(p["offset"]) for p in fetched[0]["partitions"]} == hw
    # A member at the end seeks to the earliest offset of partition 0 (auto-commit).
    # Its commits are watched as events: it commits again as it reads.
    commits: list[tuple[str, int, int]] = []
    unsubscribe = served.cluster.events.subscribe(
        lambda e: commits.extend(e.offsets) if isinstance(e, OffsetsCommitted) and e.group == group else None
    )
    cid = unique("c")
    kafkajs.call("consumer.start", id=cid, group=group, topic=topic, autoCommit=True)
    until(lambda: len(kafkajs.call("consumer.state", id=cid)["assigned"].get(topic, [])) == 2, "both partitions")
    kafkajs.call("consumer.seek", id=cid, topic=topic, partition=0, offset="-2")
    until(lambda: (topic, 0, 0) in commits, "the seek's commit of -2, as the log start")
    until(lambda: len(kafkajs.messages(cid)) >= hw[0], "partition 0 read again")
    kafkajs.call("consumer.stop", id=cid)
    unsubscribe()
    assert [m["offset"] for m in kafkajs.messages(cid)][: hw[0]] == list(range(hw[0]))


def test_every_api_version_kafkajs_sent_is_one_the_listener_lists(kafkajs: KafkaJS) -> None:
    # Last in the module, so it sees every request the tests above made too; on its own
    # it makes one of each kind. kafkajs picks, per API, the highest version both know.
    topic = unique("versions")
    kafkajs.call("create", topic=topic, partitions=1)
    kafkajs.call("produce", topic=topic, messages=[{"key": "k", "value": "v"}])
    cid = unique("c")
    kafkajs.call("consumer.start", id=cid, group=unique("g"), topic=topic)
    until(lambda: kafkajs.messages(cid), "the record")
    until(lambda: kafkajs.call("consumer.state", id=cid)["assigned"], "an assignment")
    kafkajs.call("consumer.commit", id=cid)
    kafkajs.call("consumer.stop", id=cid)
    used = kafkajs.call("requests")
    assert used, "kafkajs reported no requests"
    for key, entry in used.items():
        lo, hi = SUPPORTED[int(key)]
        assert all(lo <= v <= hi for v in entry["versions"]), (entry["name"], entry["versions"], (lo, hi))
    names = {entry["name"] for entry in used.values()}
    assert {"ApiVersions", "Metadata", "Produce", "Fetch", "JoinGroup", "SyncGroup", "OffsetCommit"} <= names
