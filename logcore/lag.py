"""Consumer lag beyond a number: lag in messages, lag in time, and lag health.

Three views of how far a consumer group is behind one partition (docs/logcore.md, Kafka's rules, section 7):

* **Lag in messages**: ``high watermark - committed``. The committed offset is the
  *next* record the group will read (docs/logcore.md, Kafka's rules, section 5), so a group whose committed
  offset equals the HW has read everything and its lag is 0, not 1.

* **Lag in time**, the way kafka-lag-exporter (``LookupTable.scala``) computes it: keep,
  per partition, a bounded table of ``(high watermark, sampled at)`` points; the time
  lag of committed offset ``g`` is *now* minus the time at which ``g`` was the HW,
  interpolated between the two points around ``g``. See :class:`OffsetTimeTable`.

* **Lag health**, the way Burrow (``core/internal/evaluator/caching.go``) evaluates a
  partition over a window of its last commits: OK, WARN, STALL, STOP or REWIND, and a
  group as OK, WARN, ERR or NOTFOUND. See :func:`evaluate_partition`,
  :class:`CommitWindow` and :func:`evaluate_group`.

Where the rule, Burrow and kafka-lag-exporter differ, and what this module does:

1. Order of the health checks. Kafka's rule (docs/logcore.md, section 7) lists them without fixing an order; Burrow
   (current master) checks, in this order: current lag 0 -> OK; STOP (unless the
   consumer was caught up at one of the recent HW samples); lag 0 at some commit of the
   window -> OK; REWIND; STALL; WARN; else OK. We follow Burrow. Checking STOP before
   "lag was 0 in the window" matters: a window whose last commit is an hour old says
   nothing about now, even if the lag was 0 back then.
2. WARN. The rule says "lag never went down"; Burrow's rule is "no commit of the window
   has a lag *strictly smaller* than the commit before it", so a flat lag is a WARN too
   (not only a strictly growing one). We follow Burrow.
3. STALL. The rule: "the committed offset did not move while lag > 0". Burrow: every
   commit of the window has the same offset (and the current lag is > 0, and no commit
   of the window had lag 0). Same thing, made precise; we follow Burrow.
4. Group status. The rule: "the group's status is the worst partition's". Burrow reports
   the worst partition status but folds STOP, STALL and REWIND into ERR at group level,
   and NOTFOUND for a group it does not know. :class:`GroupStatus` carries both: the
   Burrow code in ``status`` and the worst partition (the rule) in ``worst``.
5. A HW that goes down (topic deleted and re-created, or truncated). kafka-lag-exporter
   ignores such a sample ("non-monotonic"), so its table stays stuck on the old topic
   until the partition disappears from a snapshot. We reset the table to the new point:
   the old points describe a log that no longer exists.
6. Committed offset beyond the newest HW sample. The exporter only answers "lag is
   zero" for ``committed == newest HW`` and extrapolates forward otherwise, which gives
   the negative time lags its users report. The HW sample is merely stale then, so we
   answer 0. Likewise a time lag is never below 0 (``now`` earlier than a sample).
7. A table whose points all have the same HW and a committed offset below it. The
   exporter divides by a zero slope (infinite lag). We know only that record
   ``committed`` was written before the oldest sample, so we answer the lower bound
   ``now - oldest sample time``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum, IntEnum
from itertools import pairwise

__all__ = [
    "NO_HIGH_WATERMARK",
    "AddPointResult",
    "CommitSample",
    "CommitWindow",
    "DrainRates",
    "GroupHealth",
    "GroupStatus",
    "HighWatermarkPoint",
    "LagHistory",
    "LagSample",
    "OffsetTimeTable",
    "PartitionHealth",
    "PartitionStatus",
    "TimePrediction",
    "drain_rates",
    "estimated_time_to_clear_ms",
    "evaluate_group",
    "evaluate_partition",
    "known_high_watermark",
    "lag_messages",
]

DEFAULT_TABLE_CAPACITY = 60
"""Points kept per partition by :class:`OffsetTimeTable` (kafka-lag-exporter's default)."""

DEFAULT_WINDOW_COMMITS = 10
"""Commits kept per partition by :class:`CommitWindow` (Burrow's ``intervals``)."""


# --------------------------------------------------------------------------- messages


NO_HIGH_WATERMARK = -1
"""The high watermark a cluster reports for a partition whose log is gone (offsets left on
a deleted topic): there is no log, so there is no lag (see :func:`known_high_watermark`)."""


def known_high_watermark(high_watermark: int) -> int | None:
    """``high_watermark`` as a cluster reports it, or ``None`` where the log is gone.

    A cluster describes offsets left on a deleted topic with a HW of
    :data:`NO_HIGH_WATERMARK` (-1); a real HW is never negative.
    """
    return None if high_watermark < 0 else high_watermark


def lag_messages(high_watermark: int | None, committed: int | None, *, clamp: bool = True) -> int | None:
    """Lag in messages: ``high_watermark - committed``, never below 0 unless ``clamp=False``.

    The one place lag in messages is computed: ``PartitionOffsets.lag`` (and through it
    the pages, the API, ``/metrics``, the lag history and the command line) and the lag
    stored with each commit by :class:`~logcore.lag_tracker.LagTracker` call it.

    ``None`` when either side is unknown, which every reader shows as unknown (JSON
    ``null``, ``-`` in the command line, no ``/metrics`` sample), never as 0:

    * ``committed is None``: the group has committed nothing for the partition.
      Kafka's ``kafka-consumer-groups.sh --describe`` prints ``-`` there, because the
      lag of a group that has not started depends on ``auto.offset.reset``, which only
      the consumer knows;
    * ``high_watermark is None``: the partition's log is gone (a deleted topic; pass a
      cluster's HW through :func:`known_high_watermark`, or use ``PartitionOffsets.lag``),
      or no HW has been seen yet.

    A committed offset above the HW (a HW read before a racing commit, or a reset
    that was not clamped) counts as caught up rather than as a negative lag, which no
    page or metric can make sense of. ``clamp=False`` is for ``groups --describe``,
    which prints the negative value exactly as kafka-consumer-groups.sh does
    (``ConsumerGroupCommand.getLag``: ``logEndOffset - offset``).
    """
    if committed is None or high_watermark is None:
        return None
    lag = high_watermark - committed
    return max(lag, 0) if clamp else lag


def estimated_time_to_clear_ms(lag_messages: int, consume_rate_per_s: float, produce_rate_per_s: float) -> float | None:
    """Milliseconds until a lag of ``lag_messages`` reaches 0 at the given rates.

    The backlog shrinks by ``consume - produce`` records a second, so the time is
    ``lag / (consume - produce)``. ``0.0`` when there is no lag; ``None`` when the
    consumer is not draining the backlog (it reads no faster than producers write), as
    the lag will then never clear at these rates.

    Raises ``ValueError`` for a negative lag or rate, or a rate that is not a number.
    """
    if lag_messages < 0:
        raise ValueError(f"lag_messages must be >= 0, got {lag_messages}")
    for name, rate in (("consume_rate_per_s", consume_rate_per_s), ("produce_rate_per_s", produce_rate_per_s)):
        if math.isnan(rate) or rate < 0:
            raise ValueError(f"{name} must be a number >= 0, got {rate}")
    if lag_messages == 0:
        return 0.0
    drain_per_s = consume_rate_per_s - produce_rate_per_s
    if drain_per_s <= 0 or math.isinf(produce_rate_per_s):
        return None
    return lag_messages / drain_per_s * 1000.0


DEFAULT_RATE_WINDOW_MS = 180_000
"""How far back :class:`LagHistory` looks for the read and write rates behind a time to
clear. A consumer that commits every few seconds moves its committed offset in steps,
and producers write in bursts: over the ten commits of a Burrow window (20 s in the
demo) both rates swing past each other and the estimate flipped between a duration and
"never". Three minutes hold dozens of commits and cover a whole swing of the demo's
readers (two minutes)."""

RATE_MIN_DISTANCE_MS = 1000
"""Samples of a :class:`LagHistory` closer than this to the one before the newest
replace the newest, so a page refreshed several times a second does not push the
window's older history out."""


@dataclass(frozen=True)
class LagSample:
    """A group partition at one moment: its committed offset and the HW then."""

    at_ms: int
    committed: int
    high_watermark: int


@dataclass(frozen=True)
class DrainRates:
    """Read and write rates of one group partition, smoothed over a :class:`LagHistory`.

    Both are least-squares slopes (records a second) of the committed offset and of
    the HW against time, so ``consume - produce`` is minus the slope of the lag over
    the window: positive exactly when the lag has been shrinking over the window,
    whatever its steps and bursts.
    """

    consume_per_s: float
    produce_per_s: float
    span_ms: int
    samples: int

    def time_to_clear_ms(self, lag: int) -> float | None:
        """:func:`estimated_time_to_clear_ms` at these rates (``None``: the lag did not shrink)."""
        return estimated_time_to_clear_ms(lag, self.consume_per_s, self.produce_per_s)


def _slope_per_s(points: Sequence[tuple[int, int]]) -> float:
    """Least-squares slope of ``(ms, value)`` points, per second; the points span some time.

    Integer sums, one division: exactly linear points give their exact rate.
    """
    n = len(points)
    sx = sum(x for x, _ in points)
    sy = sum(y for _, y in points)
    sxx = sum(x * x for x, _ in points)
    sxy = sum(x * y for x, y in points)
    return (n * sxy - sx * sy) * 1000 / (n * sxx - sx * sx)


def drain_rates(samples: Sequence[LagSample]) -> DrainRates | None:
    """Read and write rates over ``samples`` (oldest first); ``None`` when they span no time.

    A rate below 0 (the committed offset or the HW went down inside the window) counts
    as 0: it is no pace at which anything is read or written.
    """
    if len(samples) < 2 or samples[-1].at_ms <= samples[0].at_ms:
        return None
    t0 = samples[0].at_ms
    consume = _slope_per_s([(s.at_ms - t0, s.committed) for s in samples])
    produce = _slope_per_s([(s.at_ms - t0, s.high_watermark) for s in samples])
    return DrainRates(max(consume, 0.0), max(produce, 0.0), samples[-1].at_ms - t0, len(samples))


class LagHistory:
    """``(time, committed, HW)`` samples of one group partition over the last ``window_ms``.

    Fed with every commit (with the HW at that moment) and every observation of the
    group; :meth:`rates` gives the smoothed read and write rates behind a time to clear.
    """

    def __init__(self, window_ms: int = DEFAULT_RATE_WINDOW_MS, min_distance_ms: int = RATE_MIN_DISTANCE_MS) -> None:
        if window_ms <= 0:
            raise ValueError(f"window_ms must be > 0, got {window_ms}")
        self._window_ms = window_ms
        self._min_distance_ms = max(min_distance_ms, 0)
        self._samples: deque[LagSample] = deque()

    @property
    def samples(self) -> tuple[LagSample, ...]:
        """The samples, oldest first."""
        return tuple(self._samples)

    def __len__(self) -> int:
        return len(self._samples)

    def record(self, at_ms: int, committed: int, high_watermark: int) -> None:
        sample = LagSample(at_ms, committed, high_watermark)
        if self._samples and at_ms < self._samples[-1].at_ms:
            return  # out of order (a commit event drained after a later observation)
        # Compare with the sample before the newest: the newest then always holds the
        # latest values while kept samples stay at least min_distance_ms apart.
        if len(self._samples) >= 2 and at_ms - self._samples[-2].at_ms < self._min_distance_ms:
            self._samples[-1] = sample
        else:
            self._samples.append(sample)
        while self._samples and self._samples[0].at_ms < at_ms - self._window_ms:
            self._samples.popleft()

    def rates(self) -> DrainRates | None:
        """:func:`drain_rates` over the window."""
        return drain_rates(self._samples)


# --------------------------------------------------------------------------- time


@dataclass(frozen=True)
class HighWatermarkPoint:
    """One sample: the partition's HW was ``high_watermark`` at ``sampled_at_ms``."""

    high_watermark: int
    sampled_at_ms: int


@dataclass(frozen=True)
class TimePrediction:
    """When an offset was the HW, as estimated from the table.

    ``extrapolated`` is true when the offset lies outside the table (older than its
    oldest point) or the table gave no slope, so the time is a trend-line guess
    rather than an interpolation between two real samples.
    """

    time_ms: float
    extrapolated: bool


class AddPointResult(Enum):
    """What :meth:`OffsetTimeTable.add` did with a sample (the exporter's names)."""

    INSERTED = "inserted"
    """Appended as a new point (the oldest one dropped if the table was full)."""
    UPDATED = "updated"
    """Same HW as the last two points: the last point's time moved forward."""
    OUT_OF_ORDER = "out_of_order"
    """Not newer than the last point: ignored."""
    RESET = "reset"
    """Lower HW than the last point (topic re-created): the table restarted from it."""


class OffsetTimeTable:
    """A sliding table of (HW, time sampled) points for one partition.

    Feed it the HW at regular intervals with :meth:`add`; ask it how far behind in
    time a committed offset is with :meth:`time_lag_ms`. This follows
    kafka-lag-exporter's ``LookupTable`` (memory variant):

    * Points are kept in time order, HW non-decreasing. A sample that is not strictly
      newer than the last point is ignored.
    * **Flat runs are compressed to their first and last point.** While the HW does
      not move, the last point's time moves forward instead of a new point being
      added, so a quiet topic does not flush the table, and the table keeps both
      the first time the HW was ``h`` and the *last* time it was still ``h``.
    * To find when offset ``g`` was the HW, take the *newest* pair of neighbouring
      points with ``left.hw <= g <= right.hw`` and interpolate linearly. For a flat
      run this yields the last time the HW was still ``g``, not the first. That is the
      right answer: record ``g`` did not exist before the HW moved past ``g``, so a
      consumer at ``g`` was fully caught up for the whole run and is behind only by
      the time since the run ended. Taking the earliest time instead would add the
      whole idle period to its lag.
    * An offset older than the oldest point is extrapolated along the line through the
      oldest and the newest points (the window's average produce rate), as the
      exporter does.

    ``capacity`` bounds the number of points (at least 2, as interpolation needs
    two). The span of time the table covers is ``capacity`` times the sampling
    interval, stretched by flat runs.
    """

    def __init__(self, capacity: int = DEFAULT_TABLE_CAPACITY) -> None:
        if capacity < 2:
            raise ValueError(f"capacity must be >= 2 (interpolation needs two points), got {capacity}")
        self._capacity = capacity
        self._points: deque[HighWatermarkPoint] = deque(maxlen=capacity)

    @property
    def capacity(self) -> int:
        """Most points the table keeps."""
        return self._capacity

    @property
    def points(self) -> tuple[HighWatermarkPoint, ...]:
        """The points, oldest first."""
        return tuple(self._points)

    @property
    def latest(self) -> HighWatermarkPoint | None:
        """The newest point, or ``None`` for an empty table."""
        return self._points[-1] if self._points else None

    def __len__(self) -> int:
        return len(self._points)

    def clear(self) -> None:
        """Forget every point (the partition was deleted)."""
        self._points.clear()

    def add(self, high_watermark: int, now_ms: int) -> AddPointResult:
        """Record that the HW was ``high_watermark`` at ``now_ms``."""
        point = HighWatermarkPoint(high_watermark, now_ms)
        if not self._points:
            self._points.append(point)
            return AddPointResult.INSERTED
        last = self._points[-1]
        if now_ms <= last.sampled_at_ms:
            # Two samples at one instant, or a clock that went back: the table must
            # stay ordered in time for interpolation to mean anything.
            return AddPointResult.OUT_OF_ORDER
        if high_watermark < last.high_watermark:
            # The HW of a live partition never goes down: this is a different log
            # (re-created topic). Its offsets are unrelated to the old points.
            self._points.clear()
            self._points.append(point)
            return AddPointResult.RESET
        if (
            high_watermark == last.high_watermark
            and len(self._points) >= 2
            and self._points[-2].high_watermark == high_watermark
        ):
            # Third sample of a flat run: stretch the run instead of adding a point,
            # keeping its first point (when the HW got there) and moving its last
            # (the latest time the HW was still there).
            self._points[-1] = point
            return AddPointResult.UPDATED
        self._points.append(point)  # deque(maxlen) drops the oldest when full
        return AddPointResult.INSERTED

    def produce_rate_per_s(self) -> float | None:
        """Average records per second appended over the table, ``None`` with < 2 points."""
        if len(self._points) < 2:
            return None
        first, last = self._points[0], self._points[-1]
        return (last.high_watermark - first.high_watermark) * 1000.0 / (last.sampled_at_ms - first.sampled_at_ms)

    def predict(self, offset: int) -> TimePrediction | None:
        """Estimate when ``offset`` was the HW; ``None`` with fewer than 2 points.

        An offset at or beyond the newest HW is the HW "now": the newest point's time
        is returned (not extrapolated into the future, see the module notes).
        """
        if len(self._points) < 2:
            return None
        last = self._points[-1]
        if offset >= last.high_watermark:
            return TimePrediction(float(last.sampled_at_ms), extrapolated=False)
        found = self._bracket(offset)
        if found is not None:
            left, right = found
            # Division last, on exact integers: Python's int / int is correctly
            # rounded, which keeps the result monotone in ``offset``.
            dt = right.sampled_at_ms - left.sampled_at_ms
            dh = right.high_watermark - left.high_watermark
            time_ms = (left.sampled_at_ms * dh + (offset - left.high_watermark) * dt) / dh
            return TimePrediction(time_ms, extrapolated=False)
        first = self._points[0]
        if first.high_watermark == last.high_watermark:
            # Flat table: no slope to extrapolate along. Record ``offset`` existed
            # before the oldest sample, which is all we can say.
            return TimePrediction(float(first.sampled_at_ms), extrapolated=True)
        dt = last.sampled_at_ms - first.sampled_at_ms
        dh = last.high_watermark - first.high_watermark
        time_ms = (first.sampled_at_ms * dh + (offset - first.high_watermark) * dt) / dh
        return TimePrediction(time_ms, extrapolated=True)

    def time_lag_ms(self, committed: int, now_ms: int) -> float | None:
        """How long ago (ms) offset ``committed`` was the HW; never below 0.

        * ``0.0`` when ``committed >= `` the newest HW sample: the group has read all
          that is known to exist (checked first, so even one point answers this);
        * ``None`` when the table has fewer than 2 points and the group is behind:
          there is no rate to interpolate with;
        * otherwise ``now_ms`` minus the time at which ``committed`` was the HW,
          interpolated between the two points around it, or extrapolated along the
          oldest-to-newest trend line when ``committed`` is older than the table.
        """
        last = self.latest
        if last is None:
            return None
        if committed >= last.high_watermark:
            return 0.0
        if len(self._points) < 2:
            return None
        found = self._bracket(committed)
        if found is None:
            left, right = self._points[0], self._points[-1]
            if left.high_watermark == right.high_watermark:
                return float(max(now_ms - left.sampled_at_ms, 0))
        else:
            left, right = found
        # lag = now - (t_l + (g - h_l) * dt / dh), as one exact fraction so that the
        # single rounding keeps the lag monotone in ``committed`` across segments.
        dt = right.sampled_at_ms - left.sampled_at_ms
        dh = right.high_watermark - left.high_watermark
        lag = ((now_ms - left.sampled_at_ms) * dh - (committed - left.high_watermark) * dt) / dh
        return max(lag, 0.0)

    def _bracket(self, offset: int) -> tuple[HighWatermarkPoint, HighWatermarkPoint] | None:
        """The newest neighbouring pair with ``left.hw <= offset <= right.hw`` and a slope.

        Searching from the newest pair, as the exporter does, makes an offset at the
        end of a flat run map to the run's last point. A flat pair (zero slope) can
        only contain an offset equal to its HW, and then the pair after it (which
        starts on that same point) is newer and is found first; a flat pair that
        ends the table holds the newest HW, which the callers answer before asking.
        Skipping flat pairs anyway keeps a division by zero out of reach.
        ``None`` means ``offset`` is below the oldest point.
        """
        pts = self._points
        for i in range(len(pts) - 1, 0, -1):
            left, right = pts[i - 1], pts[i]
            if left.high_watermark == right.high_watermark:
                continue
            if left.high_watermark <= offset <= right.high_watermark:
                return left, right
        return None


# --------------------------------------------------------------------------- health


class PartitionHealth(IntEnum):
    """Health of one partition of a group, Burrow's names and numbers.

    The integer value is the severity (bigger is worse), Burrow's ``StatusConstant``:
    OK < WARN < STOP < STALL < REWIND (Burrow's 3 is ERR, a group-level code only).
    """

    OK = 1
    WARN = 2
    STOP = 4
    STALL = 5
    REWIND = 6


class GroupHealth(IntEnum):
    """Health of a group, Burrow's group-level codes.

    ERR stands for any partition in STOP, STALL or REWIND. NOTFOUND is not a health
    level but the absence of a group; it sorts lowest, as in Burrow.
    """

    NOTFOUND = 0
    OK = 1
    WARN = 2
    ERR = 3


@dataclass(frozen=True)
class CommitSample:
    """One offset commit as the window keeps it.

    ``lag`` is the lag in messages at the time of the commit (the HW then minus
    ``offset``, never below 0), which is what Burrow stores with every commit.
    """

    offset: int
    timestamp_ms: int
    lag: int

    def __post_init__(self) -> None:
        if self.lag < 0:
            raise ValueError(f"lag must be >= 0 (see lag_messages), got {self.lag}")


@dataclass(frozen=True)
class PartitionStatus:
    """Result of :func:`evaluate_partition`: a health level and why, in words."""

    status: PartitionHealth
    reason: str
    current_lag: int
    # Not judged yet: the window holds fewer commits than Burrow needs (its
    # ``minimum-complete``). ``status`` is then OK, which only means "no verdict".
    pending: bool = False


@dataclass(frozen=True)
class GroupStatus:
    """Result of :func:`evaluate_group`.

    ``status`` is Burrow's group code (OK, WARN, ERR, NOTFOUND); ``worst`` is the
    worst partition's status (Kafka's rule, docs/logcore.md section 7: "the group's status is the worst
    partition's"), ``None`` when the group has no partitions or was not found.
    """

    status: GroupHealth
    worst: PartitionStatus | None
    reason: str
    pending: bool = False  # no partition judged yet (each one's window is not complete)


def _duration(ms: int) -> str:
    """A short human duration for reason strings."""
    if ms < 1000:
        return f"{ms} ms"
    seconds = ms / 1000
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def _commits(n: int) -> str:
    return "1 commit" if n == 1 else f"{n} commits"


def evaluate_partition(
    window: Sequence[CommitSample],
    now_ms: int,
    current_lag: int,
    *,
    recent_high_watermarks: Sequence[int] = (),
    min_commits: int = 1,
) -> PartitionStatus:
    """Evaluate a partition's lag health over its last commits, as Burrow does.

    ``window`` holds the partition's last commits, oldest first (a
    :class:`CommitWindow`'s ``samples``); ``current_lag`` is the lag in messages now.
    The checks run in Burrow's order and the first that holds wins:

    1. ``current_lag == 0`` -> OK: a caught-up consumer is never in trouble.
    2. STOP: the time since the last commit is longer than the window's span (newest
       minus oldest commit time), i.e. commits stopped arriving at their usual pace,
       unless one of ``recent_high_watermarks`` (the last few HW samples, as Burrow
       keeps; pass none to skip this) is ``<=`` the last committed offset, meaning
       the consumer was caught up moments ago and only had nothing to commit.
       Checked before rule 3, as an old window says nothing about now.
    3. Some commit of the window had lag 0 -> OK.
    4. REWIND: a committed offset is smaller than the one before it.
    5. STALL: every commit of the window has the same offset (the consumer commits
       but does not move, e.g. auto-commit of a stuck position).
    6. WARN: the lag never went down from one commit to the next (flat counts: the
       consumer keeps up at best, never catches up).
    7. Otherwise OK.

    With an empty window (nothing committed yet), or fewer commits than
    ``min_commits`` (Burrow's ``minimum-complete`` times its ``intervals``), the answer
    is OK with ``pending`` set: there is nothing to judge yet. With ``min_commits=1``
    a single commit is judged, and as its span is 0 any later ``now_ms`` is a STOP:
    a brand-new group would show an error right after its first commit. The
    :class:`~logcore.lag_tracker.LagTracker` therefore waits for a full window.
    """
    if current_lag < 0:
        raise ValueError(f"current_lag must be >= 0 (see lag_messages), got {current_lag}")
    n = len(window)
    if n == 0:
        return PartitionStatus(PartitionHealth.OK, "no commits yet", current_lag, pending=True)
    if current_lag == 0:
        # Before the completeness check: with nothing to read there is nothing to wait for.
        return PartitionStatus(PartitionHealth.OK, "caught up (lag 0)", current_lag)
    if n < min_commits:
        return PartitionStatus(
            PartitionHealth.OK,
            f"not enough commits yet: {_commits(n)} so far, {min_commits} needed to judge",
            current_lag,
            pending=True,
        )

    first, last = window[0], window[-1]
    since_last = now_ms - last.timestamp_ms
    span = last.timestamp_ms - first.timestamp_ms
    if since_last > span and not any(hw <= last.offset for hw in recent_high_watermarks):
        return PartitionStatus(
            PartitionHealth.STOP,
            f"no commit for {_duration(since_last)}, longer than the {_duration(span)} "
            f"the last {_commits(n)} took, with lag {current_lag}",
            current_lag,
        )

    if any(s.lag == 0 for s in window):
        return PartitionStatus(
            PartitionHealth.OK,
            f"lag reached 0 within the last {_commits(n)}",
            current_lag,
        )

    for prev, cur in pairwise(window):
        if cur.offset < prev.offset:
            return PartitionStatus(
                PartitionHealth.REWIND,
                f"committed offset went back from {prev.offset} to {cur.offset}",
                current_lag,
            )

    if all(s.offset == first.offset for s in window):
        return PartitionStatus(
            PartitionHealth.STALL,
            f"committed offset stayed at {first.offset} over the last {_commits(n)} with lag {current_lag}",
            current_lag,
        )

    if all(cur.lag >= prev.lag for prev, cur in pairwise(window)):
        # Burrow's rule is "never went down"; say "grew" when that stronger fact holds.
        if n > 1 and all(cur.lag > prev.lag for prev, cur in pairwise(window)):
            what = f"lag grew at each of the last {_commits(n)}"
        else:
            what = f"lag never went down over the last {_commits(n)}"
        return PartitionStatus(
            PartitionHealth.WARN,
            f"{what} ({first.lag} -> {last.lag})",
            current_lag,
        )

    return PartitionStatus(
        PartitionHealth.OK,
        f"lag went down within the last {_commits(n)}",
        current_lag,
    )


def evaluate_group(statuses: Iterable[PartitionStatus], *, found: bool = True) -> GroupStatus:
    """A group's health from its partitions' statuses: the worst one wins.

    ``found=False`` gives NOTFOUND (Burrow's answer for a group it does not know). A
    group with no partitions is OK, as in Burrow. Otherwise the worst partition is the
    one with the highest severity, ties going to the larger current lag and then to
    the first given; the group code is WARN for a WARN partition and ERR for STOP,
    STALL or REWIND, as Burrow folds them.
    """
    if not found:
        return GroupStatus(GroupHealth.NOTFOUND, None, "group not found")
    given = list(statuses)
    count = len(given)
    # Partitions not judged yet (pending) say nothing about the group's health.
    judged = [st for st in given if not st.pending]
    worst: PartitionStatus | None = None
    for st in judged or given:
        if worst is None or (st.status, st.current_lag) > (worst.status, worst.current_lag):
            worst = st
    if worst is None:
        return GroupStatus(GroupHealth.OK, None, "no partitions to evaluate")
    if not judged:
        of = f"{count} partition" + ("" if count == 1 else "s")
        return GroupStatus(GroupHealth.OK, worst, f"not judged yet ({of}): {worst.reason}", pending=True)
    if worst.status == PartitionHealth.OK:
        code = GroupHealth.OK
    elif worst.status == PartitionHealth.WARN:
        code = GroupHealth.WARN
    else:
        code = GroupHealth.ERR
    of = f"{count} partition" + ("" if count == 1 else "s")
    reason = f"worst of {of}: {worst.status.name}: {worst.reason}"
    return GroupStatus(code, worst, reason)


class CommitWindow:
    """The last ``capacity`` commits of one partition, as Burrow's storage keeps them.

    ``capacity`` is Burrow's ``intervals`` (default 10). ``min_distance_ms`` is
    Burrow's ``min-distance`` (default 0, i.e. off): a commit less than
    ``min_distance_ms`` after the newest stored one *replaces* it (new offset and lag,
    but the stored, earlier timestamp), so a consumer committing very often does not
    push the window's older history out within seconds. Keeping the earlier timestamp
    is Burrow's choice too: with the new one, a consumer committing more often than
    ``min_distance_ms`` would never add a second sample. As in Burrow, a commit
    stamped earlier than the newest sample also replaces it, which keeps the window's
    timestamps non-decreasing.

    A commit with the same offset as the previous one is **kept**, not dropped: STALL
    (the consumer commits without moving) is precisely a window of equal offsets, and
    dropping repeats would turn it into a STOP or hide it entirely.
    """

    def __init__(self, capacity: int = DEFAULT_WINDOW_COMMITS, min_distance_ms: int = 0) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        if min_distance_ms < 0:
            raise ValueError(f"min_distance_ms must be >= 0, got {min_distance_ms}")
        self._capacity = capacity
        self._min_distance_ms = min_distance_ms
        self._samples: deque[CommitSample] = deque(maxlen=capacity)

    @property
    def capacity(self) -> int:
        """Most commits the window keeps."""
        return self._capacity

    @property
    def min_distance_ms(self) -> int:
        """Commits closer than this to the newest one replace it."""
        return self._min_distance_ms

    @property
    def samples(self) -> tuple[CommitSample, ...]:
        """The commits, oldest first."""
        return tuple(self._samples)

    @property
    def complete(self) -> float:
        """How full the window is, 0.0 to 1.0 (Burrow's ``complete``)."""
        return len(self._samples) / self._capacity

    def __len__(self) -> int:
        return len(self._samples)

    def clear(self) -> None:
        """Forget every commit (offsets deleted, group deleted)."""
        self._samples.clear()

    def record(self, offset: int, timestamp_ms: int, lag: int) -> None:
        """Add a commit of ``offset`` at ``timestamp_ms``, with lag ``lag`` at that time."""
        if self._samples:
            newest = self._samples[-1]
            if timestamp_ms - newest.timestamp_ms < self._min_distance_ms or (timestamp_ms < newest.timestamp_ms):
                self._samples[-1] = CommitSample(offset, newest.timestamp_ms, lag)
                return
        self._samples.append(CommitSample(offset, timestamp_ms, lag))

    def consume_rate_per_s(self) -> float | None:
        """Average committed records per second over the window.

        ``None`` with fewer than two commits, a zero time span, or an offset that
        ended lower than it started (a rewind makes a rate meaningless).
        """
        if len(self._samples) < 2:
            return None
        first, last = self._samples[0], self._samples[-1]
        span = last.timestamp_ms - first.timestamp_ms
        moved = last.offset - first.offset
        if span <= 0 or moved < 0:
            return None
        return moved * 1000.0 / span

    def evaluate(
        self,
        now_ms: int,
        current_lag: int,
        *,
        recent_high_watermarks: Sequence[int] = (),
        min_commits: int = 1,
    ) -> PartitionStatus:
        """:func:`evaluate_partition` over this window."""
        return evaluate_partition(
            self.samples,
            now_ms,
            current_lag,
            recent_high_watermarks=recent_high_watermarks,
            min_commits=min_commits,
        )
