"""Change events and the bus that carries them.

Events are small frozen dataclasses with a ``name``, like Datasette's: the web layer
turns them into live page updates, and a backend that polls a real Kafka cluster can
emit the very same events. Subscribers are either callbacks (called synchronously in
the thread that made the change, so they must be quick) or asyncio queues (filled
through ``loop.call_soon_threadsafe``, so any thread may publish).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar


@dataclass(frozen=True)
class Event:
    """Base of all events; ``version`` is the bus's counter when it was published."""

    name: ClassVar[str] = "event"
    version: int = field(default=0, kw_only=True, compare=False)


@dataclass(frozen=True)
class TopicCreated(Event):
    name: ClassVar[str] = "topic_created"
    topic: str = ""
    partitions: int = 0


@dataclass(frozen=True)
class TopicDeleted(Event):
    name: ClassVar[str] = "topic_deleted"
    topic: str = ""


@dataclass(frozen=True)
class PartitionsAdded(Event):
    name: ClassVar[str] = "partitions_added"
    topic: str = ""
    partitions: int = 0


@dataclass(frozen=True)
class RecordsAppended(Event):
    """Records [base_offset, last_offset] were appended; HW is now ``high_watermark``."""

    name: ClassVar[str] = "records_appended"
    topic: str = ""
    partition: int = 0
    base_offset: int = 0
    last_offset: int = 0
    high_watermark: int = 0


@dataclass(frozen=True)
class RecordsDeleted(Event):
    """The log start moved (retention, delete-records or compaction)."""

    name: ClassVar[str] = "records_deleted"
    topic: str = ""
    partition: int = 0
    log_start_offset: int = 0
    reason: str = ""


@dataclass(frozen=True)
class OffsetsCommitted(Event):
    name: ClassVar[str] = "offsets_committed"
    group: str = ""
    offsets: tuple[tuple[str, int, int], ...] = ()  # (topic, partition, offset)
    member_id: str = ""
    generation: int = -1


@dataclass(frozen=True)
class OffsetsDeleted(Event):
    name: ClassVar[str] = "offsets_deleted"
    group: str = ""
    partitions: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class GroupChanged(Event):
    """A group's state, generation or membership moved."""

    name: ClassVar[str] = "group_changed"
    group: str = ""
    state: str = ""
    generation: int = 0
    reason: str = ""


@dataclass(frozen=True)
class GroupRebalanced(Event):
    """A rebalance completed: a new generation with its assignment."""

    name: ClassVar[str] = "group_rebalanced"
    group: str = ""
    generation: int = 0
    protocol: str = ""
    members: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] = ()


@dataclass(frozen=True)
class GroupDeleted(Event):
    name: ClassVar[str] = "group_deleted"
    group: str = ""


@dataclass(frozen=True)
class OffsetsReset(Event):
    name: ClassVar[str] = "offsets_reset"
    group: str = ""
    changes: tuple[tuple[str, int, int, int], ...] = ()  # (topic, partition, before, after)
    scenario: str = ""


Callback = Callable[[Event], None]
_log = logging.getLogger(__name__)


class AsyncSubscription:
    """An asyncio queue of events; when it is full the oldest waiting event is dropped.

    Consumers of events treat them as wake-up notices and re-read state, so a dropped
    event costs nothing but must be visible: ``dropped`` counts them.
    """

    def __init__(self, bus: EventBus, loop: asyncio.AbstractEventLoop, maxsize: int) -> None:
        self._bus = bus
        self._loop = loop
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self.dropped = 0

    def _put(self, event: Event) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)

    def deliver(self, event: Event) -> None:
        try:
            self._loop.call_soon_threadsafe(self._put, event)
        except RuntimeError:  # the loop is closed: the subscriber went away
            self.close()

    async def get(self) -> Event:
        return await self.queue.get()

    def close(self) -> None:
        self._bus.unsubscribe(self.deliver)


class EventBus:
    """Publishes events to callbacks and asyncio subscriptions; thread-safe."""

    def __init__(self) -> None:
        self._callbacks: list[Callback] = []
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self.version = 0

    @property
    def has_subscribers(self) -> bool:
        return bool(self._callbacks)

    def subscribe(self, callback: Callback) -> Callable[[], None]:
        """Call ``callback(event)`` for every event; returns a function that unsubscribes."""
        with self._lock:
            self._callbacks = [*self._callbacks, callback]
        return lambda: self.unsubscribe(callback)

    def unsubscribe(self, callback: Callback) -> None:
        with self._lock:
            self._callbacks = [c for c in self._callbacks if c != callback]

    def subscribe_async(self, loop: asyncio.AbstractEventLoop | None = None, maxsize: int = 1000) -> AsyncSubscription:
        """An ``AsyncSubscription`` bound to ``loop`` (default: the running loop)."""
        sub = AsyncSubscription(self, loop or asyncio.get_running_loop(), maxsize)
        self.subscribe(sub.deliver)
        return sub

    def publish(self, event: Event) -> Event:
        """Stamp ``event`` with the next version and hand it to every subscriber."""
        version = next(self._counter)
        self.version = version
        object.__setattr__(event, "version", version)
        for callback in self._callbacks:  # a copy-on-write list: safe without the lock
            try:
                callback(event)
            except Exception:  # a broken subscriber must not fail the append that fed it
                _log.exception("event subscriber %r failed on %s", callback, event.name)
        return event
