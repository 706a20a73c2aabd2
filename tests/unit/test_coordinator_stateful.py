"""A hypothesis state machine of the group coordinator with real consumers.

Random joins, leaves, missed heartbeats, commits and engine restarts. Invariants:
in Stable every subscribed partition has exactly one owner (once the members have
caught up with the generation), no partition ever has two owners, and no accepted
commit is lost across a restart.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from logcore import ManualClock
from logcore.cluster import EmbeddedCluster
from logcore.consumer import Consumer
from logcore.errors import CommitFailed

TOPIC = "t"
PARTITIONS = 5
GROUP = "g"


class CoordinatorMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="coord-"))
        self.clock = ManualClock()
        self.cluster = self._open()
        self.cluster.create_topic(TOPIC, PARTITIONS)
        for p in range(PARTITIONS):
            for i in range(3):
                self.cluster.produce(TOPIC, b"%d" % i, partition=p)
        self.consumers: list[Consumer] = []
        self.accepted: dict[tuple[str, int], int] = {}
        self.strategy = "range"
        self.n = 0

    def _open(self) -> EmbeddedCluster:
        return EmbeddedCluster(self.dir, clock=self.clock, initial_rebalance_delay_ms=0)

    def _new_consumer(self) -> Consumer:
        self.n += 1
        return Consumer(
            self.cluster,
            GROUP,
            client_id=f"c{self.n}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=10_000,
            partition_assignment_strategy=[self.strategy],
        )

    def settle(self) -> None:
        for _ in range(40):
            for c in self.consumers:
                c.poll()
            self.clock.advance(500)
            if not self.consumers:
                return
            g = self.cluster.describe_group(GROUP)
            if g.state == "Stable" and all(c._joined and not c._needs_join for c in self.consumers):
                return

    @rule(strategy=st.sampled_from(["range", "roundrobin", "cooperative-sticky"]))
    def join(self, strategy: str) -> None:
        if len(self.consumers) >= 4:
            return
        if not self.consumers:
            self.strategy = strategy  # a group agrees on one protocol
        c = self._new_consumer()
        c.subscribe([TOPIC])
        self.consumers.append(c)
        self.settle()

    @precondition(lambda self: self.consumers)
    @rule(i=st.integers(0, 3))
    def leave(self, i: int) -> None:
        c = self.consumers.pop(i % len(self.consumers))
        c.close()
        self.settle()

    @precondition(lambda self: self.consumers)
    @rule(i=st.integers(0, 3))
    def miss_heartbeats(self, i: int) -> None:
        """A member stops polling past its session timeout; the others carry on."""
        zombie = self.consumers.pop(i % len(self.consumers))
        for _ in range(25):
            self.clock.advance(500)
            for c in self.consumers:
                c.poll()
        self.cluster.coordinator.tick(force=True)
        try:
            zombie.commit({(TOPIC, 0): 1})
            accepted_zombie = True
        except CommitFailed:
            accepted_zombie = False
        assert not accepted_zombie, "a fenced member's commit was accepted"
        self.settle()

    @precondition(lambda self: self.consumers)
    @rule(i=st.integers(0, 3), offset=st.integers(0, 3))
    def commit(self, i: int, offset: int) -> None:
        c = self.consumers[i % len(self.consumers)]
        parts = c.assignment()
        if not parts:
            return
        offsets = {tp: offset for tp in parts}
        try:
            c.commit(offsets)
        except CommitFailed:
            return
        self.accepted.update(offsets)

    @rule(offset=st.integers(0, 3), p=st.integers(0, PARTITIONS - 1))
    def admin_commit(self, offset: int, p: int) -> None:
        try:
            self.cluster.commit_offsets(GROUP, {(TOPIC, p): offset})
        except Exception:
            assert self.consumers, "an admin commit to an empty group must be accepted"
            return
        self.accepted[(TOPIC, p)] = offset

    @rule()
    def restart(self) -> None:
        """The engine dies (no clean close) and comes back; consumers reconnect."""
        self.cluster.logs.abandon()
        self.cluster = self._open()
        committed = {tp: om.offset for tp, om in self.cluster.committed_offsets(GROUP).items()}
        assert committed == self.accepted
        count = len(self.consumers)
        self.consumers = []
        for _ in range(count):
            c = self._new_consumer()
            c.subscribe([TOPIC])
            self.consumers.append(c)
        # Members from before the restart are still listed until their sessions expire.
        self.clock.advance(11_000)
        self.settle()

    @invariant()
    def no_partition_has_two_owners(self) -> None:
        owned = [tp for c in self.consumers for tp in c.assignment()]
        assert len(owned) == len(set(owned))

    @invariant()
    def stable_means_every_partition_owned(self) -> None:
        if not self.consumers:
            return
        g = self.cluster.describe_group(GROUP)
        caught_up = all(c._joined and not c._needs_join and c.generation == g.generation for c in self.consumers)
        if g.state == "Stable" and caught_up:
            owned = sorted(tp for c in self.consumers for tp in c.assignment())
            assert owned == [(TOPIC, p) for p in range(PARTITIONS)]

    @invariant()
    def commits_are_kept(self) -> None:
        committed = {tp: om.offset for tp, om in self.cluster.committed_offsets(GROUP).items()}
        assert committed == self.accepted

    def teardown(self) -> None:
        self.cluster.close()
        shutil.rmtree(self.dir, ignore_errors=True)


CoordinatorMachine.TestCase.settings = settings(max_examples=25, stateful_step_count=15, deadline=None)
TestCoordinator = CoordinatorMachine.TestCase
