"""A real log and real group members for the action-page tests (consume, commit, reset, delete)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from logcore.consumer import Consumer
from logcore.groups import TopicPartition
from offsetsite import engine

# One record a second per partition, an hour ago (by-duration resets need real time).
T0 = int(time.time() * 1000) - 3_600_000 - 5_500
RECORDS = 20


def seed_log(topic: str = "orders", partitions: int = 2, group: str | None = "billing") -> None:
    """``orders``: 2 partitions x 20 records (offset i at T0 + i s); ``billing`` committed 10 and 5."""
    cluster = engine.get_cluster()
    # The server engine waits 3 s for more members before a new group's first
    # generation (Kafka's group.initial.rebalance.delay.ms); tests need no wait.
    engine.embedded().coordinator.initial_rebalance_delay_ms = 0
    cluster.create_topic(topic, partitions)
    for i in range(RECORDS):
        for p in range(partitions):
            cluster.produce(topic, f"v{i}".encode(), key=f"k{i}".encode(), partition=p, timestamp=T0 + i * 1000)
    if group:
        cluster.commit_offsets(group, {(topic, 0): 10, (topic, 1): 5})


def offsets(group: str = "billing") -> dict[TopicPartition, int]:
    return {tp: om.offset for tp, om in engine.get_cluster().committed_offsets(group).items()}


def settle(consumer: Consumer, rounds: int = 200) -> None:
    for _ in range(rounds):
        with engine.locked():
            consumer.poll(0)
            if consumer._joined and not consumer._needs_join and not consumer._awaiting_sync:
                return
        time.sleep(0.005)
    raise AssertionError("the member did not join")


@contextmanager
def live_member(group: str = "billing", topics: tuple[str, ...] = ("orders",), **options: object) -> Iterator[Consumer]:
    """A running member: the group is Stable while inside the block."""
    engine.embedded().coordinator.initial_rebalance_delay_ms = 0
    with engine.locked():
        c = Consumer(engine.embedded(), group, client_id="runner", enable_auto_commit=False, **options)  # type: ignore[arg-type]
        c.subscribe(list(topics))
    settle(c)
    assert engine.get_cluster().describe_group(group).state == "Stable"
    try:
        yield c
    finally:
        with engine.locked():
            c.close(autocommit=False)
