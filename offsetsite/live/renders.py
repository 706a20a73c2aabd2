"""Shared renders of a page's live parts, and the frames between two of them.

Pages showing the same thing to the same viewer share one render (:func:`render_shared`):
a change wakes every open copy of a page at once, and five hundred viewers of one topic
would otherwise render the same HTML five hundred times (measured by ``bench/web.py``).
A render is read once into elements with ids (:mod:`offsetsite.live.delta`), and the
frame from one render to another is worked out once for every socket that was sent the
same render (:meth:`Render.frame_from`).
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections

from . import registry
from .delta import Node, diff, parse
from .fragments import timeline_html


class Render:
    """One shared render of a page's live parts, read once into elements with ids."""

    _serials = itertools.count(1)  # next() is atomic: renders run in worker threads

    def __init__(self, html: str, nodes: list[Node] | None = None) -> None:
        self.serial = next(Render._serials)
        self.html = html
        # Read from the HTML unless given (a render composed of others' elements).
        self.nodes: list[Node] | None = parse(html) if nodes is None else nodes
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

    @classmethod
    def of(cls, nodes: list[Node]) -> Render:
        """A render made of elements taken from other renders (see offsetsite.live.hub)."""
        return cls("\n".join(n.html for n in nodes), nodes)


def render_html(kind: str, key: str, user: Any) -> str:
    """The live parts of page ``kind``/``key`` as ``user`` sees them, rendered here."""
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


def _render_read(kind: str, key: str, user: Any, version: int, session_key: str | None) -> Render:
    from offsetsite import engine

    if engine.is_embedded() and not engine.is_owner():
        # Another worker holds the engine: it renders them (offsetsite.live.owner).
        from .owner import fetch_parts

        return Render(fetch_parts(kind, key, version, session_key))
    # Read into elements here, in the worker thread, once for all the sockets sharing it.
    return Render(render_html(kind, key, user))


@dataclass
class _SharedRender:
    version: int  # the page's version read before this render started
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Render]


# (kind, render key, viewer, renderer) -> the newest render of that page for that viewer.
_shared: dict[tuple[str, str, str, Any, Any], _SharedRender] = {}
SHARED_KEEP_S = 1.0  # how long a finished render stays reusable (a flush at the same version)


def viewer(user: Any) -> Any:
    """Who a render is for: a renderer sees only the user, so equal users get equal HTML."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None  # every anonymous visitor sees the same page
    return ("user", user.pk)


async def render_shared(kind: str, key: str, user: Any, version: int, session_key: str | None = None) -> Render:
    """The live parts of a page at ``version`` or newer, rendered once for all who ask.

    ``session_key``: a session of ``user``, for a worker that asks the engine's process
    to render (offsetsite.live.owner).

    A render started after the page's version was ``v`` shows every change up to ``v``,
    so a flush that read a version <= ``v`` may take its HTML instead of rendering again;
    a flush that read a newer version starts a new render.
    """
    loop = asyncio.get_running_loop()
    from offsetsite.engine import current_cluster_name

    k = (current_cluster_name(), kind, key, viewer(user), registry.get(kind))
    entry = _shared.get(k)
    if entry is None or entry.loop is not loop or entry.version < version:
        read = sync_to_async(_render_read, thread_sensitive=False)
        future = asyncio.ensure_future(read(kind, key, user, version, session_key))
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
