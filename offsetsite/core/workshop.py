"""Open workshop rooms: anonymous visitors may produce, and consume in groups of their own.

A visitor's groups are remembered in their session. They may consume and commit in
those, never in anyone else's, and never reset or delete anything: those stay with
operators. Workshop mode is the admin's runtime setting (``site_settings``), defaulting
to the environment's. Outside workshop mode these all defer to the operator role.
"""

from __future__ import annotations

from django.http import HttpRequest

from .roles import has_role
from .site_settings import workshop_mode

_SESSION_KEY = "offsetsite.own_groups"


def may_produce(request: HttpRequest) -> bool:
    return has_role(request.user, "operator") or workshop_mode()


def own_groups(request: HttpRequest) -> list[str]:
    return list(request.session.get(_SESSION_KEY, []))


def may_use_group(request: HttpRequest, group_id: str, *, exists: bool) -> bool:
    """May this visitor consume and commit as a member of ``group_id``?

    Operators may use any group. A workshop visitor may use a group they started, or
    start a new one (``exists`` False); a group someone else started is not theirs.
    """
    if has_role(request.user, "operator"):
        return True
    if not workshop_mode():
        return False
    return group_id in own_groups(request) or not exists


def claim_group(request: HttpRequest, group_id: str) -> None:
    """Remember that this visitor started ``group_id`` (workshop mode)."""
    groups = own_groups(request)
    if group_id not in groups:
        groups.append(group_id)
        request.session[_SESSION_KEY] = groups[-50:]
