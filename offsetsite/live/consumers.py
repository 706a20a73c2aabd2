"""One websocket consumer per live page kind.

A socket joins the hub of its page as its viewer sees it (:mod:`offsetsite.live.hub`),
which sends it a full snapshot of the page's live parts (so a reconnect repairs whatever
it missed) and then, on each coalesced flush, only what changed since its last frame
(:mod:`offsetsite.live.delta`). The hub renders once for all its sockets; a socket only
checks who it serves and writes the frames it is handed.

Every frame ends with ``<div id="live-version" data-ws-version="N">`` so the page (and
tests) can tell which state it shows.

Sockets do not use the channel layer: the bridge wakes this process's hubs directly, and
several processes hear each other through the relay (:mod:`offsetsite.live.relay`), so a
channel-layer reader per socket would only cost a task and a queue each.
"""

from __future__ import annotations

import asyncio
import logging
from importlib import import_module
from typing import Any

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import close_old_connections

from offsetsite.core.site_settings import read_login_required

from .bridge import Bridge, bridge_for
from .hub import PageHub, hub_for

_log = logging.getLogger(__name__)

CLOSE_LOGIN_REQUIRED = 4401
# A socket outlives the request that opened it: how late a logout, a deactivation or a
# password change may reach an open logged-in page (one session read per check).
SESSION_CHECK_S = 10.0


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
    # No channel layer for live pages (see the module's docstring): an alias that names
    # none makes channels read only the socket.
    channel_layer_alias = "offsetsite.live.no-layer"

    key: str
    session_key: str | None = None
    hub: PageHub | None = None
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
        self.session_key = getattr(self.scope.get("session"), "session_key", None) if self.user_pk else None
        self.cluster = str(self.scope.get("cluster", "local"))
        self.bridge: Bridge = bridge_for(self.cluster)
        self._session_task: asyncio.Task[None] | None = None
        await sync_to_async(_open_engine)()
        self.bridge.listen(self.kind, self.key, asyncio.get_running_loop())
        self.listening = True
        await self.accept()
        await self._join()  # the snapshot
        if self.user_pk is not None:
            self._session_task = asyncio.create_task(self._check_session())

    async def _join(self) -> None:
        while self.listening:
            hub = hub_for(self.kind, self.key, self.render_key(), self.scope.get("user"), self.bridge, self)
            self.hub = hub
            if await hub.join(self):
                if not self.listening:  # closed while it joined: disconnect() found no seat to free
                    hub.leave(self)
                return

    def _leave(self) -> None:
        if self.hub is not None:
            self.hub.leave(self)
            self.hub = None

    async def send_frame(self, text: str) -> None:
        """A frame from the hub (straight to the server: channels' send adds nothing here)."""
        await self.base_send({"type": "websocket.send", "text": text})

    async def disconnect(self, code: int) -> None:
        if not self.listening:
            return
        self.listening = False
        self.bridge.unlisten(self.kind, self.key)
        if self._session_task is not None:
            self._session_task.cancel()
        self._leave()

    def render_key(self) -> str:
        """The key handed to the page's renderer (the bridge key unless a page says otherwise)."""
        return self.key

    async def _check_session(self) -> None:
        while True:
            await asyncio.sleep(SESSION_CHECK_S)
            try:
                if not await self._session_lasts():
                    return
            except Exception:  # a database hiccup must not end the checks
                _log.exception("session check of a live %s page failed", self.kind)

    async def _session_lasts(self) -> bool:
        """Check the login this socket opened with; False once the socket was closed for it."""
        session = self.scope.get("session")
        user = await sync_to_async(_session_user)(getattr(session, "session_key", None))
        if getattr(user, "pk", None) == self.user_pk and user.is_authenticated:
            return True
        # Logged out, deactivated, or the password changed: the page now shows what an
        # anonymous visitor may see, or nothing when reading needs a login.
        self.user_pk = None
        self.session_key = None
        self.scope["user"] = user if not user.is_authenticated else AnonymousUser()
        if await sync_to_async(read_login_required)():
            await self.close(code=CLOSE_LOGIN_REQUIRED)
            return False
        # Another viewer: another hub, and the whole region as that viewer sees it.
        self._leave()
        await self._join()
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
