"""One hub per open page, as one viewer sees it, in this process: render once, send to all.

Every websocket of a page kind and key that the same viewer opened (the key the page's
renderer is given, see :class:`offsetsite.live.consumers.LivePageConsumer.render_key`)
joins one :class:`PageHub`. The bridge wakes hubs, not sockets (:func:`wake`): a hub
renders the page's live parts once a flush (coalesced: at most ``LIVE_MAX_FPS`` frames
a second), works out the frame from what each socket was last sent once for all the
sockets that were sent the same thing, and writes it to each of them in turn. Five
hundred viewers of one topic thus cost one timer, one render, one diff and five hundred
socket writes a frame, where one task, one channel-layer message and one flush per socket
each cost as much as the write itself (bench/web.py, docs/benchmarks.md).

Guarantees, as before the hubs: frames reach a socket in order (one flush at a time per
hub, and a socket's snapshot is sent under the same lock); the final state always
arrives (a flush renders the current state, a tick re-sends when the version moved
without a frame, held parts get a trailing flush); a new socket gets the whole region.

**Slow parts.** Top-level elements whose start tag carries ``data-live-slow`` (the
topic page's partition strip and its newest records) change at most once per
:data:`SLOW_S` on a page, all together: the first change after a quiet second goes out at
once, later ones are held and sent together when the second is over. At thousands of records a
second every seat and every row of the tail changes in every frame, which nobody can
read, and those two parts were nine tenths of each frame; the counters (high watermark,
lag, the summary) still move up to ``LIVE_MAX_FPS`` times a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import Iterable
from typing import Any, Protocol

from django.conf import settings

from . import registry
from .bridge import Bridge
from .coalesce import Coalescer
from .delta import Node
from .fragments import version_marker
from .renders import Render, render_shared, viewer

_log = logging.getLogger(__name__)

TICK_S = 2.0  # reconciliation: how late a lost notice may make a page
SLOW_S = 1.0  # a slow part changes at most this often on a page
SLOW_MARK = "data-live-slow"
YIELD_EVERY = 50  # sockets written between two turns of the event loop


class Socket(Protocol):
    """What a hub needs of a websocket consumer."""

    session_key: str | None  # its viewer's session (a worker without the engine renders with it)

    async def send_frame(self, text: str) -> None: ...


class _Seat:
    """One socket of a hub: the render its page shows and the version it was last sent."""

    __slots__ = ("shown", "socket", "version")

    def __init__(self, socket: Socket, shown: Render | None, version: int) -> None:
        self.socket = socket
        self.shown = shown
        self.version = version


def _slow(node: Node) -> bool:
    return SLOW_MARK in node.html[: node.html.find(">")]


class PageHub:
    def __init__(
        self, key: tuple[Any, ...], kind: str, bridge_key: str, render_key: str, user: Any, bridge: Bridge
    ) -> None:
        self.key = key
        self.page = (bridge.cluster, kind, bridge_key)
        self.kind = kind
        self.bridge_key = bridge_key
        self.render_key = render_key
        self.user = user  # any socket's user: equal viewers get equal renders (renders.viewer)
        self.bridge = bridge
        self.loop = asyncio.get_running_loop()
        # The joining socket's context (which cluster it is on: offsetsite.engine): the
        # hub's flushes render in it, whoever wakes them.
        self._context = contextvars.copy_context()
        self.coalescer = Coalescer(max_fps=float(str(settings.OFFSETSITE.get("LIVE_MAX_FPS", 10))))
        self.full_frames = bool(settings.OFFSETSITE.get("LIVE_FULL_FRAMES", False))
        self.seats: dict[Socket, _Seat] = {}
        self.current: Render | None = None  # the newest render the hub's sockets were sent
        self._slow_sent_at: float | None = None  # when a change of the slow parts was last sent
        self._composed: tuple[int, int, Render] | None = None  # (fresh serial, current serial, result)
        self._lock = asyncio.Lock()  # one flush or snapshot at a time: frames stay in order
        self._flush_handle: asyncio.TimerHandle | None = None
        self._slow_handle: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._tick_task = self.loop.create_task(self._tick())
        self.closed = False

    # --- sockets ---------------------------------------------------------------

    async def join(self, socket: Socket) -> bool:
        """Send ``socket`` the whole live region (its snapshot), then keep it up to date.

        False when the hub closed before the socket got in (its last socket left while
        this one waited): the socket asks :func:`hub_for` again, which makes a new one.
        """
        async with self._lock:
            if self.closed:
                return False
            version = self.bridge.version(self.kind, self.bridge_key)
            render: Render | None = self.current
            if render is None or self.coalescer.sent_version < version:
                try:
                    fresh = await render_shared(self.kind, self.render_key, self.user, version, socket.session_key)
                except Exception:
                    _log.exception("live renderer for %s %r failed", self.kind, self.render_key)
                    fresh = None
                render = None if fresh is None else self._compose(fresh, time.monotonic(), commit=False)[0]
            else:
                version = self.coalescer.sent_version  # what the hub's other sockets show
            await socket.send_frame((render.html if render is not None else "") + version_marker(version))
            if self.closed:
                return False
            if not self.seats:  # the first socket: what the hub's sockets were sent
                self.current = render
                self.coalescer.sent(version)
            self.seats[socket] = _Seat(socket, render, version)
        if self.coalescer.behind(self.bridge.version(self.kind, self.bridge_key)):
            self.request_flush()
        return True

    def leave(self, socket: Socket) -> None:
        self.seats.pop(socket, None)
        if not self.seats:
            self.close()

    def close(self) -> None:
        self.closed = True
        _forget(self)
        self._tick_task.cancel()
        for handle in (self._flush_handle, self._slow_handle):
            if handle is not None:
                handle.cancel()
        for task in list(self._tasks):
            task.cancel()

    # --- frames ------------------------------------------------------------------

    def request_flush(self) -> None:
        """Something on the page changed: flush soon, at most LIVE_MAX_FPS times a second."""
        if self.closed:
            return
        delay = self.coalescer.request()
        if delay is None:
            return  # a flush is already on its way and will render the newest state
        self._flush_handle = self.loop.call_later(delay, self._start_flush)

    def _start_flush(self) -> None:
        self._flush_handle = None
        task = self.loop.create_task(self.flush(), context=self._context.copy())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def flush(self) -> None:
        """Render the page's live parts as they are now; send each socket what it lacks."""
        async with self._lock:
            if self.closed:
                return
            self.coalescer.begin_flush()
            # Read the version before rendering: a change during the render makes the
            # page look behind, and the next tick sends it again.
            version = self.bridge.version(self.kind, self.bridge_key)
            render: Render | None
            try:
                fresh = await render_shared(self.kind, self.render_key, self.user, version, self._session_key())
            except Exception:
                _log.exception("live renderer for %s %r failed", self.kind, self.render_key)
                render, held_until = None, None  # the pages keep what they show
            else:
                render, held_until = self._compose(fresh, time.monotonic(), commit=True)
            texts: dict[int, str] = {}  # serial of what a socket shows -> its frame
            for n, seat in enumerate(list(self.seats.values())):
                if n and not n % YIELD_EVERY:
                    # A socket write never waits, so five hundred of them would hold the
                    # event loop for tens of milliseconds: let requests through between.
                    await asyncio.sleep(0)
                if seat.socket not in self.seats:
                    continue  # it closed while others were sent their frames
                shown = seat.shown
                if render is None or shown is render:
                    if seat.version >= version:
                        continue  # nothing new for this page
                    text = version_marker(version)
                else:
                    serial = shown.serial if shown is not None else 0
                    text = texts.get(serial, "")
                    if not text:
                        html = render.html if self.full_frames else render.frame_from(shown)
                        text = texts[serial] = html + version_marker(version)
                try:
                    await seat.socket.send_frame(text)
                except Exception:  # the socket closed; its disconnect takes it out
                    _log.debug("live frame for %s %r not sent: the socket closed", self.kind, self.key)
                    continue
                if render is not None:
                    seat.shown = render
                seat.version = max(seat.version, version)
            if render is not None:
                self.current = render
            self.coalescer.sent(version)
        if held_until is not None:
            self._flush_slow_parts_at(held_until)

    def _session_key(self) -> str | None:
        for socket in self.seats:  # any: they are one viewer
            return socket.session_key
        return None

    def _flush_slow_parts_at(self, when: float) -> None:
        if self._slow_handle is not None or self.closed:
            return  # a trailing flush is already due, at the same moment or sooner

        def due() -> None:
            self._slow_handle = None
            self.request_flush()

        self._slow_handle = self.loop.call_later(max(0.0, when - time.monotonic()), due)

    def _compose(self, fresh: Render, now: float, commit: bool) -> tuple[Render, float | None]:
        """``fresh`` with its slow parts as last sent where they changed within SLOW_S.

        Returns the render to send and when the held parts are due (None: none held).
        ``commit``: this render is being sent to the hub's sockets (a flush, not a
        snapshot), so its changed slow parts count as sent now.
        """
        current = self.current
        if self.full_frames or current is None or current.nodes is None or fresh.nodes is None:
            return fresh, None
        memo = self._composed
        if not commit and memo is not None and memo[:2] == (fresh.serial, current.serial):
            return memo[2], None  # many snapshots at one version: one composed render
        before = {n.id: n for n in current.nodes}
        # The slow parts go together (the strip and the records it shows stay in step):
        # one clock for all of a page's slow parts.
        last = self._slow_sent_at
        hold_until = last + SLOW_S if last is not None and now - last < SLOW_S else None
        nodes: list[Node] = []
        due: float | None = None
        changed = False
        for n in fresh.nodes:
            old = before.get(n.id)
            if old is not None and old.html != n.html and _slow(n):
                changed = True
                if hold_until is not None:
                    nodes.append(old)
                    due = hold_until
                    continue
            nodes.append(n)
        if commit and changed and hold_until is None:
            self._slow_sent_at = now
        if due is None:
            return fresh, None
        composed = Render.of(nodes)
        if not commit:
            self._composed = (fresh.serial, current.serial, composed)
        # A deadline on the event loop's clock (call_later takes a delay from now).
        return composed, due

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            if self.coalescer.behind(self.bridge.version(self.kind, self.bridge_key)):
                self.request_flush()


# --- the hubs of this process ------------------------------------------------------

_hubs: dict[tuple[Any, ...], PageHub] = {}
# (cluster, kind, bridge key) -> the hubs of that page, whoever views it and how.
_pages: dict[tuple[str, str, str], set[PageHub]] = {}


def hub_for(kind: str, bridge_key: str, render_key: str, user: Any, bridge: Bridge, socket: Socket) -> PageHub:
    """The hub of this page of ``bridge``'s cluster as ``user`` sees it, on the running loop (made if needed).

    ``OFFSETSITE["LIVE_SOCKET_HUBS"]`` gives ``socket`` a hub of its own: each socket its
    own timer, flush and diff, as before the hubs (the benchmark's baseline).
    """
    loop = asyncio.get_running_loop()
    key: tuple[Any, ...] = (loop, bridge.cluster, kind, render_key, viewer(user), registry.get(kind))
    if settings.OFFSETSITE.get("LIVE_SOCKET_HUBS", False):
        key += (socket,)
    hub = _hubs.get(key)
    if hub is None or hub.closed:
        hub = PageHub(key, kind, bridge_key, render_key, user, bridge)
        _hubs[key] = hub
        _pages.setdefault(hub.page, set()).add(hub)
    return hub


def _forget(hub: PageHub) -> None:
    if _hubs.get(hub.key) is hub:
        del _hubs[hub.key]
    hubs = _pages.get(hub.page)
    if hubs is not None:
        hubs.discard(hub)
        if not hubs:
            del _pages[hub.page]


def wake(cluster: str, pages: Iterable[tuple[str, str]]) -> int:
    """Pages (kind, bridge key) of ``cluster`` changed: each of their hubs flushes soon.

    Called on the bridge's event loop; a hub on another loop (a test's earlier one) is
    woken on its own. Returns how many hubs were woken.
    """
    running = asyncio.get_running_loop()
    woken = 0
    for kind, key in pages:
        for hub in list(_pages.get((cluster, kind, key), ())):
            woken += 1
            if hub.loop is running:
                hub.request_flush()
            else:
                with contextlib.suppress(RuntimeError):  # that loop is closed: nobody listens
                    hub.loop.call_soon_threadsafe(hub.request_flush)
    return woken
