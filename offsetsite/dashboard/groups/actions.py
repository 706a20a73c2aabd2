"""What the action pages share, and the two delete pages.

Each action page renders one template; its ``panel`` partial (the form and the
result) is what an htmx request gets back, so the page works the same with and
without JavaScript. Invalid input answers 422 and a refused change 409, both with
the form and its values; the templates tell htmx to swap those in too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from logcore.cluster import GroupDescription
from logcore.errors import GroupIdNotFound, KafkaError
from logcore.groups import TopicPartition
from offsetsite.core import audit
from offsetsite.core.audit import Action, Actor, offset_changes
from offsetsite.core.htmx import is_htmx
from offsetsite.core.roles import has_role, require_role, workshop_mode
from offsetsite.core.workshop import may_use_group
from offsetsite.dashboard.groups.forms import DeleteGroupForm, DeleteOffsetsForm
from offsetsite.dashboard.templatetags.times import local_text
from offsetsite.engine import current_cluster_name, get_cluster, locked

INVALID = 422  # the input was wrong: nothing was tried
REFUSED = 409  # logcore (Kafka's rules) refused the change: nothing changed


def render_action(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    """The whole page, or only its ``panel`` partial for htmx."""
    name = f"{template}#panel" if is_htmx(request) else template
    return render(request, name, context, status=status)


def user_topics() -> list[str]:
    return get_cluster().list_topics(include_internal=False)


def describe(group_id: str) -> GroupDescription | None:
    """The group now, or None when it does not exist (never had members or offsets)."""
    try:
        return get_cluster().describe_group(group_id)
    except GroupIdNotFound:
        return None


def committed(group_id: str) -> dict[TopicPartition, int]:
    return {tp: om.offset for tp, om in get_cluster().committed_offsets(group_id).items()}


def format_ms(ms: int | None) -> str:
    """A record time as every page shows one (templatetags/times.py); "-" for none."""
    if ms is None or ms < 0:
        return "-"
    return local_text(ms) or "-"


def member_access(request: HttpRequest, group_id: str, *, exists: bool) -> HttpResponse | None:
    """Consume and commit: operators anywhere; workshop visitors in groups they started.

    Returns a response that ends the request (login redirect), None when allowed, and
    raises PermissionDenied (403) otherwise.
    """
    if has_role(request.user, "operator"):
        return None
    if workshop_mode():
        if may_use_group(request, group_id, exists=exists):
            return None
        raise PermissionDenied(
            f"group {group_id!r} was started by someone else; in the workshop you may consume and "
            "commit only in groups you started (choose a new group id)"
        )
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    raise PermissionDenied("consuming as a group member needs the operator role")


@dataclass(frozen=True)
class StateNote:
    """A sentence about the group's state that decides what the page may do."""

    state: str
    members: int
    active: bool


def state_note(desc: GroupDescription | None) -> StateNote:
    if desc is None:
        return StateNote("unknown (no such group yet)", 0, False)
    return StateNote(desc.state, len(desc.members), desc.is_active)


# --- delete offsets --------------------------------------------------------------


def _offset_choices(group_id: str) -> list[tuple[str, str]]:
    return [(f"{t}:{p}", f"{t} partition {p} (committed {o})") for (t, p), o in sorted(committed(group_id).items())]


def _parse_choice(value: str) -> TopicPartition:
    # Topic names never contain ':' (Kafka allows only [a-zA-Z0-9._-]).
    topic, _, p = value.rpartition(":")
    return topic, int(p)


@require_http_methods(["GET", "POST"])
@require_role("operator")
def group_delete_offsets(request: HttpRequest, group: str) -> HttpResponse:
    template = "dashboard/actions/delete_offsets.html"
    ctx: dict[str, Any] = {"group": group}
    if not getattr(get_cluster(), "supports_offset_delete", True):
        # Say so before the form is filled in, not after: the backend's own refusal
        # (deleting no partition) gives the reason and what to use instead.
        try:
            get_cluster().delete_offsets(group, [])
        except KafkaError as e:
            ctx["refusal"] = str(e)
        return render_action(request, template, ctx, REFUSED if request.method == "POST" else 200)
    if request.method != "POST":
        ctx.update(form=DeleteOffsetsForm(choices=_offset_choices(group)), note=state_note(describe(group)))
        return render_action(request, template, ctx)
    with locked():
        form = DeleteOffsetsForm(request.POST, choices=_offset_choices(group))
        ctx.update(form=form, note=state_note(describe(group)))
        if not form.is_valid():
            return render_action(request, template, ctx, INVALID)
        parts = [_parse_choice(v) for v in form.cleaned_data["partitions"]]
        before = committed(group)
        try:
            deleted = get_cluster().delete_offsets(group, parts)
        except KafkaError as e:
            ctx["refusal"] = str(e)
            return render_action(request, template, ctx, REFUSED)
        after = committed(group)
        changes = offset_changes(before, after, parts)
        audit.log(
            Actor.web(request),
            Action.OFFSETS_DELETE,
            cluster=current_cluster_name(),
            group_id=group,
            offsets=changes,
            summary=f"deleted the committed offsets of {len(deleted)} partition(s) of group {group}",
        )
        ctx.update(
            done=changes,
            note=state_note(describe(group)),
            form=DeleteOffsetsForm(choices=_offset_choices(group)),
        )
    return render_action(request, template, ctx)


# --- delete group ------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@require_role("operator")
def group_delete(request: HttpRequest, group: str) -> HttpResponse:
    template = "dashboard/actions/delete_group.html"
    ctx: dict[str, Any] = {"group": group}
    if request.method != "POST":
        desc = describe(group)
        ctx.update(form=DeleteGroupForm(group_id=group), note=state_note(desc), offsets=committed(group))
        return render_action(request, template, ctx)
    with locked():
        form = DeleteGroupForm(request.POST, group_id=group)
        before = committed(group)
        ctx.update(form=form, note=state_note(describe(group)), offsets=before)
        if not form.is_valid():
            return render_action(request, template, ctx, INVALID)
        try:
            get_cluster().delete_group(group)
        except KafkaError as e:
            ctx["refusal"] = str(e)
            return render_action(request, template, ctx, REFUSED)
        changes = offset_changes(before, {})
        audit.log(
            Actor.web(request),
            Action.GROUP_DELETE,
            cluster=current_cluster_name(),
            group_id=group,
            offsets=changes,
            summary=f"deleted group {group} with {len(before)} committed offset(s)",
        )
        ctx.update(done=changes, deleted=True)
    return render_action(request, template, ctx)
