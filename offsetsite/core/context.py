"""Template context: the user's role, so pages show only the actions they may take."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from .roles import has_role, role_of, workshop_mode


def roles(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    return {
        "role": role_of(user),
        "can_operate": has_role(user, "operator"),
        "is_admin": has_role(user, "admin"),
        "workshop": workshop_mode(),
    }
