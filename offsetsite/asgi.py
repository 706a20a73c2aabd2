"""ASGI entry point: HTTP through Django, websockets through Channels."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "offsetsite.settings")

from django.core.asgi import get_asgi_application

# Django must be set up before anything imports models or consumers.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.urls import re_path  # noqa: E402

from offsetsite.asgi_security import (  # noqa: E402
    SameOriginValidator,
    StaticSecurityHeaders,
    UnknownWebsocketPath,
)
from offsetsite.clusters import ClusterWebsocketMiddleware  # noqa: E402
from offsetsite.routing import websocket_urlpatterns  # noqa: E402

# Static files come from the app itself (no CDN, no separate web server in a workshop).
# ASGIStaticFilesHandler answers outside Django's middleware: add the security headers there.
http_app = (
    StaticSecurityHeaders(ASGIStaticFilesHandler(django_asgi_app), settings.STATIC_URL)
    if settings.STATIC_URL
    else django_asgi_app
)

application = ProtocolTypeRouter(
    {
        "http": http_app,
        # The Origin must name one of ALLOWED_HOSTS, and be this very scheme://host:port.
        "websocket": AllowedHostsOriginValidator(
            SameOriginValidator(
                AuthMiddlewareStack(
                    ClusterWebsocketMiddleware(
                        URLRouter([*websocket_urlpatterns, re_path(r"", UnknownWebsocketPath.as_asgi())])
                    )
                )
            )
        ),
    }
)
