"""The live renderer of every lab page: one "lab" websocket kind, many views.

The lesson, the room and the facilitator's page all open ``/ws/lab/?view=<name>&...``
(``{% live_socket "lab" "view=room&me=Ada" %}``); the socket's query string is the
render key (``offsetsite.live.consumers.LabConsumer``). :func:`dispatch` reads
``view`` and calls the function that view's owner registered with :func:`add_view`,
so each page keeps its renderer in its own module:

    from offsetsite.lab.live import add_view
    add_view("lesson", render_lesson)   # fn(params: dict[str, str], user) -> html

(registered from ``LabConfig.ready()`` in offsetsite/lab/apps.py). A renderer returns
top-level elements with an ``id`` and ``hx-swap-oob="true"``, like every live renderer.

Renders are shared (``renders.render_shared``) per (query string, viewer), so a key
naming one attendee is rendered once per attendee. What many keys show alike (the
room's summary) should be computed once per lab version by the view itself (see
``offsetsite.lab.room.room_state`` and the cache in ``views_room``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from django.utils.html import format_html

ViewRenderer = Callable[[dict[str, str], Any], str]

_lock = threading.Lock()
_views: dict[str, ViewRenderer] = {}


def add_view(name: str, renderer: ViewRenderer) -> None:
    """Make ``renderer(params, user) -> html`` render ``view=<name>`` (the last one wins)."""
    with _lock:
        _views[name] = renderer


def views() -> list[str]:
    with _lock:
        return sorted(_views)


def parse_key(key: str) -> dict[str, str]:
    """The socket's query string as a dict (the first value of each name wins)."""
    out: dict[str, str] = {}
    for name, value in parse_qsl(key, keep_blank_values=True, max_num_fields=20):
        out.setdefault(name, value)
    return out


def dispatch(key: str, user: Any) -> str:
    """The live parts of the lab page the socket's query string names."""
    try:
        params = parse_key(key)
    except ValueError:
        params = {}
    name = params.get("view", "")
    with _lock:
        renderer = _views.get(name)
    if renderer is None:
        # Shown in the page's own live slot (every lab page has one), so a typo in a
        # link says what happened instead of a page that silently never updates.
        return str(
            format_html(
                '<div id="lab-live-error" hx-swap-oob="true" class="messages">No live view {!r}; known: {}.</div>',
                name,
                ", ".join(views()) or "none",
            )
        )
    return renderer(params, user)


def register_all() -> None:
    from offsetsite.live.registry import register

    from . import views_lesson, views_room

    register("lab", dispatch)
    views_room.register_live()
    views_lesson.register_live()
