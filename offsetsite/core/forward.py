"""Workers 1..N-1 of ``serve --workers N`` hand some requests to worker 0.

Worker 0 holds the embedded engine; the others read it over its API (RemoteCluster),
which serves every page. Two kinds of request go to worker 0 instead, whole, as the
browser sent them (cookies, CSRF token, Origin), and its answer comes back as it is:

- every state change on the embedded engine (any method but GET, HEAD, OPTIONS): a
  produce burst must land in one piece under the engine lock, a form's consumer joins
  the coordinator in the engine's process, and the lab's checkers live there;
- a read whose view needs the engine object itself (it raised
  :class:`offsetsite.engine.EngineElsewhere`: the lab pages, in-browser consumers).

Kafka clusters (/clusters/NAME/...) are served by every worker, each with its own client.
A forwarded request reaches worker 0 from loopback, so paths that trust loopback
(/metrics) are never forwarded.
"""

from __future__ import annotations

import http.client
import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse

from offsetsite import engine

SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
NEVER = ("/metrics",)
# Hop-by-hop headers (RFC 9110 section 7.6.1) and what http.client sets itself.
_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host"}
)
TIMEOUT_S = 60.0
_log = logging.getLogger(__name__)


def _owner_url() -> str:
    from offsetsite.cli.remote import RemoteCluster

    remote = engine.get_cluster(engine.DEFAULT_CLUSTER)
    assert isinstance(remote, RemoteCluster)
    return remote.url


def forward(request: HttpRequest) -> HttpResponse:
    """Send ``request`` to worker 0 and return its answer."""
    target = urlsplit(_owner_url())
    headers: dict[str, str] = {}
    for key, value in request.META.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").title()
            if name.lower() not in _HOP:
                headers[name] = str(value)
    for key, name in (("CONTENT_TYPE", "Content-Type"), ("CONTENT_LENGTH", "Content-Length")):
        if request.META.get(key):
            headers[name] = str(request.META[key])
    # The Host the browser used: CSRF's origin check and absolute URLs stay as they were.
    headers["Host"] = request.get_host()
    body = request.body if request.method not in SAFE else None
    conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port or 80, timeout=TIMEOUT_S)
    try:
        conn.request(request.method or "GET", request.get_full_path(), body=body, headers=headers)
        answer = conn.getresponse()
        content = answer.read()
    except OSError as e:
        _log.warning("forwarding %s %s to worker 0 failed: %s", request.method, request.path, e)
        return HttpResponse(
            "The engine's process (worker 0) did not answer; try again in a moment.",
            status=503,
            content_type="text/plain; charset=utf-8",
        )
    finally:
        conn.close()
    response = HttpResponse(content, status=answer.status)
    for name, value in answer.getheaders():
        lower = name.lower()
        if lower in _HOP or lower in ("content-length", "set-cookie"):
            continue
        response[name] = value
    for cookie in answer.msg.get_all("Set-Cookie") or ():
        response.cookies.load(cookie)
    response["X-Offsetsite-Worker"] = "0"
    return response


def _forwardable(request: HttpRequest) -> bool:
    return engine.is_embedded() and not request.path.startswith(NEVER)


class ForwardToEngineMiddleware:
    """On workers other than 0: state changes and engine-object reads go to worker 0."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if engine.is_owner() or not _forwardable(request):
            return self.get_response(request)
        if request.method not in SAFE:
            return forward(request)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, engine.EngineElsewhere) and request.method in SAFE and _forwardable(request):
            return forward(request)
        return None
