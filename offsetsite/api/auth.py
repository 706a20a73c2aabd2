"""Bearer-token authentication for the JSON API, and its error handling.

API requests carry ``Authorization: Bearer <token>`` and no cookies. That is why the
API views may skip CSRF: a browser never attaches a bearer token on its own, so a
forged cross-site request cannot authenticate. For the same reason a session cookie
alone is refused here; the web pages keep their CSRF-protected forms.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from logcore.errors import KafkaError
from offsetsite.core.audit import Actor, Source
from offsetsite.core.roles import Role, has_role, role_of

from .errors import error_body, status_for
from .models import ApiToken

DEFAULT_MAX_BODY = 2 * 1024 * 1024
CLI_USERNAME = "offsetsite-cli"
log = logging.getLogger(__name__)


class ApiError(Exception):
    """A refusal of the API itself (auth, role, shape of the request)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BAD_REQUEST", message)


def error_response(status: int, code: str, message: str, **extra: Any) -> JsonResponse:
    response = JsonResponse({"error": {"code": code, "message": message, **extra}}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="offsetsite"'
    return response


def max_body() -> int:
    return int(str(settings.OFFSETSITE.get("API_MAX_BODY", DEFAULT_MAX_BODY)))


def bearer_token(request: HttpRequest) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def authenticate(request: HttpRequest) -> ApiToken:
    raw = bearer_token(request)
    if raw is None:
        # Deliberately ignore request.user from a session cookie (see the module doc).
        raise ApiError(
            401,
            "UNAUTHORIZED",
            "this API needs 'Authorization: Bearer <token>'; create a token with "
            "'python manage.py createtoken <username>' (session cookies are not accepted)",
        )
    token = ApiToken.lookup(raw)
    if token is None:
        raise ApiError(401, "UNAUTHORIZED", "the token is unknown, expired, or its user is inactive")
    return token


def json_body(request: HttpRequest) -> Any:
    """The request's JSON body (``{}`` when empty), refusing anything that is not JSON."""
    if not request.body:
        return {}
    try:
        return json.loads(request.body)
    except (ValueError, UnicodeDecodeError) as e:
        raise bad_request(f"the request body is not valid JSON: {e}") from None
    except RecursionError:
        raise bad_request(
            "the request body is JSON nested too deeply; the API's bodies are objects and lists a few levels deep"
        ) from None


def actor(request: HttpRequest) -> Actor:
    """Who changes what through this request, for the audit log: source 'cli' for the
    command line's own token user when it says so, else 'api'."""
    user = getattr(request, "user", None)
    cli = (
        request.headers.get("X-Offsetsite-Source") == "cli" and user is not None and user.get_username() == CLI_USERNAME
    )
    return Actor.of(request, Source.CLI if cli else Source.API)


View = Callable[..., HttpResponse]


def api_view(methods: dict[str, Role]) -> Callable[[View], View]:
    """An API view: ``methods`` maps each allowed HTTP method to the role it needs.

    The wrapped view runs with ``request.user`` set to the token's user, and any
    logcore error it raises becomes a JSON error with a fitting status.
    """

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                needed = methods.get(request.method or "")
                if needed is None:
                    response = error_response(
                        405,
                        "METHOD_NOT_ALLOWED",
                        f"{request.method} is not allowed here; allowed: {', '.join(sorted(methods))}",
                    )
                    response["Allow"] = ", ".join(sorted(methods))
                    return response
                token = authenticate(request)
                request.user = token.user
                held = role_of(token.user)
                if not has_role(token.user, needed):
                    raise ApiError(
                        403,
                        "FORBIDDEN",
                        f"{request.method} here needs the {needed} role; the token's user has {held or 'no role'}",
                    )
                try:
                    length = int(request.headers.get("Content-Length") or 0)
                except ValueError:
                    raise bad_request("the Content-Length header is not a number") from None
                if length > max_body():
                    raise ApiError(
                        413, "PAYLOAD_TOO_LARGE", f"the request body is {length} bytes; at most {max_body()} allowed"
                    )
                token.touch()
                return view(request, *args, **kwargs)
            except ApiError as e:
                return error_response(e.status, e.code, str(e))
            except RequestDataTooBig:
                return error_response(
                    413, "PAYLOAD_TOO_LARGE", f"the request body is too large; at most {max_body()} bytes allowed"
                )
            except KafkaError as e:
                return JsonResponse({"error": error_body(e)}, status=status_for(e))
            except Exception:
                # A bug, not a refusal: log the trace, and still answer in JSON so that
                # scripts and the command line can show a message instead of an HTML page.
                log.exception("API %s %s failed", request.method, request.path)
                return error_response(
                    500, "UNKNOWN_SERVER_ERROR", "the server failed on this request; its log has the details"
                )

        return csrf_exempt(wrapped)

    return decorate
