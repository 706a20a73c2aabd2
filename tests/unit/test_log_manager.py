"""LogManager: topics, partitions, names, reopen, the data-dir lock, events."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from logcore import LogManager, ManualClock, validate_topic_name
from logcore.errors import (
    DataDirLocked,
    InvalidConfig,
    InvalidPartitions,
    InvalidTopic,
    TopicAlreadyExists,
    UnknownTopicOrPartition,
)
from logcore.events import (
    Event,
    PartitionsAdded,
    RecordsAppended,
    RecordsDeleted,
    TopicCreated,
    TopicDeleted,
)
from logcore.log_manager import read_lock_info

T0 = 1_700_000_000_000
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def lm(data_dir: Path, clock: ManualClock):  # type: ignore[no-untyped-def]
    m = LogManager(data_dir, clock=clock)
    yield m
    m.close()


# --- topics -----------------------------------------------------------------------


def test_create_list_describe(lm: LogManager) -> None:
    d = lm.create_topic("orders", partitions=3, config={"retention.ms": "60000"})
    assert d.name == "orders" and not d.internal
    assert [p.partition for p in d.partitions] == [0, 1, 2]
    assert d.config["retention.ms"] == "60000"
    assert d.config["cleanup.policy"] == "delete"  # every setting, under Kafka's names
    assert all(
        (p.log_start_offset, p.high_watermark, p.log_end_offset, p.size_bytes, p.segment_count) == (0, 0, 0, 0, 1)
        for p in d.partitions
    )
    lm.create_topic("audit")
    lm.create_topic("__consumer_offsets", 2, {"cleanup.policy": "compact"}, internal=True)
    assert lm.list_topics() == ["__consumer_offsets", "audit", "orders"]
    assert lm.list_topics(include_internal=False) == ["audit", "orders"]
    assert lm.describe_topic("__consumer_offsets").internal
    assert lm.is_internal("__consumer_offsets")
    assert lm.partition_count("orders") == 3
    assert lm.has_topic("orders") and not lm.has_topic("nope")
    assert lm.topic_config("orders").retention_ms == 60000
    assert [t.name for t in lm.describe_topics()] == lm.list_topics()


def test_describe_reflects_partition_state(lm: LogManager) -> None:
    lm.create_topic("t", 2)
    p = lm.partition("t", 1)
    for i in range(5):
        p.append(b"k", b"v%d" % i)
    p.delete_records(2)
    d = lm.describe_topic("t")
    info = d.partitions[1]
    assert (info.log_start_offset, info.high_watermark, info.log_end_offset) == (2, 5, 5)
    assert info.records == 3 and info.size_bytes == p.size_bytes > 0
    assert d.records == 3 and d.size_bytes == p.size_bytes


def test_topic_already_exists(lm: LogManager) -> None:
    lm.create_topic("t", 1)
    lm.partition("t", 0).append(b"k", b"v")
    with pytest.raises(TopicAlreadyExists, match="'t' already exists"):
        lm.create_topic("t", 5)
    assert lm.partition_count("t") == 1
    assert lm.partition("t", 0).high_watermark == 1


def test_unknown_topic_or_partition(lm: LogManager) -> None:
    lm.create_topic("t", 2)
    for call in (
        lambda: lm.describe_topic("nope"),
        lambda: lm.delete_topic("nope"),
        lambda: lm.partition("nope", 0),
        lambda: lm.add_partitions("nope", 3),
        lambda: lm.partition_count("nope"),
        lambda: lm.alter_config("nope", {}),
    ):
        with pytest.raises(UnknownTopicOrPartition, match="nope"):
            call()
    for bad in (2, -1, 10):
        with pytest.raises(UnknownTopicOrPartition, match="0 to 1"):
            lm.partition("t", bad)


def test_delete_topic(lm: LogManager, data_dir: Path) -> None:
    lm.create_topic("t", 2)
    lm.partition("t", 0).append(b"k", b"v")
    lm.delete_topic("t")
    assert lm.list_topics() == []
    assert not (data_dir / "t").exists()
    assert [p.name for p in data_dir.iterdir() if p.name != ".lock"] == []
    with pytest.raises(UnknownTopicOrPartition):
        lm.partition("t", 0)
    # The name is free again, and the new topic starts from scratch.
    lm.create_topic("t", 1)
    assert lm.partition("t", 0).high_watermark == 0


def test_internal_topic_cannot_be_deleted(lm: LogManager) -> None:
    lm.create_topic("__consumer_offsets", 1, internal=True)
    with pytest.raises(InvalidTopic):
        lm.delete_topic("__consumer_offsets")
    assert lm.has_topic("__consumer_offsets")


def test_add_partitions_never_removes(lm: LogManager) -> None:
    lm.create_topic("t", 2)
    lm.partition("t", 0).append(b"k", b"v")
    d = lm.add_partitions("t", 5)
    assert [p.partition for p in d.partitions] == [0, 1, 2, 3, 4]
    assert lm.partition("t", 0).high_watermark == 1  # existing data untouched
    assert lm.partition("t", 4).high_watermark == 0
    for bad in (5, 4, 1, 0, -1):
        with pytest.raises(InvalidPartitions, match="(currently|already) has 5 partitions"):
            lm.add_partitions("t", bad)
    with pytest.raises(InvalidPartitions):
        lm.add_partitions("t", "9")  # type: ignore[arg-type]
    with pytest.raises(InvalidPartitions):
        lm.add_partitions("t", 10_001)
    assert lm.partition_count("t") == 5


@pytest.mark.parametrize("bad", [0, -1, 10_001, "3", 2.0, None])
def test_invalid_partition_count(lm: LogManager, data_dir: Path, bad: object) -> None:
    with pytest.raises(InvalidPartitions):
        lm.create_topic("t", bad)  # type: ignore[arg-type]
    assert not lm.has_topic("t") and not (data_dir / "t").exists()


def test_invalid_config_creates_nothing(lm: LogManager, data_dir: Path) -> None:
    with pytest.raises(InvalidConfig, match="retention.ms"):
        lm.create_topic("t", 1, {"retention.ms": "soon"})
    with pytest.raises(InvalidConfig, match="no.such.key"):
        lm.create_topic("t", 1, {"no.such.key": "1"})
    assert not lm.has_topic("t") and not (data_dir / "t").exists()


def test_alter_config_validates_before_applying(lm: LogManager, data_dir: Path) -> None:
    lm.create_topic("t", 2, {"retention.ms": "1000"})
    with pytest.raises(InvalidConfig):
        lm.alter_config("t", {"retention.bytes": "100", "cleanup.policy": "bogus"})
    assert lm.topic_config("t").retention_bytes == -1
    lm.alter_config("t", {"retention.bytes": "100"})
    assert lm.partition("t", 1).config.retention_bytes == 100
    assert lm.topic_config("t").retention_ms == 1000
    lm.close()
    with LogManager(data_dir) as again:
        assert again.topic_config("t").retention_bytes == 100


# --- topic names -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "orders", "A-b_c.d", "0", "x" * 249, "__consumer_offsets", "..."])
def test_legal_topic_names(lm: LogManager, name: str) -> None:
    validate_topic_name(name)
    lm.create_topic(name)
    assert lm.has_topic(name)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "empty"),
        (".", '"."'),
        ("..", '".."'),
        ("x" * 250, "249"),
        ("has space", "ASCII alphanumerics"),
        ("slash/name", "ASCII alphanumerics"),
        ("ünïcode", "ASCII alphanumerics"),
        ("colon:name", "ASCII alphanumerics"),
        ("trailing-newline\n", "ASCII alphanumerics"),
        ("tab\tname", "ASCII alphanumerics"),
    ],
)
def test_illegal_topic_names(lm: LogManager, data_dir: Path, name: str, why: str) -> None:
    with pytest.raises(InvalidTopic, match=why):
        lm.create_topic(name)
    assert lm.list_topics() == []
    assert sorted(p.name for p in data_dir.iterdir()) == [".lock"]


def test_non_string_topic_name() -> None:
    with pytest.raises(InvalidTopic):
        validate_topic_name(None)  # type: ignore[arg-type]


def test_dot_underscore_collision(lm: LogManager) -> None:
    lm.create_topic("my.topic")
    with pytest.raises(InvalidTopic, match="collides with existing topic: my.topic"):
        lm.create_topic("my_topic")
    lm.create_topic("my-topic")  # '-' is not part of the rule
    lm.create_topic("a_b")
    with pytest.raises(InvalidTopic, match="collides"):
        lm.create_topic("a.b")
    assert lm.list_topics() == ["a_b", "my-topic", "my.topic"]


# --- reopening -------------------------------------------------------------------------


def test_reopen_keeps_everything(data_dir: Path, clock: ManualClock) -> None:
    with LogManager(data_dir, clock=clock) as lm:
        lm.create_topic("orders", 3, {"retention.ms": "60000", "segment.bytes": "200"})
        lm.create_topic("__consumer_offsets", 2, {"cleanup.policy": "compact"}, internal=True)
        lm.add_partitions("orders", 4)
        for p in range(4):
            for i in range(10 * (p + 1)):
                lm.partition("orders", p).append(b"k%d" % i, b"v%d-%d" % (p, i), headers=[("h", b"%d" % i)])
        lm.partition("orders", 2).delete_records(7)
        lm.partition("__consumer_offsets", 1).append(b"key", None)
        before = lm.describe_topics()
        contents = {
            p: lm.partition("orders", p).read(lm.partition("orders", p).log_start_offset, 1000) for p in range(4)
        }
    with LogManager(data_dir, clock=clock) as lm:
        assert lm.describe_topics() == before
        assert lm.topic_config("orders").segment_bytes == 200
        assert lm.is_internal("__consumer_offsets")
        for p in range(4):
            part = lm.partition("orders", p)
            assert part.read(part.log_start_offset, 1000) == contents[p]
        assert lm.partition("orders", 2).log_start_offset == 7
        assert lm.partition("orders", 3).append(b"k", b"next") == 40


def test_reopen_after_unclean_stop(data_dir: Path, clock: ManualClock) -> None:
    lm = LogManager(data_dir, clock=clock)
    lm.create_topic("t", 2, {"segment.bytes": "300"})
    for i in range(30):
        lm.partition("t", i % 2).append(b"k", b"v%d" % i)
    before = lm.describe_topic("t")
    lm.abandon()  # as if the process had died: no clean shutdown, lock released
    with LogManager(data_dir, clock=clock) as again:
        assert again.describe_topic("t") == before


def test_leftover_deleted_topic_directory_is_removed_on_open(data_dir: Path) -> None:
    with LogManager(data_dir) as lm:
        lm.create_topic("keep")
    trash = data_dir / ("gone." + "0" * 32 + "-delete")
    (trash / "0").mkdir(parents=True)
    (trash / "topic.json").write_text('{"name": "gone", "partitions": 1}')
    with LogManager(data_dir) as lm:
        assert lm.list_topics() == ["keep"]
    assert not trash.exists()


def test_topic_named_like_a_deleted_one_survives_reopen(data_dir: Path) -> None:
    name = "a." + "0123456789abcdef" * 2 + "-delete"
    with LogManager(data_dir) as lm:
        lm.create_topic(name)
        lm.partition(name, 0).append(b"k", b"v")
        lm.create_topic("b")
        lm.delete_topic("b")
    with LogManager(data_dir) as lm:
        assert lm.list_topics() == [name]
        assert lm.partition(name, 0).high_watermark == 1


def test_topic_named_as_the_lock_file_lives_elsewhere(lm: LogManager, data_dir: Path) -> None:
    # A legal Kafka name; its directory is hashed (topic_dir_name), the lock stays a file.
    lm.create_topic(".lock")
    assert lm.list_topics() == [".lock"]
    assert (data_dir / ".lock").is_file()


def test_closed_manager_refuses_work(data_dir: Path) -> None:
    lm = LogManager(data_dir)
    lm.create_topic("t")
    lm.close()
    lm.close()  # idempotent
    with pytest.raises(DataDirLocked, match="closed"):
        lm.create_topic("u")
    with pytest.raises(DataDirLocked, match="closed"):
        lm.partition("t", 0)


# --- the data-dir lock ---------------------------------------------------------------


def test_second_manager_in_same_process_is_refused(data_dir: Path) -> None:
    first = LogManager(data_dir)
    try:
        # flock() locks belong to an open file description; a second open() of the lock
        # file conflicts even inside one process.
        with pytest.raises(DataDirLocked) as exc:
            LogManager(data_dir)
        assert exc.value.pid == os.getpid()
        assert str(os.getpid()) in str(exc.value)
        assert exc.value.code == "DATA_DIR_LOCKED"
        first.create_topic("still-works")
    finally:
        first.close()
    with LogManager(data_dir) as again:  # released on close
        assert again.list_topics() == ["still-works"]


def _run(code: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def test_second_manager_in_another_process_names_the_holder(data_dir: Path) -> None:
    with LogManager(data_dir):
        assert read_lock_info(data_dir) == {"pid": os.getpid()}
        result = _run(
            """
            import sys
            from logcore import LogManager
            from logcore.errors import DataDirLocked
            try:
                LogManager(sys.argv[1])
            except DataDirLocked as e:
                print(e.pid)
                print(e)
            else:
                print("acquired")
            """,
            str(data_dir),
        )
    assert result.returncode == 0, result.stderr
    pid_line, message = result.stdout.splitlines()[:2]
    assert pid_line == str(os.getpid())
    assert str(os.getpid()) in message and str(data_dir) in message


def test_lock_held_by_child_process_and_released_when_it_dies(data_dir: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    code = textwrap.dedent(
        """
        import sys, time
        from logcore import LogManager
        lm = LogManager(sys.argv[1])
        print("locked", flush=True)
        time.sleep(60)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", code, str(data_dir)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "locked"
        with pytest.raises(DataDirLocked) as exc:
            LogManager(data_dir)
        assert exc.value.pid == child.pid
        assert str(child.pid) in str(exc.value)
    finally:
        child.kill()
        child.wait(10)
    # The kernel drops a dead process's flock: the directory is free.
    with LogManager(data_dir) as lm:
        assert lm.list_topics() == []
        assert read_lock_info(data_dir)["pid"] == os.getpid()


def test_advertise_writes_lock_info(lm: LogManager, data_dir: Path) -> None:
    lm.advertise(url="http://127.0.0.1:8000")
    assert read_lock_info(data_dir) == {"pid": os.getpid(), "url": "http://127.0.0.1:8000"}


# --- events -------------------------------------------------------------------------------


def test_events_reach_callback_subscribers(lm: LogManager) -> None:
    seen: list[Event] = []
    lm.events.subscribe(seen.append)
    lm.create_topic("t", 2)
    lm.partition("t", 1).append(b"k", b"v")
    lm.partition("t", 1).append_batch([(b"a", b"1"), (b"b", b"2")])
    lm.partition("t", 1).delete_records(2)
    lm.add_partitions("t", 3)
    lm.delete_topic("t")
    assert [type(e) for e in seen] == [
        TopicCreated,
        RecordsAppended,
        RecordsAppended,
        RecordsDeleted,
        PartitionsAdded,
        TopicDeleted,
    ]
    created, app1, app2, deleted, added, gone = seen
    assert (created.topic, created.partitions) == ("t", 2)  # type: ignore[attr-defined]
    assert (app1.topic, app1.partition, app1.base_offset, app1.last_offset, app1.high_watermark) == (  # type: ignore[attr-defined]
        "t",
        1,
        0,
        0,
        1,
    )
    assert (app2.base_offset, app2.last_offset, app2.high_watermark) == (1, 2, 3)  # type: ignore[attr-defined]
    assert (deleted.partition, deleted.log_start_offset, deleted.reason) == (1, 2, "delete-records")  # type: ignore[attr-defined]
    assert added.partitions == 3  # type: ignore[attr-defined]
    assert gone.topic == "t"  # type: ignore[attr-defined]
    assert [e.version for e in seen] == sorted(e.version for e in seen)


def test_events_reach_asyncio_subscribers(lm: LogManager, clock: ManualClock) -> None:
    async def main() -> list[Event]:
        sub = lm.events.subscribe_async()
        lm.create_topic("t", 1, {"retention.ms": "1000"})
        lm.partition("t", 0).append(b"k", b"v")
        clock.advance(1001)
        lm.maintenance()
        lm.delete_topic("t")
        got = [await asyncio.wait_for(sub.get(), 2) for _ in range(4)]
        sub.close()
        return got

    got = asyncio.run(main())
    assert [type(e) for e in got] == [TopicCreated, RecordsAppended, RecordsDeleted, TopicDeleted]
    assert got[2].reason == "retention"  # type: ignore[attr-defined]


# --- housekeeping ---------------------------------------------------------------------


def test_maintenance_runs_retention_and_compaction(lm: LogManager, clock: ManualClock) -> None:
    lm.create_topic("old", 1, {"retention.ms": "1000", "segment.bytes": "100"})
    lm.create_topic("kv", 1, {"cleanup.policy": "compact", "segment.bytes": "100"})
    for i in range(6):
        lm.partition("old", 0).append(b"k", b"v%d" % i)
        lm.partition("kv", 0).append(b"same", b"v%d" % i)
    clock.advance(1001)
    result = lm.maintenance()
    assert result["segments_deleted"] >= 1
    assert result["records_compacted"] >= 1
    assert lm.partition("old", 0).log_start_offset == 6
    kv = lm.partition("kv", 0)
    assert kv.read(0)[-1].value == b"v5"


def test_produce_with_explicit_partition(lm: LogManager) -> None:
    lm.create_topic("t", 3)
    assert lm.produce("t", b"v", partition=2) == (2, 0)
    assert lm.produce("t", b"w", partition=2, headers=[("h", b"1")], timestamp=5) == (2, 1)
    rec = lm.partition("t", 2).read(1)[0]
    assert (rec.value, rec.headers, rec.timestamp) == (b"w", (("h", b"1"),), 5)
    with pytest.raises(UnknownTopicOrPartition, match="0 to 2"):
        lm.produce("t", b"v", partition=3)
    p, _ = lm.produce("t", b"v", key=b"some-key")
    assert 0 <= p < 3
    assert lm.produce("t", b"v2", key=b"some-key")[0] == p  # same key, same partition


def test_producing_to_consumer_offsets_is_refused_everywhere(tmp_path: Path) -> None:
    """Regression: `offsetsite produce --topic __consumer_offsets` (offline) exited 0 and
    the data directory then refused to open (a record of the wrong layout)."""
    from logcore import EmbeddedCluster
    from logcore.errors import InvalidTopic

    with EmbeddedCluster(tmp_path / "d") as cluster:
        with pytest.raises(InvalidTopic, match="only the group coordinator writes"):
            cluster.produce("__consumer_offsets", b"not a commit", key=b"junk")
        cluster.create_topic("t", 1)
        cluster.commit_offsets("g", {("t", 0): 0})
    with EmbeddedCluster(tmp_path / "d") as reopened:  # still opens, the commit intact
        assert reopened.committed_offsets("g")[("t", 0)].offset == 0


# --- topic names that collide with the engine's files ---------------------------------

ODD_NAMES = [
    "x" * 249,
    "." + "y" * 248,
    "a.b-c_" * 41 + "abc",  # 249 characters of every legal kind
    ".hidden",
    "__x",
    ".cli-token",
    ".cli-token.0a1b2c3d.tmp",
    "restore-points.json",
    "restore-points.json.tmp",
    "offsetsite.lock",
    ".lock",
    "topic.json",
    "x." + "0" * 32 + "-delete",
    "-",
    "...",
]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_odd_topic_names_live_apart_from_engine_files(data_dir: Path, clock: ManualClock, name: str) -> None:
    assert len("a.b-c_" * 41 + "abc") == 249
    engine_files = {".cli-token": "secret", "restore-points.json": "{}", "offsetsite.lock": ""}
    with LogManager(data_dir, clock=clock) as lm:
        for file, text in engine_files.items():
            (data_dir / file).write_text(text)
        lm.create_topic(name, partitions=2)
        lm.produce(name, b"v1", partition=0)
        lm.delete_topic(name)
        assert not lm.has_topic(name)
        lm.create_topic(name)
        lm.produce(name, b"v2", partition=0)
        assert lm.describe_topic(name).partitions[0].high_watermark == 1
    with LogManager(data_dir, clock=clock) as lm:
        assert lm.list_topics() == [name]
        assert len(lm.describe_topic(name).partitions) == 1
        assert lm.describe_topic(name).partitions[0].high_watermark == 1
        lm.delete_topic(name)
    with LogManager(data_dir, clock=clock) as lm:
        assert lm.list_topics() == []  # a deleted topic stays deleted
    for file, text in engine_files.items():
        assert (data_dir / file).read_text() == text  # the engine's files are untouched
    assert sorted(p.name for p in data_dir.iterdir()) == sorted([".lock", *engine_files])


def test_plain_names_keep_their_directory_and_old_odd_directories_move(data_dir: Path, clock: ManualClock) -> None:
    with LogManager(data_dir, clock=clock) as lm:
        lm.create_topic("orders")
        lm.create_topic("__consumer_x")
        lm.produce("orders", b"v")
    assert (data_dir / "orders" / "topic.json").is_file()  # short plain names: as before
    assert (data_dir / "__consumer_x" / "topic.json").is_file()
    # A data directory written before the mapping: a topic named like an engine file.
    old = data_dir / ".cli-token"
    (old / "0").mkdir(parents=True)
    (old / "topic.json").write_text(
        json.dumps({"name": ".cli-token", "partitions": 1, "config": {}, "internal": False})
    )
    with LogManager(data_dir, clock=clock) as lm:
        assert lm.list_topics() == [".cli-token", "__consumer_x", "orders"]
        lm.produce(".cli-token", b"v")
    assert not old.exists()  # moved out of the engine's namespace on open
    with LogManager(data_dir, clock=clock) as lm:
        assert lm.describe_topic(".cli-token").partitions[0].high_watermark == 1


# --- produce_many: a burst as batches ------------------------------------------------


def test_produce_many_places_like_produce_and_writes_a_batch_per_partition(lm: LogManager) -> None:
    from logcore import ProduceRecord
    from logcore.partitioner import partition_for_key

    lm.create_topic("burst", partitions=3)
    seen: list[Event] = []
    lm.events.subscribe(seen.append)
    records = [ProduceRecord(b"v%d" % i, key=b"k%d" % i, headers=(("h", b"%d" % i),)) for i in range(30)]
    records.append(ProduceRecord(b"pinned", partition=1, timestamp=T0 - 5))
    placed = lm.produce_many("burst", records)
    assert [p for p, _ in placed[:30]] == [partition_for_key(b"k%d" % i, 3) for i in range(30)]
    assert placed[30][0] == 1
    for p in range(3):
        offsets = [o for q, o in placed if q == p]
        assert offsets == list(range(len(offsets)))  # in the order given, no gaps
        records_read = lm.partition("burst", p).read(0, 100)
        assert [r.offset for r in records_read] == offsets
    back = {r.value: r for p in range(3) for r in lm.partition("burst", p).read(0, 100)}
    assert back[b"v7"].key == b"k7" and tuple(back[b"v7"].headers) == (("h", b"7"),)
    assert back[b"pinned"].timestamp == T0 - 5
    appended = [e for e in seen if isinstance(e, RecordsAppended)]
    assert len(appended) == 3  # one batch a partition, not one event a record


def test_produce_many_checks_every_record_before_writing_any(lm: LogManager) -> None:
    from logcore import ProduceRecord

    lm.create_topic("burst", partitions=2)
    with pytest.raises(UnknownTopicOrPartition, match="valid partitions are 0 to 1"):
        lm.produce_many("burst", [ProduceRecord(b"ok", partition=0), ProduceRecord(b"bad", partition=2)])
    assert lm.partition("burst", 0).high_watermark == 0


def test_produce_many_splits_a_burst_bigger_than_one_batch(lm: LogManager) -> None:
    from logcore import ProduceRecord

    lm.create_topic("big", partitions=1, config={"max.message.bytes": "10000"})
    records = [ProduceRecord(bytes([i % 256]) * 900, partition=0) for i in range(40)]  # 36 KB in all
    placed = lm.produce_many("big", records)
    assert placed == [(0, i) for i in range(40)]
    assert [r.value for r in lm.partition("big", 0).read(0, 100)] == [r.value for r in records]
