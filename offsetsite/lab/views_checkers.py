"""Ticket checkers on the group page: start one, pause, resume, crash, restart, remove.

The group page shows a "Ticket checkers" panel (``templates/lab/group_checkers.html``):
a form that starts a checker in the group, a row per checker, and the ledger's counts
per partition. The rows and the counts are live: the group page's live renderer renders
the same partials (``live_parts``).

Who may do what: operators start and control any checker. In workshop mode an
anonymous visitor may start checkers in groups they started (the rule of
``offsetsite.core.workshop`` for consuming) and control only the checkers they
started, remembered in their session. Everyone else reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_POST

from logcore.checkers import CheckerView, PartitionCounts, State
from logcore.errors import KafkaError
from logcore.ledger import Seat
from offsetsite import engine
from offsetsite.core import audit
from offsetsite.core.audit import Actor
from offsetsite.core.roles import has_role, workshop_mode
from offsetsite.core.workshop import may_use_group

from . import service
from .forms import STRATEGIES, CheckerForm

INVALID = 422  # the form was wrong: nothing was tried
REFUSED = 409  # the lab refused (name taken, topic gone): nothing changed
ACTIONS = ("pause", "resume", "crash", "restart", "remove")
_SESSION_KEY = "offsetsite.lab.own_checkers"
# The live renderer sees only the user; an anonymous visitor's own checkers ride in
# the socket's render key after this separator (checker names never hold it).
OWN_SEP = "\x00"


# --- who may do what -------------------------------------------------------------------


def own_checkers(request: HttpRequest) -> list[str]:
    return session_checkers(request.session)


def session_checkers(session: Any) -> list[str]:
    """The checkers this session started (a websocket's scope has the session too)."""
    return [str(n) for n in session.get(_SESSION_KEY, [])]


def _claim(request: HttpRequest, name: str) -> None:
    names = own_checkers(request)
    if name not in names:
        names.append(name)
        request.session[_SESSION_KEY] = names[-50:]


def _forget(request: HttpRequest, name: str) -> None:
    names = own_checkers(request)
    if name in names:
        names.remove(name)
        request.session[_SESSION_KEY] = names


def may_start(request: HttpRequest, group: str) -> bool:
    if has_role(request.user, "operator"):
        return True
    return workshop_mode() and not request.user.is_authenticated and may_use_group(request, group, exists=True)


def _refuse(request: HttpRequest, why: str) -> HttpResponse:
    """Anonymous outside workshop mode: log in; anyone else without the right: 403."""
    if not request.user.is_authenticated and not workshop_mode():
        return redirect_to_login(request.get_full_path())
    raise PermissionDenied(why)


# --- what the panel shows ----------------------------------------------------------------


@dataclass(frozen=True)
class CheckerRow:
    view: CheckerView
    assignment: str
    in_hand: str
    last_commit: str
    actions: tuple[str, ...]  # the buttons this viewer gets


def _partitions_text(tps: Any) -> str:
    return ", ".join(f"compartment {p}" for _, p in sorted(tps)) or "none"


def _in_hand(view: CheckerView, waiting_s: float | None) -> str:
    if view.state is State.CRASHED:
        return "crashed: holds nothing (what it held and had not committed goes to the next owner)"
    if view.state is State.STOPPED:
        return "stopped"
    if view.joining:
        if waiting_s is not None:
            return f"waiting for the group: the crashed member's session ends in ~{waiting_s:.0f} s"
        return "joining the group"
    if view.current is not None and view.current_offset is not None:
        text = f"checking seat {view.current_offset} of compartment {view.current[1]}"
        more = len(view.held) - 1
        return text + (f" ({more} more in hand)" if more > 0 else "")
    if view.held:
        return f"{len(view.held)} seats in hand"
    if view.state is State.PAUSED:
        return "paused, nothing in hand"
    return "waiting for new records"


def _actions(view: CheckerView) -> tuple[str, ...]:
    out = []
    if view.state is State.RUNNING:
        out.append("pause")
    if view.state is State.PAUSED:
        out.append("resume")
    if view.state in (State.RUNNING, State.PAUSED):
        out.append("crash")
    if view.state in (State.CRASHED, State.STOPPED):
        out.append("restart")
    out.append("remove")
    return tuple(out)


def panel_context(group: str, user: Any, own: list[str] | None) -> dict[str, Any]:
    """The live part's context; ``own`` None means the viewer may control every checker."""
    lab = service.group_lab(group)
    waiting = service.stale_session_s(group) if lab is not None and any(c.joining for c in lab.checkers) else None
    rows = []
    for v in lab.checkers if lab is not None else ():
        mine = own is None or v.name in own
        rows.append(
            CheckerRow(
                view=v,
                assignment=_partitions_text(v.assignment),
                in_hand=_in_hand(v, waiting),
                last_commit=", ".join(f"compartment {p} → seat {o}" for (_, p), o in v.last_commit) or "none yet",
                actions=_actions(v) if mine else (),
            )
        )
    parts = [PartitionRow(p, _lost_seats(group, p)) for p in (lab.partitions if lab is not None else ())]
    return {"lab": lab, "checker_rows": rows, "partition_rows": parts, "group_id": group}


@dataclass(frozen=True)
class PartitionRow:
    counts: PartitionCounts
    lost: str  # which seats were lost, the first few


LOST_SHOWN = 12  # seats listed by number; the count says how many in all
LOST_SCAN = 5_000  # how far behind the committed offset lost seats are looked for


def _lost_seats(group: str, p: PartitionCounts) -> str:
    if not p.counts.losses or p.committed is None:
        return ""
    first = max(p.log_start, p.committed - LOST_SCAN)
    seats = service.seats(group, p.topic, p.partition, first, p.committed) or []
    lost = [first + i for i, s in enumerate(seats) if s is Seat.SKIPPED]
    text = ", ".join(str(o) for o in lost[:LOST_SHOWN])
    return text + (f" and {len(lost) - LOST_SHOWN} more" if len(lost) > LOST_SHOWN else "")


def _viewer_owns(request: HttpRequest) -> list[str] | None:
    return None if has_role(request.user, "operator") else own_checkers(request)


def page_context(request: HttpRequest, group: str, form: CheckerForm | None = None) -> dict[str, Any]:
    """What the group page adds for the lab: nothing on a Kafka cluster (it has no lab)."""
    if not engine.is_embedded():
        return {"lab_enabled": False}
    ctx = panel_context(group, request.user, _viewer_owns(request))
    allowed = may_start(request, group)
    if form is None and allowed:
        form = _form(group)
    ctx.update(
        {
            "lab_enabled": True,
            "lab_form": form,
            "lab_may_start": allowed,
            "lab_strategies": STRATEGIES,
        }
    )
    return ctx


def live_parts(key: str, user: Any) -> str:
    """The panel's live parts for the group page's renderer; ``key`` is the socket's render key."""
    if not engine.is_embedded():
        return ""
    group, sep, names = key.rpartition(OWN_SEP)
    if not sep:
        group, names = key, ""
    own = None if has_role(user, "operator") else [n for n in names.split(",") if n]
    if not workshop_mode() and own is not None:
        own = []
    ctx = panel_context(group, user, own)
    ctx["oob"] = True
    return render_to_string("lab/group_checkers.html#live", ctx)


def _form(group: str, data: Any = None) -> CheckerForm:
    from offsetsite.engine import get_cluster

    cluster = get_cluster()
    topics = cluster.list_topics(include_internal=False)
    group_topics: list[str] = []
    try:
        group_topics = sorted({row.topic for row in cluster.describe_group(group).offsets})
    except KafkaError:
        pass
    lab = service.group_lab(group)
    if lab is not None:
        group_topics = sorted({c.topic for c in lab.checkers} | set(group_topics))
    return CheckerForm(data, group=group, topics=topics, group_topics=group_topics)


# --- the views -----------------------------------------------------------------------------


def _group_page(request: HttpRequest, group: str, form: CheckerForm, status: int) -> HttpResponse:
    from offsetsite.dashboard.groups.views import render_group

    return render_group(request, group, lab_form=form, status=status)


def _back(group: str) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("group", args=[group]) + "#checkers")


@require_POST
def start(request: HttpRequest, group: str) -> HttpResponse:
    if not engine.is_embedded():
        raise PermissionDenied("ticket checkers run only in the embedded engine, not on a Kafka cluster")
    if not may_start(request, group):
        return _refuse(
            request,
            "starting a ticket checker needs the operator role (in the workshop: in a group you started)",
        )
    form = _form(group, request.POST)
    if not form.is_valid() or form.spec is None:
        return _group_page(request, group, form, INVALID)
    spec = form.spec
    try:
        view = service.start_checker(spec)
    except KafkaError as e:
        form.add_error(None, f"The checker was not started: {e}.")
        return _group_page(request, group, form, REFUSED)
    if not has_role(request.user, "operator"):
        _claim(request, view.name)
    audit.checker_changed(
        Actor.web(request),
        topic=spec.topic,
        group_id=group,
        checker=view.name,
        action="start",
        summary=f"started ticket checker {view.name!r} ({view.policy_text}, {spec.pace:g} records/s)",
        pace=spec.pace,
        policy=view.policy,
    )
    return _back(group)


@require_POST
def control(request: HttpRequest, name: str) -> HttpResponse:
    action = request.POST.get("action", "")
    if action not in ACTIONS:
        return HttpResponse(
            f"Unknown action {action!r}; allowed: {', '.join(ACTIONS)}.", status=400, content_type="text/plain"
        )
    if not engine.is_embedded():
        raise PermissionDenied("ticket checkers run only in the embedded engine, not on a Kafka cluster")
    operator = has_role(request.user, "operator")
    mine = workshop_mode() and not request.user.is_authenticated and name in own_checkers(request)
    if not (operator or mine):
        return _refuse(
            request,
            "controlling a ticket checker needs the operator role (in the workshop: a checker you started)",
        )
    try:
        view = service.control(name, action)
    except KafkaError as e:
        return HttpResponse(f"Nothing changed: {e}.", status=REFUSED, content_type="text/plain")
    if action == "remove" and not operator:
        _forget(request, name)
    audit.checker_changed(
        Actor.web(request),
        topic=view.topic,
        group_id=view.group,
        checker=view.name,
        action=action,
        summary=f"{action} ticket checker {view.name!r}",
    )
    return _back(view.group)
