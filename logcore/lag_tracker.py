"""The memory behind lag in time and lag health: one :class:`LagTracker` per cluster.

:mod:`logcore.lag` has the arithmetic (``OffsetTimeTable`` for lag in time,
``CommitWindow`` + ``evaluate_partition`` for Burrow's health rules) but no memory:
both need history, a table of high-watermark samples per partition and a window of
the last commits per group partition. A :class:`LagTracker` keeps that history for
one cluster, whatever backs it:

* **Events.** It follows the cluster's :class:`~logcore.events.EventBus` (``attach``,
  or lazily through :meth:`LagTracker.sync`). ``RecordsAppended`` feeds the HW tables,
  at most one sample per partition per ``sample_interval_ms``; ``OffsetsCommitted``
  feeds the commit windows with the lag at commit time, as Burrow stores it;
  ``OffsetsDeleted``, ``GroupDeleted`` and ``TopicDeleted`` forget what they remove.
  The embedded engine publishes these events itself; a backend over a real Kafka
  cluster publishes the same event classes from its poller. The callback may run
  inside the engine (engine lock held), so it only appends to a deque: it takes no
  lock and calls nothing back. The deque is drained by the next computation.
* **Samples.** Each computation also observes the groups it describes
  (:meth:`LagTracker.observe`): an HW sample per partition (this keeps a quiet
  partition's table current, stretching its flat run, and is all a backend without
  append events gives) and, for a partition whose window is empty (offsets committed
  before the tracker started), the committed offset with its commit timestamp.

What it answers, per partition of a group (``PartitionOffsets`` from any
``logcore.Cluster``):

* :meth:`LagTracker.time_lag`: lag in time with where it came from (:data:`LagSource`):

  - ``"caught-up"``: lag 0, nothing to read;
  - ``"interpolated"``: kafka-lag-exporter's method (docs/logcore.md, Kafka's rules, section 7), now minus the
    time at which the committed offset was the HW, interpolated between two samples;
  - ``"record"``: when the tables cannot interpolate (no samples yet, or the committed
    offset is older than the oldest sample): now minus the timestamp of the record at
    the committed offset, i.e. how long the next unread record has been waiting. It
    trusts the producer's timestamp (CreateTime), which is why it is labelled;
  - ``"extrapolated"``: the record is gone (retention): the table's trend line, as the
    exporter does;
  - ``"record"`` again, as a lower bound, when no table can help with a committed
    offset below the log start: the timestamp of the oldest record still in the log;
  - unknown (``None``) when nothing is committed, the topic is gone, or nothing above
    applies.

* :meth:`LagTracker.health`: Burrow's verdict over the partition's commit window;
* :meth:`LagTracker.time_to_clear`: how long the lag takes to clear at the read and
  write rates smoothed over the partition's lag history (:class:`logcore.lag.LagHistory`,
  the last few minutes of commits and observations), not over the ten commits of a
  Burrow window, whose end points swing with every burst;
* :meth:`LagTracker.partition_lag`: all of the above in one :class:`PartitionLag`.

Lag in messages is always :func:`logcore.lag.lag_messages` (``PartitionOffsets.lag``).

Lock order: a caller takes the tracker's :attr:`LagTracker.lock` and may then call the
cluster (which may take its own lock). The cluster never takes the tracker's lock (see
above), so the two cannot deadlock. A caller that holds the cluster's lock across a
computation must take the tracker's lock *first*.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from .cluster import Cluster, GroupDescription, PartitionOffsets
from .events import (
    Event,
    EventBus,
    GroupDeleted,
    OffsetsCommitted,
    OffsetsDeleted,
    OffsetsReset,
    RecordsAppended,
    TopicDeleted,
)
from .lag import (
    DEFAULT_WINDOW_COMMITS,
    AddPointResult,
    CommitWindow,
    GroupStatus,
    LagHistory,
    OffsetTimeTable,
    PartitionStatus,
    evaluate_group,
    evaluate_partition,
    known_high_watermark,
    lag_messages,
)

__all__ = [
    "LAG_SOURCE_NAMES",
    "PENDING_MAX",
    "SAMPLE_INTERVAL_MS",
    "TIMESTAMP_CACHE_SIZE",
    "LagSource",
    "LagTracker",
    "OperatorMove",
    "PartitionLag",
    "TimeLag",
    "TimeToClear",
    "system_now_ms",
]

SAMPLE_INTERVAL_MS = 1000
"""At most one HW sample per partition per second: 60 points then span a minute or more
(flat runs take one point however long they last)."""

TIMESTAMP_CACHE_SIZE = 50_000
"""Record timestamps remembered for the ``record`` method (a record's timestamp never
changes, and reading it costs a disk read: about 40 us)."""

PENDING_MAX = 200_000
"""Events waiting for the next computation; beyond this the oldest are dropped (a quiet
tracker must not grow without bound while producers run)."""

LagSource = Literal["interpolated", "record", "extrapolated", "caught-up"]
"""How a lag in time was obtained (see the module docstring)."""

LAG_SOURCE_NAMES: tuple[LagSource, ...] = ("interpolated", "record", "extrapolated", "caught-up")

TP = tuple[str, int]
GTP = tuple[str, str, int]


def system_now_ms() -> int:
    """Wall-clock milliseconds since the epoch (the tracker's default clock)."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class TimeLag:
    """A lag in time in milliseconds and how it was obtained; both ``None`` when unknown."""

    ms: float | None
    source: LagSource | None

    @classmethod
    def unknown(cls) -> TimeLag:
        return cls(None, None)


@dataclass(frozen=True)
class TimeToClear:
    """How long the backlog takes to clear at the rates seen lately.

    ``ms`` is ``None`` when it will not clear at these rates (producers write at least
    as fast as the group reads), ``0.0`` when there is no lag.
    """

    ms: float | None
    consume_per_s: float
    produce_per_s: float


@dataclass(frozen=True)
class OperatorMove:
    """The committed offset was moved by an operator (a reset or its undo), not by the consumer.

    Known from :class:`~logcore.events.OffsetsReset`, which ``logcore.admin`` publishes
    right after the commit that applies a reset. Burrow cannot tell such a commit from a
    consumer seeking back and reports REWIND for it; the tracker starts the partition's
    commit window afresh at the operator's offset instead, and reports the move while
    that commit is still in the window.
    """

    at_ms: int
    scenario: str  # the reset's scenario ("to-earliest", "shift-by", ...) or "undo"
    before: int | None  # None: nothing was committed before
    after: int


@dataclass(frozen=True)
class PartitionLag:
    """Everything known about how far a group is behind one partition."""

    offsets: PartitionOffsets
    lag: int | None  # lag in messages: logcore.lag.lag_messages
    time: TimeLag
    health: PartitionStatus | None  # None when nothing is committed or the topic is gone
    clear: TimeToClear | None
    moved: OperatorMove | None = None  # the operator's move the commit window starts at


# Items of a feed's queue: (kind, ...) tuples, kept small because appends run in the engine.
_Pending = (
    tuple[Literal["hw"], TP, int, int]
    | tuple[Literal["commit"], GTP, int, int, int | None]
    | tuple[Literal["reset"], GTP, int, int, int, str]
    | tuple[Literal["forget"], GTP]
    | tuple[Literal["forget_group"], str]
    | tuple[Literal["forget_topic"], str]
)


class _Feed:
    """One event bus's stream into a tracker: appended to by the publisher, drained by readers.

    The callback may run in the engine's thread with the engine lock held, so it takes no
    lock and calls nothing: it updates plain dicts and appends to a deque (both safe
    under the GIL). A new bus (engine re-opened) gets a new feed.
    """

    def __init__(self, bus: EventBus, clock: Callable[[], int], sample_interval_ms: int) -> None:
        self.bus = bus
        self.clock = clock
        self.sample_interval_ms = sample_interval_ms
        self.pending: deque[_Pending] = deque(maxlen=PENDING_MAX)
        self.hw: dict[TP, int] = {}  # latest HW per partition, for the lag at each commit
        self.last_sample: dict[TP, int] = {}
        self.unsubscribe = bus.subscribe(self.on_event)

    def on_event(self, event: Event) -> None:
        now = self.clock()
        if isinstance(event, RecordsAppended):
            tp = (event.topic, event.partition)
            self.hw[tp] = event.high_watermark
            if now - self.last_sample.get(tp, -self.sample_interval_ms) >= self.sample_interval_ms:
                self.last_sample[tp] = now
                self.pending.append(("hw", tp, event.high_watermark, now))
        elif isinstance(event, OffsetsCommitted):
            for topic, partition, offset in event.offsets:
                hw = self.hw.get((topic, partition))
                self.pending.append(("commit", (event.group, topic, partition), offset, now, hw))
        elif isinstance(event, OffsetsReset):
            for topic, partition, before, after in event.changes:
                self.pending.append(("reset", (event.group, topic, partition), before, after, now, event.scenario))
        elif isinstance(event, OffsetsDeleted):
            for topic, partition in event.partitions:
                self.pending.append(("forget", (event.group, topic, partition)))
        elif isinstance(event, GroupDeleted):
            self.pending.append(("forget_group", event.group))
        elif isinstance(event, TopicDeleted):
            self.hw = {tp: hw for tp, hw in self.hw.items() if tp[0] != event.topic}
            self.pending.append(("forget_topic", event.topic))


class LagTracker:
    """History of one cluster's HW samples and commits (see the module docstring).

    ``clock`` gives milliseconds since the epoch (tests pass one they move).

    ``min_commits``: commits a window needs before Burrow's rules judge it (Burrow's
    ``minimum-complete`` times its ``intervals``); by default a full window. With fewer,
    the partition's status is *pending* ("not enough commits yet"): with one commit the
    window spans no time, so any later moment would read as STOP and a group would show
    ERR right after its first consume. A window seeded from a commit made before the
    tracker watched (:meth:`observe`) is history Burrow would have read from
    ``__consumer_offsets``, and is judged from its first commit: a group whose consumers
    stopped before the server started still shows STOP.
    """

    def __init__(
        self,
        clock: Callable[[], int] = system_now_ms,
        *,
        sample_interval_ms: int = SAMPLE_INTERVAL_MS,
        timestamp_cache_size: int = TIMESTAMP_CACHE_SIZE,
        min_commits: int = DEFAULT_WINDOW_COMMITS,
    ) -> None:
        self.clock = clock
        self.sample_interval_ms = sample_interval_ms
        self.min_commits = min_commits
        self._seeded: set[GTP] = set()  # windows that start at a commit made before we watched
        self._moves: dict[GTP, OperatorMove] = {}  # the last operator move of each partition
        self._lock = threading.RLock()
        self._feed: _Feed | None = None  # the feed whose history the tables hold
        self._next_feed: _Feed | None = None  # set by attach(), adopted by the next computation
        self._tables: dict[TP, OffsetTimeTable] = {}
        self._windows: dict[GTP, CommitWindow] = {}
        self._histories: dict[GTP, LagHistory] = {}  # rates behind the time to clear
        self._ts_cache: OrderedDict[tuple[str, int, int], int] = OrderedDict()
        self._ts_cache_size = timestamp_cache_size
        self._snapshot: tuple[int, int, list[GroupDescription]] | None = None

    @property
    def lock(self) -> threading.RLock:
        """Held around every computation; take it before a cluster lock (see the module docstring)."""
        return self._lock

    # ----------------------------------------------------------------- events

    def attach(self, bus: EventBus) -> None:
        """Follow ``bus`` from now on; a different bus (engine re-opened) starts a clean history.

        Takes no lock: the engine calls this while holding its own lock (on open).
        """
        current = self._next_feed
        if current is not None and current.bus is bus:
            return
        self._next_feed = _Feed(bus, self.clock, self.sample_interval_ms)
        if current is not None:
            current.unsubscribe()

    def clear(self) -> None:
        """Forget every table, window and cached timestamp."""
        with self._lock:
            self._tables.clear()
            self._windows.clear()
            self._histories.clear()
            self._seeded.clear()
            self._moves.clear()
            self._ts_cache.clear()
            self._snapshot = None

    def sync(self, cluster: Cluster) -> None:
        """Follow ``cluster``'s event bus (attaching if needed) and take in what it published."""
        bus = getattr(cluster, "events", None)
        with self._lock:
            if isinstance(bus, EventBus):
                self.attach(bus)
            self._drain()

    def _adopt(self) -> _Feed | None:
        feed = self._next_feed
        if feed is not self._feed:
            self.clear()
            self._feed = feed
        return feed

    def _drain(self) -> None:
        feed = self._adopt()
        if feed is None:
            return
        while True:
            try:
                item = feed.pending.popleft()
            except IndexError:
                return
            if item[0] == "hw":
                self._add_hw(item[1], item[2], item[3])
            elif item[0] == "commit":
                _, key, offset, at, hw = item
                if hw is None:
                    hw = feed.hw.get((key[1], key[2]))
                lag = lag_messages(hw, offset)
                if lag is None or hw is None:
                    # No HW known for this partition yet: a made-up lag would mislead
                    # the health rules (a 0 reads as "caught up"). The next observation
                    # seeds the window from the committed offset instead.
                    continue
                self._window(key).record(offset, at, lag)
                self._history(key).record(at, offset, hw)
            elif item[0] == "reset":
                _, key, before, after, at, scenario = item
                self._operator_moved(key, before, after, at, scenario, feed.hw.get((key[1], key[2])))
            elif item[0] == "forget":
                self._forget(item[1])
            elif item[0] == "forget_group":
                group = item[1]
                for key in {k for k in [*self._windows, *self._histories, *self._moves] if k[0] == group}:
                    self._forget(key)
            else:
                self._forget_topic(item[1])

    def _forget(self, key: GTP) -> None:
        self._windows.pop(key, None)
        self._histories.pop(key, None)
        self._seeded.discard(key)
        self._moves.pop(key, None)

    def _operator_moved(self, key: GTP, before: int, after: int, at: int, scenario: str, hw: int | None) -> None:
        """An operator's reset or undo moved ``key`` from ``before`` to ``after`` (-1: none).

        The commit that applied it is already in the window (the event follows it) and
        would read as REWIND (or a jump forward) on every partition. The consumer did not
        move: the window and the rate history restart at the operator's offset.
        """
        self._forget(key)
        if after < 0:
            return  # the undo deleted the offset: nothing committed, nothing to judge
        self._moves[key] = OperatorMove(at, scenario, None if before < 0 else before, after)
        lag = lag_messages(hw, after)
        if lag is not None and hw is not None:
            self._window(key).record(after, at, lag)
            self._history(key).record(at, after, hw)

    def _forget_topic(self, topic: str) -> None:
        for tp in [tp for tp in self._tables if tp[0] == topic]:
            del self._tables[tp]
        for key in {k for k in [*self._windows, *self._histories, *self._moves] if k[1] == topic}:
            self._forget(key)
        for ck in [k for k in self._ts_cache if k[0] == topic]:
            del self._ts_cache[ck]

    def _window(self, key: GTP) -> CommitWindow:
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = CommitWindow()
        return window

    def _history(self, key: GTP) -> LagHistory:
        history = self._histories.get(key)
        if history is None:
            history = self._histories[key] = LagHistory()
        return history

    def _add_hw(self, tp: TP, hw: int, at: int) -> None:
        table = self._tables.get(tp)
        if table is None:
            table = self._tables[tp] = OffsetTimeTable()
        latest = table.latest
        if latest is not None and hw >= latest.high_watermark and at - latest.sampled_at_ms < self.sample_interval_ms:
            return
        if table.add(hw, at) is AddPointResult.RESET:
            # A lower HW: the topic was re-created, so are its records' timestamps.
            for ck in [k for k in self._ts_cache if (k[0], k[1]) == tp]:
                del self._ts_cache[ck]

    # ----------------------------------------------------------------- samples

    def observe(self, descs: Iterable[GroupDescription], at: int) -> None:
        """Sample the HWs the descriptions carry and seed empty commit windows."""
        with self._lock:
            seen: set[TP] = set()
            for desc in descs:
                for p in desc.offsets:
                    tp = (p.topic, p.partition)
                    hw = known_high_watermark(p.high_watermark)
                    if hw is not None and tp not in seen:
                        seen.add(tp)
                        self._add_hw(tp, hw, at)
                        if self._feed is not None:
                            self._feed.hw[tp] = hw
                    lag = p.lag
                    if p.committed is None or lag is None:
                        continue  # nothing committed, or no log to be behind on
                    key = (desc.group_id, p.topic, p.partition)
                    if hw is not None:
                        self._history(key).record(at, p.committed, hw)
                    if key not in self._windows:
                        # Committed before we were watching: one sample, stamped with its
                        # commit time, with the lag it has now (the best we know).
                        stamp = p.commit_timestamp or at
                        self._window(key).record(p.committed, min(stamp, at), lag)
                        self._seeded.add(key)

    def all_groups(self, cluster: Cluster) -> list[GroupDescription]:
        """Every group described, in one cluster call, observed, reused while nothing changed.

        Keyed by the event bus version: several readers in one moment (viewers of the
        overview in one live flush) share a single ``describe_groups`` of every group.
        """
        ids = cluster.group_ids()  # ticks the coordinator: expiries publish events first
        bus = getattr(cluster, "events", None)
        version = bus.version if isinstance(bus, EventBus) else -1
        with self._lock:
            self.sync(cluster)
            snap = self._snapshot
            if snap is not None and version >= 0 and snap[0] == version and snap[1] == id(bus):
                return snap[2]
            descs = cluster.describe_groups(ids)
            self.observe(descs, self.clock())
            self._snapshot = (version, id(bus), descs)
            return descs

    # ----------------------------------------------------------------- answers

    def _record_timestamp(self, cluster: Cluster, topic: str, partition: int, offset: int) -> int | None:
        key = (topic, partition, offset)
        ts = self._ts_cache.get(key)
        if ts is not None:
            self._ts_cache.move_to_end(key)
            return ts
        try:
            found = cluster.timestamp_at(topic, partition, offset)
        except Exception:  # topic or partition gone since the description
            return None
        if found is not None:
            self._ts_cache[key] = found
            if len(self._ts_cache) > self._ts_cache_size:
                self._ts_cache.popitem(last=False)
        return found

    def _usable_table(self, p: PartitionOffsets, committed: int) -> OffsetTimeTable | None:
        """The partition's HW table if it can place ``committed`` (two samples, one past it)."""
        # Otherwise its newest point predates the record and says nothing.
        table = self._tables.get((p.topic, p.partition))
        latest = table.latest if table is not None else None
        if table is None or len(table) < 2 or latest is None or committed >= latest.high_watermark:
            return None
        return table

    def prefetch_timestamps(
        self, cluster: Cluster, offsets: Iterable[PartitionOffsets], *, interpolate: bool = True
    ) -> None:
        """Read, in one batch, the record timestamps ``time_lag`` of ``offsets`` will need.

        A page of many groups otherwise reads one record per partition in turn; a Kafka
        cluster answers the batch with one fetch of all those partitions.
        """
        wanted: set[tuple[str, int, int]] = set()
        with self._lock:
            self._adopt()
            for p in offsets:
                committed = p.committed
                if committed is None or not p.lag:
                    continue
                table = self._usable_table(p, committed) if interpolate else None
                if table is not None:
                    pred = table.predict(committed)
                    if pred is not None and not pred.extrapolated:
                        continue  # answered by interpolation
                key = (p.topic, p.partition, committed)
                if key not in self._ts_cache:
                    wanted.add(key)
        if not wanted:
            return
        try:
            found = cluster.timestamps_at(sorted(wanted))
        except Exception:  # the per-partition reads in time_lag still answer what they can
            return
        with self._lock:
            for key, ts in found.items():
                if ts is not None:
                    self._ts_cache[key] = ts
            while len(self._ts_cache) > self._ts_cache_size:
                self._ts_cache.popitem(last=False)

    def time_lag(self, cluster: Cluster, p: PartitionOffsets, at: int, *, interpolate: bool = True) -> TimeLag:
        """Lag in time of ``p`` at ``at`` (ms), with its source (see the module docstring).

        ``interpolate=False`` measures only, from record timestamps (``"caught-up"`` or
        ``"record"``, else unknown): what ``/metrics`` reports (docs/api.md).
        """
        lag = p.lag
        committed = p.committed
        if lag is None or committed is None:
            return TimeLag.unknown()
        if lag == 0:
            return TimeLag(0.0, "caught-up")
        with self._lock:
            self._adopt()  # never answer from the history (or cached timestamps) of a previous bus
            table = self._usable_table(p, committed) if interpolate else None
            usable = table is not None
            if table is not None:
                pred = table.predict(committed)
                if pred is not None and not pred.extrapolated:
                    return TimeLag(max(at - pred.time_ms, 0.0), "interpolated")
            ts = self._record_timestamp(cluster, p.topic, p.partition, committed)
            if ts is not None:
                return TimeLag(float(max(at - ts, 0)), "record")
            if usable and table is not None:
                t = table.time_lag_ms(committed, at)
                if t is not None:
                    return TimeLag(t, "extrapolated")
            if committed < p.log_start_offset:
                # The unread records below the log start are gone: the oldest one still
                # there has waited at least this long (a lower bound).
                ts = self._record_timestamp(cluster, p.topic, p.partition, p.log_start_offset)
                if ts is not None:
                    return TimeLag(float(max(at - ts, 0)), "record")
            return TimeLag.unknown()

    def time_to_clear(self, group_id: str, p: PartitionOffsets) -> TimeToClear | None:
        """Time to clear the lag at the read and write rates of the partition's lag history.

        Both rates are least-squares slopes over the last few minutes of samples
        (:func:`logcore.lag.drain_rates`), so "will not clear" (``ms`` None) means the
        lag has not shrunk over that window, not that producers outran the reader
        between two commits. ``None`` when the lag is unknown or the group has made
        fewer than two commits since it started (or since an operator moved it).
        """
        lag = p.lag
        if lag is None:
            return None
        with self._lock:
            self._adopt()
            key = (group_id, p.topic, p.partition)
            window = self._windows.get(key)
            history = self._histories.get(key)
            if window is None or len(window) < 2 or history is None:
                return None
            rates = history.rates()
        if rates is None:
            return None
        return TimeToClear(rates.time_to_clear_ms(lag), rates.consume_per_s, rates.produce_per_s)

    def health(self, group_id: str, p: PartitionOffsets, at: int) -> PartitionStatus | None:
        """Burrow's verdict on ``p`` at ``at``; ``None`` when nothing is committed or the topic is gone."""
        lag = p.lag
        if p.committed is None or lag is None:
            return None
        with self._lock:
            self._adopt()
            window = self._windows.get((group_id, p.topic, p.partition))
            samples = window.samples if window else ()
            table = self._tables.get((p.topic, p.partition))
            # Burrow's "caught up at a recent HW sample" exception to STOP: only samples
            # taken since the last commit count (ours are sparse; an older one would say
            # the consumer was caught up with a log that has grown since).
            since = samples[-1].timestamp_ms if samples else at
            recent = [pt.high_watermark for pt in table.points if pt.sampled_at_ms >= since][-3:] if table else []
            seeded = (group_id, p.topic, p.partition) in self._seeded
        return evaluate_partition(
            samples, at, lag, recent_high_watermarks=recent, min_commits=1 if seeded else self.min_commits
        )

    def operator_move(self, group_id: str, p: PartitionOffsets) -> OperatorMove | None:
        """The operator's reset or undo the partition's commit window starts at, if it still does."""
        key = (group_id, p.topic, p.partition)
        with self._lock:
            self._adopt()
            move = self._moves.get(key)
            if move is None:
                return None
            window = self._windows.get(key)
            if window is not None and window.samples and window.samples[0].timestamp_ms > move.at_ms:
                del self._moves[key]  # the window has rolled past it: the consumer's commits judge now
                return None
            return move

    def group_health(self, group_id: str, offsets: Iterable[PartitionOffsets], at: int) -> GroupStatus:
        """The group's verdict: the worst of its partitions' (those with a verdict)."""
        return evaluate_group(st for p in offsets if (st := self.health(group_id, p, at)) is not None)

    def worst_time_lag(self, cluster: Cluster, offsets: Iterable[PartitionOffsets], at: int) -> TimeLag:
        """The largest known lag in time among ``offsets`` (kafka-lag-exporter's max group time lag)."""
        worst = TimeLag.unknown()
        for p in offsets:
            t = self.time_lag(cluster, p, at)
            if t.ms is not None and (worst.ms is None or t.ms > worst.ms):
                worst = t
        return worst

    def partition_lag(self, cluster: Cluster, group_id: str, p: PartitionOffsets, at: int) -> PartitionLag:
        """Lag in messages, lag in time, health and time to clear of one partition of a group."""
        return PartitionLag(
            p,
            p.lag,
            self.time_lag(cluster, p, at),
            self.health(group_id, p, at),
            self.time_to_clear(group_id, p),
            self.operator_move(group_id, p),
        )

    def describe_group(self, cluster: Cluster, group_id: str) -> tuple[GroupDescription, list[PartitionLag], int]:
        """Describe one group (raises ``GroupIdNotFound``), observe it, and answer every partition.

        Returns the description, its partitions' :class:`PartitionLag` in the same order,
        and the time (ms) the answers are for.
        """
        desc = cluster.describe_group(group_id)
        with self._lock:
            self.sync(cluster)
            at = self.clock()
            self.observe([desc], at)
            self.prefetch_timestamps(cluster, desc.offsets)
            return desc, [self.partition_lag(cluster, desc.group_id, p, at) for p in desc.offsets], at
