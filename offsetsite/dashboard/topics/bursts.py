"""Produce bursts: N records at R per second, in a background thread.

A burst would hold a request open for seconds and, worse, hold the engine lock if
it appended everything at once. Instead a daemon thread produces record by record
through the locked cluster proxy: each call takes the engine lock for microseconds,
so pages and live updates go on between records while the burst runs.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from logcore.cluster import Cluster
from logcore.errors import KafkaError
from logcore.records import Header

SEQUENCE = "{n}"  # replaced in keys and values by the record's number in the burst, from 1
_KEEP = 100  # finished bursts remembered for their status page
# Bursts running at once, site-wide. Each is a thread; workshop visitors may start
# them, and the per-burst caps alone would let a script start thousands.
MAX_RUNNING = 8
# Pacing: produce what is due, then sleep at most this long. Short enough to look
# smooth on the strips, long enough not to spin.
_TICK_S = 0.02


@dataclass(frozen=True)
class BurstSpec:
    topic: str
    count: int
    rate: int  # records per second
    key: str | None
    value: str | None
    headers: tuple[Header, ...] = ()
    partition: int | None = None

    def record(self, n: int) -> tuple[bytes | None, bytes | None]:
        def fill(template: str | None) -> bytes | None:
            # Plain replace, not str.format: JSON values are full of braces.
            return None if template is None else template.replace(SEQUENCE, str(n)).encode("utf-8")

        return fill(self.key), fill(self.value)


@dataclass
class Burst:
    """A running or finished burst, as its status page shows it."""

    id: str
    spec: BurstSpec
    produced: int = 0
    # partition -> [first offset, last offset] this burst wrote there
    offsets: dict[int, list[int]] = field(default_factory=dict)
    error: str = ""
    done: bool = False
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def first_last(self) -> list[tuple[int, int, int]]:
        """(partition, first offset, last offset), by partition."""
        return [(p, fl[0], fl[1]) for p, fl in sorted(self.offsets.items())]

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the burst to end; True when it did."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.done


_bursts: OrderedDict[str, Burst] = OrderedDict()
_bursts_lock = threading.Lock()


def get(burst_id: str) -> Burst | None:
    with _bursts_lock:
        return _bursts.get(burst_id)


def running() -> list[Burst]:
    with _bursts_lock:
        return [b for b in _bursts.values() if not b.done]


def _run(burst: Burst, cluster: Cluster) -> None:
    spec = burst.spec
    interval = 1.0 / spec.rate
    start = time.monotonic()
    numbers = itertools.count(1)
    try:
        while burst.produced < spec.count and not burst._stop.is_set():
            due = min(spec.count, int((time.monotonic() - start) / interval) + 1)
            while burst.produced < due:
                n = next(numbers)
                key, value = spec.record(n)
                p, off = cluster.produce(spec.topic, value, key, spec.headers, spec.partition)
                fl = burst.offsets.setdefault(p, [off, off])
                fl[1] = off
                burst.produced += 1
            if burst.produced < spec.count:
                wait = start + burst.produced * interval - time.monotonic()
                burst._stop.wait(min(max(wait, 0.0), _TICK_S) or 0.001)
    except KafkaError as e:
        # The topic was deleted, or the engine closed under us: stop and say so.
        burst.error = str(e)
    except Exception as e:  # pragma: no cover - an engine bug must not kill silently
        burst.error = f"{type(e).__name__}: {e}"
    finally:
        burst.done = True
        burst.finished = time.monotonic()


class TooManyBursts(Exception):
    """``MAX_RUNNING`` bursts are running already; ``str(e)`` says so to the user."""


def start(cluster: Cluster, spec: BurstSpec) -> Burst:
    """Start a burst through ``cluster`` (the locked proxy); returns at once."""
    burst = Burst(uuid.uuid4().hex[:12], spec)
    with _bursts_lock:
        if sum(1 for b in _bursts.values() if not b.done) >= MAX_RUNNING:
            raise TooManyBursts(
                f"{MAX_RUNNING} bursts are running already, the most this site runs at once: "
                "wait for one to finish, or produce fewer records at a time."
            )
        _bursts[burst.id] = burst
        while len(_bursts) > _KEEP:
            oldest = next(iter(_bursts))
            if not _bursts[oldest].done:
                break
            del _bursts[oldest]
    thread = threading.Thread(target=_run, args=(burst, cluster), name=f"burst-{burst.id}", daemon=True)
    burst._thread = thread
    thread.start()
    return burst


def produce_one(
    cluster: Cluster,
    topic: str,
    key: str | None,
    value: str | None,
    headers: Sequence[Header],
    partition: int | None,
) -> tuple[int, int]:
    return cluster.produce(
        topic,
        None if value is None else value.encode("utf-8"),
        None if key is None else key.encode("utf-8"),
        tuple(headers),
        partition,
    )
