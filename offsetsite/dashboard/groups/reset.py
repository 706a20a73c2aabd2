"""Offset reset in two steps, as ``kafka-consumer-groups --reset-offsets`` (dry run, then execute).

Step 1 (Preview) plans and changes nothing. Step 2 (Execute) plans again under the
engine lock and runs only if that plan starts from the very offsets the operator
saw: the preview carries a fingerprint of group, scenario, scope and the offsets
before, and the operator confirms how many partitions move. Anything that moved in
between (a consumer committed, someone else reset) refuses the execution with a new
preview instead of applying a plan nobody looked at.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.crypto import constant_time_compare, salted_hmac
from django.views.decorators.http import require_http_methods, require_POST

from logcore.admin import ResetPlan, ResetRow, Scenario, Scope, execute_reset, plan_reset, undo_reset_verified
from logcore.errors import KafkaError
from offsetsite.core import audit
from offsetsite.core.audit import Actor, offset_changes
from offsetsite.core.roles import require_role
from offsetsite.dashboard.groups.actions import (
    INVALID,
    REFUSED,
    committed,
    describe,
    render_action,
    state_note,
    user_topics,
)
from offsetsite.dashboard.groups.forms import ResetForm
from offsetsite.engine import current_cluster_name, get_cluster, locked, restore_points

TEMPLATE = "dashboard/actions/reset.html"


def duration_words(ms: int) -> str:
    """3723000 -> '1 h 2 min 3 s'; below a second in ms."""
    ms = abs(ms)
    if ms < 1000:
        return f"{ms} ms"
    seconds = ms // 1000
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    parts.append(f"{secs} s" if secs or not any(parts) else "")
    return " ".join(p for p in parts if p)


@dataclass(frozen=True)
class RowView:
    """One plan row as the page shows it: numbers plus what they mean."""

    row: ResetRow

    @property
    def moves(self) -> bool:
        return self.row.before != self.row.after

    @property
    def delta(self) -> int | None:
        """Signed: negative = the group reads records again, positive = it skips them."""
        return None if self.row.before is None else self.row.after - self.row.before

    @property
    def effect(self) -> str:
        r = self.row
        if r.before is None:
            return f"no committed offset yet; the group will start at {r.after}"
        if r.after < r.before:
            return f"reads {r.reread} record(s) again"
        if r.after > r.before:
            return f"skips {r.skipped} record(s) it has not read"
        return "no change"

    @property
    def after_at_high_watermark(self) -> bool:
        """The group would next read a record not produced yet: there is no time to show."""
        return self.row.after_timestamp is None and self.row.after >= self.row.high_watermark

    @property
    def span(self) -> str:
        ms = self.row.span_ms
        if ms is None or ms == 0:
            return ""
        return f"back {duration_words(ms)}" if ms > 0 else f"forward {duration_words(ms)}"


def scope_key(data: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    kind = data["scope"]
    if kind == "topics":
        return kind, tuple(sorted(data.get("topics") or ()))
    if kind == "partitions":
        return kind, tuple(data.get("partition_specs") or ())
    return kind, ()


def build_scope(key: tuple[str, tuple[str, ...]]) -> Scope:
    kind, specs = key
    if kind == "all":
        return Scope(all_topics=True)
    return Scope.parse(specs)


def fingerprint(plan: ResetPlan, key: tuple[str, tuple[str, ...]]) -> str:
    """What the operator saw: group, scenario, scope and every offset before."""
    payload = json.dumps(
        [
            plan.group_id,
            plan.scenario.kind,
            str(plan.scenario.value),
            list(key),
            [[r.topic, r.partition, r.before] for r in plan.rows],
        ],
        separators=(",", ":"),
    )
    return salted_hmac("offsetsite.reset-plan", payload).hexdigest()


def targets_fingerprint(plan: ResetPlan) -> str:
    """The new offsets the operator saw."""
    payload = json.dumps([[r.topic, r.partition, r.after] for r in plan.rows], separators=(",", ":"))
    return salted_hmac("offsetsite.reset-targets", payload).hexdigest()


# Targets of these scenarios move on by themselves (new records, the clock): executing
# them later than the preview is what the operator asked for. Every other target is
# fixed, so a different one at execution means the log changed (retention, clamping).
MOVING_TARGETS = ("to-latest", "by-duration")


def _plan(group: str, data: dict[str, Any]) -> tuple[ResetPlan, tuple[str, tuple[str, ...]]]:
    key = scope_key(data)
    scenario = Scenario(data["scenario"], data.get("value"))
    return plan_reset(get_cluster(), group, scenario, build_scope(key), now_ms=int(time.time() * 1000)), key


def _plan_context(plan: ResetPlan, key: tuple[str, tuple[str, ...]]) -> dict[str, Any]:
    rows = [RowView(r) for r in plan.rows]
    return {
        "plan": plan,
        "rows": rows,
        "moving": sum(1 for r in rows if r.moves),
        "plan_fingerprint": fingerprint(plan, key),
        "targets_fingerprint": targets_fingerprint(plan),
    }


def _base_context(group: str, form: ResetForm) -> dict[str, Any]:
    return {
        "group": group,
        "form": form,
        "note": state_note(describe(group)),
        "current": sorted(committed(group).items()),
        **_undo_context(group),
    }


def _undo_context(group: str) -> dict[str, Any]:
    """The restore point an Undo button would apply, and what it puts back."""
    point = restore_points().latest(group)
    return {
        "undo_point": point,
        "undo_offsets": [(*_restore_key(k), v) for k, v in sorted(point.offsets.items())] if point else [],
    }


@require_http_methods(["GET", "POST"])
@require_role("operator")
def group_reset(request: HttpRequest, group: str) -> HttpResponse:
    topics = user_topics()
    if request.method != "POST":
        return render_action(request, TEMPLATE, _base_context(group, ResetForm(topics=topics)))
    action = request.POST.get("action", "preview")
    # The whole step runs under the engine lock: what is checked is what is applied.
    with locked():
        form = ResetForm(request.POST, request.FILES, topics=topics)
        valid = form.is_valid()
        if valid and form.cleaned_data.get("offsets_text"):
            # Show an uploaded file's text in the textarea: step 2 posts it again from
            # there (a file input is empty after a page load).
            carried = request.POST.copy()
            carried["offsets_text"] = form.cleaned_data["offsets_text"]
            form.data = carried
        ctx = _base_context(group, form)
        if not valid:
            return render_action(request, TEMPLATE, ctx, INVALID)
        try:
            plan, key = _plan(group, form.cleaned_data)
        except KafkaError as e:
            ctx["error"] = str(e)
            return render_action(request, TEMPLATE, ctx, INVALID)
        ctx.update(_plan_context(plan, key))
        if action == "export":
            response = HttpResponse(plan.export_csv(), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = 'attachment; filename="reset-plan.csv"'
            return response
        if action != "execute":
            return render_action(request, TEMPLATE, ctx, REFUSED if plan.refusal else 200)
        return _execute(request, group, plan, ctx, form.cleaned_data)


def _execute(
    request: HttpRequest, group: str, plan: ResetPlan, ctx: dict[str, Any], data: dict[str, Any]
) -> HttpResponse:
    if plan.refusal:
        ctx["refusal"] = plan.refusal
        return render_action(request, TEMPLATE, ctx, REFUSED)
    seen = data.get("fingerprint") or ""
    if not seen or not constant_time_compare(seen, ctx["plan_fingerprint"]):
        ctx["stale"] = "Not executed: this is not the plan you previewed. " + (
            "Preview first."
            if not seen
            else "The committed offsets (or the scenario or scope) changed since the preview. "
            "Check the new preview below and confirm again."
        )
        return render_action(request, TEMPLATE, ctx, REFUSED)
    seen_targets = data.get("targets") or ""
    if not constant_time_compare(seen_targets, ctx["targets_fingerprint"]):
        if plan.scenario.kind not in MOVING_TARGETS:
            ctx["stale"] = (
                "Not executed: the new offsets differ from the preview (the log changed since: retention or "
                "clamping). Check the new preview below and confirm again."
            )
            return render_action(request, TEMPLATE, ctx, REFUSED)
        ctx["recomputed"] = (
            f"The log moved on since the preview: the {plan.scenario.kind} targets were computed again "
            "at execution; the table shows the offsets applied."
        )
    if ctx["moving"] == 0:
        ctx["stale"] = "Not executed: no committed offset would change."
        return render_action(request, TEMPLATE, ctx, REFUSED)
    if (data.get("confirm") or "") != str(ctx["moving"]):
        ctx["confirm_error"] = (
            f"Tick \u201cI understand {ctx['moving']} partition(s) move\u201d to execute; nothing changed."
        )
        return render_action(request, TEMPLATE, ctx, INVALID)
    try:
        verified = execute_reset(get_cluster(), plan, restore_points())
    except KafkaError as e:
        ctx["refusal"] = str(e)
        return render_action(request, TEMPLATE, ctx, REFUSED)
    # What the cluster holds now, read back: the page and the log show that, not the plan.
    changes = offset_changes(verified.before, verified.actual, sorted(verified.expected))
    audit.reset_executed(Actor.web(request), cluster=current_cluster_name(), plan=plan, verified=verified)
    ctx.update(
        executed=changes,
        mismatch=audit.mismatch_warning(verified),
        note=state_note(describe(group)),
        current=sorted(committed(group).items()),
        **_undo_context(group),
    )
    return render_action(request, TEMPLATE, ctx)


def _restore_key(key: str) -> tuple[str, int]:
    """A restore point keys its offsets as "topic\\x00partition"."""
    topic, _, p = key.rpartition("\x00")
    return topic, int(p)


@require_POST
@require_role("operator")
def group_undo(request: HttpRequest, group: str) -> HttpResponse:
    topics = user_topics()
    with locked():
        ctx = _base_context(group, ResetForm(topics=topics))
        try:
            point, verified = undo_reset_verified(get_cluster(), group, restore_points())
        except KafkaError as e:
            ctx["undo_refusal"] = str(e)
            return render_action(request, TEMPLATE, ctx, REFUSED)
        changes = offset_changes(verified.before, verified.actual, sorted(verified.expected))
        audit.reset_undone(Actor.web(request), cluster=current_cluster_name(), point=point, verified=verified)
        ctx = _base_context(group, ResetForm(topics=topics))
        ctx["undone"] = changes
        ctx["mismatch"] = audit.mismatch_warning(verified)
    return render_action(request, TEMPLATE, ctx)
