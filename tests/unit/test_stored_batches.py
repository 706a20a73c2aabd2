"""A producer's RecordBatch v2 stored whole (records.py magic 2, recordbatch.scan).

What is stored whole reads back record by record exactly as a decode of the batch
would give it; a batch ``scan`` accepts always decodes (so a read never meets a record
the produce let through broken); bad batches are refused with nothing stored; a torn
stored batch is cut by recovery; retention and compaction go on over them.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from crc32c import crc32c
from hypothesis import given, settings
from hypothesis import strategies as st

from logcore import EmbeddedCluster, ManualClock, PartitionLog, Record, TopicConfig
from logcore.errors import InvalidRecord
from logcore.kafka_server.handlers import Broker
from logcore.recordbatch import (
    COMPRESSION_GZIP,
    COMPRESSION_LZ4,
    COMPRESSION_SNAPPY,
    COMPRESSION_ZSTD,
    BatchError,
    as_stored,
    decode,
    encode,
    iter_batches,
    recompress,
    scan,
)
from logcore.records import MAGIC_KAFKA, decode_batch, encode_stored, parse_header

T0 = 1_700_000_000_000
CODECS = [0, COMPRESSION_GZIP, COMPRESSION_SNAPPY, COMPRESSION_LZ4, COMPRESSION_ZSTD]


def kafka_batch(rows: list[tuple[Any, ...]], codec: int = 0, base: int = 0) -> bytes:
    """A producer's batch: rows of (key, value, headers, timestamp)."""
    data = encode([Record(base + i, ts, k, v, tuple(h)) for i, (k, v, h, ts) in enumerate(rows)])
    return recompress(data, codec) if codec else data


def resealed(batch: bytes | bytearray) -> bytes:
    """``batch`` with its CRC-32C recomputed: a client that sends what it means to."""
    out = bytearray(batch)
    struct.pack_into(">I", out, 17, crc32c(bytes(out[21:])))
    return bytes(out)


def scanned(batch: bytes) -> Any:
    return scan(batch, 0, len(batch), max_bytes=1 << 24)


rows_strategy = st.lists(
    st.tuples(
        st.one_of(st.none(), st.binary(max_size=150)),
        st.one_of(st.none(), st.binary(max_size=300)),
        st.lists(st.tuples(st.text(max_size=5), st.one_of(st.none(), st.binary(max_size=5))), max_size=2),
        st.integers(0, 2**41),
    ),
    min_size=1,
    max_size=200,
)


# --- the codec: scan and the stored kind ---------------------------------------------


@settings(max_examples=60, deadline=None)
@given(rows_strategy, st.integers(0, 2**40), st.sampled_from(CODECS))
def test_a_stored_batch_reads_back_record_by_record(rows: list[Any], base: int, codec: int) -> None:
    batch = kafka_batch(rows, codec)
    info = scanned(batch)
    assert info.n_records == len(rows) and info.plain
    assert info.max_timestamp == max(ts for *_, ts in rows)
    stored = encode_stored(base, info.raw, info.n_records, info.base_timestamp, info.max_timestamp)
    h = parse_header(stored)
    assert (h.magic, h.base_offset, h.record_count, h.last_offset) == (
        MAGIC_KAFKA,
        base,
        len(rows),
        base + len(rows) - 1,
    )
    expected = [Record(base + i, ts, k, v, tuple(hs)) for i, (k, v, hs, ts) in enumerate(rows)]
    assert decode_batch(stored, verify=True) == expected
    # The Kafka batch inside has its offsets set and its CRC-32C still valid.
    inner = stored[42:]
    assert struct.unpack_from(">q", inner)[0] == base
    assert decode(inner, 0, len(inner), max_bytes=1 << 24).records == [(k, v, tuple(hs), ts) for k, v, hs, ts in rows]


@settings(max_examples=300, deadline=None)
@given(rows_strategy, st.sampled_from([0, 0, COMPRESSION_LZ4]), st.data())
def test_what_scan_accepts_decode_accepts(rows: list[Any], codec: int, data: st.DataObject) -> None:
    """A byte of the records changed and the CRC made valid again (a buggy client)."""
    batch = bytearray(kafka_batch(rows[:20]))
    at = data.draw(st.integers(61, len(batch) - 1))
    batch[at] = data.draw(st.integers(0, 255))
    if codec:
        batch = bytearray(recompress(bytes(batch), codec))
    raw = resealed(batch)
    try:
        info = scanned(raw)
    except BatchError:
        return
    wb = decode(raw, 0, len(raw), max_bytes=1 << 24)  # must not raise
    assert wb.n_records == info.n_records


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_scan_refuses_garbage_cleanly(data: bytes) -> None:
    try:
        for start, end in iter_batches(data):
            scan(data, start, end, max_bytes=1 << 20)
    except BatchError:
        pass


def _set_offset_delta(batch: bytes, record: int, delta: int) -> bytes:
    """Rewrite one record's one-byte offset delta (records of the same small size)."""
    out = bytearray(batch)
    pos = 61
    for _ in range(record):
        pos += 1 + (out[pos] >> 1)
    # length (1 byte), attributes, timestamp delta (1 byte), then the offset delta.
    assert out[pos + 3] == record << 1
    out[pos + 3] = delta << 1
    return resealed(out)


def test_offset_deltas_other_than_0_1_2_are_refused() -> None:
    batch = kafka_batch([(None, b"v%d" % i, [], T0) for i in range(3)])
    scanned(batch)
    with pytest.raises(BatchError, match="offset delta"):
        scanned(_set_offset_delta(batch, 2, 5))
    with pytest.raises(BatchError, match="offset delta"):
        scanned(_set_offset_delta(batch, 1, 0))


def test_a_batch_whose_header_max_timestamp_lies_is_not_plain() -> None:
    batch = bytearray(kafka_batch([(None, b"a", [], T0), (None, b"b", [], T0 + 5)]))
    struct.pack_into(">q", batch, 35, T0 + 1)  # maxTimestamp
    info = scanned(resealed(batch))
    assert not info.plain


def test_negative_timestamps_are_not_plain() -> None:
    info = scanned(kafka_batch([(None, b"a", [], 5), (None, b"b", [], 0)]))
    assert info.plain
    batch = bytearray(kafka_batch([(None, b"a", [], 0), (None, b"b", [], 1)]))
    struct.pack_into(">q", batch, 27, -1)  # baseTimestamp -1: the records' are -1 and 0
    struct.pack_into(">q", batch, 35, 0)
    assert not scanned(resealed(batch)).plain


def test_a_record_whose_fields_overrun_its_length_is_refused() -> None:
    batch = bytearray(kafka_batch([(b"key", b"value", [], T0)]))
    # The key length (zig-zag 3 = 6) at 61 + 4: make it 4, one byte short.
    assert batch[65] == 6
    batch[65] = 8
    with pytest.raises(BatchError, match="add up|runs past"):
        scanned(resealed(batch))


# --- the partition ---------------------------------------------------------------------


OpenLog = Callable[..., PartitionLog]


@pytest.fixture
def open_log(tmp_path: Path) -> OpenLog:
    clock = ManualClock(T0)

    def _open(**config: Any) -> PartitionLog:
        cfg = TopicConfig.from_dict({k.replace("_", "."): str(v) for k, v in config.items()})
        return PartitionLog(tmp_path / "t-0", "t", 0, cfg, clock=clock)

    return _open


def read_all(p: PartitionLog) -> list[Record]:
    out: list[Record] = []
    offset = p.log_start_offset
    while offset < p.high_watermark:
        got = p.read(offset, max_records=1000, max_bytes=1 << 30)
        out.extend(got)
        offset = got[-1].offset + 1
    return out


def rows_of(n: int, tag: bytes, ts: int = T0) -> list[tuple[Any, ...]]:
    return [(b"k%d" % (i % 3), tag + b"%03d" % i, [("h", b"x")] if i % 4 == 0 else [], ts + i) for i in range(n)]


def as_records(base: int, rows: list[tuple[Any, ...]]) -> list[Record]:
    return [Record(base + i, ts, k, v, tuple(h)) for i, (k, v, h, ts) in enumerate(rows)]


def test_stored_and_encoded_batches_mix_in_one_log_and_survive_reopen(open_log: OpenLog) -> None:
    p = open_log(segment_bytes=250)
    a, b = rows_of(5, b"a"), rows_of(7, b"b")
    p.append(b"k", b"plain", timestamp=T0)
    assert p.append_record_batch(scanned(kafka_batch(a, base=99))) == 1
    p.append_batch([(k, v, tuple(h), ts) for k, v, h, ts in b])
    assert p.append_record_batch(scanned(kafka_batch(b, COMPRESSION_ZSTD))) == 13
    expected = [Record(0, T0, b"k", b"plain"), *as_records(1, a), *as_records(6, b), *as_records(13, b)]
    assert read_all(p) == expected
    assert p.segment_count > 1
    assert p.read(3, max_records=2) == expected[3:5]  # from the middle of a stored batch
    assert p.offset_for_timestamp(T0 + 3) == (4, T0 + 3)
    p.close()
    p = open_log(segment_bytes=250)
    assert read_all(p) == expected
    p.abandon()  # unclean: recovery checks every batch, both kinds
    p = open_log(segment_bytes=250)
    assert read_all(p) == expected and p.recovered_bytes_cut == 0
    p.close()


def test_a_torn_stored_batch_is_cut_by_recovery(open_log: OpenLog) -> None:
    p = open_log()
    first, second = rows_of(10, b"f"), rows_of(10, b"s")
    p.append_record_batch(scanned(kafka_batch(first)))
    before = p.size_bytes
    p.append_record_batch(scanned(kafka_batch(second)))
    torn = p.size_bytes - before
    p.abandon()
    (log,) = sorted(p.directory.glob("*.log"))
    raw = log.read_bytes()
    log.write_bytes(raw[: len(raw) - torn // 2])
    p = open_log()
    assert p.high_watermark == 10
    assert read_all(p) == as_records(0, first)
    assert p.recovered_bytes_cut == torn - torn // 2
    assert p.append_record_batch(scanned(kafka_batch(second))) == 10
    assert read_all(p) == as_records(0, first) + as_records(10, second)
    p.close()


def test_a_corrupt_stored_batch_on_disk_is_caught_on_open(open_log: OpenLog, caplog: pytest.LogCaptureFixture) -> None:
    p = open_log()
    kept = rows_of(4, b"x")
    p.append_record_batch(scanned(kafka_batch(kept)))
    p.append_record_batch(scanned(kafka_batch(rows_of(4, b"y"))))
    p.close()
    (log,) = sorted(p.directory.glob("*.log"))
    raw = bytearray(log.read_bytes())
    raw[-2] ^= 0x40  # a value byte of the last batch
    log.write_bytes(bytes(raw))
    p = open_log()
    assert "fails its CRC check" in caplog.text
    assert read_all(p) == as_records(0, kept)
    p.close()


def test_retention_and_delete_records_over_stored_batches(open_log: OpenLog) -> None:
    p = open_log(segment_bytes=400, retention_bytes=800)
    for i in range(8):
        p.append_record_batch(scanned(kafka_batch(rows_of(3, b"%d" % i, T0 + 10 * i))))
    p.delete_records(4)
    assert p.log_start_offset == 4
    assert [r.offset for r in read_all(p)] == list(range(4, 24))
    p.enforce_retention()
    start = p.log_start_offset
    assert start > 4 and [r.offset for r in read_all(p)] == list(range(start, 24))
    p.close()


def test_compaction_rewrites_stored_batches(open_log: OpenLog) -> None:
    p = open_log(segment_bytes=300)
    rows = rows_of(12, b"c")
    for i in range(0, 12, 3):
        p.append_record_batch(scanned(kafka_batch(rows[i : i + 3])))
    p.close()
    p = open_log(segment_bytes=300, cleanup_policy="compact")
    p.roll()
    assert p.compact(now_ms=T0 + 60_000) == 9
    kept = read_all(p)
    # The last record of each key (k0, k1, k2) is kept, with its offset and headers.
    assert kept == [r for r in as_records(0, rows) if r.offset >= 9]
    p.close()


def test_append_record_batch_refuses_what_it_must_rewrite(open_log: OpenLog) -> None:
    lying = bytearray(kafka_batch([(None, b"a", [], T0), (None, b"b", [], T0 + 5)]))
    struct.pack_into(">q", lying, 35, T0 + 1)
    p = open_log()
    with pytest.raises(InvalidRecord, match="append_batch"):
        p.append_record_batch(scanned(resealed(lying)))
    p.close()
    for config in ({"message_timestamp_type": "LogAppendTime"}, {"cleanup_policy": "compact"}):
        p = open_log(**config)
        with pytest.raises(InvalidRecord, match="append_batch"):
            p.append_record_batch(scanned(kafka_batch(rows_of(2, b"r"))))
        assert p.log_end_offset == 0
        p.close()


# --- the listener's produce ---------------------------------------------------------


@pytest.fixture
def broker(tmp_path: Path) -> Any:
    cluster = EmbeddedCluster(tmp_path / "data")
    cluster.create_topic("t", 1)
    yield Broker(cluster, threading.RLock(), host="127.0.0.1", port=1, cache_bytes=0)
    cluster.close()


def test_a_produced_batch_is_stored_whole_and_read_from_disk(broker: Any) -> None:
    rows = rows_of(50, b"p")
    out = broker._produce_partition("t", 0, kafka_batch(rows, COMPRESSION_SNAPPY), 1 << 24)
    assert out["error_code"] == 0 and out["base_offset"] == 0
    p = broker.cluster.logs.partition("t", 0)
    (log,) = sorted(p.directory.glob("*.log"))
    assert parse_header(log.read_bytes()).magic == MAGIC_KAFKA
    assert read_all(p) == as_records(0, rows)


def test_a_request_with_one_bad_batch_stores_nothing(broker: Any) -> None:
    good = kafka_batch(rows_of(3, b"g"))
    bad = _set_offset_delta(kafka_batch([(None, b"v%d" % i, [], T0) for i in range(3)]), 2, 7)
    out = broker._produce_partition("t", 0, good + bad, 1 << 24)
    assert out["error_code"] == 2  # CORRUPT_MESSAGE
    assert "offset delta" in out["error_message"]
    assert broker.cluster.logs.partition("t", 0).log_end_offset == 0


def test_a_batch_with_a_lying_max_timestamp_is_stored_record_by_record(broker: Any) -> None:
    rows: list[tuple[Any, ...]] = [(None, b"a", [], T0), (None, b"b", [], T0 + 5)]
    lying = bytearray(kafka_batch(rows))
    struct.pack_into(">q", lying, 35, T0 + 1)
    out = broker._produce_partition("t", 0, resealed(lying), 1 << 24)
    assert out["error_code"] == 0
    p = broker.cluster.logs.partition("t", 0)
    assert read_all(p) == as_records(0, rows)
    assert p.offset_for_timestamp(T0 + 5) == (1, T0 + 5)


def _fetch(broker: Any, offset: int, max_bytes: int = 1 << 20) -> bytes:
    part = SimpleNamespace(partition=0, fetch_offset=offset, partition_max_bytes=max_bytes)
    req = SimpleNamespace(max_bytes=max_bytes, topics=[SimpleNamespace(topic="t", partitions=[part])])
    responses, _total = broker._fetch_once(req)
    entry = responses[0]["partitions"][0]
    assert entry["error_code"] == 0
    return bytes(entry["records"])


def _fetched_records(data: bytes) -> list[Record]:
    out: list[Record] = []
    for start, end in iter_batches(data):
        wb = decode(data, start, end, max_bytes=1 << 24)
        out += [Record(wb.base_offset + i, ts, k, v, h) for i, (k, v, h, ts) in enumerate(wb.records)]
    return out


def test_a_fetch_from_disk_sends_the_stored_batch_unchanged(broker: Any) -> None:
    p = broker.cluster.logs.partition("t", 0)
    p.append(b"own", b"record", timestamp=T0)  # logcore's own kind, before and after
    p.append(b"own", b"record2", timestamp=T0)
    sent = kafka_batch(rows_of(20, b"z"), COMPRESSION_LZ4)
    assert broker._produce_partition("t", 0, sent, 1 << 24)["base_offset"] == 2
    p.append(b"own", b"record3", timestamp=T0)
    data = _fetch(broker, 0)
    own = [Record(0, T0, b"own", b"record"), Record(1, T0, b"own", b"record2")]
    expected = [*own, *as_records(2, rows_of(20, b"z")), Record(22, T0, b"own", b"record3")]
    assert _fetched_records(data) == expected
    # The producer's batch is in the answer byte for byte, its base offset set (KIP-74:
    # the batch holding the fetch offset comes whole, clients skip what they did not ask for).
    assert as_stored(sent, 2) in data
    assert _fetch(broker, 5).startswith(as_stored(sent, 2))
    assert _fetched_records(_fetch(broker, 1))[0] == own[1]  # own batches from the offset on
    # A small limit still answers one batch.
    assert _fetch(broker, 3, max_bytes=10) == as_stored(sent, 2)


def test_read_batches_checks_what_it_returns(open_log: OpenLog) -> None:
    p = open_log()
    p.append_record_batch(scanned(kafka_batch(rows_of(3, b"a"))))
    p.append(b"k", b"v", timestamp=T0)
    got = p.read_batches(1)
    assert [parse_header(b).magic for b in got] == [MAGIC_KAFKA, 1]
    assert [r for b in got for r in decode_batch(b)] == read_all(p)
    assert p.read_batches(4) == []
    assert len(p.read_batches(0, max_bytes=1)) == 1
    p.close()
