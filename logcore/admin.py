"""Offset administration as ``kafka-consumer-groups.sh --reset-offsets`` does it.

A reset is planned first (Kafka's dry run) and only then executed. The plan says,
per partition, the offset before and after, how many records the group will read
again or skip, the timestamps at both ends, and every clamping warning; so an
operator sees the impact before anything changes. Execution re-checks that the
group is inactive, keeps the replaced offsets as a restore point for undo, and
reads the committed offsets back afterwards (``Verification``): what the cluster
actually holds, not what was asked for, is what the caller reports.
Everything here goes through ``Cluster``: it works the same on a real Kafka cluster.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Protocol, runtime_checkable

from .cluster import Cluster
from .errors import GroupIdNotFound, InvalidRequest, UnknownTopicOrPartition
from .events import OffsetsReset
from .groups import TopicPartition

SCENARIOS = (
    "to-earliest",
    "to-latest",
    "to-current",
    "to-offset",
    "shift-by",
    "to-datetime",
    "by-duration",
    "from-file",
)
INACTIVE_STATES = ("Empty", "Dead")


class ResetRefused(InvalidRequest):
    """The group is active: Kafka's exact refusal, and nothing changes."""

    code = "INVALID_REQUEST"


@dataclass(frozen=True)
class Scenario:
    """One reset scenario and its argument (``None`` for earliest/latest/current)."""

    kind: str
    value: str | int | None = None

    def __post_init__(self) -> None:
        if self.kind not in SCENARIOS:
            raise InvalidRequest(f"unknown reset scenario {self.kind!r}; allowed: {', '.join(SCENARIOS)}")
        needs_value = self.kind in ("to-offset", "shift-by", "to-datetime", "by-duration", "from-file")
        if needs_value and (self.value is None or self.value == ""):
            raise InvalidRequest(f"--{self.kind} needs a value")


@dataclass(frozen=True)
class Scope:
    """Which partitions: all the group has offsets for, or topics (with partitions)."""

    all_topics: bool = False
    topics: tuple[tuple[str, tuple[int, ...]], ...] = ()  # empty partitions = all

    @classmethod
    def parse(cls, topics: Sequence[str] = (), all_topics: bool = False) -> Scope:
        """From CLI-style ``t`` or ``t:0,1`` arguments."""
        if all_topics and topics:
            raise InvalidRequest("choose either --all-topics or --topic, not both")
        if not all_topics and not topics:
            raise InvalidRequest("one of --all-topics or --topic is required")
        parsed = []
        for spec in topics:
            name, _, parts = spec.partition(":")
            if not name:
                raise InvalidRequest(f"bad topic specification {spec!r}; expected topic or topic:0,1")
            try:
                nums = tuple(int(p) for p in parts.split(",") if p.strip()) if parts else ()
            except ValueError:
                raise InvalidRequest(
                    f"bad partition list in {spec!r}; expected comma-separated numbers, as topic:0,1"
                ) from None
            parsed.append((name, nums))
        return cls(all_topics, tuple(parsed))


@dataclass(frozen=True)
class ResetRow:
    topic: str
    partition: int
    before: int | None  # committed offset now (the next record to read), None if none
    after: int  # the new committed offset
    log_start_offset: int
    high_watermark: int
    before_timestamp: int | None = None
    after_timestamp: int | None = None
    warning: str = ""

    @property
    def reread(self) -> int:
        """Records the group will read again (after < before)."""
        return max((self.before if self.before is not None else self.high_watermark) - self.after, 0)

    @property
    def skipped(self) -> int:
        """Records the group will never read (after > before)."""
        return max(self.after - (self.before if self.before is not None else self.after), 0)

    @property
    def span_ms(self) -> int | None:
        """How far apart in time the two offsets are (positive: moved back in time)."""
        if self.before_timestamp is None or self.after_timestamp is None:
            return None
        return self.before_timestamp - self.after_timestamp


@dataclass(frozen=True)
class ResetPlan:
    group_id: str
    scenario: Scenario
    rows: tuple[ResetRow, ...]
    group_state: str
    warnings: tuple[str, ...] = ()
    created_ms: int = 0

    @property
    def refusal(self) -> str | None:
        """Kafka's message when the group is active; None when the reset may run."""
        if self.group_state in INACTIVE_STATES:
            return None
        return inactive_message(self.group_id, self.group_state)

    @property
    def total_reread(self) -> int:
        return sum(r.reread for r in self.rows)

    @property
    def total_skipped(self) -> int:
        return sum(r.skipped for r in self.rows)

    def dry_run_table(self) -> str:
        return format_table(
            ["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"],
            [[self.group_id, r.topic, str(r.partition), str(r.after)] for r in self.rows],
        )

    def export_csv(self) -> str:
        """``--export``: lines that ``--from-file`` reads back."""
        return "".join(f"{r.topic},{r.partition},{r.after}\n" for r in self.rows)


def inactive_message(group_id: str, state: str) -> str:
    return f"Assignments can only be reset if the group '{group_id}' is inactive, but the current state is {state}."


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded like Kafka's tools: each as wide as its widest cell, plus a space."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = [" ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]
    return "\n".join(lines) + "\n"


# --- parsing of scenario values ----------------------------------------------

_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?"
    r"(Z|[+-]\d{2}(?::?\d{2})?)?$"
)
_DURATION = re.compile(
    r"^([-+]?)P(?:([-+]?\d+)D)?(?:T(?:([-+]?\d+)H)?(?:([-+]?\d+)M)?(?:([-+]?\d+(?:[.,]\d{0,9})?)S)?)?$",
    re.IGNORECASE,
)


def parse_datetime(text: str) -> int:
    """``yyyy-MM-ddTHH:mm:ss.SSS[zone]`` -> epoch ms; no zone means UTC."""
    m = _DATETIME.match(text.strip())
    if not m:
        raise InvalidRequest(
            f"Error parsing timestamp {text!r}: expected yyyy-MM-ddTHH:mm:ss.SSS with an optional "
            "zone (Z or +hh:mm), e.g. 2024-01-31T12:00:00.000 or 2024-01-31T12:00:00.000+01:00"
        )
    y, mo, d, h, mi, s, frac, zone = m.groups()
    tz = UTC
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        # Kafka's Utils.getDateTime parses the zone with SimpleDateFormat's XXX or X:
        # "+01:00", "+0100" and "+01" all mean one hour east of UTC.
        digits = zone[1:].replace(":", "")
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0)))
    try:
        dt = datetime(
            int(y), int(mo), int(d), int(h), int(mi), int(s), int((frac or "0").ljust(3, "0")) * 1000, tzinfo=tz
        )
    except ValueError as e:
        raise InvalidRequest(f"Error parsing timestamp {text!r}: {e}") from None
    # Integer arithmetic: float seconds * 1000 loses a millisecond (.003 -> 2).
    return (dt - _EPOCH) // timedelta(milliseconds=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_duration(text: str) -> int:
    """ISO-8601 ``PnDTnHnMnS`` (as Java's ``Duration.parse``) -> milliseconds."""
    m = _DURATION.match(text.strip())
    if not m or text.strip().upper() in ("P", "PT") or text.strip().upper().endswith("T"):
        raise InvalidRequest(f"Error parsing duration {text!r}: expected PnDTnHnMnS, e.g. PT30M, P1DT2H or PT0.5S")
    sign, days, hours, minutes, seconds = m.groups()
    ms = (
        int(days or 0) * 86_400_000
        + int(hours or 0) * 3_600_000
        + int(minutes or 0) * 60_000
        + round(float((seconds or "0").replace(",", ".")) * 1000)
    )
    return -ms if sign == "-" else ms


def parse_offsets_csv(text: str, group_id: str | None = None) -> dict[TopicPartition, int]:
    """``--from-file``: CSV lines ``topic,partition,offset``, or ``group,topic,partition,offset``
    as kafka-consumer-groups.sh exports several groups: then only ``group_id``'s rows."""
    out: dict[TopicPartition, int] = {}
    other_groups = False
    for n, row in enumerate(csv.reader(io.StringIO(text)), 1):
        if not row or not "".join(row).strip():
            continue
        if len(row) == 4:
            if group_id is not None and row[0].strip() != group_id:
                other_groups = True  # another group's plan (Kafka's parseResetPlan keeps them apart)
                continue
            row = row[1:]
        if len(row) != 3:
            raise InvalidRequest(f"line {n} of the offsets file has {len(row)} fields; expected topic,partition,offset")
        try:
            out[(row[0].strip(), int(row[1]))] = int(row[2])
        except ValueError:
            raise InvalidRequest(f"line {n} of the offsets file: partition and offset must be numbers") from None
    if not out and other_groups:
        raise InvalidRequest(f"No reset plan for group {group_id} found.")
    return out


# --- planning ----------------------------------------------------------------


def _group_state(cluster: Cluster, group_id: str) -> str:
    try:
        return cluster.describe_group(group_id).state
    except GroupIdNotFound:
        return "Dead"


def _scope_partitions(
    cluster: Cluster,
    group_id: str,
    scope: Scope,
    committed: Mapping[TopicPartition, int],
    file_offsets: Mapping[TopicPartition, int] | None,
) -> list[TopicPartition]:
    if file_offsets is not None and not scope.topics and not scope.all_topics:
        parts = sorted(file_offsets)
    elif scope.all_topics:
        parts = sorted(committed) if file_offsets is None else sorted(file_offsets)
    else:
        parts = []
        for topic, nums in scope.topics:
            count = len(cluster.describe_topic(topic).partitions)  # raises for unknown topics
            for p in nums:
                if not 0 <= p < count:
                    raise UnknownTopicOrPartition(
                        f"Partition {p} of topic '{topic}' does not exist: valid partitions are 0 to {count - 1}"
                    )
            parts.extend((topic, p) for p in (nums or range(count)))
    for topic, partition in parts:
        cluster.watermarks(topic, partition)  # unknown topic or partition raises here
    return parts


def plan_reset(
    cluster: Cluster,
    group_id: str,
    scenario: Scenario,
    scope: Scope,
    *,
    now_ms: int,
) -> ResetPlan:
    """Compute a reset without changing anything (the dry run)."""
    state = _group_state(cluster, group_id)
    committed = {tp: om.offset for tp, om in (cluster.committed_offsets(group_id).items() if state != "Dead" else [])}
    file_offsets = parse_offsets_csv(str(scenario.value), group_id) if scenario.kind == "from-file" else None
    parts = _scope_partitions(cluster, group_id, scope, committed, file_offsets)
    rows: list[ResetRow] = []
    warnings: list[str] = []
    for tp in parts:
        topic, partition = tp
        start, hw = cluster.watermarks(topic, partition)
        before = committed.get(tp)
        target, note = _target(cluster, scenario, tp, before, start, hw, now_ms, file_offsets)
        if target < start:
            note = f"offset {target} is before the log start {start}; reset to {start} instead"
            target = start
        elif target > hw:
            note = f"offset {target} is past the high watermark {hw}; reset to {hw} instead"
            target = hw
        if note:
            warnings.append(f"{topic}-{partition}: {note}")
        rows.append(
            ResetRow(
                topic,
                partition,
                before,
                target,
                start,
                hw,
                cluster.timestamp_at(topic, partition, before) if before is not None else None,
                cluster.timestamp_at(topic, partition, target),
                note,
            )
        )
    return ResetPlan(group_id, scenario, tuple(rows), state, tuple(warnings), now_ms)


def _target(
    cluster: Cluster,
    scenario: Scenario,
    tp: TopicPartition,
    before: int | None,
    start: int,
    hw: int,
    now_ms: int,
    file_offsets: Mapping[TopicPartition, int] | None,
) -> tuple[int, str]:
    kind, value = scenario.kind, scenario.value
    if kind == "to-earliest":
        return start, ""
    if kind == "to-latest":
        return hw, ""
    if kind == "to-current":
        return (before, "") if before is not None else (hw, "nothing committed; using the high watermark")
    if kind == "to-offset":
        return _int(value, "--to-offset"), ""
    if kind == "shift-by":
        if before is None:
            # Kafka's words first (ConsumerGroupCommand), then what to do instead.
            raise InvalidRequest(
                f"Cannot shift offset for partition {tp[0]}-{tp[1]} since there is no current "
                "committed offset: the group has no committed offset there; "
                "use --to-earliest, --to-latest or --to-offset first"
            )
        return before + _int(value, "--shift-by"), ""
    if kind in ("to-datetime", "by-duration"):
        ts = parse_datetime(str(value)) if kind == "to-datetime" else now_ms - parse_duration(str(value))
        if kind == "by-duration" and ts < 0:
            raise InvalidRequest(
                f"--by-duration {value} reaches back before 1970-01-01T00:00:00Z, where timestamps begin: "
                f"at most {now_ms // 86_400_000} days (P{now_ms // 86_400_000}D) back from now; "
                "--to-earliest goes to the start of the log"
            )
        found = cluster.offset_for_timestamp(tp[0], tp[1], ts)
        if found is None:
            return hw, "no record is that new; using the high watermark"
        return found, ""
    assert file_offsets is not None
    if tp not in file_offsets:
        raise InvalidRequest(f"the offsets file has no line for {tp[0]}-{tp[1]}")
    return file_offsets[tp], ""


def _int(value: str | int | None, flag: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise InvalidRequest(f"{flag} needs a whole number, got {value!r}") from None


# --- execution, restore points, undo -------------------------------------------


@dataclass
class RestorePoint:
    group_id: str
    created_ms: int
    scenario: str
    offsets: dict[str, int | None] = field(default_factory=dict)  # "topic\x00partition" -> before


class RestorePoints:
    """The offsets each executed reset replaced, kept so it can be undone."""

    def __init__(self, path: str | os.PathLike[str] | None = None, keep: int = 20) -> None:
        self.path = Path(path) if path else None
        self.keep = keep
        self._lock = threading.Lock()
        self._points: dict[str, list[RestorePoint]] = {}
        if self.path and self.path.exists():
            raw = json.loads(self.path.read_text() or "{}")
            self._points = {g: [RestorePoint(**p) for p in ps] for g, ps in raw.items()}

    def push(self, point: RestorePoint) -> None:
        with self._lock:
            points = self._points.setdefault(point.group_id, [])
            points.append(point)
            del points[: -self.keep]
            self._save()

    def latest(self, group_id: str) -> RestorePoint | None:
        points = self._points.get(group_id) or []
        return points[-1] if points else None

    def pop(self, group_id: str) -> RestorePoint | None:
        with self._lock:
            points = self._points.get(group_id) or []
            point = points.pop() if points else None
            self._save()
            return point

    def _save(self) -> None:
        if not self.path:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({g: [asdict(p) for p in ps] for g, ps in self._points.items()}))
        os.replace(tmp, self.path)


def _key(tp: TopicPartition) -> str:
    return f"{tp[0]}\x00{tp[1]}"


def _unkey(key: str) -> TopicPartition:
    topic, _, p = key.rpartition("\x00")
    return topic, int(p)


@dataclass(frozen=True)
class Verification:
    """A reset (or undo) read back from the cluster after it was applied.

    ``before`` is what the group held when execution began, ``expected`` what was
    applied (None: no committed offset), ``actual`` what ``committed_offsets`` returns
    afterwards, each for the partitions the change touched. On a real Kafka cluster
    ``actual`` is the coordinator's answer, so it is what consumers will start from.
    """

    group_id: str
    before: Mapping[TopicPartition, int | None]
    expected: Mapping[TopicPartition, int | None]
    actual: Mapping[TopicPartition, int | None]

    @property
    def mismatches(self) -> tuple[tuple[str, int, int | None, int | None], ...]:
        """(topic, partition, expected, actual) where the cluster holds something else."""
        return tuple(
            (t, p, want, self.actual.get((t, p)))
            for (t, p), want in sorted(self.expected.items())
            if self.actual.get((t, p)) != want
        )

    @property
    def ok(self) -> bool:
        return not self.mismatches


@runtime_checkable
class AppliesResets(Protocol):
    """A cluster that applies resets itself, next to its restore points and audit log
    (``offsetsite.cli.remote.RemoteCluster``: the server does it, in one step under its lock)."""

    def apply_reset(self, plan: ResetPlan) -> Verification: ...

    def apply_undo(self, group_id: str) -> tuple[RestorePoint, Verification]: ...


def _committed_now(cluster: Cluster, group_id: str) -> dict[TopicPartition, int | None]:
    try:
        return {tp: om.offset for tp, om in cluster.committed_offsets(group_id).items()}
    except GroupIdNotFound:
        return {}


def read_back(
    cluster: Cluster,
    group_id: str,
    expected: Mapping[TopicPartition, int | None],
    before: Mapping[TopicPartition, int | None],
) -> Verification:
    """Read the group's committed offsets back and compare them with ``expected``."""
    now = _committed_now(cluster, group_id)
    return Verification(
        group_id,
        {tp: before.get(tp) for tp in expected},
        dict(expected),
        {tp: now.get(tp) for tp in expected},
    )


def execute_reset(cluster: Cluster, plan: ResetPlan, restore_points: RestorePoints | None = None) -> Verification:
    """Apply a plan; refuses (changing nothing) when the group is active now.

    Returns the offsets read back from the cluster afterwards (``Verification``).
    """
    if isinstance(cluster, AppliesResets):
        return cluster.apply_reset(plan)
    state = _group_state(cluster, plan.group_id)
    if state not in INACTIVE_STATES:
        raise ResetRefused(inactive_message(plan.group_id, state))
    before = cluster.committed_offsets(plan.group_id).items() if state != "Dead" else []
    current: dict[TopicPartition, int | None] = {tp: om.offset for tp, om in before}
    if not plan.rows:
        return Verification(plan.group_id, {}, {}, {})
    if restore_points is not None:
        restore_points.push(
            RestorePoint(
                plan.group_id,
                plan.created_ms,
                plan.scenario.kind,
                {_key((r.topic, r.partition)): current.get((r.topic, r.partition)) for r in plan.rows},
            )
        )
    # One commit request: the coordinator applies all partitions or none.
    cluster.commit_offsets(plan.group_id, {(r.topic, r.partition): r.after for r in plan.rows})
    cluster.events.publish(
        OffsetsReset(
            group=plan.group_id,
            changes=tuple(
                (r.topic, r.partition, _or_minus_one(current.get((r.topic, r.partition))), r.after) for r in plan.rows
            ),
            scenario=plan.scenario.kind,
        )
    )
    return read_back(cluster, plan.group_id, {(r.topic, r.partition): r.after for r in plan.rows}, current)


def _or_minus_one(value: int | None) -> int:
    return -1 if value is None else value


def undo_reset(cluster: Cluster, group_id: str, restore_points: RestorePoints) -> RestorePoint:
    """Put back the offsets the last executed reset replaced."""
    return undo_reset_verified(cluster, group_id, restore_points)[0]


def undo_reset_verified(
    cluster: Cluster, group_id: str, restore_points: RestorePoints
) -> tuple[RestorePoint, Verification]:
    """``undo_reset``, and the offsets read back from the cluster afterwards."""
    if isinstance(cluster, AppliesResets):
        return cluster.apply_undo(group_id)
    point = restore_points.latest(group_id)
    if point is None:
        raise InvalidRequest(f"group {group_id} has no reset to undo")
    state = _group_state(cluster, group_id)
    if state not in INACTIVE_STATES:
        raise ResetRefused(inactive_message(group_id, state))
    restore = {_unkey(k): v for k, v in point.offsets.items() if v is not None}
    forget = [_unkey(k) for k, v in point.offsets.items() if v is None]
    current: dict[TopicPartition, int | None] = {
        tp: om.offset for tp, om in (cluster.committed_offsets(group_id).items() if state != "Dead" else [])
    }
    if restore:
        cluster.commit_offsets(group_id, restore)
    if forget:
        cluster.delete_offsets(group_id, forget)
    restore_points.pop(group_id)
    cluster.events.publish(
        OffsetsReset(
            group=group_id,
            changes=tuple(
                (t, p, _or_minus_one(current.get((t, p))), _or_minus_one(v))
                for (t, p), v in [(_unkey(k), v) for k, v in point.offsets.items()]
            ),
            scenario="undo",
        )
    )
    expected = {_unkey(k): v for k, v in point.offsets.items()}
    return point, read_back(cluster, group_id, expected, current)
