"""API: consumer groups, their offsets, resets and undo (what the group pages show and do).

Every view takes the group from the path (``/api/groups/<group>/...``) or, for ids
that cannot travel in a path (a '/'), from ``?id=`` (``/api/group/...?id=<group>``).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import time
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from logcore.admin import (
    ResetPlan,
    RestorePoint,
    Scenario,
    Scope,
    Verification,
    execute_reset,
    plan_reset,
    undo_reset_verified,
)
from logcore.groups import OffsetAndMetadata, TopicPartition
from offsetsite import engine
from offsetsite.core import audit
from offsetsite.core.audit import Action
from offsetsite.core.roles import has_role

from . import serializers as s
from .auth import ApiError, actor, api_view, bad_request, json_body
from .params import group_id, int_param, lst, obj, text, topic_partitions

MAX_PARTITIONS = 100_000


@api_view({"GET": "viewer"})
def groups(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"groups": [s.group_listing(g) for g in engine.get_cluster().list_groups()]})


@api_view({"GET": "viewer", "DELETE": "operator"})
def group(request: HttpRequest, group: str | None = None) -> HttpResponse:
    gid = group_id(request, group)
    cluster = engine.get_cluster()
    if request.method == "GET":
        return JsonResponse(s.group_description(cluster.describe_group(gid)))
    with engine.locked():
        before = _committed(gid)
        cluster.delete_group(gid)
    audit.log(
        actor(request),
        Action.GROUP_DELETE,
        cluster=engine.current_cluster_name(),
        group_id=gid,
        summary=f"deleted group {gid} with {len(before)} committed offset(s)",
        offsets=audit.offset_changes(before, {}),
    )
    return JsonResponse({"deleted": gid})


def _committed(gid: str) -> dict[TopicPartition, int]:
    return {tp: om.offset for tp, om in engine.get_cluster().committed_offsets(gid).items()}


@api_view({"GET": "viewer", "POST": "operator"})
def group_offsets(request: HttpRequest, group: str | None = None) -> HttpResponse:
    gid = group_id(request, group)
    cluster = engine.get_cluster()
    if request.method == "GET":
        return JsonResponse(
            {
                "group_id": gid,
                "offsets": [s.committed(t, p, om) for (t, p), om in sorted(cluster.committed_offsets(gid).items())],
            }
        )
    body = obj(json_body(request), "the body")
    entries: dict[TopicPartition, int | OffsetAndMetadata] = {}
    for i, item in enumerate(lst(body.get("offsets"), "offsets", MAX_PARTITIONS)):
        o = obj(item, f"offsets[{i}]")
        tp = (
            text(o.get("topic"), f"offsets[{i}].topic", 300),
            int_param(o.get("partition"), f"offsets[{i}].partition", minimum=0),
        )
        offset = int_param(o.get("offset"), f"offsets[{i}].offset", minimum=0)
        metadata = o.get("metadata")
        # Metadata length is the coordinator's check (OFFSET_METADATA_TOO_LARGE), not ours.
        entries[tp] = offset if metadata is None else OffsetAndMetadata(offset, text(metadata, "metadata", 1_000_000))
    if not entries:
        raise bad_request('offsets is empty; send [{"topic": t, "partition": p, "offset": n}, ...]')
    for topic, partition in entries:
        cluster.watermarks(topic, partition)  # an unknown topic or partition is refused up front
    with engine.locked():
        before = _committed(gid)
        cluster.commit_offsets(gid, entries)
        held = _committed(gid)
    after = {tp: (v.offset if isinstance(v, OffsetAndMetadata) else v) for tp, v in entries.items()}
    audit.log(
        actor(request),
        Action.OFFSETS_COMMIT,
        cluster=engine.current_cluster_name(),
        group_id=gid,
        topic=_one_topic(after),
        summary=f"committed {len(entries)} offset(s) for group {gid}",
        offsets=audit.offset_changes(before, held, sorted(after)),
    )
    return JsonResponse(
        {
            "group_id": gid,
            "committed": [{"topic": t, "partition": p, "offset": a} for (t, p), a in sorted(after.items())],
        }
    )


@api_view({"POST": "operator"})
def delete_offsets(request: HttpRequest, group: str | None = None) -> HttpResponse:
    """Body: ``{"partitions": [{"topic", "partition"}]}`` and/or ``{"topics": ["t", ...]}`` (all partitions)."""
    gid = group_id(request, group)
    body = obj(json_body(request), "the body")
    cluster = engine.get_cluster()
    parts = topic_partitions(body.get("partitions") or [], "partitions", MAX_PARTITIONS)
    for i, topic in enumerate(lst(body.get("topics") or [], "topics", 10_000)):
        name = text(topic, f"topics[{i}]", 300)
        parts += [(name, p) for p in range(len(cluster.describe_topic(name).partitions))]
    if not parts:
        raise bad_request('name what to delete: partitions [{"topic", "partition"}] or topics ["t"]')
    with engine.locked():
        before = _committed(gid)
        deleted = cluster.delete_offsets(gid, parts)
        held = _committed(gid) if _exists(gid) else {}
    audit.log(
        actor(request),
        Action.OFFSETS_DELETE,
        cluster=engine.current_cluster_name(),
        group_id=gid,
        summary=f"deleted the committed offsets of {len(deleted)} partition(s) of group {gid}",
        offsets=audit.offset_changes(before, held, sorted(set(parts))),
    )
    return JsonResponse({"group_id": gid, "deleted": [{"topic": t, "partition": p} for t, p in deleted]})


def _scenario(body: dict[str, Any]) -> Scenario:
    raw = body.get("scenario")
    if isinstance(raw, dict):
        kind, value = raw.get("kind"), raw.get("value")
    else:
        kind, value = raw, body.get("value")
    if not isinstance(kind, str):
        raise bad_request(
            "scenario is required: a name (to-earliest, to-latest, to-current, to-offset, "
            'shift-by, to-datetime, by-duration, from-file) or {"kind", "value"}'
        )
    if isinstance(value, bool) or (value is not None and not isinstance(value, str | int)):
        raise bad_request("the scenario's value must be a string or a whole number")
    return Scenario(kind, value)


def _scope(body: dict[str, Any], scenario: Scenario) -> Scope:
    raw = body.get("scope")
    if raw is None and scenario.kind == "from-file":
        return Scope(False, ())  # the file names the partitions
    if raw == "all" or raw == "all-topics":
        return Scope.parse((), True)
    o = obj(raw, 'scope ({"all_topics": true} or {"topics": ["t", "t:0,1"]})')
    topics = [text(t, "scope.topics[]", 400) for t in lst(o.get("topics") or [], "scope.topics", 10_000)]
    return Scope.parse(topics, bool(o.get("all_topics")))


def _targets(body: dict[str, Any]) -> str | None:
    """``"offsets": [{"topic", "partition", "offset"}]``: a plan made by the client, as CSV."""
    raw = body.get("offsets")
    if raw is None:
        return None
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for i, item in enumerate(lst(raw, "offsets", MAX_PARTITIONS)):
        o = obj(item, f"offsets[{i}]")
        writer.writerow(
            [
                text(o.get("topic"), f"offsets[{i}].topic", 300),
                int_param(o.get("partition"), f"offsets[{i}].partition", minimum=0),
                int_param(o.get("offset"), f"offsets[{i}].offset", minimum=0),
            ]
        )
    if not out.getvalue():
        raise bad_request('offsets is empty; send [{"topic": t, "partition": p, "offset": n}, ...]')
    return out.getvalue()


def verification(verified: Verification) -> dict[str, Any]:
    """What the cluster holds after a reset or undo, read back, and where that is not the plan."""
    return {
        "offsets": [
            {"topic": t, "partition": p, "before": verified.before.get((t, p)), "after": verified.actual.get((t, p))}
            for t, p in sorted(verified.expected)
        ],
        "mismatch": audit.mismatch_rows(verified),
    }


def _verified_answer(answer: dict[str, Any], verified: Verification) -> JsonResponse:
    answer["verified"] = verification(verified)
    if warning := audit.mismatch_warning(verified):
        answer["warning"] = warning
    return JsonResponse(answer)


@api_view({"POST": "viewer"})
def reset(request: HttpRequest, group: str | None = None) -> HttpResponse:
    """Plan a reset (a dry run, viewer+) and with ``"execute": true`` apply it (operator).

    ``"offsets"`` applies exactly those targets (a plan the client made and showed, e.g.
    the command line's); ``scenario`` then names what they came from, for the log.
    """
    gid = group_id(request, group)
    body = dict(obj(json_body(request), "the body"))
    execute = body.get("execute", False)
    if not isinstance(execute, bool):
        raise bad_request("execute must be true or false")
    if execute and not has_role(request.user, "operator"):
        raise ApiError(403, "FORBIDDEN", "executing a reset needs the operator role; a dry run needs viewer")
    scenario = _scenario(body)
    targets = _targets(body)
    scope = Scope(False, ()) if targets is not None else _scope(body, scenario)
    cluster = engine.get_cluster()
    verified = None
    # Plan and execution under one hold of the engine: nothing moves in between.
    with engine.locked():
        now = int(time.time() * 1000)
        plan: ResetPlan
        if targets is not None:
            plan = plan_reset(cluster, gid, Scenario("from-file", targets), scope, now_ms=now)
            plan = dataclasses.replace(plan, scenario=scenario)
        else:
            plan = plan_reset(cluster, gid, scenario, scope, now_ms=now)
        if execute:
            # Raises ResetRefused (409) when active; reads the offsets back when done.
            verified = execute_reset(cluster, plan, engine.restore_points())
    answer: dict[str, Any] = {"plan": s.reset_plan(plan), "executed": execute}
    if verified is None:
        return JsonResponse(answer)
    audit.reset_executed(actor(request), cluster=engine.current_cluster_name(), plan=plan, verified=verified)
    return _verified_answer(answer, verified)


@api_view({"POST": "operator"})
def undo(request: HttpRequest, group: str | None = None) -> HttpResponse:
    gid = group_id(request, group)
    cluster = engine.get_cluster()
    with engine.locked():
        point, verified = undo_reset_verified(cluster, gid, engine.restore_points())
    audit.reset_undone(actor(request), cluster=engine.current_cluster_name(), point=point, verified=verified)
    return _verified_answer({"restored": s.restore_point(point)}, verified)


def _one_topic(offsets: dict[TopicPartition, Any]) -> str:
    topics = {t for t, _ in offsets}
    return topics.pop() if len(topics) == 1 else ""


def _exists(gid: str) -> bool:
    return any(g.group_id == gid for g in engine.get_cluster().list_groups())


@api_view({"GET": "viewer", "POST": "operator"})
def restore_points(request: HttpRequest, group: str | None = None) -> HttpResponse:
    """The undo stack of a group; POST pushes a point (a remote ``execute_reset`` does)."""
    gid = group_id(request, group)
    points = engine.restore_points()
    if request.method == "GET":
        latest = points.latest(gid)
        return JsonResponse({"group_id": gid, "latest": s.restore_point(latest) if latest else None})
    body = obj(json_body(request), "the body")
    offsets = {}
    for i, item in enumerate(lst(body.get("offsets"), "offsets", MAX_PARTITIONS)):
        o = obj(item, f"offsets[{i}]")
        topic = text(o.get("topic"), f"offsets[{i}].topic", 300)
        partition = int_param(o.get("partition"), f"offsets[{i}].partition", minimum=0)
        value = o.get("offset")
        offsets[f"{topic}\x00{partition}"] = (
            None if value is None else int_param(value, f"offsets[{i}].offset", minimum=0)
        )
    point = RestorePoint(
        gid,
        int_param(body.get("created_ms", 0), "created_ms", minimum=0),
        text(body.get("scenario", "reset"), "scenario", 100),
        offsets,
    )
    points.push(point)
    return JsonResponse({"pushed": s.restore_point(point)}, status=201)


@api_view({"POST": "operator"})
def restore_points_pop(request: HttpRequest, group: str | None = None) -> HttpResponse:
    gid = group_id(request, group)
    point = engine.restore_points().pop(gid)
    return JsonResponse({"popped": s.restore_point(point) if point else None})
