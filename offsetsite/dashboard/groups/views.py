"""The group page: members, and per partition the committed offset, lag, lag in time, health."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string

from logcore.errors import GroupIdNotFound
from offsetsite.core.roles import has_role, workshop_mode
from offsetsite.core.workshop import may_use_group
from offsetsite.dashboard.groups.status import LAG_SOURCES, GroupView, tracker
from offsetsite.engine import get_cluster


def group_context(group_id: str) -> dict[str, Any] | None:
    """The page's data, or None when the group does not exist."""
    try:
        view = tracker().group_view(get_cluster(), group_id)
    except GroupIdNotFound:
        return None
    return {"group": view, "members": _members(view), "lag_sources": LAG_SOURCES}


def _members(view: GroupView) -> list[dict[str, Any]]:
    return [
        {
            "m": m,
            "is_leader": m.member_id == view.leader,
            "assignment": ", ".join(f"{t}-{p}" for t, p in sorted(m.assignment)),
        }
        for m in view.members
    ]


def _permissions(request: HttpRequest, group_id: str) -> dict[str, bool]:
    operate = has_role(request.user, "operator")
    # Workshop visitors consume and commit in groups they started, never reset or delete.
    use = operate or (workshop_mode() and may_use_group(request, group_id, exists=True))
    return {
        "may_use": use,
        "may_admin": operate,
        # A Kafka cluster cannot delete some offsets of a group (docs/kafka.md): no button.
        "may_delete_offsets": operate and bool(getattr(get_cluster(), "supports_offset_delete", True)),
    }


def group(request: HttpRequest, group: str) -> HttpResponse:
    return render_group(request, group)


def render_group(request: HttpRequest, group: str, lab_form: Any = None, status: int = 200) -> HttpResponse:
    """The page; the lab's start view renders it again with its refused form (``lab_form``)."""
    from offsetsite.lab.views_checkers import page_context

    context = group_context(group)
    if context is None:
        return render(request, "dashboard/group_missing.html", {"group_id": group}, status=404)
    context.update(_permissions(request, group))
    context.update(page_context(request, group, lab_form))
    return render(request, "dashboard/group.html", context, status=status)


def render_live(key: str, user: Any) -> str:
    """The group page's live parts (header facts, members, partitions, ticket checkers).

    ``key`` is the group id, followed by the visitor's own checkers after OWN_SEP when
    the page's socket carries them (see offsetsite.lab.views_checkers).
    """
    from offsetsite.lab.views_checkers import OWN_SEP, live_parts

    group_id, sep, _ = key.rpartition(OWN_SEP)
    if not sep:
        group_id = key
    context = group_context(group_id)
    if context is None:
        # Deleted while watched: say so in place of the state line.
        return render_to_string("dashboard/group.html#gone", {"group_id": group_id, "oob": True})
    context.update({"oob": True, "user": user})
    return render_to_string("dashboard/group.html#live", context) + live_parts(key, user)
