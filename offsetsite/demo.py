"""``offsetsite demo``: demo users and a small data set to teach offsets with.

The story is a night train. ``train-seats`` is the log of what happens to each ticket
(reserved, boarded, seat changed), keyed by ticket so every ticket's events stay in
order on one partition. ``orders`` is the dining car's order log, keyed by coach.
Consumer groups stand at different places in those logs, so the dashboard has lag
to show from the first page load:

- ``ticket-checker`` has walked most of the train (about 70 % of each partition);
- ``dining-car`` is far behind (about 25 %);
- ``kitchen`` has cooked every order (caught up, lag 0);
- ``lost-and-found`` joined and left without committing anything (an Empty group
  with no offsets: nothing to resume from, so ``auto.offset.reset`` decides).

Record timestamps are spread over the last hour and a half so lag in time and
``--to-datetime`` resets have something to measure.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from logcore.cluster import EmbeddedCluster
from logcore.consumer import Consumer
from logcore.errors import KafkaError

DEMO_USERS: tuple[tuple[str, str, str | None], ...] = (
    # username, password, role group (None: superuser, which is the admin role)
    ("admin", "admin", None),
    ("operator", "operator", "operator"),
    ("viewer", "viewer", "viewer"),
)

SEATS_TOPIC = "train-seats"
ORDERS_TOPIC = "orders"

_PASSENGERS = (
    ("TK-2041", "Ines Duarte", "Lyon", "Milano"),
    ("TK-2042", "Tomasz Wrona", "Paris", "Venezia"),
    ("TK-2043", "Amara Okafor", "Paris", "Milano"),
    ("TK-2044", "Lukas Brenner", "Dijon", "Venezia"),
    ("TK-2045", "Saanvi Rao", "Paris", "Verona"),
    ("TK-2046", "Jonas Lind", "Lyon", "Venezia"),
    ("TK-2047", "Chiara Fontana", "Paris", "Milano"),
    ("TK-2048", "Kenji Mori", "Paris", "Venezia"),
    ("TK-2049", "Olga Petrenko", "Dijon", "Milano"),
    ("TK-2050", "Mateo Ruiz", "Paris", "Verona"),
    ("TK-2051", "Freya Holm", "Lyon", "Venezia"),
    ("TK-2052", "Youssef Amrani", "Paris", "Milano"),
    ("TK-2053", "Hanna Kowalczyk", "Paris", "Venezia"),
    ("TK-2054", "Ravi Menon", "Dijon", "Verona"),
    ("TK-2055", "Elif Demir", "Paris", "Milano"),
    ("TK-2056", "Pierre Lemaire", "Lyon", "Venezia"),
    ("TK-2057", "Nadia Haddad", "Paris", "Venezia"),
    ("TK-2058", "Sven Aalto", "Paris", "Milano"),
    ("TK-2059", "Marta Silva", "Dijon", "Venezia"),
    ("TK-2060", "Oscar Byrne", "Paris", "Verona"),
)
_COACHES = "ABCD"
_MENU = ("espresso", "croissant", "risotto", "tiramisu", "mineral water", "red wine", "panini", "tea")

# Where each group stands: a share of every partition's high watermark.
_GROUP_SHARES = (
    ("ticket-checker", SEATS_TOPIC, 0.7),
    ("dining-car", SEATS_TOPIC, 0.25),
    ("kitchen", ORDERS_TOPIC, 1.0),
)
_EMPTY_GROUP = ("lost-and-found", ORDERS_TOPIC)


def seat_records(now_ms: int) -> list[tuple[bytes, bytes, int]]:
    """60 (key, value, timestamp) ticket events over the last 90 minutes, oldest first."""
    out: list[tuple[bytes, bytes, int]] = []
    start = now_ms - 90 * 60_000
    events = []
    for i, (ticket, name, origin, destination) in enumerate(_PASSENGERS):
        coach = _COACHES[i % len(_COACHES)]
        seat = 11 + (i * 7) % 48
        events.append(
            (
                ticket,
                {
                    "event": "reserved",
                    "passenger": name,
                    "coach": coach,
                    "seat": seat,
                    "from": origin,
                    "to": destination,
                },
            )
        )
    for ticket, name, origin, _ in _PASSENGERS:
        events.append((ticket, {"event": "boarded", "passenger": name, "station": origin}))
    for i, (ticket, name, _, _) in enumerate(_PASSENGERS):
        # A third of the passengers move; the others are checked where they sit.
        if i % 3 == 0:
            events.append(
                (
                    ticket,
                    {
                        "event": "seat-changed",
                        "passenger": name,
                        "coach": _COACHES[(i + 1) % len(_COACHES)],
                        "seat": 60 - i,
                    },
                )
            )
        else:
            events.append((ticket, {"event": "ticket-checked", "passenger": name, "valid": True}))
    for n, (ticket, body) in enumerate(events):
        value = json.dumps({"ticket": ticket, **body}, separators=(",", ":")).encode()
        out.append((ticket.encode(), value, start + n * 90_000))
    return out


def order_records(now_ms: int) -> list[tuple[bytes, bytes, int]]:
    """24 dining-car orders over the last 45 minutes, keyed by coach."""
    out: list[tuple[bytes, bytes, int]] = []
    start = now_ms - 45 * 60_000
    for n in range(24):
        coach = _COACHES[(n * 3) % len(_COACHES)]
        items = [_MENU[(n + k) % len(_MENU)] for k in range(1 + n % 3)]
        value = {"order": 301 + n, "coach": coach, "seat": 11 + (n * 5) % 48, "items": items, "status": "placed"}
        out.append((coach.encode(), json.dumps(value, separators=(",", ":")).encode(), start + n * 110_000))
    return out


class DemoError(Exception):
    """The demo cannot run here; the message says what to do."""


def _check_database() -> None:
    from django.db import DatabaseError, connection
    from django.db.migrations.executor import MigrationExecutor

    try:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as e:
        raise DemoError(f"cannot reach the database ({e}); check OFFSETSITE_DB") from None
    if pending:
        names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in pending[:5])
        raise DemoError(
            f"the database is missing {len(pending)} migration(s) ({names}...); run `python manage.py migrate` first"
        )


def ensure_users(out: TextIO) -> list[str]:
    """Create the demo users that are missing; returns the names created."""
    from django.contrib.auth.models import Group, User

    created = []
    for username, password, role in DEMO_USERS:
        if User.objects.filter(username=username).exists():
            continue
        if role is None:
            User.objects.create_superuser(username=username, password=password, email="")
        else:
            user = User.objects.create_user(username=username, password=password)
            user.groups.add(Group.objects.get_or_create(name=role)[0])
        created.append(username)
    if created:
        print(f"Created demo users: {', '.join(created)}.", file=out)
    print(
        "Demo logins (demo passwords, change them before anyone else can reach this site): "
        + ", ".join(f"{u}/{p}" for u, p, _ in DEMO_USERS),
        file=out,
    )
    return created


# Workshop topics take visitors' writes: a bound on their disk whatever the room does
# (retention by size deletes whole segments, so segments are small enough to go).
WORKSHOP_TOPIC_CONFIG = {"segment.bytes": str(8 * 1024 * 1024), "retention.bytes": str(64 * 1024 * 1024)}


def _produce(
    cluster: EmbeddedCluster,
    topic: str,
    partitions: int,
    records: Sequence[tuple[bytes, bytes, int]],
    headers: Sequence[tuple[str, bytes]],
) -> bool:
    if topic in cluster.list_topics():
        return False
    cluster.create_topic(topic, partitions, WORKSHOP_TOPIC_CONFIG)
    for key, value, ts in records:
        cluster.produce(topic, value, key, list(headers), None, ts)
    return True


def _walk_and_commit(cluster: EmbeddedCluster, group: str, topic: str, share: float) -> None:
    """Read like a consumer up to ``share`` of each partition, then commit where it stopped."""
    parts = [(topic, p.partition) for p in cluster.describe_topic(topic).partitions]
    targets = {tp: int(cluster.watermarks(*tp)[1] * share) for tp in parts}
    consumer = Consumer(
        cluster, group, client_id=f"demo-{group}", auto_offset_reset="earliest", enable_auto_commit=False
    )
    try:
        consumer.assign(parts)
        processed = {tp: cluster.watermarks(*tp)[0] for tp in parts}
        while records := consumer.poll(0):
            for r in records:
                tp = (r.topic, r.partition)
                if r.offset < targets[tp]:
                    processed[tp] = r.offset + 1  # committed = the next record to read
        consumer.commit(processed)
    finally:
        consumer.close(autocommit=False)


def _join_and_leave(cluster: EmbeddedCluster, group: str, topic: str) -> None:
    """A member that joins, is assigned partitions, and leaves without committing."""
    coordinator = cluster.coordinator
    delay = coordinator.initial_rebalance_delay_ms
    # Only this process can join groups of an engine it holds: nobody to wait for.
    coordinator.initial_rebalance_delay_ms = 0
    consumer = Consumer(cluster, group, client_id=f"demo-{group}", enable_auto_commit=False)
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 2
        while not consumer.assignment() and time.monotonic() < deadline:
            consumer.poll(0)
    finally:
        consumer.close(autocommit=False)
        coordinator.initial_rebalance_delay_ms = delay


def seed(cluster: EmbeddedCluster, out: TextIO, now_ms: int | None = None) -> None:
    """Add the demo topics and groups that are missing (existing ones stay as they are)."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    json_header = [("content-type", b"application/json")]
    for topic, partitions, records in (
        (SEATS_TOPIC, 3, seat_records(now)),
        (ORDERS_TOPIC, 2, order_records(now)),
    ):
        if _produce(cluster, topic, partitions, records, json_header):
            print(f"Created topic {topic} ({partitions} partitions, {len(records)} records).", file=out)
        else:
            print(f"Topic {topic} exists; left as it is.", file=out)
    existing = {g.group_id for g in cluster.list_groups()}
    for group, topic, share in _GROUP_SHARES:
        if group in existing:
            print(f"Group {group} exists; left as it is.", file=out)
            continue
        _walk_and_commit(cluster, group, topic, share)
        lag = cluster.describe_group(group).total_lag
        print(f"Group {group} committed on {topic} (lag {lag}).", file=out)
    group, topic = _EMPTY_GROUP
    if group not in existing:
        _join_and_leave(cluster, group, topic)
        print(f"Group {group} joined {topic} and left without committing.", file=out)


def run(if_empty: bool = False, out: TextIO | None = None) -> int:
    """The ``demo`` command; Django is set up by the caller. Closes the engine at the end."""
    out = out or sys.stdout
    from offsetsite import engine

    try:
        _check_database()
        ensure_users(out)
        engine.get_cluster()
        with engine.locked():
            cluster = engine.embedded()
            topics = cluster.list_topics(include_internal=False)
            if if_empty and topics:
                print(
                    f"The data directory already has {len(topics)} topic(s); no demo data added "
                    "(run `offsetsite demo` without --if-empty to add what is missing).",
                    file=out,
                )
            else:
                seed(cluster, out)
    except DemoError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1
    except KafkaError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1
    finally:
        # `serve` opens the engine next (maybe in another process): let go of the lock.
        engine.close()
    return 0
