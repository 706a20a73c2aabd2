"""Kill a real writer process at random moments; nothing it acknowledged may be lost.

A child Python process appends to a PartitionLog (single records and batches, a few
of them large, small segments so it rolls often, an occasional flush) and prints every
acknowledged append on stdout, flushing after each. The test SIGKILLs it at a random
moment, reopens the log (an unclean open: recovery runs), and checks that every
acknowledged record is there with its key and value, that no record appears twice, and
that offsets run without a gap from log start to the high watermark. The next child
reuses the same directory, so recovery also runs on logs that were recovered before.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from logcore import PartitionLog, TopicConfig

REPO = Path(__file__).resolve().parents[2]
CONFIG = {"segment.bytes": "8192", "index.interval.bytes": "1024"}
ROUNDS = 30
TIME_BUDGET_S = 45.0

CHILD = textwrap.dedent(
    """
    import random, sys
    from pathlib import Path
    from logcore import PartitionLog, TopicConfig

    directory, rnd, seed = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    config = TopicConfig.from_dict({"segment.bytes": "8192", "index.interval.bytes": "1024"})
    rng = random.Random(seed)
    log = PartitionLog(directory, "crash", 0, config)
    out = sys.stdout
    out.write(f"ready {log.log_start_offset} {log.high_watermark}\\n")
    out.flush()

    def key(seq):
        return None if seq % 5 == 0 else b"k%d" % (seq % 10)

    def value(seq, pad):
        return b"r%ds%d|" % (rnd, seq) + b"x" * pad

    seq = 0
    while True:
        choice = rng.random()
        if choice < 0.5:
            pad = rng.randrange(0, 200)
            offset = log.append(key(seq), value(seq, pad), headers=[("seq", b"%d" % seq)])
            n = 1
        else:
            # Now and then a large batch (up to ~500 kB, under max.message.bytes), so a
            # kill can land in the middle of its write.
            big = choice > 0.95
            n = rng.randrange(2, 9) if big else rng.randrange(2, 20)
            pad = rng.randrange(20_000, 60_000) if big else rng.randrange(0, 100)
            offset = log.append_batch([(key(seq + i), value(seq + i, pad)) for i in range(n)])
        out.write(f"ack {offset} {n} {seq} {pad}\\n")
        out.flush()
        seq += n
        if rng.random() < 0.02:
            log.flush()
    """
)


def _expected_key(seq: int) -> bytes | None:
    return None if seq % 5 == 0 else b"k%d" % (seq % 10)


def _expected_value(rnd: int, seq: int, pad: int) -> bytes:
    return b"r%ds%d|" % (rnd, seq) + b"x" * pad


def _read_all(log: PartitionLog) -> list:
    out = []
    offset = log.log_start_offset
    while offset < log.high_watermark:
        got = log.read(offset, max_records=5000, max_bytes=8 << 20)
        assert got, f"no record at {offset} below the high watermark {log.high_watermark}"
        out.extend(got)
        offset = got[-1].offset + 1
    return out


def _run_child(directory: Path, rnd: int, rng: random.Random) -> tuple[list[str], int]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(directory), str(rnd), str(rng.randrange(2**31))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    # Some kills land while the child is still starting or recovering; most while it writes.
    time.sleep(rng.uniform(0.05, 0.45))
    child.send_signal(signal.SIGKILL)
    stdout, stderr = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL, stderr.decode(errors="replace")
    text = stdout.decode()
    lines = text.split("\n")
    # A line cut by the kill was never fully acknowledged.
    complete = lines[:-1]  # the text after the last newline (if any) is incomplete
    return complete, len(stderr)


@pytest.mark.integration
def test_sigkill_never_loses_acknowledged_records(tmp_path: Path) -> None:
    directory = tmp_path / "crash-0"
    rng = random.Random(int(os.environ.get("CRASH_SEED", "20240611")))
    config = TopicConfig.from_dict(CONFIG)
    expected: dict[int, tuple[bytes | None, bytes]] = {}
    deadline = time.monotonic() + TIME_BUDGET_S
    rounds = acked_total = cut_total = 0
    hw = 0
    for rnd in range(ROUNDS):
        # At least two rounds whatever the load: the second child recovers the first's log.
        if rnd >= 2 and time.monotonic() > deadline:
            break
        lines, _ = _run_child(directory, rnd, rng)
        for line in lines:
            parts = line.split()
            if parts[0] == "ready":
                # The child recovered the log to exactly what the last check saw.
                assert (int(parts[1]), int(parts[2])) == (0, hw), line
                continue
            assert parts[0] == "ack", line
            base, n, seq, pad = map(int, parts[1:])
            for i in range(n):
                assert base + i not in expected, f"offset {base + i} acknowledged twice"
                expected[base + i] = (_expected_key(seq + i), _expected_value(rnd, seq + i, pad))
            acked_total += n

        log = PartitionLog(directory, "crash", 0, config)
        try:
            cut_total += log.recovered_bytes_cut
            records = _read_all(log)
            offsets = [r.offset for r in records]
            assert log.log_start_offset == 0
            assert offsets == list(range(log.log_start_offset, log.high_watermark)), "offsets have a gap"
            assert log.log_end_offset == log.high_watermark
            by_offset = {r.offset: r for r in records}
            missing = [o for o in expected if o not in by_offset]
            assert not missing, f"round {rnd}: acknowledged offsets lost: {missing[:10]}"
            for o, (key, value) in expected.items():
                assert (by_offset[o].key, by_offset[o].value) == (key, value), f"round {rnd}: offset {o}"
            values = [r.value for r in records]
            assert len(values) == len(set(values)), "a record appears twice"
            hw = log.high_watermark
            # An appended-but-unacknowledged tail may survive; it is kept as written.
            assert hw >= max(expected, default=-1) + 1
        finally:
            # Alternate: sometimes leave the log unclean, so the next child recovers it.
            if rnd % 2:
                log.close()
            else:
                log.abandon()
        rounds += 1
    # What holds whatever the machine's load (how many rounds and records fit in the time
    # budget does not): children ran, acknowledged something, and every acknowledged
    # record was found, in order and intact, after each kill (checked per round above).
    assert rounds >= 2
    assert acked_total > 0, acked_total
    print(f"{rounds} rounds, {acked_total} acknowledged records, HW {hw}, {cut_total} bytes cut by recovery")
