"""Disk faults: a full disk, flipped bytes, cut files. Never wrong data.

Kafka's contract: a write that fails is never acknowledged and leaves no half record
behind; every batch carries a CRC that recovery and readers check; recovery says what
it truncated. Each case here either reads back exactly what was acknowledged or fails
with a logcore ``KafkaError`` that names the problem.

Full disk is simulated with RLIMIT_FSIZE in a child process (SIGXFSZ ignored, so a
write past the limit raises OSError EFBIG, after a short write up to the limit).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from logcore import EmbeddedCluster, LogManager
from logcore.errors import CorruptRecord, KafkaError
from logcore.records import HEADER_SIZE, parse_header

REPO = Path(__file__).resolve().parents[2]
GROUP = "g"


def _run_child(code: str, directory: Path) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), str(directory)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


_CHILD_PRELUDE = """
import json, resource, signal, sys
from logcore import EmbeddedCluster
from logcore.errors import KafkaError

directory = sys.argv[1]
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

def limit(nbytes):
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, resource.RLIM_INFINITY))

def describe(e):
    return {"type": type(e).__name__, "code": getattr(e, "code", None), "message": str(e)}
"""


# --- full disk: produce ------------------------------------------------------------


PRODUCE_CHILD = (
    _CHILD_PRELUDE
    + """
c = EmbeddedCluster(directory, offsets_partitions=1)
c.create_topic("t", 1)
log = c.logs.partition("t", 0)
limit(log.size_bytes + 50_000)
acked, errors = {}, []
i = 0
while not errors:
    value = b"v%d|" % i + b"x" * 1000
    try:
        _, offset = c.produce("t", value)
        acked[offset] = value.decode()
    except Exception as e:
        errors.append(describe(e))
    i += 1
after = []
for j in range(3):
    value = b"small%d" % j
    try:
        _, offset = c.produce("t", value)
        acked[offset] = value.decode()
        after.append(offset)
    except Exception as e:
        errors.append(describe(e))
read_back = {}
read_error = None
try:
    offset = 0
    while offset < log.high_watermark:
        records = log.read(offset, max_records=1000)
        if not records:
            break
        for r in records:
            read_back[r.offset] = r.value.decode()
        offset = records[-1].offset + 1
except Exception as e:
    read_error = describe(e)
hw = log.high_watermark
c.logs.abandon()
print(json.dumps({"acked": acked, "errors": errors, "after": after, "read_back": read_back,
                  "read_error": read_error, "hw": hw}))
"""
)


def _read_all(logs: LogManager, topic: str, partition: int = 0) -> dict[int, bytes | None]:
    log = logs.partition(topic, partition)
    out: dict[int, bytes | None] = {}
    offset = log.log_start_offset
    while offset < log.high_watermark:
        records = log.read(offset, max_records=1000)
        if not records:
            break
        for r in records:
            out[r.offset] = r.value
        offset = records[-1].offset + 1
    return out


def test_full_disk_on_produce_fails_cleanly_and_keeps_every_acknowledged_record(tmp_path: Path) -> None:
    data = tmp_path / "data"
    out = _run_child(PRODUCE_CHILD, data)
    errors = out["errors"]
    assert isinstance(errors, list) and errors
    first = errors[0]
    assert first["type"] == "KafkaStorageError", first
    assert first["code"] == "KAFKA_STORAGE_ERROR"
    assert "t-0" in first["message"] and "File too large" in first["message"], first
    acked = {int(k): v for k, v in dict(out["acked"]).items()}  # type: ignore[call-overload]
    # Every acknowledged record reads back in the same process, and the HW is exactly them.
    assert out["read_error"] is None
    assert {int(k): v for k, v in dict(out["read_back"]).items()} == acked  # type: ignore[call-overload]
    assert out["hw"] == len(acked) and sorted(acked) == list(range(len(acked)))
    # ... and after a restart (an unclean one: the child did not close).
    with EmbeddedCluster(data, offsets_partitions=1) as c:
        back = _read_all(c.logs, "t")
        assert {o: (v or b"").decode() for o, v in back.items()} == acked
        assert c.logs.partition("t", 0).high_watermark == len(acked)
        offset = c.produce("t", b"after-restart")[1]
        assert offset == len(acked)
        assert c.read("t", 0, offset)[0].value == b"after-restart"


# --- full disk: commit -------------------------------------------------------------


COMMIT_CHILD = (
    _CHILD_PRELUDE
    + """
c = EmbeddedCluster(directory, offsets_partitions=1)
c.create_topic("t", 1)
for i in range(100):
    c.produce("t", b"r%d" % i)
c.commit_offsets("g", {("t", 0): 1})
offsets_log = c.logs.partition("__consumer_offsets", 0)
limit(offsets_log.size_bytes + 40_000)
last_acked = 1
errors = []
n = 2
while len(errors) < 3 and n < 100:
    try:
        c.commit_offsets("g", {("t", 0): (n, "m" * 3000)})
        last_acked = n
    except Exception as e:
        errors.append(describe(e))
        in_memory = {f"{t}-{p}": om.offset for (t, p), om in c.committed_offsets("g").items()}
        errors[-1]["in_memory"] = in_memory
    n += 1
c.logs.abandon()
print(json.dumps({"last_acked": last_acked, "errors": errors}))
"""
)


def test_full_disk_on_commit_fails_cleanly_and_keeps_the_last_acknowledged_commit(tmp_path: Path) -> None:
    data = tmp_path / "data"
    out = _run_child(COMMIT_CHILD, data)
    errors = out["errors"]
    last = out["last_acked"]
    assert isinstance(errors, list) and errors and isinstance(last, int) and last > 1
    for e in errors:
        assert e["type"] == "KafkaStorageError", e
        assert "__consumer_offsets-0" in e["message"]
        # A failed commit never changes what the coordinator answers.
        assert e["in_memory"] == {"t-0": last}, e
    with EmbeddedCluster(data, offsets_partitions=1) as c:
        committed = c.committed_offsets(GROUP)
        assert committed[("t", 0)].offset == last
        assert committed[("t", 0)].offset <= c.logs.partition("t", 0).high_watermark
        # The offsets topic still takes commits and reads back whole.
        c.commit_offsets(GROUP, {("t", 0): 100})
    with EmbeddedCluster(data, offsets_partitions=1) as c:
        assert c.committed_offsets(GROUP)[("t", 0)].offset == 100


# --- corruption after a clean shutdown --------------------------------------------

RECORDS = 200
BATCH = 4


def _value(i: int) -> bytes:
    return b"value-%04d-" % i + b"y" * 20


def _build_clean(directory: Path) -> Path:
    """200 records in batches of 4, small index interval, closed cleanly; returns the .log."""
    with LogManager(directory) as lm:
        lm.create_topic("t", 1, {"index.interval.bytes": "256"})
        p = lm.partition("t", 0)
        for b in range(0, RECORDS, BATCH):
            p.append_batch([(b"k%d" % i, _value(i)) for i in range(b, b + BATCH)], timestamp=1_000 + b)
    return directory / "t" / "0" / "00000000000000000000.log"


def _batch_positions(log_path: Path) -> list[tuple[int, int, int]]:
    """(position, base offset, size) of every batch."""
    data = log_path.read_bytes()
    pos, out = 0, []
    while pos + HEADER_SIZE <= len(data):
        h = parse_header(data, pos)
        out.append((pos, h.base_offset, h.total_size))
        pos += h.total_size
    return out


def _assert_reads_correct_or_corrupt(lm: LogManager, expect_error: bool) -> None:
    p = lm.partition("t", 0)
    try:
        got = _read_all(lm, "t")
    except CorruptRecord as e:
        message = str(e)
    else:
        message = ""
    if message:
        assert ".log" in message and "offset" in message, message
        return
    assert not expect_error, "corrupt data was served without an error"
    for o, v in got.items():
        assert v == _value(o)
    assert sorted(got) == list(range(p.log_start_offset, p.high_watermark))


def test_flipped_value_byte_is_a_corrupt_record_not_data(tmp_path: Path) -> None:
    log_path = _build_clean(tmp_path)
    pos, base, size = _batch_positions(log_path)[25]
    data = bytearray(log_path.read_bytes())
    data[pos + size - 3] ^= 0x01
    log_path.write_bytes(bytes(data))
    with LogManager(tmp_path) as lm:
        p = lm.partition("t", 0)
        assert [r.value for r in p.read(0, max_records=base)] == [_value(i) for i in range(base)]
        with pytest.raises(CorruptRecord) as err:
            p.read(base, max_records=10)
        assert "00000000000000000000.log" in str(err.value) and str(base) in str(err.value)
        with pytest.raises(CorruptRecord):
            _read_all(lm, "t")


def test_tail_cut_after_clean_shutdown_is_recovered_before_appending(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log_path = _build_clean(tmp_path)
    with open(log_path, "r+b") as f:
        f.truncate(log_path.stat().st_size - 5)
    with caplog.at_level(logging.WARNING, logger="logcore"), LogManager(tmp_path) as lm:
        p = lm.partition("t", 0)
        assert p.high_watermark == RECORDS - BATCH
        assert any("00000000000000000000.log" in r.getMessage() and "196" in r.getMessage() for r in caplog.records)
        assert p.append(b"k", b"new") == RECORDS - BATCH
        got = _read_all(lm, "t")
        assert got[RECORDS - BATCH] == b"new"
        assert all(got[o] == _value(o) for o in range(RECORDS - BATCH))


def _index_entries(path: Path) -> list[list[int]]:
    import struct

    raw = path.read_bytes()
    return [list(struct.unpack_from("<qq", raw, i)) for i in range(0, len(raw), 16)]


def _write_index(path: Path, entries: list[list[int]]) -> None:
    import struct

    path.write_bytes(b"".join(struct.pack("<qq", a, b) for a, b in entries))


def test_index_entry_pointing_at_a_later_batch_never_skips_records(tmp_path: Path) -> None:
    log_path = _build_clean(tmp_path)
    index = log_path.with_suffix(".index")
    entries = _index_entries(index)
    batches = _batch_positions(log_path)
    assert len(entries) > 4
    # Entry 2 keeps its offset but points 3 batches further.
    off, pos = entries[2]
    later = next(i for i, b in enumerate(batches) if b[0] == pos) + 3
    entries[2][1] = batches[later][0]
    _write_index(index, entries)
    with LogManager(tmp_path) as lm:
        records = lm.partition("t", 0).read(off, max_records=20)
        assert [r.offset for r in records] == list(range(off, off + 20))
        assert [r.value for r in records] == [_value(i) for i in range(off, off + 20)]
        _assert_reads_correct_or_corrupt(lm, expect_error=False)


def test_shifted_last_index_entry_never_reads_as_empty(tmp_path: Path) -> None:
    log_path = _build_clean(tmp_path)
    index = log_path.with_suffix(".index")
    entries = _index_entries(index)
    entries[-1][1] += 5
    _write_index(index, entries)
    with LogManager(tmp_path) as lm:
        p = lm.partition("t", 0)
        assert p.high_watermark == RECORDS
        records = p.read(RECORDS - 4, max_records=10)
        assert [r.value for r in records] == [_value(i) for i in range(RECORDS - 4, RECORDS)]
        _assert_reads_correct_or_corrupt(lm, expect_error=False)


# --- recovery says what it cut ----------------------------------------------------


def test_unclean_recovery_logs_and_counts_what_it_truncated(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    lm = LogManager(tmp_path)
    lm.create_topic("t", 1)
    p = lm.partition("t", 0)
    for b in range(0, RECORDS, 10):
        p.append_batch([(None, _value(i)) for i in range(b, b + 10)])
    lm.abandon()
    log_path = tmp_path / "t" / "0" / "00000000000000000000.log"
    pos, base, size = _batch_positions(log_path)[10]
    assert base == 100
    data = bytearray(log_path.read_bytes())
    dropped_bytes = len(data) - pos
    data[pos + size - 2] ^= 0xFF
    log_path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="logcore"), LogManager(tmp_path) as lm2:
        p2 = lm2.partition("t", 0)
        assert p2.high_watermark == 100
        assert p2.truncated_records == 100
        msgs = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert any(
            "00000000000000000000.log" in m and "100" in m and "199" in m and str(dropped_bytes) in m for m in msgs
        ), msgs
        report = lm2.recovery_report
        assert [(r.topic, r.partition, r.first_offset, r.last_offset, r.records, r.bytes) for r in report] == [
            ("t", 0, 100, 199, 100, dropped_bytes)
        ]


# --- byte flips and cuts over every file the engine writes --------------------------

N = 60
COMMITS = list(range(3, N + 1, 3))


def _mvalue(i: int) -> bytes:
    return b"m%03d" % i + b"z" * (i % 7)


@pytest.fixture(scope="module", params=["clean", "unclean"])
def pristine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory closed cleanly (or left as a killed process leaves it): a topic
    in several segments, a group's commits."""
    d = tmp_path_factory.mktemp("pristine")
    c = EmbeddedCluster(d, offsets_partitions=1)
    c.logs.create_topic("t", 1, {"segment.bytes": "600", "index.interval.bytes": "100"})
    p = c.logs.partition("t", 0)
    for b in range(0, N, 3):
        p.append_batch([(b"k%d" % i, _mvalue(i), [("h", b"%d" % i)], 10_000 + i) for i in range(b, b + 3)])
        if b + 3 in COMMITS:
            c.commit_offsets(GROUP, {("t", 0): b + 3})
    assert p.segment_count >= 3
    if request.param == "clean":
        c.close()
    else:
        c.logs.abandon()
    return d


def _engine_files(d: Path) -> list[Path]:
    t = sorted((d / "t" / "0").glob("*"))
    files = [f for f in t if f.suffix in (".log", ".index", ".timeindex")]
    files += [d / "t" / "topic.json", *sorted((d / "__consumer_offsets" / "0").glob("*.log"))]
    return files


def _mutations(size: int) -> list[tuple[str, int]]:
    step = max(1, size // 20)
    flips = [("flip", pos) for pos in range(0, size, step)] + [("flip", size - 1)]
    cuts = [("cut", n) for n in sorted({size - 1, size - 5, size // 2, 0}) if 0 <= n < size]
    return flips + cuts


def _check_case(case: Path, strict: bool = True) -> str:
    """``strict``: a shortened log must be reported. After an unclean stop, bytes that
    were never flushed can vanish with no trace to tell (Kafka cannot tell either)."""
    try:
        c = EmbeddedCluster(case, offsets_partitions=1)
    except KafkaError as e:
        refusal = str(e)
    else:
        refusal = ""
    if refusal:
        return "refused"
    with c:
        reported = bool(c.logs.recovery_report)
        p = c.logs.partition("t", 0)
        outcome = "ok"
        try:
            got = _read_all(c.logs, "t")
        except KafkaError as e:
            outcome = "error" if str(e) else "error without a message"
        else:
            for o, v in got.items():
                assert v == _mvalue(o), (o, v)
            assert set(got) <= set(range(p.log_start_offset, p.high_watermark))
            if len(got) != p.high_watermark - p.log_start_offset:
                assert reported, "offsets went missing without a word"
            assert p.high_watermark <= N
            if p.high_watermark != N:
                assert reported or not strict
            records = p.read(p.log_start_offset, max_records=N) if got else []
            assert all(r.key == b"k%d" % r.offset and r.headers == (("h", b"%d" % r.offset),) for r in records)
            assert all(r.timestamp == 10_000 + r.offset for r in records)
            # ListOffsets by timestamp goes through the time index: right answer or an error.
            for ts in (10_000, 10_025, 10_059):
                try:
                    found = p.offset_for_timestamp(ts)
                except KafkaError:
                    continue
                present = [o for o in got if 10_000 + o >= ts]
                assert found == ((min(present), 10_000 + min(present)) if present else None), (ts, found)
        committed = c.committed_offsets(GROUP).get(("t", 0))
        if committed is None or committed.offset != N:
            assert reported or not strict, committed
            assert committed is None or committed.offset in COMMITS
        # Whatever was kept, the log takes a new record and reads it back at the HW.
        if outcome == "ok":
            hw = p.high_watermark
            assert p.append(b"new", b"new") == hw
            assert p.read(hw)[0].value == b"new"
        return outcome


def test_every_flip_and_cut_of_every_engine_file_reads_correctly_or_fails_clearly(
    pristine: Path, tmp_path: Path
) -> None:
    outcomes: dict[str, int] = {}
    # Hundreds of opens and clean closes fsync a lot: a tmpfs keeps that cheap.
    shm = Path("/dev/shm")
    scratch = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() and os.access(shm, os.W_OK) else tmp_path
    try:
        _flip_and_cut_all(pristine, scratch, outcomes)
    finally:
        if scratch != tmp_path:
            shutil.rmtree(scratch, ignore_errors=True)
    assert outcomes.get("ok", 0) > 0 and outcomes.get("error", 0) + outcomes.get("refused", 0) > 0, outcomes


def _flip_and_cut_all(pristine: Path, tmp_path: Path, outcomes: dict[str, int]) -> None:
    clean = json.loads((pristine / "t" / "0" / "partition.json").read_text())["clean_shutdown"]
    for f in _engine_files(pristine):
        rel = f.relative_to(pristine)
        original = f.read_bytes()
        for kind, arg in _mutations(len(original)):
            case = tmp_path / "case"
            shutil.rmtree(case, ignore_errors=True)
            shutil.copytree(pristine, case)
            target = case / rel
            if kind == "flip":
                data = bytearray(original)
                data[arg] ^= 0x01 if arg % 2 else 0x10
                target.write_bytes(bytes(data))
            else:
                target.write_bytes(original[:arg])
            try:
                # Unflushed: the active segments after an unclean stop (each roll flushes).
                unflushed = not clean and kind == "cut" and f.suffix == ".log" and f == max(f.parent.glob("*.log"))
                outcome = _check_case(case, strict=not unflushed)
            except AssertionError as e:
                raise AssertionError(f"{kind} at {arg} of {rel}: {e}") from e
            assert outcome != "error without a message", f"{kind} at {arg} of {rel}"
            outcomes[outcome] = outcomes.get(outcome, 0) + 1


# --- a write that cannot be rolled back, a failed fsync: the partition goes offline ---


def test_append_that_cannot_be_rolled_back_takes_the_partition_offline_until_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import errno

    import logcore.segment as segment_module
    from logcore.errors import KafkaStorageError

    lm = LogManager(tmp_path)
    lm.create_topic("t", 1)
    p = lm.partition("t", 0)
    for i in range(10):
        p.append(None, _value(i))
    real_write = os.write

    def half_then_enospc(fd: int, data: bytes) -> int:
        real_write(fd, bytes(data)[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def no_truncate(fd: int, length: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(segment_module.os, "write", half_then_enospc)
    monkeypatch.setattr(segment_module.os, "ftruncate", no_truncate)
    with pytest.raises(KafkaStorageError, match=r"t-0.*No space left on device.*offline"):
        p.append(None, b"lost")
    monkeypatch.undo()
    assert p.offline is not None
    with pytest.raises(KafkaStorageError, match="offline"):
        p.append(None, b"refused")
    with pytest.raises(KafkaStorageError, match="offline"):
        p.read(0)
    assert p.high_watermark == 10
    lm.close()  # an offline partition is not marked cleanly shut down
    with caplog.at_level(logging.WARNING, logger="logcore"), LogManager(tmp_path) as lm2:
        p2 = lm2.partition("t", 0)
        assert p2.high_watermark == 10
        assert [r.value for r in p2.read(0)] == [_value(i) for i in range(10)]
        assert [(t.first_offset, t.records) for t in lm2.recovery_report] == [(10, 0)]
        assert p2.append(None, b"next") == 10


def test_short_write_on_a_full_disk_is_cut_back_and_the_partition_stays_online(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    import logcore.segment as segment_module
    from logcore.errors import KafkaStorageError

    lm = LogManager(tmp_path)
    lm.create_topic("t", 1)
    p = lm.partition("t", 0)
    p.append_batch([(None, _value(i)) for i in range(5)])
    size = p.size_bytes
    real_write = os.write
    calls = {"n": 0}

    def short_then_enospc(fd: int, data: bytes) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            return real_write(fd, bytes(data)[:7])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(segment_module.os, "write", short_then_enospc)
    with pytest.raises(KafkaStorageError, match="nothing of this request was written"):
        p.append_batch([(None, b"a"), (None, b"b")])
    monkeypatch.undo()
    assert p.offline is None and p.size_bytes == size and p.high_watermark == 5
    assert os.path.getsize(tmp_path / "t" / "0" / "00000000000000000000.log") == size
    assert p.append(None, b"after") == 5
    assert [r.value for r in p.read(0)] == [*(_value(i) for i in range(5)), b"after"]
    lm.close()
    with LogManager(tmp_path) as lm2:
        assert [r.value for r in lm2.partition("t", 0).read(0)][-1] == b"after"
        assert lm2.recovery_report == []


def test_failed_fsync_is_not_acknowledged_and_takes_the_partition_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    import logcore.segment as segment_module
    from logcore.errors import KafkaStorageError

    lm = LogManager(tmp_path)
    lm.create_topic("t", 1, {"flush.messages": "1"})
    p = lm.partition("t", 0)
    p.append(None, b"durable")

    def eio(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(segment_module.os, "fsync", eio)
    with pytest.raises(KafkaStorageError, match=r"flush.*t-0.*Input/output error"):
        p.append(None, b"unknown")
    monkeypatch.undo()
    with pytest.raises(KafkaStorageError, match="offline"):
        p.append(None, b"refused")
    lm.close()
    with LogManager(tmp_path) as lm2:
        values = [r.value for r in lm2.partition("t", 0).read(0)]
        # The unacknowledged record may survive (it reached the kernel); nothing else does.
        assert values[0] == b"durable" and values[1:] in ([], [b"unknown"])


def test_unclean_recovery_never_accepts_a_jump_in_a_base_offset(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The CRC does not cover the base offset: a flipped bit there must not move the HW."""
    lm = LogManager(tmp_path)
    lm.create_topic("t", 1)
    p = lm.partition("t", 0)
    for b in range(0, 30, 3):
        p.append_batch([(None, _value(i)) for i in range(b, b + 3)])
    lm.abandon()
    log_path = tmp_path / "t" / "0" / "00000000000000000000.log"
    pos, base, size = _batch_positions(log_path)[-1]
    assert base == 27
    data = bytearray(log_path.read_bytes())
    data[pos + 2] ^= 0x01  # base offset 27 -> 65563
    log_path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="logcore"), LogManager(tmp_path) as lm2:
        p2 = lm2.partition("t", 0)
        assert p2.high_watermark == 27
        assert [r.value for r in p2.read(0, max_records=100)] == [_value(i) for i in range(27)]
        assert lm2.recovery_report and lm2.recovery_report[0].bytes == size
