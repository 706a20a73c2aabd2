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


def clusters(request: HttpRequest) -> dict[str, Any]:
    """The header's cluster switcher, and the banner of a Kafka cluster that does not answer."""
    from offsetsite import clusters as registry
    from offsetsite.engine import DEFAULT_CLUSTER, current_cluster_name

    name = current_cluster_name()
    status = registry.status(name)
    stale = registry.stale_since_ms(name)
    return {
        "clusters": registry.entries(),
        "cluster_name": name,
        "cluster_embedded": name == DEFAULT_CLUSTER,
        "cluster_status": status,
        "cluster_stale_since_ms": stale,
        "cluster_stale_at": _clock(stale),
        "cluster_stale_age": _age(stale),
        "cluster_down_since": _clock(status.unreachable_since_ms if status else None),
    }


def _clock(ms: int | None) -> str:
    if ms is None:
        return ""
    from datetime import UTC, datetime

    from django.utils import timezone

    return timezone.localtime(datetime.fromtimestamp(ms / 1000, tz=UTC)).strftime("%Y-%m-%d %H:%M:%S %Z")


def _age(ms: int | None) -> str:
    if ms is None:
        return ""
    import time

    seconds = max(int(time.time() - ms / 1000), 0)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"
