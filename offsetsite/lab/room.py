"""The workshop room: attendees by name, each with one ticket checker on the room topic.

An attendee has no account: a name, remembered in their Django session with a random
token, and one checker named after them. Either in a group of their own
(``room-<name>``: every attendee's checker reads every seat, as independent
applications do) or in the shared group ``room-shared``, where the members split the
partitions between them (Kafka's consumer group protocol; members beyond the number of
partitions stay idle, as the consumer javadoc says under "Consumer Groups and Topic
Subscriptions").

The roster lives in this process, like the lab itself: a room is one server's
workshop. An attendee whose checker is gone (the lab was reset, the engine reopened)
is no longer in the room and may join again.

Rendering: the room's pages update over the "lab" websocket kind. What every viewer
sees alike (the room summary, the facilitator's table) is computed once per lab
version (:func:`room_state`), however many sockets ask.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings

from logcore.checkers import CheckerSpec, CheckerView, CommitPolicy, State
from logcore.errors import InvalidRequest, KafkaError, UnknownTopicOrPartition
from offsetsite import engine

from . import service

TOPIC = "room-train"
PARTITIONS = 6  # a shared group of more than six members shows idle members, as Kafka does
SHARED_GROUP = "room-shared"
OWN_PREFIX = "room-"
DEFAULT_CAP = 200
PACE_MAX = 10.0  # records a second: a crowd of fast checkers would only load the server
DEFAULT_PACE = 2.0
NAME_RE = re.compile(r"[A-Za-z0-9 ._-]{1,40}")
NAME_RULE = "1 to 40 letters, digits, spaces, '.', '_' or '-'"
# The strategies an attendee picks from (CommitPolicy.parse strings) and their labels.
STRATEGIES: tuple[tuple[str, str], ...] = (
    ("each", "commit after each record"),
    ("every:10", "commit every 10 records"),
    ("auto:5000", "auto-commit every 5 s"),
    ("before", "commit before processing (at-most-once)"),
)
SESSION_KEY = "offsetsite.room"
ACTIONS = ("pause", "resume", "crash", "restart")
# The ledgers are counted at most this often (seconds): checkers move ten times a second
# and a room of fifty own groups costs milliseconds to count (room_state).
COUNTS_INTERVAL_S = 0.25


class RoomError(Exception):
    """A join or control refused; the message says what was wrong and what is allowed."""


class RoomFull(RoomError):
    pass


@dataclass
class Attendee:
    name: str
    token: str
    group: str
    shared: bool


@dataclass
class _Roster:
    lock: threading.Lock = field(default_factory=threading.Lock)
    by_name: dict[str, Attendee] = field(default_factory=dict)


_roster = _Roster()


def cap() -> int:
    return int(str(settings.OFFSETSITE.get("ROOM_CAP", DEFAULT_CAP)))


def clean_name(raw: str) -> str:
    name = " ".join((raw or "").split())  # runs of spaces are one space; no edges
    if not NAME_RE.fullmatch(name):
        raise RoomError(f"The name {name[:60]!r} is not allowed: use {NAME_RULE}.")
    if not name[0].isalnum():
        raise RoomError(f"The name {name!r} must start with a letter or digit ({NAME_RULE}).")
    return name


def own_group(name: str) -> str:
    return OWN_PREFIX + name


def is_room_group(group: str) -> bool:
    return group.startswith(OWN_PREFIX)


def ensure_topic() -> None:
    """Create the room topic when it is missing (first join, after a reset)."""
    cluster = engine.get_cluster()
    if TOPIC not in cluster.list_topics(include_internal=False):
        try:
            cluster.create_topic(TOPIC, PARTITIONS)
        except KafkaError:
            if TOPIC not in cluster.list_topics(include_internal=False):
                raise


def _live_names() -> set[str]:
    return {c.name for c in service.checkers()}


def _prune(live: set[str]) -> None:
    """Under the roster lock: forget attendees whose checker is gone."""
    for name in [n for n in _roster.by_name if n not in live]:
        del _roster.by_name[name]


def attendees() -> list[Attendee]:
    live = _live_names()
    with _roster.lock:
        _prune(live)
        return sorted(_roster.by_name.values(), key=lambda a: a.name.lower())


def join(name: str, *, shared: bool, strategy: str, pace: float = DEFAULT_PACE) -> Attendee:
    """Add an attendee and start their checker; RoomError says why not."""
    name = clean_name(name)
    try:
        policy = CommitPolicy.parse(strategy)
    except InvalidRequest as e:
        raise RoomError(str(e)) from None
    if not 0.1 <= pace <= PACE_MAX:
        raise RoomError(f"The pace must be between 0.1 and {PACE_MAX:g} seats a second, got {pace:g}.")
    group = SHARED_GROUP if shared else own_group(name)
    ensure_topic()
    live = _live_names()
    with _roster.lock:
        _prune(live)
        taken = {n.lower() for n in _roster.by_name} | {n.lower() for n in live}
        if name.lower() in taken:
            raise RoomError(f"The name {name!r} is taken in this room; choose another ({NAME_RULE}).")
        if len(_roster.by_name) >= cap():
            raise RoomFull(f"The room is full ({cap()} attendees); ask the facilitator to make room.")
        spec = CheckerSpec(name=name, group=group, topic=TOPIC, pace=pace, policy=policy)
        try:
            service.start_checker(spec)
        except KafkaError as e:
            raise RoomError(str(e)) from None
        attendee = Attendee(name, secrets.token_urlsafe(16), group, shared)
        _roster.by_name[name] = attendee
    return attendee


def find(name: str) -> Attendee | None:
    live = _live_names()
    with _roster.lock:
        _prune(live)
        return _roster.by_name.get(name)


def of_session(session: Any) -> Attendee | None:
    """The attendee this browser session joined as, while their checker exists."""
    saved = session.get(SESSION_KEY)
    if not isinstance(saved, dict):
        return None
    found = find(str(saved.get("name", "")))
    if found is None or not secrets.compare_digest(found.token, str(saved.get("token", ""))):
        return None
    return found


def remember(session: Any, attendee: Attendee) -> None:
    session[SESSION_KEY] = {"name": attendee.name, "token": attendee.token}


def control(attendee: Attendee, action: str) -> CheckerView:
    if action not in ACTIONS:
        raise RoomError(f"Unknown action {action!r}; allowed: {', '.join(ACTIONS)}.")
    try:
        view = service.control(attendee.name, action)
    except KafkaError as e:
        raise RoomError(str(e)) from None
    _count_again()
    return view


def change_strategy(attendee: Attendee, strategy: str) -> CheckerView:
    """A new commit strategy: the checker leaves cleanly (commits) and joins again with it.

    A Kafka consumer's commit behaviour is fixed when it is built
    (``enable.auto.commit``, or the application's own loop), so changing it means a new
    consumer in the same group; the ledger keeps what the old one processed.
    """
    try:
        policy = CommitPolicy.parse(strategy)
    except InvalidRequest as e:
        raise RoomError(str(e)) from None
    old = next((c for c in service.checkers() if c.name == attendee.name), None)
    if old is None:
        raise RoomError("Your checker is gone (the lab was reset); join again.")
    spec = CheckerSpec(name=attendee.name, group=old.group, topic=old.topic, pace=old.pace, policy=policy)
    with _roster.lock:
        try:
            service.control(attendee.name, "remove")
            view = service.start_checker(spec)
        except KafkaError as e:
            raise RoomError(str(e)) from None
    _count_again()
    return view


def forget_all() -> None:
    with _roster.lock:
        _roster.by_name.clear()


def reset_everything() -> dict[str, Any]:
    """The facilitator's reset: every checker stopped, the ledger cleared, the room's
    groups' offsets deleted, the room topic recreated empty. Returns what was done."""
    groups = service.reset_lab()
    forget_all()
    cluster = engine.get_cluster()
    deleted: list[str] = []
    with engine.locked():
        for listing in cluster.list_groups():
            if is_room_group(listing.group_id):
                try:
                    cluster.delete_group(listing.group_id)
                    deleted.append(listing.group_id)
                except KafkaError:
                    # A group with members left cannot be deleted (GroupNotEmpty); its
                    # offsets can.
                    parts = list(cluster.committed_offsets(listing.group_id))
                    if parts:
                        cluster.delete_offsets(listing.group_id, parts)
                        deleted.append(listing.group_id)
        recreated = False
        if TOPIC in cluster.list_topics(include_internal=False):
            cluster.delete_topic(TOPIC)
            recreated = True
        try:
            cluster.create_topic(TOPIC, PARTITIONS)
        except KafkaError:
            pass
    service_wake()
    return {"lab_groups": groups, "deleted_groups": sorted(deleted), "topic_recreated": recreated}


def service_wake() -> None:
    from offsetsite.live.bridge import BRIDGE

    BRIDGE.touch_lab(set())


def produce_wave(count: int) -> int:
    """``count`` passengers onto the room topic, spread over its partitions; the new total."""
    ensure_topic()
    cluster = engine.get_cluster()
    with engine.locked():
        for i in range(count):
            cluster.produce(TOPIC, f"passenger {i + 1} of {count}".encode(), partition=i % PARTITIONS)
        return sum(cluster.watermarks(TOPIC, p)[1] for p in range(PARTITIONS))


# --- what the pages show, computed once per lab version --------------------------------


@dataclass(frozen=True)
class Row:
    """One attendee as the facilitator's table and their own page show them."""

    name: str
    group: str
    shared: bool
    strategy: str
    strategy_text: str
    state: str
    joining: bool
    processed: int
    duplicates: int
    losses: int
    in_flight: int
    lag: int
    assignment: str
    current: str
    held: int
    last_error: str
    stale_s: float | None


@dataclass(frozen=True)
class RoomState:
    version: tuple[int, int]  # (the bridge's lab version, the lab's own): see _lab_version
    rows: tuple[Row, ...]
    high_watermarks: tuple[tuple[int, int], ...]  # (partition, HW) of the room topic
    shared_members: int
    counts_by_state: tuple[tuple[str, int], ...]
    shared_owners: tuple[tuple[int, str], ...]  # (partition, member) of the shared group

    def owner(self, partition: int) -> str:
        return next((name for p, name in self.shared_owners if p == partition), "")

    @property
    def partitions(self) -> list[tuple[int, int, str]]:
        """(partition, high watermark, shared group's owner) for the summary's table."""
        return [(p, hw, self.owner(p)) for p, hw in self.high_watermarks]

    def row(self, name: str) -> Row | None:
        return next((r for r in self.rows if r.name == name), None)


_state_lock = threading.Lock()
_state: dict[str, RoomState] = {}


@dataclass(frozen=True)
class _Counted:
    """The expensive half of the room: every room group's ledger counts and commits."""

    lab_version: int
    at: float  # time.monotonic() when counted
    rows: tuple[Row, ...]  # lag 0: the cheap half adds it from the high watermarks
    bases: tuple[tuple[str, tuple[tuple[int, int], ...]], ...]  # group -> (partition, committed or log start)
    shared_owners: tuple[tuple[int, str], ...]


_counted: dict[str, _Counted] = {}
_trailing: dict[str, threading.Timer] = {}


def _lab_version() -> tuple[int, int]:
    """What the room shows moves with both: the bridge's lab version (appends to the
    room topic, resets, the runner's reports) and the lab's own (every step that
    changed something, also when a test steps the lab without the runner)."""
    from offsetsite.live.bridge import BRIDGE

    return BRIDGE.version("lab"), service.version()


def _count_again() -> None:
    """A button was pressed: the next page shows its effect, not counts from before it.

    The counting interval throttles what checkers do on their own (many changes a
    second); a person's action is rare and must be seen at once (a reload right after a
    crash showed the checker still running).
    """
    with _state_lock:
        _counted.pop(engine.current_cluster_name(), None)


def counts_interval_s() -> float:
    """How often the ledgers are counted at most (0: at every lab version; tests)."""
    return float(str(settings.OFFSETSITE.get("ROOM_COUNTS_INTERVAL_S", COUNTS_INTERVAL_S)))


def room_state() -> RoomState:
    """The room as it is now; one computation per lab version whoever asks.

    Fifty sockets waking on one change would otherwise each take the engine lock to
    count the same ledgers. Counting is the expensive half (every room group's ledger,
    each O(seats checked)); it runs at most every ``counts_interval_s()``: a version
    inside that interval shows the last counts with fresh high watermarks, and a timer
    wakes the pages once the interval is over, so the last change is always shown
    (the cost ``bench/room.py`` measures: at every version it took a third of a core).
    """
    cluster_name = engine.current_cluster_name()
    version = _lab_version()
    with _state_lock:
        found = _state.get(cluster_name)
        if found is not None and found.version == version:
            return found
        counted = _counted.get(cluster_name)
        now = time.monotonic()
        if counted is None or counted.lab_version != version[1]:
            wait = 0.0 if counted is None else counted.at + counts_interval_s() - now
            if wait <= 0:
                counted = _count(version[1])
                _counted[cluster_name] = counted
            else:
                _wake_later(cluster_name, wait)
        assert counted is not None
        state = _with_watermarks(version, counted)
        _state[cluster_name] = state
        return state


def _wake_later(cluster_name: str, wait: float) -> None:
    """Under ``_state_lock``: one wake of the lab pages once the counting interval is over."""
    timer = _trailing.get(cluster_name)
    if timer is not None and timer.is_alive():
        return
    timer = threading.Timer(wait, service_wake)
    timer.daemon = True
    _trailing[cluster_name] = timer
    timer.start()


def _count(lab_version: int) -> _Counted:
    people = {a.name: a for a in attendees()}
    views = {c.name: c for c in service.checkers() if c.name in people}
    labs: dict[str, service.GroupLab] = {}
    for group in sorted({a.group for a in people.values()}):
        # One group at a time: each takes the engine lock on its own, so a produce
        # request waits for one group's count, never the whole room's.
        found = service.group_lab(group)
        if found is not None:
            labs[group] = found
    rows: list[Row] = []
    for name in sorted(people, key=str.lower):
        a = people[name]
        view = views.get(name)
        if view is None:
            continue
        glab = labs.get(a.group)
        totals = glab.totals if glab is not None else None
        current = ""
        if view.current is not None and view.current_offset is not None:
            current = f"p{view.current[1]} seat {view.current_offset}"
        rows.append(
            Row(
                name=name,
                group=a.group,
                shared=a.shared,
                strategy=view.policy,
                strategy_text=view.policy_text,
                state=str(view.state),
                joining=view.joining and view.state in (State.RUNNING, State.PAUSED),
                processed=view.processed,
                duplicates=totals.duplicates if totals else 0,
                losses=totals.losses if totals else 0,
                in_flight=totals.in_flight if totals else 0,
                lag=0,
                assignment=", ".join(f"p{p}" for _t, p in sorted(view.assignment)) or "none",
                current=current,
                held=len(view.held),
                last_error=view.last_error,
                stale_s=service.stale_session_s(a.group) if view.joining else None,
            )
        )
    bases = tuple(
        (
            group,
            tuple(
                (p.partition, p.committed if p.committed is not None else p.log_start)
                for p in glab.partitions
                if p.topic == TOPIC
            ),
        )
        for group, glab in sorted(labs.items())
    )
    owners = sorted(
        (p, name)
        for name, view in views.items()
        if people[name].shared and view.state in (State.RUNNING, State.PAUSED)
        for t, p in view.assignment
        if t == TOPIC
    )
    return _Counted(lab_version, time.monotonic(), tuple(rows), bases, tuple(owners))


def _with_watermarks(version: tuple[int, int], counted: _Counted) -> RoomState:
    """The counted rows with each group's lag from the room topic's high watermarks now."""
    hws: list[tuple[int, int]] = []
    try:
        cluster = engine.get_cluster()
        with engine.locked():
            if TOPIC in cluster.list_topics(include_internal=False):
                n = len(cluster.describe_topic(TOPIC).partitions)
                hws = [(p, cluster.watermarks(TOPIC, p)[1]) for p in range(n)]
    except UnknownTopicOrPartition:
        hws = []
    hw = dict(hws)
    lag = {g: sum(max(0, hw.get(p, base) - base) for p, base in parts) for g, parts in counted.bases}
    rows = tuple(replace(r, lag=lag.get(r.group, 0)) for r in counted.rows)
    by_state: dict[str, int] = {}
    for r in rows:
        by_state[r.state] = by_state.get(r.state, 0) + 1
    return RoomState(
        version=version,
        shared_owners=counted.shared_owners,
        rows=rows,
        high_watermarks=tuple(hws),
        shared_members=sum(1 for r in rows if r.shared),
        counts_by_state=tuple(sorted(by_state.items())),
    )


def on_engine_open(cluster: Any) -> None:
    """Wake the room's pages on appends to the room topic (``engine.on_open``).

    Records produced are not a checker's doing, so the lab runner does not report
    them; without this a room with every checker paused would show a stale high
    watermark. Called in the producing thread: ``touch_lab`` only bumps a counter.
    """
    from logcore.events import RecordsAppended, TopicCreated, TopicDeleted

    def listener(event: Any) -> None:
        if isinstance(event, (RecordsAppended, TopicCreated, TopicDeleted)) and event.topic == TOPIC:
            service_wake()

    cluster.events.subscribe(listener)
