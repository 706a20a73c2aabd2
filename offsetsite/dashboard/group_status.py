"""Lag in time and lag health of consumer groups, for display.

logcore's ``lag`` module has the arithmetic (``OffsetTimeTable`` for lag in time,
``CommitWindow`` + ``evaluate_partition`` for Burrow's health rules) but no memory:
both need history, a table of high-watermark samples per partition and a window of
the last commits per group partition. This module keeps that history for the server
process in one :class:`LagTracker`:

* It subscribes to the cluster's event bus (lazily, on first use, and again whenever
  the engine is re-opened with a new bus). ``RecordsAppended`` feeds the HW tables,
  at most one sample per partition per ``sample_interval_ms``; ``OffsetsCommitted``
  feeds the commit windows with the lag at commit time, as Burrow stores it. The
  event callbacks run inside the engine (engine lock held), so they only append to a
  deque: no lock is taken there and nothing calls back into the engine. The deque is
  drained by the next page computation.
* Each page computation also observes the groups it describes: an HW sample per
  partition (this keeps a quiet partition's table current, stretching its flat run)
  and, for a partition whose window is empty (offsets committed before this process
  started), the committed offset with its commit timestamp.

Lag in time of a partition (``lag_ms``) comes with its ``lag_source``:

* ``"interpolated"``: kafka-lag-exporter's method (SPEC.md section 7), now minus the
  time at which the committed offset was the HW, interpolated between two samples;
* ``"record"``: when the tables cannot interpolate (no samples yet, or the committed
  offset is older than the oldest sample): now minus the timestamp of the record at
  the committed offset, i.e. how long the next unread record has been waiting. It
  trusts the producer's timestamp (CreateTime), which is why it is labelled;
* ``"extrapolated"``: neither works (record deleted by retention): the table's trend
  line, as the exporter does.

Lock order: a web thread takes the tracker lock and may then call the engine (which
takes the engine lock). The engine never takes the tracker lock (see above), so the
two cannot deadlock.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from logcore.cluster import Cluster, GroupDescription, MemberDescription, PartitionOffsets
from logcore.events import (
    Event,
    EventBus,
    GroupDeleted,
    OffsetsCommitted,
    OffsetsDeleted,
    RecordsAppended,
    TopicDeleted,
)
from logcore.lag import (
    AddPointResult,
    CommitWindow,
    GroupHealth,
    GroupStatus,
    OffsetTimeTable,
    PartitionHealth,
    PartitionStatus,
    estimated_time_to_clear_ms,
    evaluate_group,
    evaluate_partition,
)

SAMPLE_INTERVAL_MS = 1000
"""At most one HW sample per partition per second: 60 points then span a minute or more
(flat runs take one point however long they last)."""

TIMESTAMP_CACHE_SIZE = 50_000
"""Record timestamps remembered for the ``record`` fallback (a record's timestamp never
changes, and reading it costs a disk read: about 40 us)."""

PENDING_MAX = 200_000
"""Events waiting for the next page computation; beyond this the oldest are dropped
(a quiet dashboard must not grow without bound while producers run)."""

LAG_SOURCES = {
    "interpolated": "interpolated between high-watermark samples",
    "record": "time since the next unread record was produced (its timestamp)",
    "extrapolated": "extrapolated from the high-watermark trend (record no longer in the log)",
    "caught-up": "caught up: nothing to read",
}

TP = tuple[str, int]
GTP = tuple[str, str, int]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def human_ms(ms: float | None) -> str:
    """A short duration for tables: ``850 ms``, ``12.4 s``, ``3.5 min``, ``2 h 05 min``, ``3 d 4 h``."""
    if ms is None:
        return ""
    if ms < 1000:
        return f"{int(ms)} ms"
    s = ms / 1000
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{s / 60:.1f} min"
    h, rem = divmod(int(s), 3600)
    if h < 48:
        return f"{h} h {rem // 60:02d} min"
    d, h = divmod(h, 24)
    return f"{d} d {h} h"


@dataclass(frozen=True)
class ClearEstimate:
    """How long the backlog takes to clear at the rates seen lately (None: it will not)."""

    ms: float | None
    consume_per_s: float
    produce_per_s: float

    @property
    def text(self) -> str:
        if self.ms is None:
            return "not at this pace"
        return "caught up" if self.ms == 0 else human_ms(self.ms)

    @property
    def title(self) -> str:
        return (
            f"reads {self.consume_per_s:.2f} records/s (its commits), "
            f"producers write {self.produce_per_s:.2f} records/s (the high watermark)"
        )


def _rate(first: tuple[int, int], last: tuple[int, int]) -> float | None:
    """Offsets a second between two (offset, ms) points; None when no time passed."""
    span_ms = last[1] - first[1]
    return None if span_ms <= 0 else max(last[0] - first[0], 0) * 1000.0 / span_ms


class _LagInTime:
    """Display of a lag in time and where it came from (rows of both pages share it)."""

    lag_ms: float | None
    lag_source: str | None

    @property
    def lag_time(self) -> str:
        return human_ms(self.lag_ms)

    @property
    def lag_source_text(self) -> str:
        return LAG_SOURCES.get(self.lag_source or "", "")


@dataclass(frozen=True)
class PartitionView(_LagInTime):
    """One row of the group page: offsets, lag, lag in time and health of a partition."""

    topic: str
    partition: int
    committed: int | None  # the next record the group will read
    log_start: int
    high_watermark: int  # -1 when the topic no longer exists
    lag: int | None
    lag_ms: float | None
    lag_source: str | None
    health: PartitionStatus | None  # None when nothing is committed
    member_id: str | None
    client_id: str | None
    host: str | None
    commit_timestamp: int | None
    clear: ClearEstimate | None = None

    @property
    def topic_missing(self) -> bool:
        return self.high_watermark < 0

    @property
    def below_log_start(self) -> bool:
        """The committed offset points at records retention already deleted."""
        return self.committed is not None and self.high_watermark >= 0 and self.committed < self.log_start

    @property
    def health_name(self) -> str:
        return self.health.status.name if self.health else ""


@dataclass(frozen=True)
class GroupView:
    """Everything the group page shows."""

    group_id: str
    state: str
    generation: int
    protocol_type: str
    protocol: str
    leader: str | None
    members: tuple[MemberDescription, ...]
    partitions: tuple[PartitionView, ...]
    health: GroupStatus

    @property
    def total_lag(self) -> int:
        return sum(p.lag or 0 for p in self.partitions)

    @property
    def lag_ms(self) -> float | None:
        """The worst partition's lag in time (kafka-lag-exporter's max group time lag)."""
        times = [p.lag_ms for p in self.partitions if p.lag_ms is not None]
        return max(times) if times else None

    @property
    def lag_time(self) -> str:
        return human_ms(self.lag_ms)

    @property
    def health_name(self) -> str:
        return self.health.status.name


@dataclass(frozen=True)
class GroupSummary(_LagInTime):
    """One row of the overview's groups table."""

    group_id: str
    state: str
    members: int
    partitions: int
    committed_partitions: int
    total_lag: int | None  # None when the group has committed nothing
    lag_ms: float | None = None
    lag_source: str | None = None
    health: GroupStatus | None = None

    @property
    def health_name(self) -> str:
        return self.health.status.name if self.health else ""


def summary_of(desc: GroupDescription) -> GroupSummary:
    committed = [p for p in desc.offsets if p.committed is not None]
    return GroupSummary(
        group_id=desc.group_id,
        state=desc.state,
        members=len(desc.members),
        partitions=len(desc.offsets),
        committed_partitions=len(committed),
        total_lag=sum(p.lag or 0 for p in committed) if committed else None,
    )


class _Feed:
    """One event bus's stream into a tracker: appended to by the engine, drained by pages.

    The callback runs in the engine's thread with the engine lock held, so it takes no
    lock and calls nothing: it updates plain dicts and appends to a deque (both safe
    under the GIL). A new bus (engine re-opened) gets a new feed.
    """

    def __init__(self, bus: EventBus, clock: Callable[[], int], sample_interval_ms: int) -> None:
        self.bus = bus
        self.clock = clock
        self.sample_interval_ms = sample_interval_ms
        self.pending: deque[tuple[Any, ...]] = deque(maxlen=PENDING_MAX)
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
        elif isinstance(event, OffsetsDeleted):
            for topic, partition in event.partitions:
                self.pending.append(("forget", (event.group, topic, partition)))
        elif isinstance(event, GroupDeleted):
            self.pending.append(("forget_group", event.group))
        elif isinstance(event, TopicDeleted):
            self.hw = {tp: hw for tp, hw in self.hw.items() if tp[0] != event.topic}
            self.pending.append(("forget_topic", event.topic))


class LagTracker:
    """Process-wide history of HW samples and commits (see the module docstring)."""

    def __init__(
        self,
        clock: Callable[[], int] = now_ms,
        *,
        sample_interval_ms: int = SAMPLE_INTERVAL_MS,
        timestamp_cache_size: int = TIMESTAMP_CACHE_SIZE,
    ) -> None:
        self.clock = clock
        self.sample_interval_ms = sample_interval_ms
        self._lock = threading.RLock()
        self._feed: _Feed | None = None  # the feed whose history the tables hold
        self._next_feed: _Feed | None = None  # set by attach(), adopted by the next page
        self._tables: dict[TP, OffsetTimeTable] = {}
        self._windows: dict[GTP, CommitWindow] = {}
        self._ts_cache: OrderedDict[tuple[str, int, int], int] = OrderedDict()
        self._ts_cache_size = timestamp_cache_size
        self._snapshot: tuple[int, int, list[GroupDescription]] | None = None

    # ----------------------------------------------------------------- events

    def attach(self, bus: EventBus) -> None:
        """Follow ``bus`` from now on; a different bus (engine re-opened) starts a clean history.

        Takes no lock: the engine calls this while holding its own lock (``on_open``).
        """
        current = self._next_feed
        if current is not None and current.bus is bus:
            return
        self._next_feed = _Feed(bus, self.clock, self.sample_interval_ms)
        if current is not None:
            current.unsubscribe()

    def clear(self) -> None:
        with self._lock:
            self._tables.clear()
            self._windows.clear()
            self._ts_cache.clear()
            self._snapshot = None

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
            kind = item[0]
            if kind == "hw":
                self._add_hw(item[1], item[2], item[3])
            elif kind == "commit":
                _, key, offset, at, hw = item
                if hw is None:
                    hw = feed.hw.get((key[1], key[2]))
                if hw is None:
                    # No HW known for this partition yet: a made-up lag would mislead
                    # the health rules (a 0 reads as "caught up"). The next page view
                    # seeds the window from the committed offset instead.
                    continue
                self._window(key).record(offset, at, max(hw - offset, 0))
            elif kind == "forget":
                self._windows.pop(item[1], None)
            elif kind == "forget_group":
                for key in [k for k in self._windows if k[0] == item[1]]:
                    del self._windows[key]
            elif kind == "forget_topic":
                self._forget_topic(item[1])

    def _forget_topic(self, topic: str) -> None:
        for tp in [tp for tp in self._tables if tp[0] == topic]:
            del self._tables[tp]
        for key in [k for k in self._windows if k[1] == topic]:
            del self._windows[key]
        for ck in [k for k in self._ts_cache if k[0] == topic]:
            del self._ts_cache[ck]

    def _window(self, key: GTP) -> CommitWindow:
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = CommitWindow()
        return window

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

    # ----------------------------------------------------------------- snapshots

    def _sync(self, cluster: Cluster) -> None:
        bus = getattr(cluster, "events", None)
        if isinstance(bus, EventBus):
            self.attach(bus)
        self._drain()

    def observe(self, descs: Iterable[GroupDescription], at: int) -> None:
        """Sample the HWs the descriptions carry and seed empty commit windows."""
        with self._lock:
            seen: set[TP] = set()
            for desc in descs:
                for p in desc.offsets:
                    tp = (p.topic, p.partition)
                    if p.high_watermark >= 0 and tp not in seen:
                        seen.add(tp)
                        self._add_hw(tp, p.high_watermark, at)
                        if self._feed is not None:
                            self._feed.hw[tp] = p.high_watermark
                    if p.committed is None:
                        continue
                    key = (desc.group_id, p.topic, p.partition)
                    if key not in self._windows:
                        # Committed before we were watching: one sample, stamped with its
                        # commit time, with the lag it has now (the best we know).
                        stamp = p.commit_timestamp or at
                        lag = max(p.high_watermark - p.committed, 0) if p.high_watermark >= 0 else 0
                        self._window(key).record(p.committed, min(stamp, at), lag)

    def all_groups(self, cluster: Cluster) -> list[GroupDescription]:
        """Every group described, in one engine call, reused while nothing changed.

        Keyed by the event bus version: several viewers of the overview in one live
        flush share a single ``describe_groups`` of every group.
        """
        listing = cluster.list_groups()  # ticks the coordinator: expiries publish events first
        bus = getattr(cluster, "events", None)
        version = bus.version if isinstance(bus, EventBus) else -1
        with self._lock:
            self._sync(cluster)
            snap = self._snapshot
            if snap is not None and version >= 0 and snap[0] == version and snap[1] == id(bus):
                return snap[2]
            descs = cluster.describe_groups([g.group_id for g in listing])
            self.observe(descs, self.clock())
            self._snapshot = (version, id(bus), descs)
            return descs

    # ----------------------------------------------------------------- evaluation

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

    def _lag_time(self, cluster: Cluster, p: PartitionOffsets, at: int) -> tuple[float | None, str | None]:
        lag = p.lag
        if lag is None or p.committed is None or p.high_watermark < 0:
            return None, None
        if lag == 0:
            return 0.0, "caught-up"
        table = self._tables.get((p.topic, p.partition))
        # The table can place the committed offset only if a sample already saw a HW
        # past it; otherwise its newest point predates the record and says nothing.
        usable = (
            table is not None
            and len(table) >= 2
            and table.latest is not None
            and (p.committed < table.latest.high_watermark)
        )
        if usable and table is not None:
            pred = table.predict(p.committed)
            if pred is not None and not pred.extrapolated:
                return max(at - pred.time_ms, 0.0), "interpolated"
        ts = self._record_timestamp(cluster, p.topic, p.partition, p.committed)
        if ts is not None:
            return float(max(at - ts, 0)), "record"
        if usable and table is not None:
            t = table.time_lag_ms(p.committed, at)
            if t is not None:
                return t, "extrapolated"
        return None, None

    def _clear(self, group_id: str, p: PartitionOffsets) -> ClearEstimate | None:
        """Time to clear the lag: consumption from the commit window, production from HW samples."""
        if p.lag is None:
            return None
        window = self._windows.get((group_id, p.topic, p.partition))
        table = self._tables.get((p.topic, p.partition))
        samples = window.samples if window else ()
        points = table.points if table else ()
        if len(samples) < 2 or len(points) < 2:
            return None
        consume = _rate((samples[0].offset, samples[0].timestamp_ms), (samples[-1].offset, samples[-1].timestamp_ms))
        # Production over the same stretch of time as the commits, where samples allow.
        recent = [pt for pt in points if pt.sampled_at_ms >= samples[0].timestamp_ms] or list(points[-2:])
        if len(recent) < 2:
            recent = list(points[-2:])
        produce = _rate(
            (recent[0].high_watermark, recent[0].sampled_at_ms), (recent[-1].high_watermark, recent[-1].sampled_at_ms)
        )
        if consume is None or produce is None:
            return None
        return ClearEstimate(estimated_time_to_clear_ms(p.lag, consume, produce), consume, produce)

    def _health(self, group_id: str, p: PartitionOffsets, at: int) -> PartitionStatus | None:
        if p.committed is None or p.lag is None:
            return None
        window = self._windows.get((group_id, p.topic, p.partition))
        samples = window.samples if window else ()
        table = self._tables.get((p.topic, p.partition))
        # Burrow's "caught up at a recent HW sample" exception to STOP: only samples
        # taken since the last commit count (ours are sparse; an older one would say
        # the consumer was caught up with a log that has grown since).
        since = samples[-1].timestamp_ms if samples else at
        recent = [pt.high_watermark for pt in table.points if pt.sampled_at_ms >= since][-3:] if table else []
        return evaluate_partition(samples, at, p.lag, recent_high_watermarks=recent)

    def group_view(self, cluster: Cluster, group_id: str) -> GroupView:
        """Describe one group with lag in time and health; raises ``GroupIdNotFound``."""
        desc = cluster.describe_group(group_id)
        with self._lock:
            self._sync(cluster)
            at = self.clock()
            self.observe([desc], at)
            rows: list[PartitionView] = []
            for p in desc.offsets:
                lag_ms, source = self._lag_time(cluster, p, at)
                rows.append(
                    PartitionView(
                        p.topic,
                        p.partition,
                        p.committed,
                        p.log_start_offset,
                        p.high_watermark,
                        p.lag,
                        lag_ms,
                        source,
                        self._health(desc.group_id, p, at),
                        p.member_id,
                        p.client_id,
                        p.host,
                        p.commit_timestamp,
                        self._clear(desc.group_id, p),
                    )
                )
            health = evaluate_group(r.health for r in rows if r.health is not None)
            return GroupView(
                desc.group_id,
                desc.state,
                desc.generation,
                desc.protocol_type,
                desc.protocol,
                desc.leader,
                desc.members,
                tuple(rows),
                health,
            )

    def with_lag_time(self, cluster: Cluster, descs: Sequence[GroupDescription]) -> list[GroupSummary]:
        """Summaries with the worst partition's lag in time (no health: cheaper)."""
        with self._lock:
            self._sync(cluster)
            at = self.clock()
            out = []
            for desc in descs:
                best: tuple[float, str] | None = None
                for p in desc.offsets:
                    lag_ms, source = self._lag_time(cluster, p, at)
                    if lag_ms is not None and source is not None and (best is None or lag_ms > best[0]):
                        best = (lag_ms, source)
                s = summary_of(desc)
                out.append(
                    GroupSummary(
                        s.group_id,
                        s.state,
                        s.members,
                        s.partitions,
                        s.committed_partitions,
                        s.total_lag,
                        best[0] if best else None,
                        best[1] if best else None,
                    )
                )
            return out

    def with_health(self, cluster: Cluster, descs: Sequence[GroupDescription]) -> list[GroupSummary]:
        """Summaries with lag in time and health (for the rows of one page)."""
        timed = self.with_lag_time(cluster, descs)
        with self._lock:
            at = self.clock()
            out = []
            for s, desc in zip(timed, descs, strict=True):
                statuses = [st for p in desc.offsets if (st := self._health(desc.group_id, p, at)) is not None]
                out.append(
                    GroupSummary(
                        s.group_id,
                        s.state,
                        s.members,
                        s.partitions,
                        s.committed_partitions,
                        s.total_lag,
                        s.lag_ms,
                        s.lag_source,
                        evaluate_group(statuses),
                    )
                )
            return out


_tracker = LagTracker()


def tracker() -> LagTracker:
    """The process-wide tracker."""
    return _tracker


HEALTH_CSS = {
    PartitionHealth.OK.name: "ok",
    PartitionHealth.WARN.name: "warn",
    PartitionHealth.STOP.name: "bad",
    PartitionHealth.STALL.name: "bad",
    PartitionHealth.REWIND.name: "bad",
    GroupHealth.ERR.name: "bad",
    GroupHealth.NOTFOUND.name: "muted",
}
