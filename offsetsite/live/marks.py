"""Marks on the lag chart's time axis: what happened to the group, and who did it.

A lag curve that drops to zero or jumps up is only readable with its cause beside it:
an operator's reset (``kafka-consumer-groups.sh --reset-offsets``, KIP-122), a
rebalance (a new generation, https://kafka.apache.org/documentation/#consumerconfigs
``group.instance.id`` / ``session.timeout.ms``), a commit or delete made from this site.

Two sources, read for the chart's range only:

- the group timeline (``GroupEvent``: rebalance, reset, delete), what the cluster did,
  whoever asked for it;
- the audit log (``AuditEntry``), what a person did through the pages, the API or the
  CLI, with their name.

A reset made through the site is in both: the audited entry (which names the person)
wins, and the timeline's reset within ``SAME_S`` of it is not drawn a second time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import CharField, Value

from offsetsite.core.audit import Action
from offsetsite.core.models import AuditEntry

from .models import GroupEvent

MAX_MARKS = 200  # a busy day of rebalances must not turn the chart into a barcode
SAME_S = 5.0  # an audited change and the cluster's own event of it, seconds apart at most
TIMELINE_KINDS = (GroupEvent.Kind.REBALANCE, GroupEvent.Kind.RESET, GroupEvent.Kind.DELETE)
# Audited actions that change a group's offsets or the group itself, and the mark kind.
AUDIT_KINDS: dict[str, str] = {
    Action.OFFSETS_RESET: "reset",
    Action.OFFSETS_UNDO: "reset",
    Action.OFFSETS_COMMIT: "action",
    Action.RECORDS_CONSUME: "action",
    Action.OFFSETS_DELETE: "delete",
    Action.GROUP_DELETE: "delete",
    Action.LAB_RESET: "reset",
}


def chart_marks(cluster: str, group: str, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """``[{"t": seconds, "kind": reset|rebalance|delete|action, "label": text, "by": who}]``, oldest first."""
    # One query for both sources (the chart's JSON is fetched every few seconds by every
    # open group page): the audit log's rows and the timeline's, newest first.
    audited = AuditEntry.objects.filter(
        cluster=cluster, group_id=group, at__gte=since, at__lte=until, action__in=list(AUDIT_KINDS)
    ).values_list("at", "action", "username", "summary", Value("audit", output_field=CharField()))
    events = GroupEvent.objects.filter(
        cluster=cluster, group_id=group, at__gte=since, at__lte=until, kind__in=TIMELINE_KINDS
    ).values_list(
        "at", "kind", Value("", output_field=CharField()), "summary", Value("timeline", output_field=CharField())
    )
    # order_by(): both models have a default ordering, which SQLite refuses inside a UNION.
    rows = list(audited.order_by().union(events.order_by(), all=True).order_by("-at")[: 2 * MAX_MARKS])
    marks: list[dict[str, Any]] = [
        {"t": at.timestamp(), "kind": AUDIT_KINDS[what], "label": summary or what, "by": who or "anonymous"}
        for at, what, who, summary, source in rows
        if source == "audit"
    ]
    audited_at = {kind: [m["t"] for m in marks if m["kind"] == kind] for kind in ("reset", "delete")}
    for at, kind, _who, summary, source in rows:
        if source != "timeline":
            continue
        t = at.timestamp()
        if any(abs(t - a) <= SAME_S for a in audited_at.get(kind, ())):
            continue  # the audited entry of the same change is drawn, with its author
        marks.append({"t": t, "kind": kind, "label": summary, "by": ""})
    marks.sort(key=lambda m: m["t"])
    return marks[-MAX_MARKS:]
