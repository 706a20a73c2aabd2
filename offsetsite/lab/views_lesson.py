"""The guided lesson's pages: /lab/lesson/ (read-only for all who may read), its steps and its restart.

Operators (the facilitator) press the buttons; everyone else who may read the site
(viewers, and anonymous visitors unless reads need a login: in workshop mode that is
the room) follows read-only, with no buttons. Every step and the restart are POSTs with CSRF, and
audited: ``Action.LAB_CHECKER`` for what the checkers did, ``Action.RECORDS_PRODUCE``
for the passengers that boarded, ``Action.LAB_RESET`` for a restart.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from logcore.errors import KafkaError
from offsetsite import engine
from offsetsite.core import audit
from offsetsite.core.audit import Action, Actor
from offsetsite.core.roles import has_role, require_role

from . import lesson, lesson_train


class BadLessonRequest(ValueError):
    """A query or form value the lesson does not know; the message says what is allowed."""


def parse_step(raw: str | None) -> int:
    if raw is None or raw == "":
        return 1
    if not raw.isdecimal() or not 1 <= int(raw) <= len(lesson.STEPS):
        raise BadLessonRequest(f"step {raw[:20]!r} does not exist: the lesson has steps 1 to {len(lesson.STEPS)}")
    return int(raw)


def parse_projector(raw: str | None) -> bool:
    if raw in (None, "", "0"):
        return False
    if raw == "1":
        return True
    raise BadLessonRequest(f"projector={raw[:20]!r} is not allowed: use projector=1 (or leave it out)")


def page_url(step: int, projector: bool) -> str:
    query = {"step": step, **({"projector": 1} if projector else {})}
    return reverse("lesson") + "?" + urlencode(query)


def _unavailable(request: HttpRequest) -> HttpResponse | None:
    if engine.is_embedded():
        return None
    return render(
        request,
        "lab/lesson_unavailable.html",
        {"reason": "The lesson runs its ticket checkers inside the embedded engine; a Kafka cluster has no lab."},
        status=404,
    )


def lesson_context(step_no: int, projector: bool) -> dict[str, Any]:
    current = lesson.step(step_no)
    assert current is not None  # parse_step checked the range
    return {
        "sections": lesson.SECTIONS,
        "steps": lesson.STEPS,
        "step": current,
        "section": lesson.section(current.section),
        "section_steps": [s for s in lesson.STEPS if s.section == current.section],
        "prev_url": page_url(step_no - 1, projector) if step_no > 1 else "",
        "next_url": page_url(step_no + 1, projector) if step_no < len(lesson.STEPS) else "",
        "projector": projector,
        "train": lesson_train.build(),
        "live_key": urlencode({"view": "lesson", "step": step_no, **({"projector": 1} if projector else {})}),
        "topic": lesson.TOPIC,
        "group": lesson.GROUP,
    }


@require_GET
def lesson_page(request: HttpRequest) -> HttpResponse:
    refused = _unavailable(request)
    if refused is not None:
        return refused
    try:
        step_no = parse_step(request.GET.get("step"))
        projector = parse_projector(request.GET.get("projector"))
    except BadLessonRequest as e:
        return render(request, "lab/lesson_unavailable.html", {"reason": str(e)}, status=400)
    ctx = lesson_context(step_no, projector)
    ctx["can_act"] = has_role(request.user, "operator")
    template = "lab/lesson_projector.html" if projector else "lab/lesson.html"
    return render(request, template, ctx)


def _form_target(post: QueryDict) -> tuple[int, bool]:
    return parse_step(post.get("step")), parse_projector(post.get("projector"))


@require_POST
@require_role("operator")
def lesson_step(request: HttpRequest, number: int) -> HttpResponse:
    refused = _unavailable(request)
    if refused is not None:
        return refused
    try:
        _, projector = _form_target(request.POST)
        if not 1 <= number <= len(lesson.STEPS):
            raise BadLessonRequest(f"step {number} does not exist: the lesson has steps 1 to {len(lesson.STEPS)}")
    except BadLessonRequest as e:
        return render(request, "lab/lesson_unavailable.html", {"reason": str(e)}, status=400)
    try:
        outcome = lesson.run(number)
    except KafkaError as e:
        messages.error(request, f"Step {number} did not run: {e}")
    else:
        _audit_step(request, number, outcome)
        messages.success(request, outcome.message)
    return redirect(page_url(number, projector))


def _audit_step(request: HttpRequest, number: int, outcome: lesson.Outcome) -> None:
    actor = Actor.web(request)
    cluster = engine.current_cluster_name()
    if outcome.produced:
        audit.log(
            actor,
            Action.RECORDS_PRODUCE,
            cluster=cluster,
            topic=lesson.TOPIC,
            summary=f"lesson step {number}: produced {len(outcome.produced)} record(s) to {lesson.TOPIC}",
            offsets=[{"topic": lesson.TOPIC, "partition": p, "before": o, "after": o + 1} for p, o in outcome.produced],
            details={"count": len(outcome.produced), "lesson_step": number},
        )
    for name, what in outcome.checkers:
        audit.checker_changed(
            actor,
            topic=lesson.TOPIC,
            group_id=lesson.GROUP,
            checker=name,
            action=what,
            summary=f"lesson step {number}: checker {name} {what}",
            lesson_step=number,
        )


@require_http_methods(["GET", "POST"])
@require_role("operator")
def lesson_restart(request: HttpRequest) -> HttpResponse:
    """GET asks to confirm; POST with confirm=yes puts the lesson back to a clean start."""
    refused = _unavailable(request)
    if refused is not None:
        return refused
    try:
        projector = parse_projector(request.POST.get("projector") or request.GET.get("projector"))
    except BadLessonRequest as e:
        return render(request, "lab/lesson_unavailable.html", {"reason": str(e)}, status=400)
    ctx = {"projector": projector, "topic": lesson.TOPIC, "group": lesson.GROUP, "back": page_url(1, projector)}
    if request.method == "GET":
        return render(request, "lab/lesson_restart.html", ctx)
    if request.POST.get("confirm") != "yes":
        ctx["error"] = "Tick the box to confirm: restarting deletes the lesson's passengers and notes."
        return render(request, "lab/lesson_restart.html", ctx, status=400)
    groups = lesson.restart()
    audit.log(
        Actor.web(request),
        Action.LAB_RESET,
        cluster=engine.current_cluster_name(),
        topic=lesson.TOPIC,
        group_id=lesson.GROUP,
        summary=f"restarted the lesson: lab reset, topic {lesson.TOPIC} recreated, group {lesson.GROUP} deleted",
        details={"lab_groups": groups, "partitions": lesson.PARTITIONS},
    )
    messages.success(request, "The lesson starts afresh: an empty train and no checkers.")
    return redirect(page_url(1, projector))


def render_live(params: dict[str, str], user: Any) -> str:
    """The lesson's live parts (train, numbers) for the lab socket (view=lesson&step=N)."""
    try:
        step_no = parse_step(params.get("step"))
        projector = parse_projector(params.get("projector"))
    except BadLessonRequest:
        return ""
    if not engine.is_embedded():
        return ""
    ctx = {
        "train": lesson_train.build(),
        "projector": projector,
        "step": lesson.step(step_no),
        "oob": True,
        "topic": lesson.TOPIC,
        "group": lesson.GROUP,
    }
    return render_to_string("lab/lesson_live.html", ctx)


def register_live() -> None:
    from .live import add_view

    add_view("lesson", render_live)
