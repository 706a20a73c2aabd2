"""Ticket checkers: simulated consumers that run in the engine and can be crashed.

A checker is a real group member (``logcore.consumer.Consumer``: join, sync,
heartbeats, rebalances, commits through the coordinator into ``__consumer_offsets``)
driven by the loop a Kafka application runs::

    while True:
        records = consumer.poll()        # auto-commit, if on, happens in here
        for record in records:
            process(record)              # takes 1/pace seconds per record
            ...commit, by strategy...

Processing is the part Kafka does not see, so each processed record is written to a
``Ledger`` and the lab can count what a strategy costs when a checker crashes:

- ``each``: ``commitSync`` after every record. A crash repeats at most the record
  being processed... and none, since the commit follows it; a rebalance can still
  repeat one.
- ``every:N``: ``commitSync`` after every N records. A crash repeats up to N - 1.
- ``auto:T``: ``enable.auto.commit`` with ``auto.commit.interval.ms`` = T. Kafka commits
  the position of the previous poll at the next poll once T has passed, so what was
  processed since the last auto-commit is processed again after a crash.
- ``before``: ``commitSync`` right after ``poll`` and before processing (at-most-once):
  a crash loses the rest of the batch, and the next owner starts after it.

Time comes from the cluster's clock: with a ``ManualClock`` a test moves time and calls
``Lab.step`` and nothing sleeps. The lab is not thread-safe; the server calls it under
the engine lock like every other engine caller.
"""

from __future__ import annotations

import enum
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from .consumer import Consumer, ConsumerRecord
from .errors import CommitFailed, InvalidRequest, KafkaError, UnknownTopicOrPartition
from .groups import GROUP_MAX_SESSION_TIMEOUT_MS, GROUP_MIN_SESSION_TIMEOUT_MS, TopicPartition
from .ledger import Counts, Ledger, Seat

if TYPE_CHECKING:
    from .cluster import EmbeddedCluster

PACE_RANGE = (0.1, 100.0)  # records a second
BATCH_RANGE = (1, 100)  # max.poll.records
EVERY_RANGE = (1, 10_000)
AUTO_INTERVAL_RANGE_MS = (100, 600_000)
DEFAULT_SESSION_TIMEOUT_MS = 10_000  # Kafka's default is 45 s: too long to wait for in a lesson
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,39}")
# One step processes at most this many records per checker, so a clock that jumped far
# (a laptop waking up) cannot hold the engine lock for long.
MAX_RECORDS_PER_STEP = 1_000


class Strategy(enum.StrEnum):
    EACH = "each"
    EVERY = "every"
    AUTO = "auto"
    BEFORE = "before"


@dataclass(frozen=True)
class CommitPolicy:
    strategy: Strategy
    every: int = 10
    interval_ms: int = 5_000

    @classmethod
    def parse(cls, text: str) -> CommitPolicy:
        """``each``, ``every:N``, ``auto:T`` (milliseconds) or ``before``."""
        name, _, arg = text.strip().partition(":")
        allowed = "allowed: each, every:N (N records), auto:T (T ms, Kafka's auto.commit.interval.ms), before"
        try:
            strategy = Strategy(name)
        except ValueError:
            raise InvalidRequest(f"unknown commit strategy {text!r}; {allowed}") from None
        if strategy in (Strategy.EACH, Strategy.BEFORE):
            if arg:
                raise InvalidRequest(f"commit strategy {name!r} takes no number; {allowed}")
            return cls(strategy)
        if not arg.isdigit():
            raise InvalidRequest(f"commit strategy {name!r} needs a whole number after ':'; {allowed}")
        n = int(arg)
        if strategy is Strategy.EVERY:
            _check_range("every:N", n, EVERY_RANGE)
            return cls(strategy, every=n)
        _check_range("auto:T", n, AUTO_INTERVAL_RANGE_MS)
        return cls(strategy, interval_ms=n)

    def __str__(self) -> str:
        if self.strategy is Strategy.EVERY:
            return f"every:{self.every}"
        if self.strategy is Strategy.AUTO:
            return f"auto:{self.interval_ms}"
        return str(self.strategy)

    def describe(self) -> str:
        if self.strategy is Strategy.EACH:
            return "commits after each record"
        if self.strategy is Strategy.EVERY:
            return f"commits after every {self.every} records"
        if self.strategy is Strategy.AUTO:
            return f"auto-commits every {self.interval_ms / 1000:g} s (at the next poll)"
        return "commits before processing"


def _check_range(what: str, value: float, bounds: tuple[float, float]) -> None:
    lo, hi = bounds
    if not lo <= value <= hi:
        raise InvalidRequest(f"{what} must be between {lo:g} and {hi:g}, got {value:g}")


class State(enum.StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    CRASHED = "crashed"
    STOPPED = "stopped"


@dataclass(frozen=True)
class CheckerSpec:
    name: str
    group: str
    topic: str
    pace: float = 2.0
    policy: CommitPolicy = field(default_factory=lambda: CommitPolicy(Strategy.EVERY))
    batch: int = 5
    session_timeout_ms: int = DEFAULT_SESSION_TIMEOUT_MS

    def validate(self) -> None:
        if not NAME_RE.fullmatch(self.name):
            raise InvalidRequest(
                f"checker name {self.name!r} is not allowed: 1 to 40 letters, digits, spaces, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        if not self.group:
            raise InvalidRequest("a checker needs a group")
        _check_range("pace (records a second)", self.pace, PACE_RANGE)
        _check_range("batch (max.poll.records)", self.batch, BATCH_RANGE)
        _check_range(
            "session timeout (ms)",
            self.session_timeout_ms,
            (GROUP_MIN_SESSION_TIMEOUT_MS, GROUP_MAX_SESSION_TIMEOUT_MS),
        )


@dataclass(frozen=True)
class CheckerView:
    """What a page shows of one checker."""

    name: str
    group: str
    topic: str
    state: State
    pace: float
    policy: str
    policy_text: str
    member_id: str
    assignment: tuple[TopicPartition, ...]
    positions: tuple[tuple[TopicPartition, int], ...]
    current: TopicPartition | None
    current_offset: int | None
    held: tuple[tuple[TopicPartition, int], ...]
    processed: int
    commits: int
    last_commit: tuple[tuple[TopicPartition, int], ...]
    last_error: str
    joining: bool


class Checker:
    """One simulated consumer; see the module docstring for its loop."""

    def __init__(self, cluster: EmbeddedCluster, spec: CheckerSpec, ledger: Ledger) -> None:
        self.cluster = cluster
        self.spec = spec
        self.ledger = ledger
        self.state = State.STOPPED
        self.consumer: Consumer | None = None
        self.held: deque[ConsumerRecord] = deque()
        self.processed = 0
        self.commits = 0
        self.last_commit: dict[TopicPartition, int] = {}
        self.last_error = ""
        self._uncommitted: dict[TopicPartition, int] = {}  # processed, not committed: next offset
        self._since_commit = 0
        self._idle_since = cluster.clock.monotonic_ms()
        self._busy_until: int | None = None  # when the record in hand is processed
        self.start()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def per_record_ms(self) -> int:
        return max(1, round(1000 / self.spec.pace))

    # --- controls --------------------------------------------------------------------

    def start(self) -> None:
        """Join the group; positions come from the committed offsets (or the earliest)."""
        if self.state in (State.RUNNING, State.PAUSED):
            return
        policy = self.spec.policy
        consumer = Consumer(
            self.cluster,
            self.spec.group,
            client_id=self.spec.name,
            client_host="/lab",
            auto_offset_reset="earliest",
            enable_auto_commit=policy.strategy is Strategy.AUTO,
            auto_commit_interval_ms=policy.interval_ms,
            session_timeout_ms=self.spec.session_timeout_ms,
            heartbeat_interval_ms=max(1000, self.spec.session_timeout_ms // 3),
            max_poll_records=self.spec.batch,
        )
        consumer.subscribe([self.spec.topic])
        self.consumer = consumer
        self.held.clear()
        self._uncommitted.clear()
        self._since_commit = 0
        self._busy_until = None
        self._idle_since = self.cluster.clock.monotonic_ms()
        self.last_error = ""
        self.state = State.RUNNING

    restart = start

    def pause(self) -> None:
        """Stop processing; polls go on (Kafka's ``pause()``), so the member stays in the group."""
        if self.state is State.RUNNING:
            self.state = State.PAUSED

    def resume(self) -> None:
        if self.state is State.PAUSED:
            assert self.consumer is not None
            self.consumer.resume(self.consumer.assignment())
            now = self.cluster.clock.monotonic_ms()
            self._idle_since = now
            if self._busy_until is not None:
                self._busy_until = now + self.per_record_ms
            self.state = State.RUNNING

    def crash(self) -> None:
        """Stop dead: no commit, no LeaveGroup; the group notices at the session timeout."""
        if self.state in (State.CRASHED, State.STOPPED):
            return
        self.consumer = None  # dropped, never closed: its heartbeats simply stop
        self.held.clear()
        self._uncommitted.clear()
        self._busy_until = None
        self.state = State.CRASHED

    def stop(self) -> None:
        """A clean shutdown: commit what was processed, then leave (the group rebalances now).

        The records in hand are handed back, as a Kafka application's loop ends after
        its batch: with auto-commit the closing commit covers what was processed.
        """
        if self.state in (State.CRASHED, State.STOPPED):
            self.consumer = None
            self.state = State.STOPPED
            return
        consumer = self.consumer
        assert consumer is not None
        first_held: dict[TopicPartition, int] = {}
        for r in self.held:
            first_held.setdefault((r.topic, r.partition), r.offset)
        for tp, offset in first_held.items():
            if tp in consumer.assignment():
                consumer.seek(tp, offset)
        if self.spec.policy.strategy in (Strategy.EACH, Strategy.EVERY):
            self._commit(dict(self._uncommitted))
        try:
            consumer.close(autocommit=True)
        except KafkaError as e:
            self.last_error = str(e)
        self.consumer = None
        self.held.clear()
        self._uncommitted.clear()
        self._busy_until = None
        self.state = State.STOPPED

    # --- the loop ----------------------------------------------------------------------

    def step(self) -> bool:
        """Run the checker's loop up to now; True when anything visible changed."""
        consumer = self.consumer
        if consumer is None or self.state in (State.CRASHED, State.STOPPED):
            return False
        now = self.cluster.clock.monotonic_ms()
        if self.state is State.PAUSED:
            return self._step_paused(consumer)
        changed = False
        done = 0
        while done < MAX_RECORDS_PER_STEP:
            if not self.held:
                if self._poll(consumer):
                    changed = True
                    continue
                break
            if self._busy_until is None:
                # The record was taken when the checker last went idle (its previous record
                # done, or its last empty poll): a step that comes late catches up.
                self._busy_until = self._idle_since + self.per_record_ms
                changed = True
            if now < self._busy_until:
                break
            record = self.held.popleft()
            finished = self._busy_until
            self._busy_until = None
            self._idle_since = finished
            self._processed(consumer, record, finished)
            done += 1
            changed = True
            if self.held:
                self._busy_until = finished + self.per_record_ms
        if self.held or self._busy_until is not None:
            consumer.heartbeat()
        return changed

    def _step_paused(self, consumer: Consumer) -> bool:
        # Kafka's pause(): the application keeps polling, gets nothing from paused
        # partitions, and so takes part in rebalances.
        before = tuple(consumer.assignment())
        consumer.pause(consumer.assignment())
        try:
            got = consumer.poll(0)
        except KafkaError as e:
            self.last_error = str(e)
            return True
        # A poll that completed a rebalance may have assigned unpaused partitions.
        if got:
            for r in got:
                self.ledger.part(self.spec.group, (r.topic, r.partition)).note_fetch(r.offset)
            self.held.extend(got)
        consumer.pause(consumer.assignment())
        return tuple(consumer.assignment()) != before or bool(got)

    def _poll(self, consumer: Consumer) -> bool:
        try:
            records = consumer.poll(0, max_records=self.spec.batch)
        except KafkaError as e:
            self.last_error = str(e)
            return False
        if not records:
            self._idle_since = self.cluster.clock.monotonic_ms()
            return False
        for r in records:
            self.ledger.part(self.spec.group, (r.topic, r.partition)).note_fetch(r.offset)
        self.held.extend(records)
        if self.spec.policy.strategy is Strategy.BEFORE:
            after: dict[TopicPartition, int] = {}
            for r in records:
                after[(r.topic, r.partition)] = r.offset + 1
            self._commit(after)
        return True

    def _processed(self, consumer: Consumer, record: ConsumerRecord, at_ms: int) -> None:
        tp = (record.topic, record.partition)
        self.ledger.part(self.spec.group, tp).note_processed(record.offset, self.spec.name, at_ms)
        self.processed += 1
        policy = self.spec.policy
        if policy.strategy is Strategy.EACH:
            self._commit({tp: record.offset + 1})
        elif policy.strategy is Strategy.EVERY:
            self._uncommitted[tp] = record.offset + 1
            self._since_commit += 1
            if self._since_commit >= policy.every:
                self._commit(dict(self._uncommitted))

    def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        if not offsets or self.consumer is None:
            return
        self._since_commit = 0
        self._uncommitted.clear()
        try:
            self.consumer.commit(offsets)
        except CommitFailed as e:
            # The group moved on without this member: what it processed since its last
            # commit will be processed again by the partition's next owner.
            self.last_error = str(e)
            return
        self.commits += 1
        self.last_commit.update(offsets)
        self.last_error = ""

    # --- reading -----------------------------------------------------------------------

    def held_offsets(self, tp: TopicPartition) -> list[int]:
        return [r.offset for r in self.held if (r.topic, r.partition) == tp]

    def view(self) -> CheckerView:
        consumer = self.consumer
        assignment: tuple[TopicPartition, ...] = ()
        positions: list[tuple[TopicPartition, int]] = []
        member_id = ""
        joining = False
        if consumer is not None:
            assignment = tuple(consumer.assignment())
            member_id = consumer.member_id
            joining = consumer._needs_join or not consumer._joined
            for tp in assignment:
                try:
                    positions.append((tp, consumer.position(tp)))
                except KafkaError:
                    continue
        current = self.held[0] if self.held and self._busy_until is not None else None
        return CheckerView(
            name=self.spec.name,
            group=self.spec.group,
            topic=self.spec.topic,
            state=self.state,
            pace=self.spec.pace,
            policy=str(self.spec.policy),
            policy_text=self.spec.policy.describe(),
            member_id=member_id,
            assignment=assignment,
            positions=tuple(positions),
            current=(current.topic, current.partition) if current else None,
            current_offset=current.offset if current else None,
            held=tuple(((r.topic, r.partition), r.offset) for r in self.held),
            processed=self.processed,
            commits=self.commits,
            last_commit=tuple(sorted(self.last_commit.items())),
            last_error=self.last_error,
            joining=joining,
        )


@dataclass(frozen=True)
class PartitionCounts:
    topic: str
    partition: int
    committed: int | None
    log_start: int
    high_watermark: int
    counts: Counts


class Lab:
    """The checkers of one engine and the ledger they write to."""

    def __init__(self, cluster: EmbeddedCluster) -> None:
        self.cluster = cluster
        self.ledger = Ledger()
        self.checkers: dict[str, Checker] = {}
        self.version = 0  # moves on every visible change: pages compare it

    def __iter__(self) -> Iterator[Checker]:
        return iter(self.checkers.values())

    def add(self, spec: CheckerSpec) -> Checker:
        spec = replace(spec, name=spec.name.strip())
        spec.validate()
        if spec.name in self.checkers:
            raise InvalidRequest(f"a checker named {spec.name!r} exists already; choose another name")
        if spec.topic not in self.cluster.list_topics(include_internal=False):
            raise UnknownTopicOrPartition(f"topic {spec.topic!r} does not exist")
        checker = Checker(self.cluster, spec, self.ledger)
        self.checkers[spec.name] = checker
        self.version += 1
        return checker

    def get(self, name: str) -> Checker:
        try:
            return self.checkers[name]
        except KeyError:
            raise InvalidRequest(f"no checker named {name!r}") from None

    def remove(self, name: str) -> None:
        """Stop the checker cleanly (commit, leave) and forget it; its ledger entries stay."""
        self.get(name).stop()
        del self.checkers[name]
        self.version += 1

    def control(self, name: str, action: str) -> Checker:
        checker = self.get(name)
        actions = {
            "pause": checker.pause,
            "resume": checker.resume,
            "crash": checker.crash,
            "restart": checker.restart,
            "stop": checker.stop,
        }
        if action == "remove":
            self.remove(name)
            return checker
        if action not in actions:
            raise InvalidRequest(f"unknown action {action!r}; allowed: {', '.join([*actions, 'remove'])}")
        actions[action]()
        self.version += 1
        return checker

    def step(self) -> set[tuple[str, str]]:
        """Advance every checker to the clock's now; returns the (group, topic) that changed."""
        changed: set[tuple[str, str]] = set()
        for checker in list(self.checkers.values()):
            try:
                moved = checker.step()
            except KafkaError as e:
                checker.last_error = str(e)
                moved = True
            if moved:
                changed.add((checker.spec.group, checker.spec.topic))
        if changed:
            self.version += 1
        return changed

    def reset(self) -> None:
        """Stop every checker (cleanly) and forget them and the ledger."""
        for checker in list(self.checkers.values()):
            try:
                checker.stop()
            except KafkaError:
                checker.crash()
        self.checkers.clear()
        self.ledger.clear()
        self.version += 1

    # --- the numbers -------------------------------------------------------------------

    def held(self, group: str, tp: TopicPartition) -> list[int]:
        out: list[int] = []
        for c in self.checkers.values():
            if c.spec.group == group and c.state in (State.RUNNING, State.PAUSED):
                out.extend(c.held_offsets(tp))
        return out

    def groups(self) -> list[str]:
        return sorted({c.spec.group for c in self.checkers.values()} | set(self.ledger.groups()))

    def counts(self, group: str) -> list[PartitionCounts]:
        """Per partition the group has ledger entries or committed offsets for."""
        committed = {tp: om.offset for tp, om in self.cluster.coordinator.fetch_offsets(group).items() if om}
        topics = {c.spec.topic for c in self.checkers.values() if c.spec.group == group}
        parts = {tp for _, tp in self.ledger.partitions(group)}
        parts |= {tp for tp in committed if tp[0] in topics or tp in parts}
        for topic in topics:
            try:
                n = len(self.cluster.describe_topic(topic).partitions)
            except UnknownTopicOrPartition:
                continue
            parts |= {(topic, p) for p in range(n)}
        out: list[PartitionCounts] = []
        for tp in sorted(parts):
            try:
                start, hw = self.cluster.watermarks(*tp)
            except UnknownTopicOrPartition:
                continue
            c = self.ledger.counts(group, tp, committed.get(tp), self.held(group, tp), start)
            out.append(PartitionCounts(tp[0], tp[1], committed.get(tp), start, hw, c))
        return out

    def totals(self, group: str) -> Counts:
        total = Counts()
        for row in self.counts(group):
            total = total + row.counts
        return total

    def seats(self, group: str, tp: TopicPartition, first: int, end: int) -> list[Seat]:
        om = self.cluster.coordinator.fetch_offsets(group, [tp]).get(tp)
        return self.ledger.seats(group, tp, first, end, om.offset if om else None, self.held(group, tp))
