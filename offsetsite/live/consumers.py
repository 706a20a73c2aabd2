"""One websocket consumer per live page kind.

On connect a page gets a full snapshot of its live parts (so a reconnect repairs
whatever it missed). After that it hears wake-up notices from the bridge; each notice
asks the page's :class:`Coalescer` for a flush, and the flush renders the *current*
state once, however many notices came in between. A slow tick compares the page's
version with the bridge's and re-sends when a notice was lost.

Every frame ends with ``<div id="live-version" data-ws-version="N">`` so the page (and
tests) can tell which state it shows.

Pages showing the same thing to the same viewer share one render (:func:`render_shared`):
a change wakes every open copy of a page at once, and two hundred viewers of one topic
would otherwise render the same HTML two hundred times (measured by ``bench/web.py``).

After the snapshot a socket is sent only what changed since its last frame
(:mod:`offsetsite.live.delta`): the cells and rows that moved, new rows appended. The
difference between two shared renders is worked out once for every socket that was
sent the same render (:meth:`Render.frame_from`), not once per socket. A socket's
frames arrive in order and a reconnect is a new socket (a full snapshot), so "what this
socket was last sent" is what its page shows. ``OFFSETSITE["LIVE_FULL_FRAMES"]`` sends
the whole region every time instead (bench/web.py's baseline).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import close_old_connections

from offsetsite.core.site_settings import read_login_required

from . import registry
from .bridge import Bridge, bridge_for
from .coalesce import Coalescer
from .delta import Node, diff, parse
from .fragments import timeline_html, version_marker
from .names import channel_group

_log = logging.getLogger(__name__)

CLOSE_LOGIN_REQUIRED = 4401
TICK_S = 2.0  # reconciliation: how late a lost notice may make a page
# A socket outlives the request that opened it: how late a logout, a deactivation or a
# password change may reach an open logged-in page (one session read per check).
SESSION_CHECK_S = 10.0


class Render:
    """One shared render of a page's live parts, read once into elements with ids."""

    _serials = itertools.count(1)  # next() is atomic: renders run in worker threads

    def __init__(self, html: str) -> None:
        self.serial = next(Render._serials)
        self.html = html
        self.nodes: list[Node] | None = parse(html)
        # serial of a render a socket was sent -> the frame from there to here. Every
        # socket sent the same render gets the same frame: one diff for all of them.
        self._frames: dict[int, str] = {}

    def frame_from(self, shown: Render | None) -> str:
        """What a socket that was last sent ``shown`` needs to show this render."""
        if shown is None or shown.nodes is None or self.nodes is None:
            return self.html
        if shown is self:
            return ""
        frame = self._frames.get(shown.serial)
        if frame is None:
            frame = diff(shown.nodes, self.nodes)
            if len(self._frames) >= 8:  # sockets lag behind by a few renders at most
                self._frames.pop(next(iter(self._frames)))
            self._frames[shown.serial] = frame
        return frame


def _render(kind: str, key: str, user: Any) -> str:
    # A worker thread: give it a fresh database connection and close it afterwards,
    # as Django does around a request.
    from django.urls import get_script_prefix, set_script_prefix

    from offsetsite import clusters
    from offsetsite.engine import current_cluster_name

    close_old_connections()
    # Links in the fragments stay on this socket's cluster, as on its page.
    outer = get_script_prefix()
    set_script_prefix(clusters.url_prefix(current_cluster_name()) + "/")
    try:
        html = registry.render(kind, key, user)
        if kind == "group":
            html += timeline_html(key, oob=True)
        return html
    finally:
        set_script_prefix(outer)
        close_old_connections()


def _render_read(kind: str, key: str, user: Any) -> Render:
    # Read into elements here, in the worker thread, once for all the sockets sharing it.
    return Render(_render(kind, key, user))


@dataclass
class _SharedRender:
    version: int  # the page's version read before this render started
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Render]


# (kind, render key, viewer, renderer) -> the newest render of that page for that viewer.
_shared: dict[tuple[str, str, str, Any, Any], _SharedRender] = {}
SHARED_KEEP_S = 1.0  # how long a finished render stays reusable (a flush at the same version)


def _viewer(user: Any) -> Any:
    """Who a render is for: a renderer sees only the user, so equal users get equal HTML."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None  # every anonymous visitor sees the same page
    return ("user", user.pk)


async def render_shared(kind: str, key: str, user: Any, version: int) -> Render:
    """The live parts of a page at ``version`` or newer, rendered once for all who ask.

    A render started after the page's version was ``v`` shows every change up to ``v``,
    so a flush that read a version <= ``v`` may take its HTML instead of rendering again;
    a flush that read a newer version starts a new render.
    """
    loop = asyncio.get_running_loop()
    from offsetsite.engine import current_cluster_name

    k = (current_cluster_name(), kind, key, _viewer(user), registry.get(kind))
    entry = _shared.get(k)
    if entry is None or entry.loop is not loop or entry.version < version:
        future = asyncio.ensure_future(sync_to_async(_render_read, thread_sensitive=False)(kind, key, user))
        entry = _SharedRender(version, loop, future)
        _shared[k] = entry
        future.add_done_callback(lambda f, k=k, e=entry: _finished(k, e, f))  # type: ignore[misc]
    # shield: a page closing while it waits must not cancel the render others wait for.
    return await asyncio.shield(entry.future)


def _finished(k: tuple[str, str, str, Any, Any], entry: _SharedRender, future: asyncio.Future[Render]) -> None:
    failed = not future.cancelled() and future.exception() is not None  # retrieved: no "never retrieved"

    def forget() -> None:
        if _shared.get(k) is entry:
            del _shared[k]

    if failed or future.cancelled():
        forget()
    else:
        entry.loop.call_later(SHARED_KEEP_S, forget)


def _session_user(session_key: str | None) -> Any:
    """Who the session is now: Django's own check (session hash, active user) on a fresh read."""
    from django.contrib.auth import get_user
    from django.http import HttpRequest

    close_old_connections()
    try:
        store = import_module(settings.SESSION_ENGINE).SessionStore
        request = HttpRequest()
        request.session = store(session_key)
        return get_user(request)
    finally:
        close_old_connections()


def _open_engine() -> None:
    from offsetsite.engine import get_cluster

    get_cluster()  # opening it subscribes the bridge, so this page hears its events


class LivePageConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]  # channels ships no types
    kind = "overview"
    url_kwarg: str | None = None

    key: str
    coalescer: Coalescer
    listening: bool = False

    async def connect(self) -> None:
        self.key = ""
        if self.url_kwarg is not None:
            self.key = str(self.scope["url_route"]["kwargs"][self.url_kwarg])
        user = self.scope.get("user")
        if not getattr(user, "is_authenticated", False) and await sync_to_async(read_login_required)():
            # Accept, then close with a code the page can read: 4401 means "log in".
            # (The htmx ws extension does not retry 4xxx closes.)
            await self.accept()
            await self.close(code=CLOSE_LOGIN_REQUIRED)
            return
        self.user_pk = user.pk if getattr(user, "is_authenticated", False) else None
        self.next_session_check = time.monotonic() + SESSION_CHECK_S
        fps = float(str(settings.OFFSETSITE.get("LIVE_MAX_FPS", 10)))
        self.coalescer = Coalescer(max_fps=fps)
        self.full_frames = bool(settings.OFFSETSITE.get("LIVE_FULL_FRAMES", False))
        self.shown: Render | None = None  # the render this socket's page shows
        self._flush_lock = asyncio.Lock()
        self._flush_handle: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.cluster = str(self.scope.get("cluster", "local"))
        self.bridge: Bridge = bridge_for(self.cluster)
        self.group_name = channel_group(self.kind, self.key, self.cluster)
        await sync_to_async(_open_engine)()
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        self.bridge.listen(self.kind, self.key, asyncio.get_running_loop())
        self.listening = True
        await self.accept()
        await self.flush()  # the snapshot
        self._tick_task: asyncio.Task[None] | None = asyncio.create_task(self._tick())

    async def disconnect(self, code: int) -> None:
        if not self.listening:
            return
        self.listening = False
        self.bridge.unlisten(self.kind, self.key)
        task = getattr(self, "_tick_task", None)
        if task is not None:
            task.cancel()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        for t in list(self._tasks):
            t.cancel()
        await self.channel_layer.group_discard(self.group_name, self.channel_name)

    # --- notices -----------------------------------------------------------

    async def dispatch(self, message: dict[str, Any]) -> None:
        if message.get("type") == "live.changed":
            # Channels runs close_old_connections in a worker thread before every
            # handler. A notice touches no database (it only schedules a flush, and the
            # render closes its own connections), and with 200 pages open that thread
            # hop per notice took a sixth of the server's time (bench/web.py).
            await self.live_changed(message)
            return
        await super().dispatch(message)

    async def live_changed(self, message: dict[str, Any]) -> None:
        self._request_flush()

    def _request_flush(self) -> None:
        if not self.listening:
            return
        delay = self.coalescer.request()
        if delay is None:
            return  # a flush is already on its way and will render the newest state
        self._flush_handle = asyncio.get_running_loop().call_later(delay, self._start_flush)

    def _start_flush(self) -> None:
        self._flush_handle = None
        task = asyncio.get_running_loop().create_task(self.flush())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def flush(self) -> None:
        """Render the page's live parts as they are now and send them as one frame."""
        async with self._flush_lock:  # frames go out in order, one render at a time
            if not self.listening:
                return
            self.coalescer.begin_flush()
            # Read the version before rendering: a change during the render makes the
            # page look behind, and the next tick sends it again.
            version = self.bridge.version(self.kind, self.key)
            render: Render | None
            try:
                render = await render_shared(self.kind, self.render_key(), self.scope.get("user"), version)
            except Exception:
                _log.exception("live renderer for %s %r failed", self.kind, self.key)
                render = None
            if not self.listening:
                return
            if render is None:
                html = ""  # the page keeps what it shows, and so does self.shown
            elif self.full_frames:
                html = render.html
            else:
                html = render.frame_from(self.shown)
            try:
                await self.send(text_data=html + version_marker(version))
            except Exception:  # the socket closed during the render; disconnect() follows
                _log.debug("live frame for %s %r not sent: the socket closed", self.kind, self.key)
                return
            if render is not None:
                self.shown = render
            self.coalescer.sent(version)

    def render_key(self) -> str:
        """The key handed to the page's renderer (the bridge key unless a page says otherwise)."""
        return self.key

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            if self.user_pk is not None and time.monotonic() >= self.next_session_check:
                self.next_session_check = time.monotonic() + SESSION_CHECK_S
                try:
                    if not await self._session_lasts():
                        return
                except Exception:  # a database hiccup must not end the reconciliation
                    _log.exception("session check of a live %s page failed", self.kind)
            if self.coalescer.behind(self.bridge.version(self.kind, self.key)):
                self._request_flush()

    async def _session_lasts(self) -> bool:
        """Check the login this socket opened with; False once the socket was closed for it."""
        session = self.scope.get("session")
        user = await sync_to_async(_session_user)(getattr(session, "session_key", None))
        if getattr(user, "pk", None) == self.user_pk and user.is_authenticated:
            return True
        # Logged out, deactivated, or the password changed: the page now shows what an
        # anonymous visitor may see, or nothing when reading needs a login.
        self.user_pk = None
        self.scope["user"] = user if not user.is_authenticated else AnonymousUser()
        if await sync_to_async(read_login_required)():
            await self.close(code=CLOSE_LOGIN_REQUIRED)
            return False
        return True


class OverviewConsumer(LivePageConsumer):
    kind = "overview"

    def render_key(self) -> str:
        # The viewer's filter, sort and pages ride in the socket's query string (see
        # live_socket), so each frame shows the rows this viewer asked for. The bridge
        # key stays "": every overview listens to every change.
        return bytes(self.scope.get("query_string", b"")).decode("latin-1")


class TopicConsumer(LivePageConsumer):
    kind = "topic"
    url_kwarg = "topic"

    def render_key(self) -> str:
        # The lab group that colours the seats (?lab=G) rides in the query string; the
        # bridge key stays the topic, so every viewer of the topic wakes on its changes.
        query = bytes(self.scope.get("query_string", b"")).decode("latin-1")
        return f"{self.key}?{query}" if query else self.key


class GroupConsumer(LivePageConsumer):
    kind = "group"
    url_kwarg = "group"
    own_checkers: tuple[str, ...] = ()

    async def connect(self) -> None:
        # The ticket checkers a workshop visitor started (offsetsite.lab.views_checkers)
        # get buttons on their page; a renderer sees only the user, so the names ride in
        # the render key. Read once here: the session is a database read.
        session = self.scope.get("session")
        if session is not None:
            from offsetsite.lab.views_checkers import session_checkers

            self.own_checkers = tuple(await sync_to_async(session_checkers)(session))
        await super().connect()

    def render_key(self) -> str:
        from offsetsite.lab.views_checkers import OWN_SEP

        return self.key + OWN_SEP + ",".join(self.own_checkers) if self.own_checkers else self.key


class ConsumerOffsetsConsumer(LivePageConsumer):
    kind = "consumer_offsets"

    def render_key(self) -> str:
        # The viewer's filter (group=G, p=N, view=latest) rides in the query string, so
        # each frame shows the view of the page; the bridge key stays "" (every commit).
        return bytes(self.scope.get("query_string", b"")).decode("latin-1")


class LabConsumer(LivePageConsumer):
    """The lesson, the room and the facilitator's page: what the ticket checkers do."""

    kind = "lab"

    def render_key(self) -> str:
        # Which lab view and whose (view=lesson|room|facilitator, me=<checker>) rides in
        # the query string, as the overview's filters do; every lab page listens to "".
        return bytes(self.scope.get("query_string", b"")).decode("latin-1")
