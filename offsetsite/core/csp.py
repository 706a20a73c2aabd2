"""Content-Security-Policy: what a browser may load and run on this site's pages.

Autoescaping keeps payloads (keys, values, group ids) from becoming markup; this is
the second wall should anything slip through: no inline script runs, no plugin
loads, no other site frames a page. The pages need no more: every script is a file
under /static/ (htmx, its ws extension, live.js, uPlot, lagchart.js), styles are
files too (htmx and uPlot set a few inline styles, hence 'unsafe-inline' for style
only), and the live updates connect to this host's own websocket.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"


def policy(host: str) -> str:
    # 'self' covers ws:/wss: of the same host in CSP3 browsers; the explicit host keeps
    # older ones (Safari before 15.4) connecting.
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            f"connect-src 'self' ws://{host} wss://{host}",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if HEADER not in response:
            try:
                host = request.get_host()
            except Exception:  # DisallowedHost: this response is the refusal itself
                host = "localhost"
            response[HEADER] = policy(host)
        return response
