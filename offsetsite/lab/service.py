"""The embedded engine's ticket-checker lab, driven by one thread of the server.

``logcore.checkers.Lab`` holds the checkers and the ledger; it never sleeps and is not
thread-safe. This module owns the one ``Lab`` of the embedded engine, calls its
``step()`` every ``STEP_S`` under the engine lock (as every engine caller holds it), and
tells the live bridge what moved so the lab pages and the groups' and topics' pages
wake. Views call the functions below; each takes the lock itself.

Only the embedded engine has a lab: its checkers are group members inside this
process. On a Kafka cluster they would be clients of someone else's brokers, which is
what a workshop must not do by accident.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings

from logcore.checkers import CheckerSpec, CheckerView, Lab, PartitionCounts
from logcore.cluster import EmbeddedCluster
from logcore.ledger import Counts, Seat
from offsetsite import engine
from offsetsite.dashboard.topics.strip import Marker, register_position_source, register_seat_source

_log = logging.getLogger(__name__)

STEP_S = 0.1  # how often the checkers' loops run: 10 a second keeps a 10 records/s pace smooth

_lab: Lab | None = None
_runner: _Runner | None = None
_guard = threading.Lock()


class _Runner(threading.Thread):
    def __init__(self) -> None:
        super().__init__(name="offsetsite-lab", daemon=True)
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.wait(STEP_S):
            try:
                _step()
            except Exception:
                # One bad round must not stop every checker for the life of the server.
                _log.exception("lab step failed")


def _step() -> set[tuple[str, str]]:
    """One round of every checker's loop, then wake the pages of what moved."""
    with engine.locked():
        current = _current_lab()
        if current is None or not current.checkers:
            return set()
        changed = current.step()
    if changed:
        _wake(changed)
    return changed


def _current_lab() -> Lab | None:
    """The lab of the engine as it is open now (a reopened engine starts an empty lab).

    Never opens the engine: the runner thread must not reopen one a test or a shutdown
    just closed.
    """
    global _lab
    cluster: EmbeddedCluster | None = engine.opened()
    if _lab is not None and _lab.cluster is not cluster:
        _lab = None
    return _lab


def lab() -> Lab:
    """The embedded engine's lab; the caller holds ``engine.locked()``."""
    global _lab, _runner
    found = _current_lab()
    if found is None:
        found = _lab = Lab(engine.embedded())
    register_position_source(member_positions)
    register_seat_source(SEATS)
    with _guard:
        if settings.OFFSETSITE.get("LAB_RUNNER", True) and (_runner is None or not _runner.is_alive()):
            _runner = _Runner()
            _runner.start()
    return found


def stop() -> None:
    """Stop the runner thread (tests, server shutdown); the checkers keep their state."""
    global _runner
    with _guard:
        runner, _runner = _runner, None
    if runner is not None:
        runner.stop_event.set()
        runner.join(timeout=10)


def step_now() -> set[tuple[str, str]]:
    """One round at once, as the runner thread does it (tests step on a ManualClock)."""
    with engine.locked():
        lab()
    return _step()


# --- what views call ------------------------------------------------------------------


def start_checker(spec: CheckerSpec) -> CheckerView:
    with engine.locked():
        checker = lab().add(spec)
        checker.step()
        view = checker.view()
    _wake({(spec.group, spec.topic)})
    return view


def control(name: str, action: str) -> CheckerView:
    """pause, resume, crash, restart, stop or remove the checker ``name``."""
    with engine.locked():
        checker = lab().control(name, action)
        view = checker.view()
    _wake({(view.group, view.topic)})
    return view


def reset_lab() -> list[str]:
    """Stop and forget every checker and the ledger; returns the groups the lab had."""
    with engine.locked():
        current = lab()
        touched = {(c.spec.group, c.spec.topic) for c in current}
        groups = current.groups()
        current.reset()
    _wake(touched)
    return groups


def note_consumed(group: str, reader: str, offsets: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """Write records a form consumer read (as ``reader``) to the group's ledger.

    Returns those this group had read before: a consume without a commit hands the same
    records to the next reader, and the page says so with the offsets, not only
    "nothing was committed". The caller holds ``engine.locked()``.
    """
    ledger = lab().ledger
    now = engine.embedded().clock.now_ms()
    again: list[tuple[str, int, int]] = []
    for topic, partition, offset in offsets:
        part = ledger.part(group, (topic, partition))
        if part.times.get(offset):
            again.append((topic, partition, offset))
        part.note_processed(offset, reader, now)
    if offsets:
        _wake({(group, t) for t, _, _ in offsets})
    return again


def _wake(changed: set[tuple[str, str]]) -> None:
    from offsetsite.live.bridge import BRIDGE

    BRIDGE.touch_lab(changed)


@dataclass(frozen=True)
class GroupLab:
    """One group's checkers and numbers, as the lab pages and the group page show them."""

    group: str
    checkers: tuple[CheckerView, ...]
    partitions: tuple[PartitionCounts, ...]
    totals: Counts


def group_lab(group: str) -> GroupLab | None:
    """The group's lab state, or None when no checker ever ran in it."""
    with engine.locked():
        current = _lab_if_open()
        if current is None or group not in current.groups():
            return None
        return _group_lab(current, group)


def snapshot() -> list[GroupLab]:
    """Every group of the lab, for the room and the facilitator's page."""
    with engine.locked():
        current = _lab_if_open()
        if current is None:
            return []
        return [_group_lab(current, g) for g in current.groups()]


def checkers() -> list[CheckerView]:
    with engine.locked():
        current = _lab_if_open()
        return [] if current is None else [c.view() for c in current]


def seats(group: str, topic: str, partition: int, first: int, end: int) -> list[Seat] | None:
    """Seat states of [first, end) for a strip, or None when the group has no lab history."""
    with engine.locked():
        current = _lab_if_open()
        if current is None or current.ledger.get(group, (topic, partition)) is None:
            return None
        return current.seats(group, (topic, partition), first, end)


def version() -> int:
    current = _lab
    return 0 if current is None else current.version


def _lab_if_open() -> Lab | None:
    if not engine.is_embedded():
        return None
    return _current_lab()


def _group_lab(current: Lab, group: str) -> GroupLab:
    views = tuple(c.view() for c in current if c.spec.group == group)
    rows = tuple(current.counts(group))
    total = Counts()
    for row in rows:
        total = total + row.counts
    return GroupLab(group, views, rows, total)


def member_positions(topic: str) -> list[Marker]:
    """Where each running checker reads next: the topic page draws these beside the commits."""
    out: list[Marker] = []
    for view in _views_on(topic):
        for (t, p), offset in view.positions:
            if t == topic:
                out.append(Marker("position", view.group, offset, member=view.name, partition=p))
    return out


def _views_on(topic: str) -> Iterator[CheckerView]:
    with engine.locked():
        current = _lab_if_open()
        if current is None:
            return iter(())
        return iter([c.view() for c in current if c.spec.topic == topic])


def stale_session_s(group: str) -> float | None:
    """Seconds until the last member no checker answers for (a crashed one) misses its session.

    A restarted checker joins while the crashed member is still in the group: the
    coordinator waits for every known member to rejoin, and a member that never
    heartbeats again is removed only once ``session.timeout.ms`` has passed since its
    last heartbeat (Kafka's group protocol, KIP-62). None when no such member is left.
    """
    with engine.locked():
        current = _lab_if_open()
        if current is None:
            return None
        coordinator = current.cluster.coordinator
        alive = {c.consumer.member_id for c in current if c.consumer is not None and c.spec.group == group}
        with coordinator.lock:
            found = coordinator.groups.get(group)
            if found is None:
                return None
            now = coordinator.clock.now_ms()
            left = [
                m.session_timeout_ms - (now - m.last_heartbeat_ms)
                for m in found.members.values()
                if m.member_id not in alive and m.client_host == "/lab"
            ]
    return max(0.0, max(left) / 1000) if left else None


# --- the topic page's seat colours -----------------------------------------------------

NOTABLE_SCAN = 2_000  # how far back from the high watermark duplicates and losses are looked for
NOTABLE_RUNS = 6  # runs of duplicates or losses given their own window on the strip


class _LabSeats:
    """The lab as the topic page's seat source (offsetsite.dashboard.topics.strip.SeatSource)."""

    def groups_on(self, topic: str) -> list[str]:
        with engine.locked():
            current = _lab_if_open()
            if current is None:
                return []
            return sorted({g for g, (t, _) in current.ledger.partitions() if t == topic})

    def seats(self, group: str, topic: str, partition: int, first: int, end: int) -> list[str] | None:
        found = seats(group, topic, partition, first, end)
        return None if found is None else [s.value for s in found]

    def notable(self, group: str, topic: str, partition: int, log_start: int, hw: int) -> list[int]:
        first = max(log_start, hw - NOTABLE_SCAN)
        found = seats(group, topic, partition, first, hw) or []
        runs: list[tuple[int, int]] = []  # [start, end] of each run of duplicates or losses
        kind: Seat | None = None
        for i, s in enumerate(found):
            if s in (Seat.TWICE, Seat.SKIPPED):
                if runs and kind is s and runs[-1][1] == first + i - 1:
                    runs[-1] = (runs[-1][0], first + i)
                else:
                    runs.append((first + i, first + i))
                kind = s
            else:
                kind = None
        return sorted({o for run in runs[-NOTABLE_RUNS:] for o in run})


SEATS = _LabSeats()
