"""LogSegment: appends, sparse indexing, positions, recovery and clean loading."""

from __future__ import annotations

import os
from itertools import pairwise
from pathlib import Path

import pytest

from logcore.errors import CorruptRecord
from logcore.records import decode_batch, encode_batch, encode_one
from logcore.segment import LogSegment, segment_name

T0 = 1_700_000_000_000


def _segment(tmp_path: Path, base: int = 0, interval: int = 4096) -> LogSegment:
    seg = LogSegment(tmp_path, base, interval)
    seg.open_files(create=True)
    return seg


def _fill(seg: LogSegment, n: int, value_size: int = 100, ts: int = T0) -> list[int]:
    """Append n one-record batches; returns each batch's position."""
    positions = []
    for i in range(n):
        off = seg.next_offset
        positions.append(seg.size)
        seg.append(encode_one(off, b"k%d" % off, bytes(value_size), ts + i), off, off + 1, ts + i, 1)
    return positions


def test_names_and_files(tmp_path: Path) -> None:
    assert segment_name(42) == "00000000000000000042"
    seg = _segment(tmp_path, 42)
    assert seg.log_path.name == "00000000000000000042.log"
    assert seg.index.path.name == "00000000000000000042.index"
    assert seg.time_index.path.name == "00000000000000000042.timeindex"
    seg.persist_indexes()
    assert seg.index.path.exists() and seg.time_index.path.exists()
    seg.delete_files()
    assert list(tmp_path.iterdir()) == []


def test_append_tracks_size_offsets_timestamps(tmp_path: Path) -> None:
    seg = _segment(tmp_path, 10)
    _fill(seg, 3, ts=T0)
    assert seg.next_offset == 13
    assert seg.size == os.path.getsize(seg.log_path)
    assert seg.max_timestamp == T0 + 2
    assert seg.offset_of_max_timestamp == 12
    assert seg.first_batch_timestamp == T0
    # A multi-record batch: offset of max timestamp is its base (shallow, as Kafka's).
    data = encode_batch(13, [b"a", b"b"], [b"1", b"2"], [T0 + 10, T0 + 5])
    seg.append(data, 13, 15, T0 + 10, 2)
    assert seg.offset_of_max_timestamp == 13
    assert seg.next_offset == 15


def test_sparse_index_one_entry_per_interval(tmp_path: Path) -> None:
    seg = _segment(tmp_path, 0, interval=1000)
    positions = _fill(seg, 60, value_size=100)  # ~146 bytes each
    entries = list(zip(seg.index.offsets, seg.index.positions, strict=True))
    assert entries[0] == (0, 0)
    assert 5 < len(entries) < 15  # ~8800 bytes / ~1000 per entry
    for off, pos in entries:
        assert positions[off] == pos  # entries point at batch starts
    gaps = [b - a for (_, a), (_, b) in pairwise(entries)]
    assert all(g > 1000 for g in gaps)
    assert all(g <= 1000 + 2 * 146 for g in gaps)


def test_interval_zero_indexes_every_batch(tmp_path: Path) -> None:
    seg = _segment(tmp_path, 0, interval=0)
    _fill(seg, 10)
    assert list(seg.index.offsets) == list(range(10))


def test_position_for_and_iter_batches(tmp_path: Path) -> None:
    seg = _segment(tmp_path, 0, interval=300)
    positions = _fill(seg, 30)
    for off in range(30):
        assert seg.position_for(off) == positions[off]
    assert seg.position_for(30) is None
    batches = list(seg.iter_batches(positions[5]))
    assert [p for p, _ in batches] == positions[5:]
    assert decode_batch(batches[0][1])[0].offset == 5
    assert [p for p, _ in seg.iter_batches(0, end=positions[3])] == positions[:3]


def test_iter_batches_across_scan_chunks(tmp_path: Path) -> None:
    seg = _segment(tmp_path, 0)
    # Batches bigger than and straddling the 1 MiB read chunk.
    for i, size in enumerate([700_000, 700_000, 1_500_000, 10]):
        seg.append(encode_one(i, None, bytes(size), T0), i, i + 1, T0, 1)
    out = [decode_batch(b)[0] for _, b in seg.iter_batches(0)]
    assert [r.offset for r in out] == [0, 1, 2, 3]
    assert [len(r.value or b"") for r in out] == [700_000, 700_000, 1_500_000, 10]


def test_recover_keeps_whole_batches_and_cuts_torn_tail(tmp_path: Path) -> None:
    seg = _segment(tmp_path, 0, interval=200)
    positions = _fill(seg, 20)
    size = seg.size
    seg.close()
    with open(seg.log_path, "r+b") as f:
        f.truncate(size - 7)  # tear the last batch
    again = LogSegment(tmp_path, 0, 200)
    again.open_files()
    cut = again.recover(0, 1 << 30)
    assert cut == size - 7 - positions[-1]
    assert again.size == positions[-1] == os.path.getsize(again.log_path)
    assert again.next_offset == 19
    assert again.max_timestamp == T0 + 18
    # The rebuilt index matches what appends had written.
    assert list(again.index.offsets) == [o for o in seg.index.offsets if o < 19]


@pytest.mark.parametrize("where", ["crc", "magic", "length"])
def test_recover_cuts_at_first_bad_batch(tmp_path: Path, where: str) -> None:
    seg = _segment(tmp_path, 0)
    positions = _fill(seg, 10)
    seg.close()
    raw = bytearray(seg.log_path.read_bytes())
    bad = positions[6]
    if where == "crc":
        raw[bad + 60] ^= 0xFF  # inside the record bytes
    elif where == "magic":
        raw[bad + 16] = 99
    else:
        raw[bad + 8 : bad + 12] = (10**9).to_bytes(4, "little")
    seg.log_path.write_bytes(bytes(raw))
    again = LogSegment(tmp_path, 0, 4096)
    again.open_files()
    again.recover(0, 1 << 24)
    assert again.size == bad
    assert again.next_offset == 6


def test_recover_refuses_offsets_going_back(tmp_path: Path) -> None:
    seg = _segment(tmp_path, 0)
    _fill(seg, 3)
    dup = encode_one(1, b"x", b"y", T0)  # a valid batch whose offset goes backwards
    seg.append(dup, 1, 2, T0, 1)
    size_before_dup = seg.size - len(dup)
    seg.close()
    again = LogSegment(tmp_path, 0, 4096)
    again.open_files()
    again.recover(0, 1 << 24)
    assert again.size == size_before_dup
    assert again.next_offset == 3


def test_recover_from_position_after_flushed_part(tmp_path: Path) -> None:
    seg = _segment(tmp_path, 0, interval=200)
    positions = _fill(seg, 10)
    seg.persist_indexes()
    state = (seg.size, seg.next_offset, seg.max_timestamp, seg.offset_of_max_timestamp, seg.first_batch_timestamp)
    _fill(seg, 10)
    seg.close()
    with open(seg.log_path, "ab") as f:
        f.write(b"garbage tail")
    again = LogSegment(tmp_path, 0, 200)
    again.open_files()
    assert again.index.load() and again.time_index.load()
    start, again.next_offset, again.max_timestamp, again.offset_of_max_timestamp, again.first_batch_timestamp = state
    assert start == positions[-1] + (positions[1] - positions[0])
    cut = again.recover(start, 1 << 24)
    assert cut == len(b"garbage tail")
    assert again.next_offset == 20
    assert again.max_timestamp == T0 + 9  # second fill started at T0 again
    assert again.first_batch_timestamp == T0


def test_load_clean_reads_indexes(tmp_path: Path) -> None:
    seg = _segment(tmp_path, 100, interval=300)
    _fill(seg, 50)
    seg.persist_indexes()
    expected = (seg.size, seg.next_offset, seg.max_timestamp, seg.offset_of_max_timestamp, seg.first_batch_timestamp)
    seg.close()
    again = LogSegment(tmp_path, 100, 300)
    again.open_files()
    again.load_clean()
    got = (
        again.size,
        again.next_offset,
        again.max_timestamp,
        again.offset_of_max_timestamp,
        again.first_batch_timestamp,
    )
    assert got == expected
    assert again.bytes_since_last_index == seg.bytes_since_last_index


def test_load_clean_without_index_is_corrupt(tmp_path: Path) -> None:
    seg = _segment(tmp_path, 0)
    _fill(seg, 2)
    seg.close()
    again = LogSegment(tmp_path, 0, 4096)
    again.open_files()
    with pytest.raises(CorruptRecord):
        again.load_clean()
