"""Three roles, as Django auth groups: viewer reads, operator changes data, admin runs the site.

Roles are ordered: an admin may do what an operator may, an operator what a viewer may.
A superuser is an admin.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Literal

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

Role = Literal["viewer", "operator", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "operator", "admin")
_RANK = {r: i for i, r in enumerate(ROLES)}


def role_of(user: AbstractBaseUser | AnonymousUser | Any) -> Role | None:
    """The highest role the user holds, or None (anonymous, or no role given)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    if getattr(user, "is_superuser", False):
        return "admin"
    names = {g.name for g in getattr(user, "groups").all()}  # noqa: B009 - AbstractBaseUser has no groups
    for role in reversed(ROLES):
        if role in names:
            return role
    return None


def has_role(user: Any, role: Role) -> bool:
    held = role_of(user)
    return held is not None and _RANK[held] >= _RANK[role]


def workshop_mode() -> bool:
    """Kept here for the pages that import it from roles; the answer lives in site_settings."""
    # Imported late: roles is imported by modules loaded before the app registry is ready,
    # and site_settings needs the models.
    from .site_settings import workshop_mode as current

    return current()


def require_role(role: Role) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """View decorator: anonymous users go to the login page, others without the role get 403."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_role(request.user, role):
                raise PermissionDenied(f"this needs the {role} role; you have {role_of(request.user) or 'none'}")
            return view(request, *args, **kwargs)

        return wrapped

    return decorate
