"""Storage benchmark (issue 2): logcore against a plain file writer and SQLite, in one run.

``python -m bench.log [--json] [--records N] [--reopen-records N] ...``

Records are ``--value-bytes`` (100) byte values with null keys, as Kafka's
``kafka-producer-perf-test --record-size 100`` sends them (``--key-bytes`` adds keys).
Every contender gets the same pre-built list of ``(key, value)`` records and writes
them ``--batch`` (1,000) a call; each is run ``--rounds`` (5) times, in rotating
order, into fresh files; the best round is the figure (noise on a shared machine
only ever adds time), and ratios are of those figures. The JSON also holds every round, the
median rates and ratios, and the rates on CPU time.

- logcore: ``PartitionLog.append_batch`` with the default topic config (no forced
  fsync, like Kafka; one ``os.write`` of one encoded batch per call).
- plain: the least a program can do to write the same bytes: transpose the batch,
  frame it with logcore's own encoder (``records.encode_batch``, the same C-level
  framing code logcore runs, stamped with the wall clock per batch as logcore does)
  and ``os.write`` it unbuffered to a file opened ``O_APPEND``, no fsync. No
  validation, no offsets bookkeeping, no indexes, no locks.
- SQLite: WAL journal, ``synchronous=NORMAL``, table ``(offset INTEGER PRIMARY KEY,
  ts, key BLOB, value BLOB)``, one ``executemany`` of the batch's rows per
  transaction.

Then: one record a call (``PartitionLog.append``); two sequential reads of the
batched partition from offset 0, 1 MiB a call (Kafka's ``max.partition.fetch.bytes``):
``read_batches(offset)``, whole stored batches with CRCs and offsets checked, as a
Kafka fetch reads them (the ``>= 2 x`` batched append target is on this one), and
``read(offset, max_records=10_000)``, every record materialised as a ``Record``
(reported beside it, no target); and reopen of a ``--reopen-records`` partition after a
clean close and after SIGKILL of a child process appending to it.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from itertools import repeat
from pathlib import Path
from typing import Any, NamedTuple

from bench.common import Figure, machine, positive_int, table, today
from logcore.config import TopicConfig
from logcore.partition import META_FILE, PartitionLog
from logcore.records import HEADER_SIZE, encode_batch, parse_header

Batch = list[tuple[bytes | None, bytes]]

TOPIC = "bench"
FETCH_MAX_RECORDS = 10_000


def make_batches(records: int, value_bytes: int, key_bytes: int, batch: int) -> list[Batch]:
    """``records`` distinct random values (and keys), cut into lists of ``batch``."""
    blob = os.urandom(records * value_bytes)
    values = [blob[i : i + value_bytes] for i in range(0, len(blob), value_bytes)]
    if key_bytes:
        keys: list[bytes | None] = [(b"%0*d" % (key_bytes, i))[-key_bytes:] for i in range(records)]
    else:
        keys = [None] * records
    rows = list(zip(keys, values, strict=True))
    return [rows[i : i + batch] for i in range(0, records, batch)]


class Timing(NamedTuple):
    """Seconds of one timed section: on the wall clock, and of this process's CPU."""

    wall: float
    cpu: float


def _start() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> Timing:
    return Timing(time.perf_counter() - start[0], time.process_time() - start[1])


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


# --- the three writers ------------------------------------------------------------


def write_logcore(directory: Path, batches: Sequence[Batch]) -> Timing:
    """Seconds to append every batch with ``PartitionLog.append_batch``."""
    log = PartitionLog(directory, TOPIC, 0, TopicConfig())
    append = log.append_batch
    t = _start()
    for b in batches:
        append(b)
    elapsed = _since(t)
    log.close()
    return elapsed


def write_plain(directory: Path, batches: Sequence[Batch]) -> Timing:
    """Seconds for the plain baseline: same framing code, one unbuffered write a batch."""
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / "plain.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    offset = 0
    write = os.write
    t = _start()
    for b in batches:
        keys, values = zip(*b, strict=True)
        data = encode_batch(offset, keys, values, _now_ms())
        offset += len(b)
        view = memoryview(data)
        done = write(fd, view)
        while done < len(data):  # a short write is legal; finish it, as logcore does
            done += write(fd, view[done:])
    elapsed = _since(t)
    os.fsync(fd)  # outside the timing, like logcore's close
    os.close(fd)
    return elapsed


def write_sqlite(directory: Path, batches: Sequence[Batch]) -> Timing:
    """Seconds for SQLite (WAL, synchronous=NORMAL), one transaction per batch."""
    directory.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(directory / "log.db", isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("CREATE TABLE records (offset INTEGER PRIMARY KEY, ts INTEGER, key BLOB, value BLOB)")
    sql = "INSERT INTO records VALUES (?, ?, ?, ?)"
    offset = 0
    t = _start()
    for b in batches:
        n = len(b)
        keys, values = zip(*b, strict=True)
        con.execute("BEGIN")
        con.executemany(sql, zip(range(offset, offset + n), repeat(_now_ms(), n), keys, values, strict=True))
        con.execute("COMMIT")
        offset += n
    elapsed = _since(t)
    con.close()
    return elapsed


def append_one_at_a_time(directory: Path, batches: Sequence[Batch], records: int) -> Timing:
    """Seconds to append ``records`` records with one ``PartitionLog.append`` each."""
    log = PartitionLog(directory, TOPIC, 0, TopicConfig())
    append = log.append
    left = records
    t = _start()
    for b in batches:
        for key, value in b[:left]:
            append(key, value)
        left -= len(b)
        if left <= 0:
            break
    elapsed = _since(t)
    log.close()
    return elapsed


def read_all(directory: Path, expected: int) -> Timing:
    """Seconds to read every record from offset 0, as a consumer fetching 1 MiB at a time."""
    log = PartitionLog(directory, TOPIC, 0, TopicConfig())
    read = log.read
    offset = 0
    count = 0
    t = _start()
    while True:
        records = read(offset, FETCH_MAX_RECORDS)
        if not records:
            break
        count += len(records)
        offset = records[-1].offset + 1
    elapsed = _since(t)
    log.close()
    if count != expected or offset != expected:
        raise AssertionError(f"read {count} records up to offset {offset}, expected {expected}")
    return elapsed


def read_all_batches(directory: Path, expected: int) -> Timing:
    """Seconds to read every stored batch from offset 0 with ``read_batches``, 1 MiB a call.

    Kafka's own sequential read, a fetch, returns whole batches as stored, not decoded
    records; ``read_batches`` is that path (CRCs and offsets checked, as ``read`` checks
    them). The reader does what a fetch loop must: it takes the next offset from each
    batch's header, checking the batch starts there, and counts the records the headers
    hold, to prove it saw them all, in order, without gaps.
    """
    log = PartitionLog(directory, TOPIC, 0, TopicConfig())
    read_batches = log.read_batches
    header = parse_header
    offset = 0
    count = 0
    t = _start()
    while True:
        batches = read_batches(offset)
        if not batches:
            break
        for b in batches:
            h = header(b)
            if h.base_offset != offset or len(b) != h.total_size or h.total_size < HEADER_SIZE:
                raise AssertionError(f"batch at {h.base_offset} ({len(b)} bytes) does not follow offset {offset - 1}")
            count += h.record_count
            offset = h.base_offset + h.last_offset_delta + 1
    elapsed = _since(t)
    log.close()
    if count != expected or offset != expected:
        raise AssertionError(f"read {count} records in batches up to offset {offset}, expected {expected}")
    return elapsed


# --- reopen -------------------------------------------------------------------------


def build_partition(directory: Path, batches: Sequence[Batch], records: int) -> None:
    """A ``records``-record partition, appended ``len(batch)`` at a time, closed cleanly."""
    log = PartitionLog(directory, TOPIC, 0, TopicConfig())
    done = 0
    while done < records:
        for b in batches:
            take = b if done + len(b) <= records else b[: records - done]
            log.append_batch(take)
            done += len(take)
            if done >= records:
                break
    log.close()


def timed_open(directory: Path) -> tuple[float, PartitionLog]:
    t = time.perf_counter()
    log = PartitionLog(directory, TOPIC, 0, TopicConfig())
    return time.perf_counter() - t, log


def _tail_bytes(directory: Path) -> int:
    """Bytes after the recovery point: what an unclean open has to verify."""
    meta = json.loads((directory / META_FILE).read_text())
    rp = meta.get("recovery_point") or {"segment": 0, "position": 0}
    total = 0
    for path in directory.glob("*.log"):
        base = int(path.name[:-4])
        if base > rp["segment"]:
            total += path.stat().st_size
        elif base == rp["segment"]:
            total += max(path.stat().st_size - rp["position"], 0)
    return total


def kill_while_appending(directory: Path, after: int, value_bytes: int, batch: int) -> int:
    """Start a child appending to ``directory``; SIGKILL it once ``after`` more records are in.

    Returns the log end offset the child had reached when it reported (the kill lands
    while it keeps appending, so more may be on disk, possibly a torn batch).
    """
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [sys.executable, "-m", "bench.log", "--append-until-killed", str(directory)]
    cmd += ["--kill-after", str(after), "--value-bytes", str(value_bytes), "--batch", str(batch)]
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env, cwd=root)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        if not line.startswith("appended "):
            raise RuntimeError(f"the appending child failed (exit {child.wait()}): {line!r}")
        os.kill(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
    if child.returncode != -signal.SIGKILL:
        raise RuntimeError(f"the appending child ended with {child.returncode}, not SIGKILL")
    return int(line.split()[1])


def _child_append(directory: Path, after: int, value_bytes: int, batch: int) -> int:
    """The child of ``kill_while_appending``: append until killed, tell the parent when."""
    log = PartitionLog(directory, TOPIC, 0, TopicConfig())
    rows: Batch = [(None, os.urandom(value_bytes)) for _ in range(batch)]
    start = log.log_end_offset
    told = False
    while True:
        log.append_batch(rows)
        if not told and log.log_end_offset - start >= after:
            print(f"appended {log.log_end_offset}", flush=True)
            told = True


# --- the run ----------------------------------------------------------------------


def _rates(records: int, runs: list[Timing]) -> dict[str, float]:
    """Records/s of the best round (the figure), of the median round, and on CPU time."""
    return {
        "best": records / min(t.wall for t in runs),
        "median": records / statistics.median(t.wall for t in runs),
        "cpu": records / min(t.cpu for t in runs),
    }


def run(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    batches = make_batches(args.records, args.value_bytes, args.key_bytes, args.batch)
    # The harness's inputs (a million values and tuples) leave the cyclic GC's view so
    # no contender pays for scanning them; the GC stays on for what contenders allocate.
    gc.collect()
    gc.freeze()
    n = args.records
    writers: dict[str, Callable[[Path, Sequence[Batch]], Timing]] = {
        "logcore": write_logcore,
        "plain": write_plain,
        "sqlite": write_sqlite,
    }
    runs: dict[str, list[Timing]] = {name: [] for name in [*writers, "single", "read", "batch_read"]}
    order = list(writers)
    for r in range(args.rounds):
        # Rotate who goes first: the kernel writing back one contender's dirty pages
        # must not always land on the same next contender.
        for name in order[r % 3 :] + order[: r % 3]:
            runs[name].append(writers[name](root / f"{name}-{r}", batches))
        # Alternate which read goes first so neither always finds the page cache colder.
        reads = [("read", read_all), ("batch_read", read_all_batches)]
        for name, reader in reads if r % 2 == 0 else reads[::-1]:
            runs[name].append(reader(root / f"logcore-{r}", n))
        runs["single"].append(append_one_at_a_time(root / f"single-{r}", batches, args.single_records))
        for name in [*writers, "single"]:
            shutil.rmtree(root / f"{name}-{r}", ignore_errors=True)
    rates = {name: _rates(args.single_records if name == "single" else n, t) for name, t in runs.items()}
    logcore, plain, lite = rates["logcore"]["best"], rates["plain"]["best"], rates["sqlite"]["best"]
    read, one = rates["read"]["best"], rates["single"]["best"]
    batch_read = rates["batch_read"]["best"]
    payload_mb = n * (args.value_bytes + args.key_bytes) / 1e6

    # Reopen: one big partition, built once per run.
    big = root / "reopen"
    t = time.perf_counter()
    build_partition(big, batches, args.reopen_records)
    build_s = time.perf_counter() - t
    clean_runs = []
    for _ in range(args.rounds):
        elapsed, log = timed_open(big)
        if log.log_end_offset != args.reopen_records:
            raise AssertionError(f"clean reopen found {log.log_end_offset} records, not {args.reopen_records}")
        clean_runs.append(elapsed)
        log.close()
    reached = kill_while_appending(big, args.kill_after, args.value_bytes, args.batch)
    tail = _tail_bytes(big)
    killed_s, log = timed_open(big)
    survived = log.log_end_offset
    cut = log.recovered_bytes_cut
    log.close()
    if survived < reached:
        raise AssertionError(f"after the kill the log ends at {survived}, but {reached} appends had returned")
    clean_s = min(clean_runs)
    big_n = f"{args.reopen_records:,}"

    figures = [
        Figure("batched_append_per_s", "logcore batched append", logcore, "records/s"),
        Figure("plain_baseline_per_s", "plain baseline (same frames, os.write)", plain, "records/s"),
        Figure("sqlite_per_s", "SQLite WAL executemany", lite, "records/s"),
        Figure("batched_append_mb_per_s", "logcore batched append", logcore * payload_mb / n, "MB/s payload"),
        Figure("batched_vs_plain", "batched append / plain", logcore / plain, "x", ">= 0.7", logcore / plain >= 0.7),
        Figure("batched_vs_sqlite", "batched append / SQLite", logcore / lite, "x", ">= 2", logcore / lite >= 2),
        Figure("single_append_per_s", "one record a call", one, "records/s", ">= 200,000", one >= 200_000),
        # The storage target (read >= 2 x batched append) is on the batch read: Kafka's
        # sequential read (a fetch) returns stored batches, not decoded records. The
        # per-record read stays beside it, without a target, as the decode-everything figure.
        Figure("batch_read_per_s", "sequential read, whole batches", batch_read, "records/s"),
        Figure(
            "batch_read_vs_batched_append",
            "sequential read (batches) / batched append",
            batch_read / logcore,
            "x",
            ">= 2",
            batch_read / logcore >= 2,
        ),
        Figure("sequential_read_per_s", "sequential read, every record a Record", read, "records/s"),
        Figure("read_vs_batched_append", "sequential read (records) / batched append", read / logcore, "x"),
        Figure("reopen_clean_s", f"reopen after clean close ({big_n})", clean_s, "s", "< 0.5", clean_s < 0.5),
        Figure("reopen_after_kill_s", f"reopen after kill ({big_n})", killed_s, "s", "< 2", killed_s < 2),
        Figure("kill_tail_verified_mb", "  tail verified after kill", tail / 1e6, "MB"),
        Figure("kill_bytes_cut", "  torn bytes cut after kill", float(cut), "bytes"),
    ]
    return {
        "benchmark": "log",
        "date": today(),
        "machine": machine(root),
        "load_average": os.getloadavg(),
        "params": {
            "records": n,
            "value_bytes": args.value_bytes,
            "key_bytes": args.key_bytes,
            "batch": args.batch,
            "single_records": args.single_records,
            "rounds": args.rounds,
            "reopen_records": args.reopen_records,
            "kill_after": args.kill_after,
            "reopen_build_s": round(build_s, 2),
            "killed_child_reached": reached,
            "log_end_after_kill": survived,
        },
        "figures": {f.key: f.as_json() for f in figures},
        # Best round (the figures), median round, and the rate on this process's CPU
        # time, which a busy machine disturbs far less than the wall clock.
        "rates": rates,
        "median_ratios": {
            "batched_vs_plain": rates["logcore"]["median"] / rates["plain"]["median"],
            "batched_vs_sqlite": rates["logcore"]["median"] / rates["sqlite"]["median"],
            "read_vs_batched_append": rates["read"]["median"] / rates["logcore"]["median"],
            "batch_read_vs_batched_append": rates["batch_read"]["median"] / rates["logcore"]["median"],
        },
        "runs_s": {
            **{name: [round(t.wall, 4) for t in ts] for name, ts in runs.items()},
            "reopen_clean": [round(x, 4) for x in clean_runs],
        },
        "_rows": figures,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.log", description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print one JSON object of the figures")
    p.add_argument("--records", type=positive_int, default=1_000_000, help="records per contender (1,000,000)")
    p.add_argument("--value-bytes", type=positive_int, default=100, help="value size (100)")
    p.add_argument("--key-bytes", type=int, default=0, help="key size; 0 (default) sends null keys")
    p.add_argument("--batch", type=positive_int, default=1000, help="records per batched call (1,000)")
    p.add_argument("--single-records", type=positive_int, help="records appended one a call (default: --records)")
    p.add_argument("--rounds", type=positive_int, default=5, help="runs of each contender; the best counts (5)")
    p.add_argument("--reopen-records", type=positive_int, default=10_000_000, help="partition size to reopen (10M)")
    p.add_argument("--kill-after", type=positive_int, help="records the killed child appends (default: 10%% of reopen)")
    p.add_argument("--dir", type=Path, help="scratch directory (default: a new temporary one, removed after)")
    p.add_argument("--append-until-killed", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.key_bytes < 0:
        p.error(f"--key-bytes must be 0 (null keys) or more, not {args.key_bytes}")
    if args.single_records is None:
        args.single_records = args.records
    args.single_records = min(args.single_records, args.records)
    if args.kill_after is None:
        args.kill_after = max(args.reopen_records // 10, args.batch)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.append_until_killed is not None:
        return _child_append(args.append_until_killed, args.kill_after, args.value_bytes, args.batch)
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="bench-log-", dir=args.dir))
    try:
        result = run(args, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    rows: list[Figure] = result.pop("_rows")
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    m = result["machine"]
    print(f"bench.log  {result['date']}  {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, {m['python']}")
    p = result["params"]
    keys = f"{p['key_bytes']} B keys" if p["key_bytes"] else "null keys"
    print(
        f"{p['records']:,} records of {p['value_bytes']} B values and {keys}, "
        f"batches of {p['batch']:,}, best of {p['rounds']} rounds (load average {result['load_average'][0]:.1f})\n"
    )
    print(table(rows))
    failed = [f.name.strip() for f in rows if f.passed is False]
    print("\nFAIL: " + "; ".join(failed) if failed else "\nall targets PASS")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
