"""Live notices between the processes of ``serve --workers N`` (docs/design.md, Several processes).

Engine events happen in worker 0, the one process that holds the data directory. Its
bridge notes what changed for other processes too (:meth:`Bridge.publish_to`); the
:class:`Publisher` here sends that, at most once per ``delay_s``, as one message to the
Redis channel group :data:`GROUP` (the "relay" channel layer, channels-redis). In every
other worker a :class:`Subscriber` receives each message once and hands it to that
process's own bridge (:meth:`Bridge.apply_published`), which wakes the pages open
there through the in-process layer, exactly as worker 0's bridge wakes its own.

So one engine change costs one Redis message per worker, not one per open page, and
the versions a page shows are worker 0's numbers wherever the page is served. Both
run on a thread of their own with their own event loop: they must work before any
page opens (daphne's loop is only known once a websocket connects).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any

from .bridge import Bridge

GROUP = "offsetsite.live.relay"
LAYER = "relay"  # settings.CHANNEL_LAYERS alias (OFFSETSITE_REDIS)
# Re-join the group this often: channels-redis forgets members after group_expiry, and
# a restarted Redis forgets them at once.
REJOIN_S = 60.0
_log = logging.getLogger(__name__)


def configured() -> bool:
    from django.conf import settings

    return LAYER in settings.CHANNEL_LAYERS


def _layer() -> Any:
    from channels.layers import get_channel_layer

    layer = get_channel_layer(LAYER)
    if layer is None:
        raise RuntimeError(f"channel layer {LAYER!r} is not configured: set OFFSETSITE_REDIS")
    return layer


class _LoopThread(threading.Thread):
    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.started_event = threading.Event()
        self._stop = threading.Event()

    def run(self) -> None:
        loop = asyncio.new_event_loop()
        self.loop = loop
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.close()

    async def _main(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self._stop.set()
        loop = self.loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(lambda: None)


class Publisher(_LoopThread):
    """Worker 0: what its bridge saw, to the other workers (one message per flush)."""

    def __init__(self, bridge: Bridge, delay_s: float = 0.05) -> None:
        super().__init__("offsetsite-live-publisher")
        self.bridge = bridge
        self.delay_s = delay_s
        self.published = 0
        self._pending = False
        self._wanted: asyncio.Event | None = None
        self._flag = threading.Lock()

    def wake(self) -> None:
        """Bridge callback (any thread, maybe under the engine lock): one wake-up per flush."""
        with self._flag:
            if self._pending:
                return
            self._pending = True
        loop, wanted = self.loop, self._wanted
        if loop is not None and wanted is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: the server is stopping
                loop.call_soon_threadsafe(wanted.set)

    async def _main(self) -> None:
        layer = _layer()
        self._wanted = wanted = asyncio.Event()
        self.bridge.publish_to(self.wake)
        self.started_event.set()
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wanted.wait(), timeout=1.0)
            if not wanted.is_set():
                continue
            # Wait a moment so one message covers the rest of a burst (as the bridge does).
            await asyncio.sleep(self.delay_s)
            wanted.clear()
            with self._flag:
                self._pending = False
            message = self.bridge.take_published()
            if message is None:
                continue
            try:
                await layer.group_send(GROUP, message)
                self.published += 1
            except Exception:  # Redis away: pages elsewhere catch up on the next change
                _log.exception("live relay: publishing to Redis failed")


class Subscriber(_LoopThread):
    """Workers 1..N-1: worker 0's changes, into this process's bridge."""

    def __init__(self, bridge: Bridge) -> None:
        super().__init__("offsetsite-live-subscriber")
        self.bridge = bridge
        self.received = 0

    async def _main(self) -> None:
        layer = _layer()
        channel = await layer.new_channel()
        rejoin = asyncio.create_task(self._rejoin(layer, channel))
        try:
            while not self._stop.is_set():
                try:
                    message = await layer.receive(channel)
                except Exception:
                    _log.exception("live relay: receiving from Redis failed; retrying in 1 s")
                    await asyncio.sleep(1.0)
                    continue
                self.bridge.apply_published(message)
                self.received += 1
        finally:
            rejoin.cancel()

    async def _rejoin(self, layer: Any, channel: str) -> None:
        while True:
            try:
                await layer.group_add(GROUP, channel)
                self.started_event.set()
            except Exception:
                _log.exception("live relay: joining the relay group in Redis failed; retrying in 1 s")
                await asyncio.sleep(1.0)
                continue
            await asyncio.sleep(REJOIN_S)


_running: _LoopThread | None = None


def start(bridge: Bridge, *, owner: bool, timeout_s: float = 30.0) -> _LoopThread:
    """Start this process's side of the relay and wait until it is in place."""
    global _running
    thread: _LoopThread = Publisher(bridge) if owner else Subscriber(bridge)
    thread.start()
    if not thread.started_event.wait(timeout_s):
        raise RuntimeError(f"the live relay could not reach Redis within {timeout_s:.0f} s (OFFSETSITE_REDIS)")
    _running = thread
    return thread


def stop() -> None:
    global _running
    if _running is not None:
        _running.stop()
        _running = None
