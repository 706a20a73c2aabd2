"""Workers 1..N-1 of ``serve --workers N`` hand some requests to worker 0.

Worker 0 holds the embedded engine. Every request about it that reaches another worker
goes to worker 0, whole, as the browser sent it (cookies, CSRF token, Origin), and its
answer comes back as it is:

- state changes: a produce burst must land in one piece under the engine lock, a form's
  consumer joins the coordinator in the engine's process, the lab's checkers live there;
- reads too: worker 0 renders a page in one go, where reading its engine over the JSON
  API (RemoteCluster) takes one request per call, a dozen for a topic page, each served
  by worker 0 anyway (measured: bench/multi.py, docs/benchmarks.md).

What the other workers serve themselves: websockets (the fan-out of live frames, whose
parts worker 0 renders: offsetsite.live.owner), static files, and Kafka clusters.

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


def owner_url() -> str:
    """Where worker 0 serves (advertised in the data directory's lock file)."""
    from offsetsite.cli.remote import RemoteCluster

    remote = engine.get_cluster(engine.DEFAULT_CLUSTER)
    assert isinstance(remote, RemoteCluster)
    return remote.url


def forward(request: HttpRequest) -> HttpResponse:
    """Send ``request`` to worker 0 and return its answer."""
    target = urlsplit(owner_url())
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
    """On workers other than 0: every request about the embedded engine goes to worker 0."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if engine.is_owner() or not _forwardable(request):
            return self.get_response(request)
        return forward(request)
