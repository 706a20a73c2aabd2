"""Live parts rendered by the engine's process for the other workers of ``serve --workers N``.

A worker other than 0 holds no engine: reading it over the JSON API takes one request
per call (a topic's live parts are a dozen: the topic, its watermarks, the newest
records, each group's offsets), and each is a request worker 0 must serve. So a hub
there asks worker 0 for the rendered parts instead, in one request
(``GET /live/parts/<kind>/?key=...``) carrying the session of one of its sockets: worker 0
renders them as that viewer, with its own renderer, exactly as for its own sockets.
Measured with bench/multi.py (docs/benchmarks.md, Several processes).
"""

from __future__ import annotations

import http.client
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .names import KINDS

TIMEOUT_S = 30.0


class OwnerUnavailable(RuntimeError):
    """Worker 0 did not render the parts (it is down, or refused this viewer)."""


def fetch_parts(kind: str, key: str, version: int, session_key: str | None) -> str:
    """The live parts of page ``kind``/``key`` at ``version`` or newer, as worker 0 renders them for ``session_key``."""
    from offsetsite.core.forward import owner_url

    target = urlsplit(owner_url())
    headers = {"Accept": "text/html", "X-Offsetsite-Source": "live-hub"}
    if session_key:
        headers["Cookie"] = f"{settings.SESSION_COOKIE_NAME}={session_key}"
    conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port or 80, timeout=TIMEOUT_S)
    try:
        conn.request("GET", f"/live/parts/{kind}/?key={quote(key, safe='')}&v={version}", headers=headers)
        answer = conn.getresponse()
        body = answer.read()
    except OSError as e:
        raise OwnerUnavailable(f"worker 0 did not answer for the live parts of {kind} {key!r}: {e}") from e
    finally:
        conn.close()
    if answer.status != 200:
        raise OwnerUnavailable(f"worker 0 answered {answer.status} for the live parts of {kind} {key!r}")
    return body.decode("utf-8")


@never_cache
@require_GET
async def parts(request: HttpRequest, kind: str) -> HttpResponse:
    """What a live socket of page ``kind``/``key`` would be sent as a snapshot, for this viewer.

    A read like the page itself (reads-need-login applies as to any page); the key is
    the socket's render key (a topic name, a group id, an overview's query string), and
    ``v`` the version the asking hub needs at least: this process's own hubs' render
    of that version serves as well, so a page open in both workers is rendered once
    (without ``v``: rendered now).
    """
    from asgiref.sync import sync_to_async

    from .renders import render_html, render_shared

    if kind not in KINDS:
        return HttpResponseBadRequest(f"unknown live page kind {kind!r}; expected one of {', '.join(KINDS)}")
    key, v = request.GET.get("key", ""), request.GET.get("v")
    user = await request.auser()
    if v is None:  # no version asked: as the page is now
        html = await sync_to_async(render_html, thread_sensitive=False)(kind, key, user)
        return HttpResponse(html, content_type="text/html; charset=utf-8")
    try:
        version = int(v)
    except ValueError:
        return HttpResponseBadRequest("v must be a version number (an integer)")
    render = await render_shared(kind, key, user, version)
    return HttpResponse(render.html, content_type="text/html; charset=utf-8")
