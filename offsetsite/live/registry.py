"""Which function renders the live parts of each page kind.

Page owners register a renderer per kind ("overview", "topic", "group",
"consumer_offsets"). A renderer returns the HTML of the page's live parts: top-level
elements carrying an ``id`` and ``hx-swap-oob="true"`` (rows wrapped in a ``<tbody>``
with an id). The websocket consumers call it in a worker thread on connect and on each
coalesced flush, so it must read the engine through ``get_cluster()`` (which locks).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from .names import KINDS

Renderer = Callable[[str, Any], str]

_log = logging.getLogger(__name__)
_lock = threading.Lock()
_renderers: dict[str, Renderer] = {}
_warned: set[str] = set()


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown live page kind {kind!r}; expected one of {', '.join(KINDS)}")


def register(kind: str, renderer: Renderer) -> None:
    """Make ``renderer(key, user) -> str`` the renderer of ``kind`` (the last registration wins)."""
    _check_kind(kind)
    with _lock:
        _renderers[kind] = renderer


def unregister(kind: str) -> None:
    with _lock:
        _renderers.pop(kind, None)


def get(kind: str) -> Renderer | None:
    with _lock:
        return _renderers.get(kind)


def render(kind: str, key: str, user: Any) -> str:
    """The live parts of page ``kind``/``key`` as seen by ``user``; "" when nobody registered one.

    An unregistered kind is not an error: the page still gets its version marker and
    keeps its socket, and the page owner's renderer takes over once it registers.
    """
    _check_kind(kind)
    renderer = get(kind)
    if renderer is None:
        if kind not in _warned:
            _warned.add(kind)
            _log.warning("no live renderer registered for %r pages; frames carry only the version", kind)
        return ""
    return renderer(key, user)


@contextlib.contextmanager
def registered(kind: str, renderer: Renderer) -> Iterator[None]:
    """Register ``renderer`` for the duration of a ``with`` block (tests), then put back the old one."""
    _check_kind(kind)
    with _lock:
        old = _renderers.get(kind)
        _renderers[kind] = renderer
    try:
        yield
    finally:
        with _lock:
            if old is None:
                _renderers.pop(kind, None)
            else:
                _renderers[kind] = old
