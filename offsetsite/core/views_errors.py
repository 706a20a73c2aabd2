"""The 400 page: say which limit a refused request broke, instead of Django's bare "Bad Request".

Django refuses a request before any view sees it when its form data is larger than
``DATA_UPLOAD_MAX_MEMORY_SIZE`` or has more than ``DATA_UPLOAD_MAX_NUMBER_FIELDS``
fields; nothing was changed, and the visitor should learn why.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse
from django.template.defaultfilters import filesizeformat
from django.template.loader import render_to_string


def reason(exception: Exception | None) -> str:
    if isinstance(exception, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return (
            f"The request was too large: a form may send at most {filesizeformat(limit)} "
            "(files uploaded through a file field aside). Send less, or use the JSON API for big records."
        )
    if isinstance(exception, TooManyFieldsSent):
        return f"The request had too many form fields: at most {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} are allowed."
    return "The request was malformed or not allowed for this host."


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    # No context processors (the request may be unreadable): a standalone page.
    html = render_to_string("400.html", {"reason": reason(exception)})
    return HttpResponse(html, status=400)
