"""A PartitionLog against an in-memory model, driven by hypothesis' state machines.

The model is the list of records the log must hold (offset -> record) and the log
start; the log's end is the next offset to assign. Small segments give many rolls,
so reads, retention, compaction and recovery all cross segment boundaries.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from logcore import ManualClock, PartitionLog, Record, TopicConfig, recordbatch
from logcore.errors import OffsetOutOfRange
from logcore.records import decode_batch

T0 = 1_700_000_000_000
RETENTION_MS = 5_000
SEGMENT_MS = 3_000
DELETE_RETENTION_MS = 5_000

_bytes = st.binary(max_size=300)
_opt_bytes = st.none() | _bytes
_headers = st.lists(st.tuples(st.text(max_size=5), _opt_bytes), max_size=2).map(tuple)
_keys = st.sampled_from([b"a", b"b", b"c", b"d", b"e"])


class PartitionMachine(RuleBasedStateMachine):
    """cleanup.policy=delete: appends, reads, delete-records, retention, reopen, crashes."""

    compact = False
    retention_mode = "time"  # which limit retention enforces: "time", "size" or "none"

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="logcore-stateful-"))
        self.clock = ManualClock(T0)
        self.model: dict[int, Record] = {}
        self.start = 0
        self.end = 0
        self.config: dict[str, str] = {}
        self.log: PartitionLog | None = None
        self.last_batch_bytes = 0  # size of the newest batch, for tearing it

    # --- setup -------------------------------------------------------------------

    @initialize(
        segment_bytes=st.integers(min_value=200, max_value=800) | st.just(2000),
        index_interval=st.sampled_from([0, 100, 4096]),
        retention_bytes=st.integers(min_value=50, max_value=1500),
        prefill=st.integers(min_value=0, max_value=40),
    )
    def setup(self, segment_bytes: int, index_interval: int, retention_bytes: int, prefill: int) -> None:
        self.retention = self.retention_mode
        self.config = {
            "segment.bytes": str(segment_bytes),
            "index.interval.bytes": str(index_interval),
            "cleanup.policy": "compact" if self.compact else "delete",
            "retention.ms": str(RETENTION_MS) if self.retention == "time" else "-1",
            "retention.bytes": str(retention_bytes) if self.retention == "size" else "-1",
            "segment.ms": str(SEGMENT_MS),
            "delete.retention.ms": str(DELETE_RETENTION_MS),
        }
        self.retention_bytes = retention_bytes
        self.log = self._open()
        # Start from a log with some history (records spread over the last 20 s), so
        # retention and compaction have segments to work on from the first step.
        now = self.clock.now_ms()
        for i in range(prefill):
            key = [b"a", b"b", b"c", b"d", b"e"][i % 5]
            value = None if self.compact and i % 7 == 6 else bytes([i]) * (10 + i * 7 % 90)
            ts = now - (prefill - i) * 500
            assert self.p.append(key, value, timestamp=ts) == i
            self.model[i] = Record(i, ts, key, value)
        self.end = prefill

    def _open(self) -> PartitionLog:
        cfg = TopicConfig.from_dict(self.config)
        return PartitionLog(self.tmp / "t-0", "t", 0, cfg, clock=self.clock)

    def teardown(self) -> None:
        if self.log is not None:
            self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    @property
    def p(self) -> PartitionLog:
        assert self.log is not None
        return self.log

    def records(self) -> list[Record]:
        return [self.model[o] for o in sorted(self.model) if o >= self.start]

    def _timestamps(self) -> st.SearchStrategy[int | None]:
        upper = 0 if self.compact else 1000  # compaction lag counts from record time
        return st.none() | st.integers(min_value=-20_000, max_value=upper)

    # --- appends -----------------------------------------------------------------

    def _key(self, data: st.DataObject) -> bytes | None:
        return data.draw(_keys if self.compact else st.none() | _keys)

    @rule(data=st.data(), value=_opt_bytes, headers=_headers)
    def append(self, data: st.DataObject, value: bytes | None, headers: tuple[Any, ...]) -> None:
        key = self._key(data)
        delta = data.draw(self._timestamps())
        ts = None if delta is None else max(0, self.clock.now_ms() + delta)
        size = self.p.size_bytes
        offset = self.p.append(key, value, headers, timestamp=ts)
        assert offset == self.end
        self.last_batch_bytes = self.p.size_bytes - size
        self.model[offset] = Record(offset, self.clock.now_ms() if ts is None else ts, key, value, headers)
        self.end += 1

    @rule(data=st.data(), n=st.integers(min_value=1, max_value=8), four=st.booleans())
    def append_batch(self, data: st.DataObject, n: int, four: bool) -> None:
        recs: list[tuple[Any, ...]] = []
        expected = []
        now = self.clock.now_ms()
        for _ in range(n):
            key, value = self._key(data), data.draw(_opt_bytes)
            if four:
                headers = data.draw(_headers)
                delta = data.draw(self._timestamps())
                ts = None if delta is None else max(0, now + delta)
                recs.append((key, value, headers, ts))
                expected.append((now if ts is None else ts, key, value, headers))
            else:
                recs.append((key, value))
                expected.append((now, key, value, ()))
        size = self.p.size_bytes
        base = self.p.append_batch(recs)
        assert base == self.end
        self.last_batch_bytes = self.p.size_bytes - size
        for i, (ts, key, value, headers) in enumerate(expected):
            self.model[base + i] = Record(base + i, ts, key, value, headers)
        self.end += n

    @precondition(lambda self: not self.compact)
    @rule(data=st.data(), n=st.integers(min_value=1, max_value=8), codec=st.sampled_from([0, 0, 3]))
    def append_record_batch(self, data: st.DataObject, n: int, codec: int) -> None:
        """A Kafka producer's batch stored whole (records.py magic 2), as the listener does."""
        now = self.clock.now_ms()
        rows = []
        for i in range(n):
            delta = data.draw(st.integers(min_value=-20_000, max_value=1000))
            rows.append(Record(i, max(0, now + delta), self._key(data), data.draw(_opt_bytes), data.draw(_headers)))
        batch = recordbatch.encode(rows)
        if codec:
            batch = recordbatch.recompress(batch, codec)
        info = recordbatch.scan(batch, 0, len(batch), max_bytes=1 << 20)
        size = self.p.size_bytes
        base = self.p.append_record_batch(info)
        assert base == self.end
        self.last_batch_bytes = self.p.size_bytes - size
        for r in rows:
            self.model[base + r.offset] = r._replace(offset=base + r.offset)
        self.end += n

    @precondition(lambda self: self.end > self.start)
    @rule(data=st.data(), max_bytes=st.integers(1, 3000))
    def read_batches(self, data: st.DataObject, max_bytes: int) -> None:
        offset = data.draw(st.integers(min_value=self.start, max_value=self.end - 1))
        got = [r for b in self.p.read_batches(offset, max_bytes) for r in decode_batch(b)]
        # Whole batches: the first one holds the first record at or after ``offset``
        # (compaction leaves gaps) and may start before it.
        later = [r.offset for r in self.records() if r.offset >= offset]
        if not later:  # compaction and a torn tail can leave none below the log end
            assert not [r for r in got if r.offset >= offset]
            return
        assert got and got[0].offset <= later[0] <= got[-1].offset
        assert [r for r in got if r.offset >= offset] == [
            r for r in self.records() if offset <= r.offset <= got[-1].offset
        ]

    @rule(ms=st.integers(min_value=0, max_value=15_000))
    def advance_clock(self, ms: int) -> None:
        self.clock.advance(ms)

    # --- reads -------------------------------------------------------------------

    @rule(data=st.data(), max_records=st.integers(min_value=1, max_value=20), max_bytes=st.integers(1, 3000))
    def read(self, data: st.DataObject, max_records: int, max_bytes: int) -> None:
        offset = data.draw(st.integers(min_value=self.start, max_value=self.end))
        got = self.p.read(offset, max_records=max_records, max_bytes=max_bytes)
        expected = [r for r in self.records() if r.offset >= offset]
        assert len(got) <= max_records
        assert got == expected[: len(got)]
        if expected:
            assert got, "at least one record whenever one exists"

    @rule(data=st.data())
    def read_out_of_range(self, data: st.DataObject) -> None:
        offset = data.draw(st.integers(max_value=self.start - 1) | st.integers(min_value=self.end + 1))
        with pytest.raises(OffsetOutOfRange) as caught:
            self.p.read(offset)
        assert (caught.value.log_start, caught.value.log_end) == (self.start, self.end)

    @rule(data=st.data())
    def offset_for_timestamp(self, data: st.DataObject) -> None:
        recs = self.records()
        target = data.draw(
            st.sampled_from([-1, -2, -3])
            | st.integers(min_value=max(0, T0 - 30_000), max_value=self.clock.now_ms() + 2000)
            | st.sampled_from([r.timestamp for r in recs] or [0])
        )
        got = self.p.offset_for_timestamp(target)
        if target == -2:
            assert got == (self.start, -1)
        elif target == -1:
            assert got == (self.end, -1)
        elif target == -3:
            best = None
            for r in recs:
                if best is None or r.timestamp > best[1]:
                    best = (r.offset, r.timestamp)
            assert got == best
        else:
            assert got == next(((r.offset, r.timestamp) for r in recs if r.timestamp >= target), None)

    # --- deletion ----------------------------------------------------------------

    @rule(data=st.data())
    def delete_records(self, data: st.DataObject) -> None:
        target = data.draw(st.just(-1) | st.integers(min_value=0, max_value=self.end))
        new_start = self.p.delete_records(target)
        expected = max(self.start, self.end if target == -1 else target)
        assert new_start == expected
        self.start = expected

    @rule()
    def enforce_retention(self) -> None:
        before_bases = self.p.segment_bases()
        deleted = self.p.enforce_retention()
        event(f"retention {self.retention}: {'deleted' if deleted else 'kept'}")
        now = self.clock.now_ms()
        new_start = self.p.log_start_offset
        assert new_start >= self.start
        if deleted:
            # The log start moved to the new first segment's base (or stayed past it).
            assert new_start == max(self.start, self.p.segment_bases()[0])
            assert self.p.segment_bases()[0] in [*before_bases, self.end]
        gone = [r for r in self.records() if r.offset < new_start]
        first = self.p._all_segments()[0]
        only_empty_active = self.p.segment_count == 1 and first.size == 0
        if self.retention == "none":
            assert deleted == 0
        elif self.retention == "time":
            assert all(now - r.timestamp > RETENTION_MS for r in gone)
            # It stopped at the first segment that may not go.
            assert only_empty_active or now - first.max_timestamp <= RETENTION_MS
        else:
            assert only_empty_active or self.p.size_bytes - first.size < self.retention_bytes
        self.start = new_start

    # --- durability ----------------------------------------------------------------

    @rule()
    def flush(self) -> None:
        self.p.flush()

    @rule()
    def close_and_reopen(self) -> None:
        self.p.close()
        self.log = self._open()
        assert self.p.recovered_bytes_cut == 0

    @rule()
    def abandon_and_reopen(self) -> None:
        self.p.abandon()
        self.log = self._open()
        assert self.p.recovered_bytes_cut == 0

    @rule(garbage=st.binary(min_size=1, max_size=100))
    def crash_with_garbage_tail(self, garbage: bytes) -> None:
        self.p.abandon()
        active = max(self.p.directory.glob("*.log"))
        with open(active, "ab") as f:
            f.write(garbage)
        self.log = self._open()
        assert self.p.recovered_bytes_cut == len(garbage)

    @precondition(lambda self: self.last_batch_bytes > 1)
    @rule(data=st.data())
    def crash_with_torn_last_batch(self, data: st.DataObject) -> None:
        active_seg = self.p._all_segments()[-1]
        if active_seg.size < self.last_batch_bytes:
            return  # the newest batch is gone already (retention, delete-records)
        cut = data.draw(st.integers(min_value=1, max_value=self.last_batch_bytes - 1))
        self.p.abandon()
        with open(active_seg.log_path, "r+b") as f:
            f.truncate(active_seg.size - cut)
        self.log = self._open()
        assert self.p.recovered_bytes_cut == self.last_batch_bytes - cut
        # The torn batch is gone entirely; everything before it is intact.
        new_end = max(o for o in self.model) if self.model else 0
        lost = sorted(o for o in self.model if o >= self.p.log_end_offset)
        assert lost and lost[-1] == new_end
        for o in lost:
            del self.model[o]
        self.end = self.p.log_end_offset
        self.start = min(self.start, self.end)
        self.last_batch_bytes = 0

    # --- invariants ----------------------------------------------------------------

    @invariant()
    def offsets_match_model(self) -> None:
        if self.log is None:
            return
        assert self.p.high_watermark == self.p.log_end_offset == self.end
        assert self.p.log_start_offset == self.start

    @invariant()
    def contents_match_model(self) -> None:
        if self.log is None:
            return
        got = self.p.read(self.start, max_records=10**6, max_bytes=1 << 40) if self.end > self.start else []
        assert got == self.records()


class SizeRetentionPartitionMachine(PartitionMachine):
    """The same with retention.bytes instead of retention.ms."""

    retention_mode = "size"


class CompactedPartitionMachine(PartitionMachine):
    """cleanup.policy=compact: keys are never null, compaction instead of retention."""

    compact = True
    retention_mode = "none"

    # Retention does nothing on a compact-only topic; the base rule still checks that.

    @rule()
    def compact_log(self) -> None:
        now = self.clock.now_ms()
        before = self.records()
        latest = {r.key: r.offset for r in before}
        event("compaction removed records" if self.p.compact() else "compaction removed nothing")
        after = self.p.read(self.start, max_records=10**6, max_bytes=1 << 40) if self.end > self.start else []
        active_base = self.p.segment_bases()[-1]
        after_offsets = {r.offset for r in after}
        assert all(r == self.model[r.offset] for r in after), "kept records keep offset and content"
        for r in before:
            if r.offset in after_offsets:
                # Only the latest per key survives outside the active segment.
                assert r.offset >= active_base or latest[r.key] == r.offset
            else:
                assert r.offset < active_base, "the active segment is never cleaned"
                if latest[r.key] == r.offset:
                    # The latest record of a key goes only as an expired tombstone.
                    assert r.value is None and now - r.timestamp > DELETE_RETENTION_MS
        self.model = {r.offset: r for r in after}
        assert (self.p.log_start_offset, self.p.high_watermark) == (self.start, self.end)


# STATEFUL_EXAMPLES=300 runs a longer search (about 30 s) than the default suite's.
_settings = settings(
    max_examples=int(os.environ.get("STATEFUL_EXAMPLES", "30")),
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

TestPartitionLog = PartitionMachine.TestCase
TestPartitionLog.settings = _settings
TestPartitionLogSizeRetention = SizeRetentionPartitionMachine.TestCase
TestPartitionLogSizeRetention.settings = _settings
TestCompactedPartitionLog = CompactedPartitionMachine.TestCase
TestCompactedPartitionLog.settings = _settings
