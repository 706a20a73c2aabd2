"""The room of a workshop: attendees join by name and run one ticket checker each.

``/lab/room/``: join (a name, a group of one's own or the shared one, a commit
strategy), then watch and control one's own checker. ``/lab/room/facilitator/``: the
operator's view of every attendee, a wave of passengers, and the reset of the lab.

Who may do what: joining and controlling need workshop mode (an anonymous attendee)
or the operator role; an attendee controls only the checker their session joined
with (``room.of_session``); operators control any. The facilitator's page and its
actions need the operator role. Every change is audited (``Action.LAB_CHECKER``,
``Action.RECORDS_PRODUCE``, ``Action.LAB_RESET``).
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from offsetsite import engine
from offsetsite.core import audit
from offsetsite.core.audit import Action, Actor
from offsetsite.core.htmx import is_htmx
from offsetsite.core.roles import has_role, require_role, workshop_mode

from . import room, room_html
from .room import RoomError, RoomFull

BAD_INPUT = 400
REFUSED = 409
FULL = 503  # the room is at its cap: try later, or the facilitator makes room
WAVE_MAX = 1000


def may_join(request: HttpRequest) -> bool:
    return has_role(request.user, "operator") or workshop_mode()


def _need_embedded() -> None:
    if not engine.is_embedded():
        raise PermissionDenied("The room runs only on the embedded engine, never on a Kafka cluster.")


def _live_key(view: str, me: str = "") -> str:
    params = {"view": view}
    if me:
        params["me"] = me
    return urlencode(params)


# --- the attendee's page ----------------------------------------------------------------


@require_safe
def room_page(request: HttpRequest) -> HttpResponse:
    _need_embedded()
    me = room.of_session(request.session)
    return _render_room(request, me)


def _render_room(
    request: HttpRequest,
    me: room.Attendee | None,
    *,
    error: str = "",
    form: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    state = room.room_state()
    row = state.row(me.name) if me is not None else None
    ctx: dict[str, Any] = {
        "me": me,
        "row": row,
        "state": state,
        "may_join": may_join(request),
        "strategies": room.STRATEGIES,
        "actions": room.ACTIONS,
        "error": error,
        "form": form or {"mode": "own", "strategy": "every:10", "pace": str(room.DEFAULT_PACE)},
        "cap": room.cap(),
        "name_rule": room.NAME_RULE,
        "pace_max": room.PACE_MAX,
        "topic": room.TOPIC,
        "shared_group": room.SHARED_GROUP,
        "live_key": _live_key("room", me.name if me else ""),
        "is_operator": has_role(request.user, "operator"),
        "me_html": room_html.me_panel(row, oob=False) if me is not None else "",
        "summary_html": room_html.summary(state, room.TOPIC, oob=False),
    }
    return render(request, "lab/room.html", ctx, status=status)


@require_POST
def join(request: HttpRequest) -> HttpResponse:
    _need_embedded()
    if not may_join(request):
        raise PermissionDenied("Joining the room needs workshop mode (ask the facilitator) or an operator login.")
    form = {
        "name": request.POST.get("name", ""),
        "mode": request.POST.get("mode", "own"),
        "strategy": request.POST.get("strategy", "every:10"),
        "pace": request.POST.get("pace", str(room.DEFAULT_PACE)),
    }
    current = room.of_session(request.session)
    if current is not None:
        # One checker a session: a crowd of tabs must not become a crowd of checkers.
        return _render_room(
            request,
            current,
            error=f"This browser already joined as {current.name!r}: one checker a person.",
            status=REFUSED,
        )
    if form["mode"] not in ("own", "shared"):
        return _render_room(request, None, error="Choose 'own' or 'shared' for the group.", form=form, status=BAD_INPUT)
    try:
        pace = float(form["pace"])
    except ValueError:
        return _render_room(
            request,
            None,
            error=f"The pace must be a number of seats a second (0.1 to {room.PACE_MAX:g}).",
            form=form,
            status=BAD_INPUT,
        )
    try:
        attendee = room.join(form["name"], shared=form["mode"] == "shared", strategy=form["strategy"], pace=pace)
    except RoomFull as e:
        return _render_room(request, None, error=str(e), form=form, status=FULL)
    except RoomError as e:
        return _render_room(request, None, error=str(e), form=form, status=BAD_INPUT)
    room.remember(request.session, attendee)
    audit.checker_changed(
        Actor.web(request),
        topic=room.TOPIC,
        group_id=attendee.group,
        checker=attendee.name,
        action="start",
        summary=f"room: {attendee.name} joined and started a checker ({form['strategy']}, {pace:g}/s)",
        room=True,
    )
    return HttpResponseRedirect(reverse("lab_room"))


def _controlled(request: HttpRequest, name: str) -> room.Attendee:
    """The attendee ``name`` if this request may control their checker; 403 otherwise."""
    _need_embedded()
    if not may_join(request):
        raise PermissionDenied("Controlling a checker needs workshop mode or an operator login.")
    target = room.find(name)
    if target is None:
        if has_role(request.user, "operator"):
            raise PermissionDenied(f"No attendee named {name!r} is in the room.")
        raise PermissionDenied("You may control only your own checker.")
    mine = room.of_session(request.session)
    if has_role(request.user, "operator") or (mine is not None and mine.name == target.name):
        return target
    raise PermissionDenied("You may control only your own checker.")


def _back(request: HttpRequest) -> HttpResponse:
    if request.POST.get("next") == "facilitator" and has_role(request.user, "operator"):
        return HttpResponseRedirect(reverse("lab_room_facilitator"))
    return HttpResponseRedirect(reverse("lab_room"))


@require_POST
def control(request: HttpRequest, attendee: str) -> HttpResponse:
    target = _controlled(request, attendee)
    action = request.POST.get("action", "")
    try:
        view = room.control(target, action)
    except RoomError as e:
        messages.error(request, str(e))
        return _back(request)
    audit.checker_changed(
        Actor.web(request),
        topic=view.topic,
        group_id=view.group,
        checker=target.name,
        action=action,
        summary=f"room: {action} {target.name}",
        room=True,
    )
    if is_htmx(request):
        return HttpResponse(status=204)
    return _back(request)


@require_POST
def strategy(request: HttpRequest, attendee: str) -> HttpResponse:
    target = _controlled(request, attendee)
    chosen = request.POST.get("strategy", "")
    try:
        view = room.change_strategy(target, chosen)
    except RoomError as e:
        messages.error(request, str(e))
        return _back(request)
    audit.checker_changed(
        Actor.web(request),
        topic=view.topic,
        group_id=view.group,
        checker=target.name,
        action="strategy",
        summary=f"room: {target.name} now {view.policy}",
        strategy=view.policy,
        room=True,
    )
    return _back(request)


# --- the facilitator ----------------------------------------------------------------------


@require_safe
@require_role("operator")
def facilitator(request: HttpRequest) -> HttpResponse:
    _need_embedded()
    state = room.room_state()
    return render(
        request,
        "lab/room_facilitator.html",
        {
            "state": state,
            "topic": room.TOPIC,
            "cap": room.cap(),
            "wave_max": WAVE_MAX,
            "live_key": _live_key("facilitator"),
            "workshop": workshop_mode(),
            "rows_html": room_html.rows(state, oob=False),
            "summary_html": room_html.summary(state, room.TOPIC, oob=False),
        },
    )


@require_POST
@require_role("operator")
def wave(request: HttpRequest) -> HttpResponse:
    _need_embedded()
    raw = request.POST.get("count", "60")
    try:
        count = int(raw)
    except ValueError:
        count = 0
    if not 1 <= count <= WAVE_MAX:
        messages.error(request, f"A wave is 1 to {WAVE_MAX} passengers; got {raw[:20]!r}.")
        return HttpResponseRedirect(reverse("lab_room_facilitator"))
    total = room.produce_wave(count)
    audit.log(
        Actor.web(request),
        Action.RECORDS_PRODUCE,
        cluster=engine.current_cluster_name(),
        topic=room.TOPIC,
        summary=f"room: a wave of {count} passengers ({total} on the train)",
        details={"records": count, "room": True},
    )
    messages.success(request, f"{count} passengers boarded {room.TOPIC} ({total} in all).")
    return HttpResponseRedirect(reverse("lab_room_facilitator"))


@require_POST
@require_role("operator")
def reset(request: HttpRequest) -> HttpResponse:
    _need_embedded()
    if request.POST.get("confirm") != "reset":
        messages.error(request, "Nothing was reset: tick 'Yes, reset the whole lab' to confirm.")
        return HttpResponseRedirect(reverse("lab_room_facilitator"))
    people = [a.name for a in room.attendees()]
    done = room.reset_everything()
    audit.log(
        Actor.web(request),
        Action.LAB_RESET,
        cluster=engine.current_cluster_name(),
        topic=room.TOPIC,
        summary=f"room: the whole lab reset ({len(people)} attendees, {len(done['deleted_groups'])} groups' offsets)",
        details={**done, "attendees": people[:200]},
    )
    messages.success(request, "The lab was reset: no checkers, an empty ledger, an empty train.")
    return HttpResponseRedirect(reverse("lab_room_facilitator"))


# --- live ---------------------------------------------------------------------------------

# The parts every viewer sees alike, built once per (cluster, lab version).
_shared_lock = threading.Lock()
_shared_html: dict[tuple[str, str], tuple[tuple[int, int], str]] = {}


def _shared(part: str, state: room.RoomState) -> str:
    k = (engine.current_cluster_name(), part)
    with _shared_lock:
        found = _shared_html.get(k)
        if found is not None and found[0] == state.version:
            return found[1]
        html = str(
            room_html.summary(state, room.TOPIC, oob=True) if part == "summary" else room_html.rows(state, oob=True)
        )
        _shared_html[k] = (state.version, html)
        return html


def render_room_live(params: dict[str, str], user: Any) -> str:
    state = room.room_state()
    html = _shared("summary", state)
    name = params.get("me", "")
    if name:
        html += _me_panel(state.row(name), name)
    return html


# Each attendee's panel as last built, with the row it shows: most versions move only
# some checkers (a checker at 5 seats a second finishes one every other step), and an
# unchanged row needs no new markup.
_panels: dict[tuple[str, str], tuple[room.Row | None, str]] = {}


def _me_panel(row: room.Row | None, name: str) -> str:
    k = (engine.current_cluster_name(), name)
    found = _panels.get(k)
    if found is not None and found[0] == row:
        return found[1]
    html = str(room_html.me_panel(row, oob=True))
    if len(_panels) > 4 * room.cap():  # names of attendees long gone: start afresh
        _panels.clear()
    _panels[k] = (row, html)
    return html


def render_facilitator_live(params: dict[str, str], user: Any) -> str:
    if not has_role(user, "operator"):
        return str(room_html.denied_rows())
    state = room.room_state()
    return _shared("rows", state) + _shared("summary", state)


def register_live() -> None:
    from .live import add_view

    add_view("room", render_room_live)
    add_view("facilitator", render_facilitator_live)
