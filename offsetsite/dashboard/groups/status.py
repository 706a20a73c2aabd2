"""Lag in time and lag health of consumer groups, for display: the pages' view models.

The history and the answers (HW tables, commit windows, lag in time with its source,
Burrow's health, time to clear) live in :mod:`logcore.lag_tracker`, lag in messages in
:func:`logcore.lag.lag_messages`; this module turns them into what the group page and
the overview render (:class:`GroupView`, :class:`PartitionView`, :class:`GroupSummary`,
durations as text) and keeps one tracker per cluster (:func:`tracker`).

Lock order: a web thread takes the tracker's lock and may then call the cluster (which
takes the engine lock); see :mod:`logcore.lag_tracker`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from logcore import lag_tracker
from logcore.cluster import Cluster, GroupDescription, MemberDescription
from logcore.lag import GroupHealth, GroupStatus, PartitionHealth, PartitionStatus, evaluate_group, known_high_watermark
from logcore.lag_tracker import OperatorMove, PartitionLag, TimeLag, TimeToClear
from offsetsite.dashboard.topics.records import iso_utc
from offsetsite.engine import DEFAULT_CLUSTER, current_cluster_name

# Display names beside Burrow's codes: a partition (or group) whose commit window is not
# full yet has no verdict (PartitionStatus.pending); "RESET" when the window starts at an
# operator's reset or undo, which Burrow would call a REWIND of the consumer.
PENDING_NEW = "NEW"
PENDING_RESET = "RESET"

LAG_SOURCES = {
    "interpolated": "interpolated between high-watermark samples",
    "record": "time since the next unread record was produced (its timestamp)",
    "extrapolated": "extrapolated from the high-watermark trend (record no longer in the log)",
    "caught-up": "caught up: nothing to read",
}


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
class ClearEstimate(TimeToClear):
    """How long the backlog takes to clear at the rates seen lately (None: it will not), as text."""

    @classmethod
    def of(cls, t: TimeToClear | None) -> ClearEstimate | None:
        return None if t is None else cls(t.ms, t.consume_per_s, t.produce_per_s)

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
    health: PartitionStatus | None  # None when nothing is committed or the topic is gone
    member_id: str | None
    client_id: str | None
    host: str | None
    commit_timestamp: int | None
    clear: ClearEstimate | None = None
    moved: OperatorMove | None = None  # the operator's reset/undo the commit window starts at
    moved_note: str = ""  # "reset by otto at ...": who moved it, from the audit log

    @property
    def topic_missing(self) -> bool:
        return known_high_watermark(self.high_watermark) is None

    @property
    def below_log_start(self) -> bool:
        """The committed offset points at records retention already deleted."""
        return self.committed is not None and not self.topic_missing and self.committed < self.log_start

    @property
    def health_name(self) -> str:
        if self.health is None:
            return ""
        if self.health.pending:
            return PENDING_RESET if self.moved else PENDING_NEW
        return self.health.status.name

    @property
    def health_reason(self) -> str:
        if self.health is None:
            return ""
        return f"{self.moved_note}; {self.health.reason}" if self.moved_note else self.health.reason


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
        if self.health.pending:
            return PENDING_RESET if any(p.moved for p in self.partitions) else PENDING_NEW
        return self.health.status.name

    @property
    def health_reason(self) -> str:
        notes = [p.moved_note for p in self.partitions if p.moved_note]
        if self.health.pending and notes:
            return f"{notes[0]}; {self.health.reason}"
        return self.health.reason


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
    moved: bool = False  # an operator's reset/undo starts some partition's commit window

    @property
    def health_name(self) -> str:
        if self.health is None:
            return ""
        if self.health.pending:
            return PENDING_RESET if self.moved else PENDING_NEW
        return self.health.status.name


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


def partition_view(pl: PartitionLag, moved_note: str = "") -> PartitionView:
    """A row of the group page from logcore's answers about one partition."""
    p = pl.offsets
    return PartitionView(
        p.topic,
        p.partition,
        p.committed,
        p.log_start_offset,
        p.high_watermark,
        pl.lag,
        pl.time.ms,
        pl.time.source,
        pl.health,
        p.member_id,
        p.client_id,
        p.host,
        p.commit_timestamp,
        ClearEstimate.of(pl.clear),
        pl.moved,
        moved_note,
    )


def moved_notes(group_id: str, parts: Sequence[PartitionLag]) -> dict[tuple[str, int], str]:
    """Who moved each partition an operator moved, from the audit log: "reset by otto at ...".

    The tracker knows a reset happened (logcore's OffsetsReset event) but not who made
    it; the audit entry of that reset or undo does. Without one (written by another
    process, or not yet) the note still says an operator moved it, and when.
    """
    moved = [(pl.offsets.topic, pl.offsets.partition, pl.moved) for pl in parts if pl.moved is not None]
    if not moved:
        return {}
    from offsetsite.core.audit import Action
    from offsetsite.core.models import AuditEntry

    entries = list(
        AuditEntry.objects.filter(
            cluster=current_cluster_name(),
            group_id=group_id,
            action__in=[Action.OFFSETS_RESET.value, Action.OFFSETS_UNDO.value],
        ).order_by("-at", "-id")[:20]
    )
    notes: dict[tuple[str, int], str] = {}
    for topic, partition, move in moved:
        what = "undo of a reset" if move.scenario == "undo" else f"reset ({move.scenario})"
        note = f"{what} by an operator at {iso_utc(move.at_ms)}"
        for e in entries:
            rows = e.offsets if isinstance(e.offsets, list) else []
            if any(isinstance(r, dict) and r.get("topic") == topic and r.get("partition") == partition for r in rows):
                verb = "undo of a reset" if e.action == Action.OFFSETS_UNDO.value else f"reset ({move.scenario})"
                note = f"{verb} by {e.username or 'an anonymous visitor'} at {iso_utc(int(e.at.timestamp() * 1000))}"
                break
        notes[(topic, partition)] = f"{note}, not the consumer rewinding"
    return notes


def _summary(s: GroupSummary, time: TimeLag, health: GroupStatus | None = None, moved: bool = False) -> GroupSummary:
    return GroupSummary(
        s.group_id,
        s.state,
        s.members,
        s.partitions,
        s.committed_partitions,
        s.total_lag,
        time.ms,
        time.source,
        health,
        moved,
    )


class LagTracker(lag_tracker.LagTracker):
    """logcore's tracker of one cluster, with the view models the pages render.

    Everything but the three builders below is :class:`logcore.lag_tracker.LagTracker`.
    """

    def group_view(self, cluster: Cluster, group_id: str) -> GroupView:
        """Describe one group with lag in time and health; raises ``GroupIdNotFound``."""
        with self.lock:
            desc, parts, _ = self.describe_group(cluster, group_id)
        # The audit log is read outside the tracker's lock (a database query).
        notes = moved_notes(desc.group_id, parts)
        rows = tuple(partition_view(pl, notes.get((pl.offsets.topic, pl.offsets.partition), "")) for pl in parts)
        health = evaluate_group(r.health for r in rows if r.health is not None)
        return GroupView(
            desc.group_id,
            desc.state,
            desc.generation,
            desc.protocol_type,
            desc.protocol,
            desc.leader,
            desc.members,
            rows,
            health,
        )

    def with_lag_time(self, cluster: Cluster, descs: Sequence[GroupDescription]) -> list[GroupSummary]:
        """Summaries with the worst partition's lag in time (no health: cheaper)."""
        with self.lock:
            self.sync(cluster)
            at = self.clock()
            self.prefetch_timestamps(cluster, (p for d in descs for p in d.offsets))
            return [_summary(summary_of(d), self.worst_time_lag(cluster, d.offsets, at)) for d in descs]

    def with_health(self, cluster: Cluster, descs: Sequence[GroupDescription]) -> list[GroupSummary]:
        """Summaries with lag in time and health (for the rows of one page)."""
        with self.lock:
            self.sync(cluster)
            at = self.clock()
            self.prefetch_timestamps(cluster, (p for d in descs for p in d.offsets))
            return [
                _summary(
                    summary_of(d),
                    self.worst_time_lag(cluster, d.offsets, at),
                    self.group_health(d.group_id, d.offsets, at),
                    any(self.operator_move(d.group_id, p) is not None for p in d.offsets),
                )
                for d in descs
            ]

    def estimated_time_lag(self, descs: Sequence[GroupDescription], at: int) -> tuple[str, TimeLag] | None:
        """The group with the largest lag in time that memory alone can tell, and that lag.

        For the overview's "worst lag in time" card over every group: interpolation in
        the high-watermark tables and timestamps already read, never a record read (a
        read per partition of 2,000 groups is what paging avoids). A group whose lag
        only a record read could date is left out; the page's own rows are exact.
        """
        worst: tuple[str, TimeLag] | None = None
        with self.lock:
            self._adopt()
            for d in descs:
                for p in d.offsets:
                    committed, lag = p.committed, p.lag
                    if committed is None or not lag:
                        continue
                    found: TimeLag | None = None
                    table = self._usable_table(p, committed)
                    pred = table.predict(committed) if table is not None else None
                    if pred is not None and not pred.extrapolated:
                        found = TimeLag(max(at - pred.time_ms, 0.0), "interpolated")
                    else:
                        ts = self._ts_cache.get((p.topic, p.partition, committed))
                        if ts is not None:
                            found = TimeLag(float(max(at - ts, 0)), "record")
                    if found is None or found.ms is None:
                        continue
                    if worst is None or worst[1].ms is None or found.ms > worst[1].ms:
                        worst = (d.group_id, found)
        return worst


_trackers: dict[str, LagTracker] = {}
_trackers_lock = threading.Lock()


def tracker(cluster_name: str | None = None) -> LagTracker:
    """The tracker of one cluster: by default the one this request works on.

    One per cluster name (``offsetsite.engine.current_cluster_name()``), created on first
    use. It follows the event bus of the cluster it is used with (``sync``); the embedded
    engine ("local") attaches it as soon as it opens (``dashboard.groups.live.register_all``).
    """
    name = current_cluster_name() if cluster_name is None else cluster_name
    found = _trackers.get(name)
    if found is None:
        with _trackers_lock:
            found = _trackers.setdefault(name, LagTracker())
    return found


def local_tracker() -> LagTracker:
    """The embedded engine's tracker (its cluster name is ``DEFAULT_CLUSTER``)."""
    return tracker(DEFAULT_CLUSTER)


HEALTH_CSS = {
    PartitionHealth.OK.name: "ok",
    PartitionHealth.WARN.name: "warn",
    PartitionHealth.STOP.name: "bad",
    PartitionHealth.STALL.name: "bad",
    PartitionHealth.REWIND.name: "bad",
    GroupHealth.ERR.name: "bad",
    GroupHealth.NOTFOUND.name: "muted",
    PENDING_NEW: "muted",
    PENDING_RESET: "muted",
}
