"""Demo traffic: the night train keeps moving while the dashboard is open.

``offsetsite serve --demo-traffic`` (what ``./dev demo`` runs) starts one thread that,
a few times a second and under the engine lock like every other caller:

- produces ticket events to ``train-seats`` and now and then an order to ``orders``;
- runs two members of ``ticket-checker`` (a real group: join, sync, heartbeats,
  rebalances) that read at a pace which swings between slower and faster than the
  train, and commit every two seconds, so its lag rises and falls on the chart;
- runs one member of ``kitchen`` that keeps up with the orders.

``dining-car`` is left alone on purpose: a group whose consumers stopped, with lag and
no commits, is the other thing a workshop wants to point at.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import threading
import time

from logcore.consumer import Consumer
from logcore.errors import KafkaError

from . import engine
from .dashboard.topics.strip import Marker
from .demo import _COACHES, _MENU, _PASSENGERS, ORDERS_TOPIC, SEATS_TOPIC

_log = logging.getLogger(__name__)

TICK_S = 0.25
COMMIT_EVERY_S = 2.0
# Produced ticket events a second, on average; the checkers' pace swings around it.
TRAIN_RATE = 3.0
SWING_PERIOD_S = 120.0


class DemoTraffic(threading.Thread):
    def __init__(self, seed: int | None = None) -> None:
        super().__init__(name="offsetsite-demo-traffic", daemon=True)
        self.stop_event = threading.Event()
        self.random = random.Random(seed)
        self.started_at = time.monotonic()
        self._members: list[tuple[Consumer, bool]] = []  # (member, keeps up with its topic)
        self._last_commit = 0.0
        self._owed: dict[str, float] = {}  # fractional records each checker may read next

    def stop(self) -> None:
        self.stop_event.set()
        self.join(timeout=10)

    # --- one tick -------------------------------------------------------------

    def _event(self) -> tuple[bytes, bytes]:
        ticket, name, _, destination = self.random.choice(_PASSENGERS)
        kind = self.random.choice(("ticket-checked", "ticket-checked", "seat-changed", "dining-car-visit"))
        body: dict[str, object] = {"ticket": ticket, "event": kind, "passenger": name}
        if kind == "seat-changed":
            body |= {"coach": self.random.choice(_COACHES), "seat": self.random.randint(11, 58)}
        elif kind == "ticket-checked":
            body |= {"valid": True, "to": destination}
        return ticket.encode(), json.dumps(body, separators=(",", ":")).encode()

    def _join(self) -> None:
        cluster = engine.embedded()
        for group, topic, client, keeps_up in (
            ("ticket-checker", SEATS_TOPIC, "checker-front", False),
            ("ticket-checker", SEATS_TOPIC, "checker-rear", False),
            ("kitchen", ORDERS_TOPIC, "kitchen-1", True),
        ):
            consumer = Consumer(
                cluster, group, client_id=client, auto_offset_reset="earliest", enable_auto_commit=False
            )
            consumer.subscribe([topic])
            self._members.append((consumer, keeps_up))

    def tick(self) -> None:
        cluster = engine.embedded()
        elapsed = time.monotonic() - self.started_at
        topics = cluster.list_topics(include_internal=False)
        if SEATS_TOPIC in topics and self.random.random() < TRAIN_RATE * TICK_S:
            key, value = self._event()
            cluster.produce(SEATS_TOPIC, value, key)
        if ORDERS_TOPIC in topics and self.random.random() < 0.15 * TICK_S:
            coach = self.random.choice(_COACHES)
            order = {"coach": coach, "items": [self.random.choice(_MENU)], "status": "placed"}
            cluster.produce(ORDERS_TOPIC, json.dumps(order).encode(), coach.encode())
        # The checkers together read between 0.45x and 1.85x the train's rate (1.15x on
        # average), each in proportion to the partitions it holds: lag builds up, then
        # drains, and the chart shows both.
        pace = TRAIN_RATE * (1.15 + 0.7 * math.sin(2 * math.pi * elapsed / SWING_PERIOD_S))
        partitions = max(1, len(cluster.describe_topic(SEATS_TOPIC).partitions)) if SEATS_TOPIC in topics else 1
        for consumer, keeps_up in self._members:
            if keeps_up:
                consumer.poll(0, max_records=100)
                continue
            owed = self._owed.get(consumer.client_id, 0.0)
            # Unread pace carries over, up to ten records: a catch-up after an idle spell,
            # not a flood.
            owed = min(owed + pace * TICK_S * len(consumer.assignment()) / partitions, 10.0)
            share = int(owed)
            # Every member polls each tick (that is its heartbeat); one whose turn it is
            # not hands the record back.
            records = consumer.poll(0, max_records=max(1, share))
            if share == 0 and records:
                first = records[0]
                consumer.seek((first.topic, first.partition), first.offset)
                records = []
            self._owed[consumer.client_id] = owed - len(records)
        now = time.monotonic()
        if now - self._last_commit >= COMMIT_EVERY_S:
            self._last_commit = now
            for consumer, _ in self._members:
                if consumer.assignment():
                    consumer.commit()

    def run(self) -> None:
        try:
            with engine.locked():
                self._join()
            while not self.stop_event.wait(TICK_S):
                try:
                    with engine.locked():
                        self.tick()
                except KafkaError as e:
                    # A rebalance or a reset from the dashboard can refuse a commit: the
                    # members rejoin on their next poll, as real consumers do.
                    _log.info("demo traffic: %s", e)
        except Exception:
            _log.exception("demo traffic stopped")
        finally:
            with engine.locked():
                for consumer, _ in self._members:
                    with contextlib.suppress(KafkaError):
                        consumer.close(autocommit=False)


_current: DemoTraffic | None = None


def member_positions(topic: str) -> list[Marker]:
    """Where each running demo member will read next: the topic page draws these.

    Kafka's tools cannot show this (a position lives in the client); here the clients run
    in the server, so the page can show a checker walking ahead of its last commit.
    """
    sim = _current
    if sim is None:
        return []
    out: list[Marker] = []
    with engine.locked():
        for consumer, _ in sim._members:
            if consumer.group_id is None:
                continue
            for tp in consumer.assignment():
                if tp[0] == topic:
                    out.append(
                        Marker(
                            "position",
                            consumer.group_id,
                            consumer.position(tp),
                            member=consumer.client_id,
                            partition=tp[1],
                        )
                    )
    return out


def start(seed: int | None = None) -> DemoTraffic:
    global _current
    if _current is None or not _current.is_alive():
        from .dashboard.topics.strip import register_position_source

        register_position_source(member_positions)
        _current = DemoTraffic(seed)
        _current.start()
    return _current


def stop() -> None:
    global _current
    if _current is not None:
        _current.stop()
        _current = None
