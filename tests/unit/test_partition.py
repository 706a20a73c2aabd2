"""PartitionLog: offsets, reads, timestamps, delete-records, retention, rolls, recovery."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from logcore import ManualClock, PartitionLog, Record, TopicConfig
from logcore.errors import (
    InvalidRecord,
    OffsetOutOfRange,
    RecordTooLarge,
    StorageClosed,
)
from logcore.events import EventBus, RecordsAppended, RecordsDeleted
from logcore.partition import META_FILE
from logcore.records import encode_one
from logcore.segment import LogSegment

T0 = 1_700_000_000_000
# One single-record batch with a 1-byte key and a 10-byte value.
BATCH = len(encode_one(0, b"k", bytes(10), T0))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


OpenLog = Callable[..., PartitionLog]


@pytest.fixture
def open_log(tmp_path: Path, clock: ManualClock) -> OpenLog:
    """Open (or reopen) the partition under test with Kafka-named config overrides."""

    def _open(events: EventBus | None = None, **config: Any) -> PartitionLog:
        cfg = TopicConfig.from_dict({k.replace("_", "."): v for k, v in config.items()})
        return PartitionLog(tmp_path / "t-0", "t", 0, cfg, clock=clock, events=events)

    return _open


def read_all(p: PartitionLog) -> list[Record]:
    out: list[Record] = []
    offset = p.log_start_offset
    while offset < p.high_watermark:
        batch = p.read(offset, max_records=1000, max_bytes=1 << 30)
        if not batch:
            break
        out.extend(batch)
        offset = batch[-1].offset + 1
    return out


def values(p: PartitionLog) -> list[bytes | None]:
    return [r.value for r in read_all(p)]


def fill(p: PartitionLog, n: int, start: int = 0, ts: int | None = None) -> None:
    for i in range(start, start + n):
        p.append(b"k", b"v%09d" % i, timestamp=ts)


def state(p: PartitionLog) -> tuple[int, int, int, int, list[Record]]:
    return p.log_start_offset, p.high_watermark, p.log_end_offset, p.size_bytes, read_all(p)


# --- appends and offsets -----------------------------------------------------------


def test_empty_log(open_log: OpenLog) -> None:
    p = open_log()
    assert (p.log_start_offset, p.high_watermark, p.log_end_offset) == (0, 0, 0)
    assert p.size_bytes == 0 and p.segment_count == 1
    assert p.read(0) == []


def test_append_assigns_consecutive_offsets(open_log: OpenLog) -> None:
    p = open_log()
    assert [p.append(b"k", b"v%d" % i) for i in range(5)] == [0, 1, 2, 3, 4]
    assert p.log_start_offset == 0
    assert p.high_watermark == p.log_end_offset == 5
    assert p.append_batch([(b"a", b"1"), (b"b", b"2"), (None, b"3")]) == 5
    assert p.high_watermark == p.log_end_offset == 8
    assert p.append(None, b"x") == 8
    assert [r.offset for r in read_all(p)] == list(range(9))
    assert [r.value for r in read_all(p)][5:] == [b"1", b"2", b"3", b"x"]


def test_headers_and_nulls_round_trip_and_survive_reopen(open_log: OpenLog) -> None:
    p = open_log()
    hs = (("trace-id", b"\x00\x01"), ("empty", b""), ("null", None), ("ключ", b"v"))
    p.append(None, None)
    p.append(b"", b"")
    p.append(b"k", None, headers=hs)
    p.append_batch([(None, b"a", hs, None), (b"k2", None, (), None), (b"k3", b"c", [("x", b"y")], None)])
    p.append(bytearray(b"ba"), memoryview(b"mv"))
    expected = [
        (None, None, ()),
        (b"", b"", ()),
        (b"k", None, hs),
        (None, b"a", hs),
        (b"k2", None, ()),
        (b"k3", b"c", (("x", b"y"),)),
        (b"ba", b"mv", ()),
    ]
    assert [(r.key, r.value, r.headers) for r in read_all(p)] == expected
    p.close()
    p = open_log()
    assert [(r.key, r.value, r.headers) for r in read_all(p)] == expected
    assert all(type(r.key) in (bytes, type(None)) for r in read_all(p))


def test_timestamps_given_or_now(open_log: OpenLog, clock: ManualClock) -> None:
    p = open_log()
    p.append(b"k", b"now")
    clock.advance(1234)
    p.append(b"k", b"given", timestamp=5)
    p.append(b"k", b"now2")
    p.append_batch([(b"a", b"1"), (b"b", b"2")])
    p.append_batch([(b"a", b"1"), (b"b", b"2")], timestamp=77)
    p.append_batch([(b"a", b"1", (), None), (b"b", b"2", (), 99)], timestamp=88)
    p.append_batch([(b"a", b"1", (), None), (b"b", b"2", (), 0)])
    ts = [r.timestamp for r in read_all(p)]
    now = T0 + 1234
    assert ts == [T0, 5, now, now, now, 77, 77, 88, 99, now, 0]


def test_log_append_time_overrides_given_timestamps(open_log: OpenLog, clock: ManualClock) -> None:
    p = open_log(message_timestamp_type="LogAppendTime")
    p.append(b"k", b"v", timestamp=5)
    p.append_batch([(b"a", b"1", (), 7)], timestamp=9)
    assert [r.timestamp for r in read_all(p)] == [T0, T0]


# --- reads ---------------------------------------------------------------------------


def test_read_max_records(open_log: OpenLog) -> None:
    p = open_log()
    fill(p, 10)
    assert [r.offset for r in p.read(0, max_records=3)] == [0, 1, 2]
    assert [r.offset for r in p.read(7, max_records=100)] == [7, 8, 9]
    assert p.read(4, max_records=0) == []
    # A batch is cut to max_records too.
    p.append_batch([(b"k", b"%d" % i) for i in range(10)])
    assert [r.offset for r in p.read(12, max_records=4)] == [12, 13, 14, 15]
    assert [r.offset for r in p.read(9, max_records=2)] == [9, 10]


def test_read_max_bytes_returns_at_least_one_record(open_log: OpenLog) -> None:
    p = open_log()
    p.append(b"big", bytes(5000))
    p.append(b"small", b"x")
    p.append(b"small", b"y")
    assert [r.offset for r in p.read(0, max_bytes=10)] == [0]
    assert [r.offset for r in p.read(0, max_bytes=1)] == [0]
    assert [r.offset for r in p.read(0, max_bytes=0)] == [0]
    assert [r.offset for r in p.read(1, max_bytes=1)] == [1]
    assert [r.offset for r in p.read(0, max_bytes=1 << 20)] == [0, 1, 2]
    fill(p, 100)
    got = p.read(3, max_bytes=10 * BATCH)
    assert 5 <= len(got) <= 11  # about max_bytes: whole batches, budget checked after each
    assert [r.offset for r in got] == list(range(3, 3 + len(got)))


def test_read_at_log_end_is_empty_not_an_error(open_log: OpenLog) -> None:
    p = open_log()
    assert p.read(0) == []
    fill(p, 3)
    assert p.read(3) == []
    assert p.read(3, max_records=10, max_bytes=10) == []


@pytest.mark.parametrize("offset", [-1, 4, 100])
def test_read_out_of_range_names_valid_range(open_log: OpenLog, offset: int) -> None:
    p = open_log()
    fill(p, 3)
    with pytest.raises(OffsetOutOfRange) as exc:
        p.read(offset)
    msg = str(exc.value)
    assert str(offset) in msg and "0 to 3" in msg
    assert (exc.value.offset, exc.value.log_start, exc.value.log_end) == (offset, 0, 3)


def test_read_below_log_start_after_delete_is_out_of_range(open_log: OpenLog) -> None:
    p = open_log()
    fill(p, 10)
    p.delete_records(4)
    with pytest.raises(OffsetOutOfRange, match="4 to 10"):
        p.read(3)
    assert p.read(4, max_records=1)[0].offset == 4


def test_read_across_many_segments(open_log: OpenLog) -> None:
    p = open_log(segment_bytes=BATCH * 3, index_interval_bytes=BATCH)
    fill(p, 50)
    assert p.segment_count == 17
    assert p.segment_bases()[:4] == [0, 3, 6, 9]
    for start in range(50):
        got = p.read(start, max_records=7)
        assert [r.offset for r in got] == list(range(start, min(start + 7, 50)))
        assert got[0].value == b"v%09d" % start
    assert len(p.read(0, max_records=1000)) == 50


def test_read_with_batches_inside_segments(open_log: OpenLog) -> None:
    p = open_log(segment_bytes=400, index_interval_bytes=100)
    expected = []
    for i in range(40):
        n = 1 + i % 4
        recs = [(b"k", b"%d-%d" % (i, j)) for j in range(n)]
        p.append_batch(recs)
        expected.extend(v for _, v in recs)
    assert p.segment_count > 5
    assert values(p) == expected
    for start in range(0, len(expected), 3):
        assert [r.value for r in p.read(start, max_records=5)] == expected[start : start + 5]


def test_timestamp_at(open_log: OpenLog) -> None:
    p = open_log()
    p.append(b"k", b"v", timestamp=10)
    p.append(b"k", b"v", timestamp=20)
    assert p.timestamp_at(1) == 20
    assert p.timestamp_at(2) is None
    assert p.timestamp_at(-1) is None


# --- bad input leaves the log unchanged ----------------------------------------------


def _bad_appends() -> list[tuple[str, Callable[[PartitionLog], Any], type[Exception]]]:
    big = bytes(2000)
    return [
        ("too large", lambda p: p.append(b"k", big), RecordTooLarge),
        ("batch too large", lambda p: p.append_batch([(b"k", bytes(600))] * 3), RecordTooLarge),
        ("str key", lambda p: p.append("k", b"v"), InvalidRecord),
        ("int value", lambda p: p.append(b"k", 5), InvalidRecord),
        ("str value in batch", lambda p: p.append_batch([(b"k", b"v"), (b"k", "v")]), InvalidRecord),
        ("negative ts", lambda p: p.append(b"k", b"v", timestamp=-5), InvalidRecord),
        ("negative ts in batch", lambda p: p.append_batch([(b"k", b"v", (), 1), (b"k", b"v", (), -1)]), InvalidRecord),
        ("negative batch ts", lambda p: p.append_batch([(b"k", b"v")], timestamp=-1), InvalidRecord),
        ("str ts", lambda p: p.append(b"k", b"v", timestamp="1"), InvalidRecord),
        ("float ts", lambda p: p.append(b"k", b"v", timestamp=1.5), InvalidRecord),
        ("bool ts", lambda p: p.append(b"k", b"v", timestamp=True), InvalidRecord),
        ("float ts in batch", lambda p: p.append_batch([(b"k", b"v", (), 1.5)]), InvalidRecord),
        ("header key not str", lambda p: p.append(b"k", b"v", headers=[(1, b"x")]), InvalidRecord),
        ("header value str", lambda p: p.append(b"k", b"v", headers=[("h", "x")]), InvalidRecord),
        ("header not a pair", lambda p: p.append(b"k", b"v", headers=[("h",)]), InvalidRecord),
        ("bad header in batch", lambda p: p.append_batch([(b"k", b"v", [("h", 3)], None)]), InvalidRecord),
        ("empty batch", lambda p: p.append_batch([]), InvalidRecord),
        ("ragged batch", lambda p: p.append_batch([(b"k", b"v"), (b"k", b"v", (), 1)]), InvalidRecord),
        ("3-tuples", lambda p: p.append_batch([(b"k", b"v", ())]), InvalidRecord),
    ]


@pytest.mark.parametrize(("case", "bad", "error"), _bad_appends(), ids=[c[0] for c in _bad_appends()])
def test_bad_input_leaves_log_unchanged(
    open_log: OpenLog, case: str, bad: Callable[[PartitionLog], Any], error: type[Exception]
) -> None:
    p = open_log(max_message_bytes=1000, segment_bytes=BATCH * 4)
    fill(p, 6)
    before = state(p)
    bases = p.segment_bases()
    with pytest.raises(error):
        bad(p)
    assert state(p) == before
    assert p.segment_bases() == bases
    # And the log goes on normally.
    assert p.append(b"k", b"after") == 6
    p.close()
    p = open_log(max_message_bytes=1000, segment_bytes=BATCH * 4)
    assert values(p)[-1] == b"after" and p.high_watermark == 7


def test_record_too_large_names_the_limit(open_log: OpenLog) -> None:
    p = open_log(max_message_bytes=100)
    with pytest.raises(RecordTooLarge, match="max.message.bytes=100"):
        p.append(b"k", bytes(101))
    with pytest.raises(RecordTooLarge, match="max.message.bytes=100"):
        p.append_batch([(b"k", bytes(30))] * 3)
    p.append(b"k", bytes(80))
    p.append_batch([(b"k", bytes(20))] * 3)
    assert p.high_watermark == 4


def test_closed_log_refuses_appends_and_reads(open_log: OpenLog) -> None:
    p = open_log()
    fill(p, 3)
    p.close()
    with pytest.raises(StorageClosed):
        p.append(b"k", b"v")
    with pytest.raises(StorageClosed):
        p.append_batch([(b"k", b"v")])
    with pytest.raises(StorageClosed):
        p.read(0)
    p.close()  # idempotent


# --- timestamp lookup ------------------------------------------------------------------


def test_offset_for_timestamp_special_values(open_log: OpenLog) -> None:
    p = open_log()
    assert p.offset_for_timestamp(-2) == (0, -1)
    assert p.offset_for_timestamp(-1) == (0, -1)
    assert p.offset_for_timestamp(-3) is None
    assert p.offset_for_timestamp(0) is None
    for ts in [100, 300, 200, 300, 50]:
        p.append(b"k", b"v", timestamp=ts)
    assert p.offset_for_timestamp(-2) == (0, -1)
    assert p.offset_for_timestamp(-1) == (5, -1)
    assert p.offset_for_timestamp(-3) == (1, 300)  # the first record with the max timestamp
    p.delete_records(2)
    assert p.offset_for_timestamp(-2) == (2, -1)
    assert p.offset_for_timestamp(-3) == (3, 300)
    with pytest.raises(InvalidRecord):
        p.offset_for_timestamp(-4)


def test_offset_for_max_timestamp_respects_log_start(open_log: OpenLog) -> None:
    p = open_log()
    p.append(b"k", b"v", timestamp=500)
    p.append(b"k", b"v", timestamp=100)
    p.append(b"k", b"v", timestamp=200)
    p.delete_records(1)
    assert p.offset_for_timestamp(-3) == (2, 200)
    p.append_batch([(b"a", b"1", (), 900), (b"b", b"2", (), 150)])
    p.delete_records(4)
    assert p.offset_for_timestamp(-3) == (4, 150)


def test_offset_for_timestamp_first_offset_at_or_after(open_log: OpenLog) -> None:
    p = open_log(segment_bytes=BATCH * 4, index_interval_bytes=BATCH)
    ts = [10, 20, 20, 30, 25, 40, 40, 35, 50, 60, 55, 70]
    for t in ts:
        p.append(b"k", bytes(10), timestamp=t)
    assert p.segment_count == 3

    def expected(t: int) -> tuple[int, int] | None:
        start = p.log_start_offset
        return next(((o, ts[o]) for o in range(start, len(ts)) if ts[o] >= t), None)

    for t in range(80):
        assert p.offset_for_timestamp(t) == expected(t), t
    assert p.offset_for_timestamp(71) is None
    for start in (2, 5, 9):
        p.delete_records(start)
        for t in range(80):
            assert p.offset_for_timestamp(t) == expected(t), (start, t)


def test_offset_for_timestamp_in_batches(open_log: OpenLog) -> None:
    p = open_log(segment_bytes=300)
    p.append_batch([(b"a", b"1", (), 100), (b"b", b"2", (), 300), (b"c", b"3", (), 200)])
    p.append_batch([(b"a", b"1", (), 250), (b"b", b"2", (), 400)])
    assert p.offset_for_timestamp(150) == (1, 300)
    assert p.offset_for_timestamp(300) == (1, 300)
    assert p.offset_for_timestamp(301) == (4, 400)
    assert p.offset_for_timestamp(401) is None
    p.delete_records(2)
    assert p.offset_for_timestamp(150) == (2, 200)
    assert p.offset_for_timestamp(210) == (3, 250)


def test_offset_for_timestamp_survives_reopen(open_log: OpenLog) -> None:
    p = open_log(segment_bytes=BATCH * 5, index_interval_bytes=BATCH * 2)
    for i in range(40):
        p.append(b"k", bytes(10), timestamp=1000 + 10 * i)
    answers = [p.offset_for_timestamp(t) for t in range(990, 1400, 7)] + [p.offset_for_timestamp(-3)]
    p.close()
    p = open_log(segment_bytes=BATCH * 5, index_interval_bytes=BATCH * 2)
    assert [p.offset_for_timestamp(t) for t in range(990, 1400, 7)] + [p.offset_for_timestamp(-3)] == answers
    p.abandon()
    p = open_log(segment_bytes=BATCH * 5, index_interval_bytes=BATCH * 2)
    assert [p.offset_for_timestamp(t) for t in range(990, 1400, 7)] + [p.offset_for_timestamp(-3)] == answers


# --- delete-records ---------------------------------------------------------------------


def test_delete_records(open_log: OpenLog) -> None:
    p = open_log(segment_bytes=BATCH * 3)
    fill(p, 10)
    assert p.segment_bases() == [0, 3, 6, 9]
    assert p.delete_records(4) == 4
    assert p.log_start_offset == 4
    assert p.segment_bases() == [3, 6, 9]  # only whole segments below the start go
    assert [r.offset for r in read_all(p)] == list(range(4, 10))
    assert p.delete_records(2) == 4  # never goes back
    assert p.delete_records(4) == 4
    assert p.delete_records(6) == 6
    assert p.segment_bases() == [6, 9]
    assert p.high_watermark == 10


def test_delete_records_minus_one_means_hw(open_log: OpenLog) -> None:
    p = open_log(segment_bytes=BATCH * 3)
    fill(p, 10)
    assert p.delete_records(-1) == 10
    assert p.log_start_offset == p.high_watermark == 10
    assert read_all(p) == [] and p.read(10) == []
    # The active segment was replaced by an empty one at the log end.
    assert p.segment_bases() == [10] and p.size_bytes == 0
    assert p.append(b"k", b"next") == 10
    p.close()
    p = open_log(segment_bytes=BATCH * 3)
    assert (p.log_start_offset, p.high_watermark) == (10, 11)
    assert values(p) == [b"next"]


@pytest.mark.parametrize("bad", [11, 100, -2])
def test_delete_records_beyond_hw_refused(open_log: OpenLog, bad: int) -> None:
    p = open_log()
    fill(p, 10)
    before = state(p)
    with pytest.raises(OffsetOutOfRange, match="0 to 10"):
        p.delete_records(bad)
    assert state(p) == before


def test_delete_records_survives_reopen(open_log: OpenLog) -> None:
    p = open_log(segment_bytes=BATCH * 3)
    fill(p, 10)
    p.delete_records(5)
    p.close()
    p = open_log(segment_bytes=BATCH * 3)
    assert p.log_start_offset == 5
    p.delete_records(7)
    p.abandon()
    p = open_log(segment_bytes=BATCH * 3)
    assert p.log_start_offset == 7
    assert [r.offset for r in read_all(p)] == [7, 8, 9]


def test_delete_records_publishes_event(open_log: OpenLog) -> None:
    bus = EventBus()
    seen: list[object] = []
    bus.subscribe(seen.append)
    p = open_log(events=bus)
    fill(p, 4)
    p.delete_records(2)
    appended = [e for e in seen if isinstance(e, RecordsAppended)]
    deleted = [e for e in seen if isinstance(e, RecordsDeleted)]
    assert [(e.base_offset, e.last_offset, e.high_watermark) for e in appended] == [
        (0, 0, 1),
        (1, 1, 2),
        (2, 2, 3),
        (3, 3, 4),
    ]
    assert [(e.topic, e.partition, e.log_start_offset, e.reason) for e in deleted] == [("t", 0, 2, "delete-records")]
    p.delete_records(1)  # no move: no event
    assert len([e for e in seen if isinstance(e, RecordsDeleted)]) == 1


# --- segment rolls ----------------------------------------------------------------------


def test_roll_by_segment_bytes(open_log: OpenLog) -> None:
    p = open_log(segment_bytes=BATCH * 3)
    fill(p, 7)
    assert p.segment_bases() == [0, 3, 6]
    assert sorted(f.name for f in p.directory.glob("*.log")) == [
        "00000000000000000000.log",
        "00000000000000000003.log",
        "00000000000000000006.log",
    ]
    assert p.size_bytes == 7 * BATCH


def test_roll_when_segment_would_exceed(open_log: OpenLog) -> None:
    p = open_log(segment_bytes=BATCH * 3 - 1)
    fill(p, 5)
    assert p.segment_bases() == [0, 2, 4]
    # A batch larger than segment.bytes still goes in, alone in its segment.
    p.append(b"k", bytes(BATCH * 5))
    p.append(b"k", bytes(10))
    assert p.segment_bases() == [0, 2, 4, 5, 6]


def test_roll_by_segment_ms(open_log: OpenLog, clock: ManualClock) -> None:
    p = open_log(segment_ms=1000)
    p.append(b"k", b"a")  # T0
    clock.advance(1000)
    p.append(b"k", b"b")  # exactly segment.ms later: not older than segment.ms yet
    assert p.segment_bases() == [0]
    clock.advance(1)
    p.append(b"k", b"c")
    assert p.segment_bases() == [0, 2]
    clock.advance(999)
    p.append(b"k", b"d")
    assert p.segment_bases() == [0, 2]
    p.append(b"k", b"e", timestamp=T0 + 100_000)  # record timestamps decide, as Kafka's
    assert p.segment_bases() == [0, 2, 4]
    p.close()
    p = open_log(segment_ms=1000)
    p.append(b"k", b"f", timestamp=T0 + 100_500)
    assert p.segment_bases() == [0, 2, 4]
    p.append(b"k", b"g", timestamp=T0 + 101_001)
    assert p.segment_bases() == [0, 2, 4, 6]


def test_explicit_roll(open_log: OpenLog) -> None:
    p = open_log()
    p.roll()
    assert p.segment_bases() == [0]  # empty active: no-op
    fill(p, 2)
    p.roll()
    p.roll()
    assert p.segment_bases() == [0, 2]
    assert p.segment_count == 2


# --- retention --------------------------------------------------------------------------


def _segments_with_timestamps(p: PartitionLog, per_segment: list[list[int]]) -> None:
    for stamps in per_segment:
        for ts in stamps:
            p.append(b"k", bytes(10), timestamp=ts)
        p.roll()


def test_retention_by_time_deletes_expired_oldest_first(open_log: OpenLog) -> None:
    p = open_log(retention_ms=1000)
    _segments_with_timestamps(p, [[100, 200], [300, 400], [500, 600]])
    p.append(b"k", bytes(10), timestamp=700)  # active segment at 6
    assert p.segment_bases() == [0, 2, 4, 6]
    # now - max > retention.ms; a segment whose newest record is exactly retention.ms old stays.
    assert p.enforce_retention(now_ms=1200) == 0
    assert p.enforce_retention(now_ms=1201) == 1
    assert p.segment_bases() == [2, 4, 6]
    assert p.log_start_offset == 2
    assert p.enforce_retention(now_ms=1601) == 2
    assert p.segment_bases() == [6]
    assert p.log_start_offset == 6
    assert [r.offset for r in read_all(p)] == [6]


def test_retention_by_time_stops_at_first_segment_that_may_not_go(open_log: OpenLog) -> None:
    p = open_log(retention_ms=1000)
    _segments_with_timestamps(p, [[100], [5000], [200]])  # the middle one is new
    p.append(b"k", bytes(10), timestamp=6000)
    assert p.enforce_retention(now_ms=3000) == 1
    assert p.segment_bases() == [1, 2, 3]
    assert p.enforce_retention(now_ms=5500) == 0  # [5000] may not go, so [200] stays too


def test_retention_by_time_replaces_active_segment(open_log: OpenLog, clock: ManualClock) -> None:
    bus = EventBus()
    seen: list[object] = []
    bus.subscribe(seen.append)
    p = open_log(events=bus, retention_ms=1000, segment_bytes=BATCH * 2)
    fill(p, 5)  # all at T0: segments 0, 2, and active 4
    clock.advance(1001)
    assert p.enforce_retention() == 3
    assert p.segment_bases() == [5]
    assert (p.log_start_offset, p.high_watermark, p.size_bytes) == (5, 5, 0)
    assert read_all(p) == []
    assert p.enforce_retention() == 0  # the new empty active segment stays
    assert p.append(b"k", b"new") == 5
    deleted = [e for e in seen if isinstance(e, RecordsDeleted)]
    assert [(e.log_start_offset, e.reason) for e in deleted] == [(5, "retention")]
    p.close()
    p = open_log(retention_ms=1000, segment_bytes=BATCH * 2)
    assert (p.log_start_offset, p.high_watermark) == (5, 6)


def test_retention_by_size(open_log: OpenLog) -> None:
    p = open_log(retention_bytes=BATCH * 5, segment_bytes=BATCH * 2)
    fill(p, 9)  # segments [0,1] [2,3] [4,5] [6,7] [8]: 9 batches
    assert p.segment_bases() == [0, 2, 4, 6, 8]
    # Delete the oldest while the log stays at or above retention.bytes without it:
    # 9 -> 7 -> 5 batches; deleting one more would leave 3 < 5.
    assert p.enforce_retention(now_ms=T0) == 2
    assert p.segment_bases() == [4, 6, 8]
    assert p.size_bytes == BATCH * 5
    assert p.log_start_offset == 4
    assert p.enforce_retention(now_ms=T0) == 0
    p.append(b"k", bytes(10))
    assert p.enforce_retention(now_ms=T0) == 0  # 6 - 2 = 4 < 5
    p.append(b"k", bytes(10))
    assert p.enforce_retention(now_ms=T0) == 1  # 7 - 2 = 5 >= 5
    assert p.segment_bases() == [6, 8, 10]


def test_retention_by_size_can_take_the_active_segment(open_log: OpenLog) -> None:
    p = open_log(retention_bytes=0, segment_bytes=BATCH * 2)
    fill(p, 5)
    assert p.enforce_retention(now_ms=T0) == 3
    assert p.segment_bases() == [5]
    assert (p.log_start_offset, p.high_watermark) == (5, 5)


def test_retention_off(open_log: OpenLog) -> None:
    p = open_log(retention_ms=-1, retention_bytes=-1, segment_bytes=BATCH * 2)
    fill(p, 5, ts=0)
    assert p.enforce_retention(now_ms=T0 * 10) == 0
    assert p.segment_bases() == [0, 2, 4]


def test_retention_does_not_apply_to_compact_only_topics(open_log: OpenLog) -> None:
    p = open_log(cleanup_policy="compact", retention_ms=1, segment_bytes=BATCH * 2)
    fill(p, 5, ts=0)
    assert p.enforce_retention(now_ms=T0) == 0
    assert p.log_start_offset == 0


def test_retention_moves_log_start_past_delete_records_start(open_log: OpenLog) -> None:
    p = open_log(retention_ms=1000, segment_bytes=BATCH * 4)
    fill(p, 8, ts=T0)  # segments 0, 4
    p.append(b"k", bytes(10), timestamp=T0 + 5000)  # offset 8 in a new segment
    p.delete_records(2)
    assert p.enforce_retention(now_ms=T0 + 2000) == 2
    assert p.segment_bases() == [8]
    assert p.log_start_offset == 8
    with pytest.raises(OffsetOutOfRange, match="8 to 9"):
        p.read(7)


# --- flush policy and recovery ------------------------------------------------------------


def _meta(p: PartitionLog) -> dict[str, Any]:
    return json.loads((p.directory / META_FILE).read_text())


def _active_log(p: PartitionLog) -> Path:
    return max(p.directory.glob("*.log"))


def test_clean_close_reopen_scans_nothing(open_log: OpenLog, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = {"segment_bytes": 1 << 20, "index_interval_bytes": 4096}
    p = open_log(**cfg)
    payload = bytes(range(256)) * 4
    for i in range(200):
        p.append_batch([(b"k%d" % i, payload)] * 20)  # ~4 MB, several segments
    expected = (p.log_start_offset, p.high_watermark, p.size_bytes, p.segment_bases())
    p.close()
    assert _meta(p)["clean_shutdown"] is True

    def no_scan(*args: Any, **kwargs: Any) -> int:
        raise AssertionError("a clean open must not scan the log")

    monkeypatch.setattr(LogSegment, "recover", no_scan)
    p = open_log(**cfg)
    assert (p.log_start_offset, p.high_watermark, p.size_bytes, p.segment_bases()) == expected
    assert p.recovered_bytes_cut == 0
    assert p.read(3999, max_records=1)[0].value == payload
    assert p.append(b"k", b"next") == 4000
    assert _meta(p)["clean_shutdown"] is False  # open again: not clean until closed


def test_unclean_reopen_without_damage_keeps_everything(open_log: OpenLog) -> None:
    p = open_log(segment_bytes=BATCH * 7)
    fill(p, 30)
    before = state(p)
    p.abandon()
    p = open_log(segment_bytes=BATCH * 7)
    assert state(p) == before
    assert p.recovered_bytes_cut == 0


@pytest.mark.parametrize("damage", ["truncate", "garbage", "flip", "zeros"])
def test_unclean_reopen_cuts_torn_tail(open_log: OpenLog, damage: str) -> None:
    p = open_log(segment_bytes=BATCH * 7)
    fill(p, 20)
    before = p.size_bytes
    p.append_batch([(b"k", b"b%d" % i) for i in range(5)])
    batch_len = p.size_bytes - before
    all_values = values(p)
    p.abandon()
    log = _active_log(p)
    raw = bytearray(log.read_bytes())
    size = len(raw)
    if damage == "truncate":  # the last batch torn in the middle
        raw = raw[: size - batch_len // 2]
        expected_cut, expected_hw = batch_len - batch_len // 2, 20
    elif damage == "flip":  # a byte of the last batch changed
        raw[size - 3] ^= 0x01
        expected_cut, expected_hw = batch_len, 20
    elif damage == "garbage":  # bytes after the last whole batch
        raw += b"\x07garbage bytes that are not a batch header at all"
        expected_cut, expected_hw = len(raw) - size, 25
    else:  # a preallocated or zero-filled tail
        raw += bytes(4096)
        expected_cut, expected_hw = 4096, 25
    log.write_bytes(bytes(raw))
    p = open_log(segment_bytes=BATCH * 7)
    assert p.high_watermark == p.log_end_offset == expected_hw
    assert values(p) == all_values[:expected_hw]
    assert p.recovered_bytes_cut == expected_cut
    assert p.append(b"k", b"after") == p.high_watermark - 1
    p.close()
    p = open_log(segment_bytes=BATCH * 7)
    assert values(p)[-1] == b"after"


def test_corruption_in_early_segment_drops_the_following_segments(open_log: OpenLog) -> None:
    p = open_log(segment_bytes=BATCH * 5)
    fill(p, 23)  # segments 0 5 10 15 20
    assert p.segment_bases() == [0, 5, 10, 15, 20]
    # Force a full scan: nothing flushed counts (no recovery point).
    p.abandon()
    meta = _meta(p)
    meta.pop("recovery_point")
    (p.directory / META_FILE).write_text(json.dumps(meta))
    seg5 = p.directory / "00000000000000000005.log"
    raw = bytearray(seg5.read_bytes())
    raw[2 * BATCH + 50] ^= 0xFF  # inside offset 7's record
    seg5.write_bytes(bytes(raw))
    total_after = sum(f.stat().st_size for f in p.directory.glob("*.log")) - 7 * BATCH
    p = open_log(segment_bytes=BATCH * 5)
    assert p.high_watermark == 7
    assert p.segment_bases() == [0, 5]
    assert [r.offset for r in read_all(p)] == list(range(7))
    assert p.recovered_bytes_cut == total_after
    assert not (p.directory / "00000000000000000010.log").exists()
    assert p.append(b"k", b"x") == 7


def test_corruption_after_recovery_point_in_rolled_segment(open_log: OpenLog) -> None:
    # flush.ms never fires; the recovery point sits where the last flush left it.
    p = open_log(segment_bytes=BATCH * 5)
    fill(p, 3)
    p.flush()
    rp = _meta(p)["recovery_point"]
    assert (rp["segment"], rp["position"], rp["next_offset"]) == (0, 3 * BATCH, 3)
    p.abandon()
    p = open_log(segment_bytes=BATCH * 5)
    fill(p, 1, start=3)
    p.abandon()
    seg0 = p.directory / "00000000000000000000.log"
    raw = bytearray(seg0.read_bytes())
    raw[3 * BATCH + 50] ^= 0xFF  # offset 3, after the recovery point
    seg0.write_bytes(bytes(raw))
    p = open_log(segment_bytes=BATCH * 5)
    assert p.high_watermark == 3
    assert p.recovered_bytes_cut == BATCH


def test_flush_moves_recovery_point_so_only_tail_is_scanned(open_log: OpenLog, monkeypatch: pytest.MonkeyPatch) -> None:
    p = open_log(segment_bytes=BATCH * 100)
    fill(p, 50)
    p.flush()
    flushed = p.size_bytes
    assert _meta(p)["recovery_point"]["position"] == flushed
    fill(p, 10, start=50)
    p.abandon()
    # Corrupt a byte *before* the recovery point: it is trusted, so it is not scanned.
    seg0 = p.directory / "00000000000000000000.log"
    raw = bytearray(seg0.read_bytes())
    raw[BATCH * 10 + 50] ^= 0xFF
    seg0.write_bytes(bytes(raw))
    starts: list[int] = []
    real_recover = LogSegment.recover

    def spy(self: LogSegment, start_position: int, max_batch_bytes: int, **kw: Any) -> int:
        starts.append(start_position)
        return real_recover(self, start_position, max_batch_bytes, **kw)

    monkeypatch.setattr(LogSegment, "recover", spy)
    p = open_log(segment_bytes=BATCH * 100)
    assert starts == [flushed]
    assert p.high_watermark == 60
    assert p.recovered_bytes_cut == 0


def _rp_offset(p: PartitionLog) -> int:
    """The offset up to which the log is known flushed (0 before any flush)."""
    return int(_meta(p).get("recovery_point", {}).get("next_offset", 0))


def test_flush_messages_policy_moves_recovery_point(open_log: OpenLog) -> None:
    p = open_log(flush_messages=3)
    fill(p, 2)
    assert _rp_offset(p) == 0
    fill(p, 1, start=2)
    assert _rp_offset(p) == 3
    fill(p, 4, start=3)
    assert _rp_offset(p) == 6


def test_flush_ms_policy(open_log: OpenLog, clock: ManualClock) -> None:
    p = open_log(flush_ms=1000)
    fill(p, 2)
    assert _rp_offset(p) == 0
    clock.advance(999)
    fill(p, 1, start=2)
    assert _rp_offset(p) == 0
    clock.advance(1)
    fill(p, 1, start=3)
    assert _rp_offset(p) == 4


def test_roll_moves_recovery_point(open_log: OpenLog) -> None:
    p = open_log(segment_bytes=BATCH * 2)
    fill(p, 3)
    rp = _meta(p)["recovery_point"]
    assert (rp["segment"], rp["position"]) == (2, 0)


def test_lost_index_files_are_rebuilt(open_log: OpenLog) -> None:
    p = open_log(segment_bytes=BATCH * 10, index_interval_bytes=BATCH * 2)
    fill(p, 35)
    p.close()
    for f in p.directory.glob("*.index"):
        f.unlink()
    p = open_log(segment_bytes=BATCH * 10, index_interval_bytes=BATCH * 2)
    assert p.high_watermark == 35
    assert [r.offset for r in p.read(17, max_records=3)] == [17, 18, 19]
    assert (p.directory / "00000000000000000010.index").exists()


def test_torn_metadata_file_falls_back_to_full_recovery(open_log: OpenLog) -> None:
    p = open_log(segment_bytes=BATCH * 4)
    fill(p, 10)
    p.close()
    (p.directory / META_FILE).write_text('{"log_start_off')
    p = open_log(segment_bytes=BATCH * 4)
    assert p.high_watermark == 10 and len(read_all(p)) == 10


def test_leftover_tmp_files_are_removed(open_log: OpenLog) -> None:
    p = open_log()
    fill(p, 2)
    p.close()
    (p.directory / "partition.json.tmp").write_text("{}")
    (p.directory / "00000000000000000000.log.cleaned").write_bytes(b"x")
    p = open_log()
    assert not list(p.directory.glob("*.tmp")) and not list(p.directory.glob("*.cleaned"))
    assert p.high_watermark == 2


def _fsync_tracker(monkeypatch: pytest.MonkeyPatch) -> dict[Path, int]:
    """Remember, per log file, how many bytes had been fsynced (what survives power loss)."""
    synced: dict[Path, int] = {}
    real_flush = LogSegment.flush

    def flush(self: LogSegment) -> None:
        real_flush(self)
        synced[self.log_path] = self.size

    monkeypatch.setattr(LogSegment, "flush", flush)
    return synced


def _lose_unsynced_tail(directory: Path, synced: dict[Path, int]) -> None:
    """Power loss: bytes never fsynced come back as zeros (the size is kept)."""
    for log in directory.glob("*.log"):
        keep = synced.get(log, 0)
        raw = log.read_bytes()
        log.write_bytes(raw[:keep] + bytes(len(raw) - keep))


@pytest.mark.parametrize("operation", ["delete_records", "enforce_retention"])
def test_recovery_point_never_covers_unsynced_bytes(
    open_log: OpenLog, monkeypatch: pytest.MonkeyPatch, operation: str
) -> None:
    synced = _fsync_tracker(monkeypatch)
    p = open_log(segment_bytes=BATCH * 4, retention_bytes=BATCH * 6)
    fill(p, 9)  # segments 0 4 8; 0 and 4 were fsynced when rolled
    p.flush()  # offset 8 is durable, and the active segment's index files exist
    fill(p, 1, start=9)  # offset 9 is not
    if operation == "delete_records":
        p.delete_records(5)
    else:
        assert p.enforce_retention() == 1
    fill(p, 1, start=10)
    p.abandon()
    _lose_unsynced_tail(p.directory, synced)
    p = open_log(segment_bytes=BATCH * 4, retention_bytes=BATCH * 6)
    recs = read_all(p)
    # Whatever survived must be whole records with their own values, never zeros.
    assert all(r.value == b"v%09d" % r.offset for r in recs)
    assert [r.offset for r in recs] == list(range(p.log_start_offset, p.high_watermark))
    assert p.high_watermark >= 9


def test_second_crash_after_recovery_cut_below_recovery_point(open_log: OpenLog) -> None:
    # Found by the state machine: recovery cut a torn batch *below* the recovery point
    # and then wrote that stale point back; the next batch refilled the same bytes and,
    # torn by a second crash, was trusted: LEO counted a record nobody could read.
    p = open_log()
    p.append(None, None)
    p.close()
    p = open_log()  # recovery point: the end of offset 0
    p.abandon()
    log = _active_log(p)
    with open(log, "r+b") as f:
        f.truncate(log.stat().st_size - 1)
    p = open_log()
    assert p.high_watermark == 0 and p.recovered_bytes_cut > 0
    assert p.append(b"a", None) == 0
    p.abandon()
    with open(log, "r+b") as f:
        f.truncate(log.stat().st_size - 1)
    p = open_log()
    assert p.high_watermark == p.log_end_offset == 0
    assert read_all(p) == []
    assert p.append(b"b", b"v") == 0
    assert values(p) == [b"v"]
