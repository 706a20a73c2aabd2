"""Reads need a login, when the admin (or the environment) says so.

With the setting on, an anonymous visitor asking for any page is sent to the login
page and brought back afterwards. Left alone: the login page itself, static files,
the JSON API (it has its own bearer tokens) and ``/metrics`` (its own access rule).
JSON endpoints of the pages answer 401 instead of a redirect a script cannot follow,
and htmx requests get an ``HX-Redirect`` so the whole page goes to the login form
instead of a login form being swapped into a table.

Websockets do not pass through here; their consumers ask the same accessor.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse

from .htmx import is_htmx
from .site_settings import read_login_required

Handler = Callable[[HttpRequest], HttpResponse]


def _exempt(request: HttpRequest) -> bool:
    static = settings.STATIC_URL or "/static/"
    if not static.startswith("/"):
        static = "/" + static
    # path_info has no /clusters/<name> prefix (offsetsite.clusters strips it), so a Kafka
    # cluster's API and /metrics are exempt too; reverse() includes the prefix, as path does.
    if request.path_info.startswith(("/api/", "/metrics", "/favicon.ico")):
        return True
    return request.path.startswith((static, reverse("login"), reverse("logout")))


class ReadLoginMiddleware:
    """Send anonymous visitors to the login page while reads need a login."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and not user.is_authenticated and not _exempt(request) and read_login_required():
            return self.refuse(request)
        return self.get_response(request)

    @staticmethod
    def refuse(request: HttpRequest) -> HttpResponse:
        if request.path.endswith(".json"):
            return JsonResponse(
                {"error": "Log in to read this site: its admin requires a login for reading."}, status=401
            )
        login = redirect_to_login(request.get_full_path())
        if is_htmx(request):
            # htmx would swap the login page into the fragment's target; send the page instead.
            response = HttpResponse(status=204)
            response["HX-Redirect"] = login["Location"]
            return response
        return login
