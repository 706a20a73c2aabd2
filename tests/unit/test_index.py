"""Sparse offset and time indexes: lookups, truncation, persistence."""

from __future__ import annotations

from pathlib import Path

from logcore.index import OffsetIndex, TimeIndex


def test_offset_index_lookup_greatest_entry_at_or_below(tmp_path: Path) -> None:
    idx = OffsetIndex(tmp_path / "0.index", 100)
    assert idx.lookup(150) == (100, 0)  # empty: the segment start
    for off, pos in [(100, 0), (110, 500), (130, 1200)]:
        idx.append(off, pos)
    assert idx.lookup(99) == (100, 0)
    assert idx.lookup(100) == (100, 0)
    assert idx.lookup(109) == (100, 0)
    assert idx.lookup(110) == (110, 500)
    assert idx.lookup(129) == (110, 500)
    assert idx.lookup(10**12) == (130, 1200)
    assert idx.last_position() == 1200


def test_offset_index_truncate_to_position(tmp_path: Path) -> None:
    idx = OffsetIndex(tmp_path / "0.index", 0)
    for off, pos in [(0, 0), (10, 500), (20, 1000)]:
        idx.append(off, pos)
    idx.truncate_to_position(1000)  # entries at or past 1000 go
    assert list(idx.offsets) == [0, 10]
    idx.truncate_to_position(501)
    assert list(idx.offsets) == [0, 10]
    idx.truncate_to_position(500)
    assert list(idx.offsets) == [0]
    idx.truncate_to_position(0)
    assert len(idx) == 0
    assert idx.last_position() == 0


def test_index_persist_is_incremental_and_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "5.index"
    idx = OffsetIndex(path, 5)
    idx.append(5, 0)
    idx.persist()
    assert path.stat().st_size == 16
    idx.append(9, 300)
    idx.append(12, 700)
    idx.persist(fsync=True)
    assert path.stat().st_size == 48
    loaded = OffsetIndex(path, 5)
    assert loaded.load()
    assert list(loaded.offsets) == [5, 9, 12]
    assert list(loaded.positions) == [0, 300, 700]
    # Truncation is carried to the file on the next persist.
    loaded.truncate_to_position(300)
    loaded.persist()
    assert path.stat().st_size == 16
    again = OffsetIndex(path, 5)
    assert again.load() and list(again.offsets) == [5]


def test_index_load_refuses_missing_or_partial_file(tmp_path: Path) -> None:
    idx = OffsetIndex(tmp_path / "missing.index", 0)
    assert not idx.load()
    torn = tmp_path / "torn.index"
    torn.write_bytes(b"\x00" * 20)  # not a whole number of 16-byte entries
    assert not OffsetIndex(torn, 0).load()


def test_time_index_appends_only_when_max_grows(tmp_path: Path) -> None:
    ti = TimeIndex(tmp_path / "0.timeindex", 0)
    ti.maybe_append(1000, 0)
    ti.maybe_append(1000, 3)  # not greater: ignored
    ti.maybe_append(900, 4)  # smaller: ignored
    ti.maybe_append(2000, 5)
    ti.maybe_append(3000, 9)
    assert list(ti.timestamps) == [1000, 2000, 3000]
    assert list(ti.offsets) == [0, 5, 9]


def test_time_index_lookup_gives_safe_scan_start(tmp_path: Path) -> None:
    ti = TimeIndex(tmp_path / "0.timeindex", 50)
    assert ti.lookup(123) == 50  # empty: from the segment start
    for ts, off in [(1000, 50), (2000, 55), (3000, 60)]:
        ti.maybe_append(ts, off)
    # Last entry whose running maximum is < T: every earlier record is older than T.
    assert ti.lookup(500) == 50
    assert ti.lookup(1000) == 50
    assert ti.lookup(1001) == 50
    assert ti.lookup(2000) == 50
    assert ti.lookup(2001) == 55
    assert ti.lookup(3001) == 60
    assert ti.lookup(10**15) == 60


def test_time_index_truncate_to_offset(tmp_path: Path) -> None:
    ti = TimeIndex(tmp_path / "0.timeindex", 0)
    for ts, off in [(1000, 0), (2000, 5), (3000, 9)]:
        ti.maybe_append(ts, off)
    ti.truncate_to_offset(9)
    assert list(ti.offsets) == [0, 5]
    ti.truncate_to_offset(6)
    assert list(ti.offsets) == [0, 5]
    ti.truncate_to_offset(0)
    assert len(ti) == 0
    ti.maybe_append(10, 1)  # after truncation, the max starts over
    assert list(ti.timestamps) == [10]


def test_clear_and_persist_empties_file(tmp_path: Path) -> None:
    path = tmp_path / "0.timeindex"
    ti = TimeIndex(path, 0)
    ti.maybe_append(1, 0)
    ti.persist()
    ti.clear()
    ti.persist()
    assert path.stat().st_size == 0
    fresh = TimeIndex(path, 0)
    assert fresh.load() and len(fresh) == 0
