"""ASGI wrappers for what Django's middleware cannot see.

- :class:`SameOriginValidator`: a websocket's ``Origin`` must be this very site: the
  same scheme (http for ws, https for wss), host and port as the request's ``Host``
  header. Channels' ``AllowedHostsOriginValidator`` only checks the host name against
  ``ALLOWED_HOSTS``, so a page on another port of the same host (another local
  service, ``http://127.0.0.1:9999``) could open this site's sockets.
- :class:`StaticSecurityHeaders`: static files are served by ``ASGIStaticFilesHandler``
  outside Django's middleware; this adds the headers every other response carries.
- :class:`UnknownWebsocketPath`: the last websocket route: an unknown path is refused
  with a clean close instead of the router raising.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.generic.websocket import AsyncWebsocketConsumer
from channels.security.websocket import WebsocketDenier
from django.conf import settings

from offsetsite.core.csp import HEADER as CSP_HEADER
from offsetsite.core.csp import policy

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
WS_SCHEME = {"http": "ws", "https": "wss"}


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin1")
    return None


def _scheme(scope: dict[str, Any]) -> str:
    scheme = str(scope.get("scheme") or "ws")
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        # The same trust as Django's for pages (docs/security.md, OFFSETSITE_BEHIND_PROXY).
        name = proxy[0].removeprefix("HTTP_").replace("_", "-").lower().encode()
        forwarded = _header(scope, name)
        if forwarded is not None and forwarded.split(",")[0].strip() == proxy[1]:
            scheme = "wss"
    return {"http": "ws", "https": "wss"}.get(scheme, scheme)


def _host_port(netloc: str, scheme: str) -> tuple[str, int] | None:
    try:
        parts = urlsplit("//" + netloc)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host or parts.username is not None or parts.password is not None:
        return None
    default = DEFAULT_PORTS.get(scheme)
    port = port if port is not None else default
    return (host.lower(), port) if port is not None else None


def same_origin(scope: dict[str, Any]) -> bool:
    """True when the Origin header names the scheme, host and port this socket was opened on."""
    origin = _header(scope, b"origin")
    host = _header(scope, b"host")
    if not origin or not host:
        return False
    try:
        parsed = urlsplit(origin)
    except ValueError:
        return False
    if parsed.scheme not in WS_SCHEME or parsed.path not in ("", "/") or parsed.query or parsed.fragment:
        return False
    scheme = _scheme(scope)
    if WS_SCHEME[parsed.scheme] != scheme:
        return False
    theirs = _host_port(parsed.netloc, parsed.scheme)
    ours = _host_port(host, scheme)
    return theirs is not None and theirs == ours


class SameOriginValidator:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope.get("type") == "websocket" and not same_origin(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.app(scope, receive, send)


class UnknownWebsocketPath(AsyncWebsocketConsumer):  # type: ignore[misc]  # channels ships no types
    """Refuses the handshake (a 403 to the browser) for a path no live page uses."""

    async def connect(self) -> None:
        await self.close()


STATIC_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


class StaticSecurityHeaders:
    """Adds the site's security headers to responses under ``STATIC_URL`` that lack them."""

    def __init__(self, app: Any, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope.get("type") != "http" or not str(scope.get("path", "")).startswith(self.prefix):
            return await self.app(scope, receive, send)
        host = _header(scope, b"host") or "localhost"
        if any(c in host for c in "\r\n;, '\"") or len(host) > 255:
            host = "localhost"
        extra = (*STATIC_HEADERS, (CSP_HEADER.lower().encode(), policy(host).encode("latin1")))

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message.get("type") == "http.response.start":
                headers = list(message.get("headers", []))
                present = {bytes(k).lower() for k, _ in headers}
                headers += [(k, v) for k, v in extra if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        return await self.app(scope, receive, send_with_headers)
