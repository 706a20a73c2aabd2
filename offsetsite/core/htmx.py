"""One way to tell a fragment request: django-htmx's ``request.htmx``, typed.

Views that answer htmx with a fragment and everyone else with the page take a
``HtmxHttpRequest`` (django-htmx's documented typing pattern) or call :func:`is_htmx`.
Because one URL then returns two different bodies, every response varies on the
``HX-Request`` header (:class:`VaryOnHtmxMiddleware`), so no cache in between hands a
fragment to a browser that asked for the page, or the page to htmx.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def is_htmx(request: HttpRequest) -> bool:
    """Whether htmx sent this request (False before django-htmx's middleware ran)."""
    details = getattr(request, "htmx", None)
    return bool(details)


class VaryOnHtmxMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        patch_vary_headers(response, ("HX-Request",))
        return response
