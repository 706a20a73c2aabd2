"""From engine events to wake-up notices for open pages.

The engine publishes events in whatever thread made the change, often while holding
the engine lock, so :meth:`Bridge.on_event` only bumps counters and marks names dirty:
O(size of the event), no I/O, no waiting. At most once per ``notice_delay_s`` it asks
the event loop (daphne's, captured when the first websocket connects) to wake the hub
of each page with a socket listening (:func:`offsetsite.live.hub.wake`).

Versions: every event gets the next number of the bridge's own counter (it survives an
engine reopen, unlike the bus's). A page's version is the newest event that concerns
it, so a consumer can compare what it last sent with what is current and catch up
when a notice was lost.

Which pages an event wakes:
- overview: every event;
- topic T: events on T, and commits, resets and deletes of offsets on T (the topic page
  shows each group's committed offset);
- __consumer_offsets page: every group offset or membership change, and appends to it;
- group G: its own events, and appends to any topic G has offsets on (its lag moved);
- lab (the lesson, the room, the facilitator's page): what the ticket checkers did
  (:meth:`Bridge.touch_lab`), which also wakes the pages of their groups and topics.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from logcore import Cluster
from logcore.events import (
    Event,
    GroupChanged,
    GroupDeleted,
    GroupRebalanced,
    OffsetsCommitted,
    OffsetsDeleted,
    OffsetsReset,
    PartitionsAdded,
    RecordsAppended,
    RecordsDeleted,
    TopicCreated,
    TopicDeleted,
)

from .timeline import TimelineBuffer

CONSUMER_OFFSETS = "__consumer_offsets"
_log = logging.getLogger(__name__)

PageKey = tuple[str, str]  # (kind, key)


class Bridge:
    def __init__(self, notice_delay_s: float = 0.05, cluster: str = "local") -> None:
        self.notice_delay_s = notice_delay_s
        self.cluster = cluster
        self._lock = threading.Lock()
        self._seq = 0
        self._topic_v: dict[str, int] = {}
        self._group_v: dict[str, int] = {}
        self._co_v = 0
        self._lab_v = 0
        self._dirty_lab = False
        # Which topics each group has offsets on, both ways, for the append fan-out.
        self._group_topics: dict[str, set[str]] = {}
        self._topic_groups: dict[str, set[str]] = {}
        self._dirty_any = False
        self._dirty_co = False
        self._dirty_topics: set[str] = set()
        self._dirty_groups: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scheduled = False
        self._listeners: dict[PageKey, int] = {}
        self._unsubscribe: Callable[[], None] | None = None
        self.timeline = TimelineBuffer()
        self.notices_sent = 0
        # Several processes (offsetsite.live.relay): what changed since the last
        # publication, for the pages other processes serve; None when nobody publishes.
        self._published: _Published | None = None
        self._on_publish: Callable[[], None] | None = None

    # --- engine side ------------------------------------------------------

    def attach(self, cluster: Cluster) -> None:
        """Subscribe to a freshly opened cluster (``engine.on_open``, ``clusters.on_open``).

        The embedded engine tells at once which topics each group has offsets on; a
        Kafka cluster's links are learnt from the commits its watcher reports.
        """
        if self._unsubscribe is not None:
            self._unsubscribe()
        seeded: dict[str, set[str]] = {}
        coordinator = getattr(cluster, "coordinator", None)
        if coordinator is not None:
            with coordinator.lock:
                for gid, group in coordinator.groups.items():
                    seeded[gid] = {tp[0] for tp in group.offsets}
        with self._lock:
            self._group_topics = seeded
            self._topic_groups = {}
            for gid, topics in seeded.items():
                for t in topics:
                    self._topic_groups.setdefault(t, set()).add(gid)
            # A reopened engine may hold anything: every page is behind.
            self._seq += 1
            self._co_v = self._seq
            self._dirty_any = True
        self._unsubscribe = cluster.events.subscribe(self.on_event)

    def on_event(self, event: Event) -> None:
        """Engine callback: bump versions, mark pages dirty, maybe wake the loop. Never blocks."""
        if event.__class__ in _GROUP_EVENTS or isinstance(event, OffsetsCommitted):
            self.timeline.add(event)
        with self._lock:
            self._seq += 1
            v = self._seq
            self._dirty_any = True
            if isinstance(event, (RecordsAppended, RecordsDeleted, TopicCreated, TopicDeleted, PartitionsAdded)):
                self._touch_topic(event.topic, v)
                if event.topic == CONSUMER_OFFSETS:
                    self._co_v = v
                    self._dirty_co = True
            elif isinstance(event, (OffsetsCommitted, OffsetsReset, OffsetsDeleted)):
                g = event.group
                self._touch_group(g, v)
                if isinstance(event, OffsetsCommitted):
                    topics = {t for t, _p, _o in event.offsets}
                    self._link(g, topics)
                elif isinstance(event, OffsetsReset):
                    topics = {t for t, _p, _b, _a in event.changes}
                    self._link(g, topics)
                else:
                    topics = {t for t, _p in event.partitions}
                for t in topics:
                    self._touch_topic(t, v)
                self._co_v = v
                self._dirty_co = True
            elif isinstance(event, (GroupChanged, GroupRebalanced)):
                self._touch_group(event.group, v)
                self._co_v = v
                self._dirty_co = True
            elif isinstance(event, GroupDeleted):
                g = event.group
                self._touch_group(g, v)
                for t in self._group_topics.pop(g, set()):
                    self._touch_topic(t, v)
                    groups = self._topic_groups.get(t)
                    if groups is not None:
                        groups.discard(g)
                self._co_v = v
                self._dirty_co = True
            if self._published is not None:
                self._published.any = True
                self._published.co = self._published.co or self._co_v == v
            loop = self._claim_wake()
        self._wake(loop)

    def _claim_wake(self) -> asyncio.AbstractEventLoop | None:
        """Under the lock: the loop to wake, once per flush, when someone listens."""
        if self._loop is None or not self._listeners or self._scheduled:
            return None
        self._scheduled = True
        return self._loop

    def _wake(self, loop: asyncio.AbstractEventLoop | None) -> None:
        publish = self._on_publish
        if publish is not None:
            publish()  # sets a threading.Event: never blocks
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(self._arm)
        except RuntimeError:  # the loop closed (server or test shut down): nobody listens
            with self._lock:
                self._scheduled = False
                if self._loop is loop:
                    self._loop = None

    def touch_group(self, group_id: str) -> None:
        """Something about the group changed outside the engine (its timeline got rows)."""
        with self._lock:
            self._seq += 1
            self._touch_group(group_id, self._seq)
            loop = self._claim_wake()
        self._wake(loop)

    def touch_lab(self, changed: set[tuple[str, str]]) -> None:
        """The ticket checkers moved: (group, topic) pairs whose ledger or members changed.

        Their processing is not an engine event (Kafka does not see it), so the lab's
        runner reports it here; the lab pages and those groups' and topics' pages wake.
        """
        with self._lock:
            self._seq += 1
            v = self._seq
            self._lab_v = v
            self._dirty_lab = True
            self._dirty_any = True
            for group, topic in changed:
                self._touch_group(group, v)
                self._touch_topic(topic, v)
            if self._published is not None:
                self._published.any = self._published.lab = True
            loop = self._claim_wake()
        self._wake(loop)

    def _touch_topic(self, topic: str, v: int) -> None:
        self._topic_v[topic] = v
        self._dirty_topics.add(topic)
        if self._published is not None:
            self._published.topics.add(topic)

    def _touch_group(self, group: str, v: int) -> None:
        self._group_v[group] = v
        self._dirty_groups.add(group)
        if self._published is not None:
            self._published.groups.add(group)

    def _link(self, group: str, topics: set[str]) -> None:
        known = self._group_topics.setdefault(group, set())
        for t in topics - known:
            known.add(t)
            self._topic_groups.setdefault(t, set()).add(group)

    # --- several processes (offsetsite.live.relay) ----------------------------

    def publish_to(self, wake: Callable[[], None]) -> None:
        """From now on keep what changed for other processes, and call ``wake`` on a change."""
        with self._lock:
            self._published = _Published()
            self._on_publish = wake

    def take_published(self) -> dict[str, Any] | None:
        """What changed since the last call, as one relay message (None: nothing did).

        Versions travel as they are, so a page in another process reads the same
        numbers as one here; each topic carries the groups with offsets on it, so the
        other process wakes their pages too without knowing the engine's groups.
        """
        with self._lock:
            changed = self._published
            if changed is None or not (changed.any or changed.topics or changed.groups):
                return None
            self._published = _Published()
            return {
                "type": "live.relay",
                "seq": self._seq,
                "co": self._co_v,
                "lab": self._lab_v,
                "dirty_co": changed.co,
                "dirty_lab": changed.lab,
                "topics": {t: [self._topic_v.get(t, 0), sorted(self._topic_groups.get(t, ()))] for t in changed.topics},
                "groups": {g: self._group_v.get(g, 0) for g in changed.groups},
            }

    def apply_published(self, message: dict[str, Any]) -> None:
        """A relay message from the engine's process: take its versions, wake the pages here."""
        with self._lock:
            self._seq = max(self._seq, int(message["seq"]))
            self._co_v = max(self._co_v, int(message["co"]))
            self._lab_v = max(self._lab_v, int(message["lab"]))
            self._dirty_any = True
            self._dirty_co = self._dirty_co or bool(message["dirty_co"])
            self._dirty_lab = self._dirty_lab or bool(message["dirty_lab"])
            for topic, (v, groups) in message["topics"].items():
                self._topic_v[topic] = max(self._topic_v.get(topic, 0), int(v))
                self._dirty_topics.add(topic)
                for g in groups:
                    self._link(g, {topic})
            for group, v in message["groups"].items():
                self._group_v[group] = max(self._group_v.get(group, 0), int(v))
                self._dirty_groups.add(group)
            loop = self._claim_wake()
        self._wake(loop)

    # --- versions ---------------------------------------------------------

    def version(self, kind: str, key: str = "") -> int:
        """The newest event that concerns page ``kind``/``key`` (0: none yet)."""
        with self._lock:
            if kind == "overview":
                return self._seq
            if kind == "consumer_offsets":
                return self._co_v
            if kind == "lab":
                return self._lab_v
            if kind == "topic":
                return self._topic_v.get(key, 0)
            if kind == "group":
                v = self._group_v.get(key, 0)
                for t in self._group_topics.get(key, ()):
                    v = max(v, self._topic_v.get(t, 0))
                return v
        raise ValueError(f"unknown live page kind {kind!r}")

    # --- event-loop side --------------------------------------------------

    def listen(self, kind: str, key: str, loop: asyncio.AbstractEventLoop) -> None:
        """A page of ``kind``/``key`` opened a socket on ``loop``."""
        with self._lock:
            if self._loop is not loop:
                # A new loop (the first consumer, or a new test): a notice scheduled on
                # the old one will never run.
                self._loop = loop
                self._scheduled = False
            if not self._listeners:
                # Changes made while nobody listened need no notice: each page that
                # connects gets a snapshot.
                self._dirty_any = self._dirty_co = self._dirty_lab = False
                self._dirty_topics.clear()
                self._dirty_groups.clear()
            self._listeners[(kind, key)] = self._listeners.get((kind, key), 0) + 1

    def unlisten(self, kind: str, key: str) -> None:
        with self._lock:
            n = self._listeners.get((kind, key), 0) - 1
            if n > 0:
                self._listeners[(kind, key)] = n
            else:
                self._listeners.pop((kind, key), None)

    def _arm(self) -> None:
        # On the loop: wait a moment so one notice covers the rest of a burst.
        asyncio.get_running_loop().call_later(self.notice_delay_s, self._fire)

    def _fire(self) -> None:
        try:
            self._send()
        except Exception:  # a page's hub failing must not stop the next notices
            _log.exception("waking the live pages failed")

    def take_dirty(self) -> tuple[list[PageKey], int]:
        """Pages to wake (only those with a socket listening) and the version; clears."""
        with self._lock:
            self._scheduled = False
            pages: list[PageKey] = []
            every = (("overview", self._dirty_any), ("consumer_offsets", self._dirty_co), ("lab", self._dirty_lab))
            for kind, dirty in every:
                if dirty and (kind, "") in self._listeners:
                    pages.append((kind, ""))
            groups = set(self._dirty_groups)
            for t in self._dirty_topics:
                if ("topic", t) in self._listeners:
                    pages.append(("topic", t))
                groups.update(self._topic_groups.get(t, ()))
            for g in groups:
                if ("group", g) in self._listeners:
                    pages.append(("group", g))
            self._dirty_any = self._dirty_co = self._dirty_lab = False
            self._dirty_topics.clear()
            self._dirty_groups.clear()
            return pages, self._seq

    def _send(self) -> None:
        from .hub import wake

        pages, _version = self.take_dirty()
        if pages:
            self.notices_sent += wake(self.cluster, pages)


@dataclass
class _Published:
    """What changed since the relay last published (see :meth:`Bridge.take_published`)."""

    any: bool = False
    co: bool = False
    lab: bool = False
    topics: set[str] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)


_GROUP_EVENTS = frozenset({GroupChanged, GroupRebalanced, GroupDeleted, OffsetsReset, OffsetsDeleted})

BRIDGE = Bridge()  # the embedded engine's
_bridges: dict[str, Bridge] = {"local": BRIDGE}
_bridges_lock = threading.Lock()


def bridge_for(cluster: str) -> Bridge:
    """The bridge of ``cluster`` ("local" is the embedded engine's :data:`BRIDGE`)."""
    found = _bridges.get(cluster)
    if found is None:
        with _bridges_lock:
            found = _bridges.setdefault(cluster, Bridge(cluster=cluster))
    return found


def current() -> Bridge:
    """The bridge of the cluster this request or socket works on."""
    from offsetsite.engine import current_cluster_name

    return bridge_for(current_cluster_name())
