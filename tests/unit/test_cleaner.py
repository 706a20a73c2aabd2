"""Compaction (cleanup.policy=compact): last value per key, tombstones, gaps, durability."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from logcore import ManualClock, PartitionLog, Record, TopicConfig
from logcore.errors import InvalidRecord
from logcore.events import EventBus, RecordsDeleted
from logcore.records import encode_one

T0 = 1_700_000_000_000
DAY = 24 * 3600 * 1000
# One single-record batch with a 2-byte key and a 3-byte value.
BATCH = len(encode_one(0, b"k0", b"v00", T0))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


OpenLog = Callable[..., PartitionLog]


@pytest.fixture
def open_log(tmp_path: Path, clock: ManualClock) -> OpenLog:
    def _open(events: EventBus | None = None, **config: Any) -> PartitionLog:
        overrides = {"cleanup.policy": "compact"}
        overrides.update({k.replace("_", "."): str(v) for k, v in config.items()})
        return PartitionLog(tmp_path / "c-0", "c", 0, TopicConfig.from_dict(overrides), clock=clock, events=events)

    return _open


def read_all(p: PartitionLog) -> list[Record]:
    out: list[Record] = []
    offset = p.log_start_offset
    while offset < p.high_watermark:
        got = p.read(offset, max_records=1000)
        if not got:
            break
        out.extend(got)
        offset = got[-1].offset + 1
    return out


def kv(p: PartitionLog) -> list[tuple[int, bytes | None, bytes | None]]:
    return [(r.offset, r.key, r.value) for r in read_all(p)]


def test_compaction_keeps_last_value_per_key(open_log: OpenLog) -> None:
    p = open_log()
    for i, key in enumerate([b"a", b"b", b"a", b"c", b"b", b"a"]):
        p.append(key, b"v%d" % i)
    p.roll()
    p.append(b"d", b"active")
    p.append(b"a", b"active-a")  # keys in the active segment supersede cleaned ones too
    removed = p.compact()
    assert removed == 4
    assert kv(p) == [(3, b"c", b"v3"), (4, b"b", b"v4"), (6, b"d", b"active"), (7, b"a", b"active-a")]
    assert (p.log_start_offset, p.high_watermark) == (0, 8)
    assert p.compact() == 0  # nothing left to do


def test_active_segment_is_never_cleaned(open_log: OpenLog) -> None:
    p = open_log()
    for i in range(5):
        p.append(b"same", b"v%d" % i)
    assert p.compact() == 0
    assert len(read_all(p)) == 5


def test_offsets_of_kept_records_do_not_change_and_gaps_are_skipped(open_log: OpenLog) -> None:
    p = open_log(segment_bytes=BATCH * 4)
    keys = [b"k%d" % (i % 3) for i in range(12)]
    for i, key in enumerate(keys):
        p.append(key, b"v%02d" % i)
    p.append(b"zz", b"end")  # offset 12 rolls a new active segment; 0..11 are cleanable
    assert p.segment_bases() == [0, 4, 8, 12]
    p.compact()
    assert kv(p) == [(9, b"k0", b"v09"), (10, b"k1", b"v10"), (11, b"k2", b"v11"), (12, b"zz", b"end")]
    # A read from inside a gap starts at the next record kept; offsets are the old ones.
    for start in range(10):
        assert p.read(start, max_records=1)[0].offset == 9
    assert [r.offset for r in p.read(10, max_records=2)] == [10, 11]
    assert p.read(13) == []
    assert (p.log_start_offset, p.high_watermark) == (0, 13)


def test_partially_compacted_batches_keep_their_offsets(open_log: OpenLog) -> None:
    p = open_log()
    p.append_batch([(b"a", b"1"), (b"b", b"2"), (b"a", b"3"), (b"c", b"4"), (b"b", b"5")])
    p.append_batch([(b"c", b"6", (("h", b"x"),), T0 - 9), (b"d", b"7", (), None)])
    p.roll()
    p.append(b"e", b"8")
    assert p.compact() == 3
    recs = read_all(p)
    assert [(r.offset, r.key, r.value) for r in recs] == [
        (2, b"a", b"3"),
        (4, b"b", b"5"),
        (5, b"c", b"6"),
        (6, b"d", b"7"),
        (7, b"e", b"8"),
    ]
    assert recs[2].headers == (("h", b"x"),) and recs[2].timestamp == T0 - 9
    assert [r.offset for r in p.read(3, max_records=2)] == [4, 5]


def test_tombstones_kept_until_delete_retention_then_removed(open_log: OpenLog, clock: ManualClock) -> None:
    bus = EventBus()
    seen: list[object] = []
    bus.subscribe(seen.append)
    p = open_log(events=bus, delete_retention_ms=DAY)
    p.append(b"a", b"1")
    p.append(b"b", b"2")
    p.append(b"a", None)  # tombstone for a
    p.roll()
    clock.advance(1000)
    p.append(b"c", b"3")
    assert p.compact() == 1  # the old value of a goes, the tombstone stays
    assert kv(p) == [(1, b"b", b"2"), (2, b"a", None), (3, b"c", b"3")]
    clock.advance(DAY - 1000)  # exactly delete.retention.ms after the segment's newest record
    assert p.compact() == 0
    clock.advance(1)
    assert p.compact() == 1
    assert kv(p) == [(1, b"b", b"2"), (3, b"c", b"3")]
    reasons = [e.reason for e in seen if isinstance(e, RecordsDeleted)]
    assert reasons == ["compaction", "compaction"]


def test_tombstone_in_active_segment_stays(open_log: OpenLog, clock: ManualClock) -> None:
    p = open_log(delete_retention_ms=0)
    p.append(b"a", b"1")
    p.roll()
    p.append(b"a", None)
    clock.advance(10 * DAY)
    p.compact()
    assert kv(p) == [(1, b"a", None)]


def test_min_compaction_lag(open_log: OpenLog, clock: ManualClock) -> None:
    p = open_log(min_compaction_lag_ms=5000)
    p.append(b"a", b"1")
    p.append(b"a", b"2")
    p.roll()
    p.append(b"x", b"y")
    clock.advance(4999)
    assert p.compact() == 0
    clock.advance(1)
    assert p.compact() == 1


def test_compacted_topic_refuses_null_keys(open_log: OpenLog) -> None:
    p = open_log()
    p.append(b"a", b"1")
    with pytest.raises(InvalidRecord, match="without a key"):
        p.append(None, b"v")
    with pytest.raises(InvalidRecord, match="without a key"):
        p.append_batch([(b"k", b"v"), (None, b"v")])
    with pytest.raises(InvalidRecord, match="without a key"):
        p.append_batch([(None, b"v", (), None)])
    assert p.high_watermark == 1 and kv(p) == [(0, b"a", b"1")]


def test_compact_is_a_no_op_for_delete_policy(tmp_path: Path, clock: ManualClock) -> None:
    p = PartitionLog(tmp_path / "d", "d", 0, TopicConfig(), clock=clock)
    p.append(b"a", b"1")
    p.append(b"a", b"2")
    p.roll()
    p.append(None, b"x")  # null keys are fine here
    assert p.compact() == 0
    assert len(read_all(p)) == 3


@pytest.mark.parametrize("how", ["close", "abandon"])
def test_compacted_log_survives_reopen(open_log: OpenLog, how: str) -> None:
    p = open_log(segment_bytes=BATCH * 3, index_interval_bytes=0)
    for i in range(20):
        p.append(b"k%d" % (i % 4), b"v%02d" % i)
    p.compact()
    before = kv(p)
    bases = p.segment_bases()
    assert len(before) < 20
    getattr(p, how)()
    p = open_log(segment_bytes=BATCH * 3, index_interval_bytes=0)
    assert kv(p) == before
    assert p.segment_bases() == bases
    assert p.high_watermark == 20
    for start in range(20):
        got = p.read(start, max_records=1)
        assert got[0].offset == min(o for o, _, _ in before if o >= start)
    assert p.append(b"k0", b"after") == 20


def test_segments_emptied_by_compaction_are_removed(open_log: OpenLog) -> None:
    p = open_log(segment_bytes=BATCH * 2)
    for i in range(6):
        p.append(b"k0", b"v%02d" % i)  # segments 0 2 4
    p.append(b"k1", b"end")  # segment 6 (active)
    assert p.segment_bases() == [0, 2, 4, 6]
    p.compact()
    # Kafka keeps the first segment (it holds the log start); empty later ones go.
    assert p.segment_bases() == [0, 4, 6]
    assert kv(p) == [(5, b"k0", b"v05"), (6, b"k1", b"end")]
    assert p.log_start_offset == 0
    assert p.read(0, max_records=1)[0].offset == 5


def test_offset_for_timestamp_after_compaction(open_log: OpenLog, clock: ManualClock) -> None:
    p = open_log(segment_bytes=BATCH * 3)
    for i in range(9):
        p.append(b"k%d" % (i % 2), b"v%02d" % i, timestamp=T0 + i * 100)
    p.append(b"k2", b"end", timestamp=T0 + 900)
    clock.advance(10_000)
    p.compact()
    kept = [o for o, _, _ in kv(p)]
    assert kept == [7, 8, 9]
    assert p.offset_for_timestamp(T0) == (7, T0 + 700)
    assert p.offset_for_timestamp(T0 + 750) == (8, T0 + 800)
    assert p.offset_for_timestamp(T0 + 801) == (9, T0 + 900)
    assert p.offset_for_timestamp(T0 + 901) is None
    assert p.offset_for_timestamp(-3) == (9, T0 + 900)


def test_compact_delete_policy_retention_still_works(open_log: OpenLog, clock: ManualClock) -> None:
    p = open_log(cleanup_policy="compact,delete", retention_ms=1000, segment_bytes=BATCH * 2)
    for i in range(6):
        p.append(b"k0", b"v%02d" % i)
    p.append(b"k1", b"end")
    p.compact()  # the first segment is now empty
    assert p.segment_bases() == [0, 4, 6]
    assert p._all_segments()[0].size == 0
    clock.advance(1001)
    p.enforce_retention()
    # Every segment is older than retention.ms: all go, the log start is the log end.
    assert (p.log_start_offset, p.high_watermark) == (7, 7)
    assert read_all(p) == []
