"""Consume as a named member of a group, and commit one offset from outside it.

The consumer is logcore's in-process ``Consumer``: it joins the group through the
coordinator exactly as a Kafka client would, so joining a group with live members
starts a real rebalance, and leaving starts another. The coordinator never blocks:
``poll`` answers "not yet" until the rebalance completes, so the view polls in short
steps, holding the engine lock for each step only (holding it for the whole wait
would freeze every other page and the live updates meanwhile).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from logcore.cluster import GroupDescription
from logcore.consumer import Consumer, ConsumerRecord
from logcore.errors import KafkaError
from logcore.groups import OffsetAndMetadata, TopicPartition
from offsetsite.core import audit
from offsetsite.core.audit import Action, Actor, offset_changes
from offsetsite.core.workshop import claim_group
from offsetsite.dashboard.groups.actions import (
    INVALID,
    REFUSED,
    committed,
    describe,
    format_ms,
    member_access,
    render_action,
    state_note,
    user_topics,
)
from offsetsite.dashboard.groups.forms import CommitForm, ConsumeForm
from offsetsite.engine import current_cluster_name, embedded, get_cluster, is_embedded, locked
from offsetsite.lab.service import note_consumed

# How long a request waits for the group to hand this member partitions when other
# members must rejoin first (they learn of the rebalance at their next heartbeat).
REBALANCE_WAIT_MS = 5_000
# A new or Empty group waits group.initial.rebalance.delay.ms for more members first.
JOIN_MARGIN_MS = 1_500
STEP_S = 0.02
PREVIEW_CHARS = 300


def _text(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    text = raw.decode("utf-8", errors="replace")
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "\u2026"


@dataclass(frozen=True)
class RecordView:
    topic: str
    partition: int
    offset: int
    time: str
    key: str | None
    value: str | None


@dataclass
class ConsumeResult:
    group: str
    client_id: str
    member_id: str = ""
    state_before: str = ""
    others_before: int = 0
    generation_before: int = -1
    generation: int = -1
    assignment: list[TopicPartition] = field(default_factory=list)
    records: list[RecordView] = field(default_factory=list)
    committed: dict[TopicPartition, int] = field(default_factory=dict)
    commit_error: str = ""
    waited_ms: int = 0
    initial_delay_ms: int = 0
    joined: bool = False
    caught_up: bool = False
    after: list[tuple[TopicPartition, int]] = field(default_factory=list)
    state_after: str = ""
    # Records of this read that the group had read before (topic, partition, offset).
    read_again: list[tuple[str, int, int]] = field(default_factory=list)

    @property
    def explanation(self) -> list[str]:
        """What the coordinator did, in words."""
        lines: list[str] = []
        if self.others_before:
            lines.append(
                f"The group was {self.state_before} with {self.others_before} other member(s). Joining made the "
                "coordinator start a rebalance: every member had to rejoin before partitions were handed out again."
            )
        elif self.state_before in ("Empty", "unknown"):
            lines.append(
                "The group had no members, so this member joined alone"
                + (" (a new group was created)." if self.state_before == "unknown" else ".")
            )
            if self.initial_delay_ms:
                lines.append(
                    f"As Kafka does for a group without members, the coordinator first waited "
                    f"group.initial.rebalance.delay.ms ({self.initial_delay_ms} ms) for more members to join."
                )
        if self.joined:
            parts = ", ".join(f"{t}-{p}" for t, p in self.assignment) or "none (more members than partitions)"
            lines.append(
                f"Generation {self.generation} formed after {self.waited_ms} ms; this member was assigned: {parts}."
            )
            if self.caught_up and len(self.records) == 0:
                lines.append("There was nothing to read: every assigned partition was at its high watermark.")
        else:
            lines.append(
                f"The rebalance did not finish within {self.waited_ms} ms (other members rejoin at their next poll), "
                "so this member got no partitions and read nothing."
            )
        if self.read_again:
            lines.append(
                f"{len(self.read_again)} of these records had been read by this group before "
                f"({_ranges(self.read_again)}): no commit covered them, so they were handed out again. "
                "An application that processed them the first time has now processed them twice: a duplicate."
            )
        if self.records and not self.committed and self.joined:
            why = "the commit was refused" if self.commit_error else "this read did not commit"
            lines.append(
                f"Nothing was committed ({why}): the group's committed offsets did not move, so the next "
                f"member of the group reads the same {len(self.records)} record(s) again ({_ranges(self._read())}). "
                "That is at-least-once delivery: a crash before the commit repeats work; commit after processing "
                "to move on."
            )
        lines.append(
            "Leaving the group ended this member's session"
            + (": the remaining members rebalance again and take its partitions back." if self.others_before else ".")
        )
        return lines

    def _read(self) -> list[tuple[str, int, int]]:
        return [(r.topic, r.partition, r.offset) for r in self.records]


def _ranges(offsets: list[tuple[str, int, int]]) -> str:
    """ "seats-0 offsets 0 to 2, seats-1 offset 5": consecutive offsets as ranges."""
    by_tp: dict[tuple[str, int], list[int]] = {}
    for t, p, o in offsets:
        by_tp.setdefault((t, p), []).append(o)
    parts: list[str] = []
    for (t, p), found in sorted(by_tp.items()):
        found.sort()
        runs: list[tuple[int, int]] = []
        for o in found:
            if runs and o == runs[-1][1] + 1:
                runs[-1] = (runs[-1][0], o)
            else:
                runs.append((o, o))
        text = ", ".join(f"{a}" if a == b else f"{a} to {b}" for a, b in runs)
        parts.append(f"{t}-{p} offset{'s' if len(found) > 1 else ''} {text}")
    return "; ".join(parts)


def _settled(consumer: Consumer) -> bool:
    """Joined, synced and holding an assignment for the current generation."""
    # The Consumer exposes no public "is the member in the group" flag; these are the
    # fields its own poll loop checks.
    return bool(consumer._joined and not consumer._needs_join and not consumer._awaiting_sync)


def run_consumer(
    group: str, client_id: str, topics: list[str], n: int, commit: bool, reset: str, before: GroupDescription | None
) -> ConsumeResult:
    result = ConsumeResult(group, client_id)
    if before is not None:
        result.state_before = before.state
        result.others_before = len(before.members)
        result.generation_before = before.generation
    else:
        result.state_before = "unknown"
    cluster = embedded()
    with locked():
        consumer = Consumer(
            cluster,
            group,
            client_id=client_id,
            auto_offset_reset=reset,
            enable_auto_commit=False,
            max_poll_records=n,
        )
        consumer.subscribe(topics)
        initial_delay = cluster.coordinator.initial_rebalance_delay_ms
    if not result.others_before:
        result.initial_delay_ms = initial_delay
    wait_ms = REBALANCE_WAIT_MS if result.others_before else initial_delay + JOIN_MARGIN_MS
    started = time.monotonic()
    deadline = started + wait_ms / 1000
    read: list[ConsumerRecord] = []
    try:
        while len(read) < n:
            with locked():
                batch = consumer.poll(0, max_records=n - len(read))
                settled = _settled(consumer)
            read.extend(batch)
            if settled and not result.joined:
                result.joined = True
                result.waited_ms = int((time.monotonic() - started) * 1000)
            if settled and not batch:
                result.caught_up = True
                break
            if time.monotonic() >= deadline:
                break
            if not batch:
                time.sleep(STEP_S)
        if not result.joined:
            result.waited_ms = int((time.monotonic() - started) * 1000)
        with locked():
            # The form's reads go to the group's ledger, like the lab's checkers' work, so
            # a second read of the same records is named a duplicate, here and on the
            # group and topic pages.
            result.read_again = note_consumed(group, client_id, [(r.topic, r.partition, r.offset) for r in read])
            result.member_id = consumer.member_id
            result.generation = consumer.generation
            result.assignment = consumer.assignment()
            if commit and result.joined:
                try:
                    result.committed = consumer.commit()
                except KafkaError as e:
                    result.commit_error = str(e)
    finally:
        with locked():
            consumer.close(autocommit=False)
    result.records = [
        RecordView(r.topic, r.partition, r.offset, format_ms(r.timestamp), _text(r.key), _text(r.value)) for r in read
    ]
    after = describe(group)
    result.state_after = after.state if after else "unknown"
    result.after = sorted((tp, o) for tp, o in committed(group).items() if tp[0] in topics)
    return result


def _consume_page(request: HttpRequest, group: str | None) -> HttpResponse:
    template = "dashboard/actions/consume.html"
    if not is_embedded():
        # Joining a group as a member from a form works on the embedded engine, whose
        # coordinator is in this process. On a Kafka cluster a member is a real client
        # with heartbeats; the command line is that client.
        from offsetsite import clusters

        config = clusters.configs()[current_cluster_name()]
        return render(
            request,
            "dashboard/actions/consume_kafka.html",
            {"group": group, "bootstrap": config.bootstrap_servers, "cluster": config.name},
            status=200 if request.method == "GET" else 409,
        )
    topics = user_topics()
    desc = describe(group) if group is not None else None
    ctx: dict[str, Any] = {"group": group, "note": state_note(desc) if group is not None else None}
    # What the wait indicator promises while the form's request runs (run_consumer's bound).
    others = len(desc.members) if desc else 0
    initial_delay = embedded().coordinator.initial_rebalance_delay_ms
    ctx["others"] = others
    ctx["wait_s"] = round((REBALANCE_WAIT_MS if others else initial_delay + JOIN_MARGIN_MS) / 1000, 1)
    if group is not None:
        refuse = member_access(request, group, exists=desc is not None)
        if refuse is not None:
            return refuse
    if request.method != "POST":
        subscribed = sorted({p.topic for p in desc.offsets} & set(topics)) if desc else []
        ctx["form"] = ConsumeForm(
            topics=topics, needs_group_id=group is None, initial={"topics": subscribed or topics[:1]}
        )
        return render_action(request, template, ctx)
    form = ConsumeForm(request.POST, topics=topics, needs_group_id=group is None)
    ctx["form"] = form
    if not form.is_valid():
        return render_action(request, template, ctx, INVALID)
    data = form.cleaned_data
    gid: str = group if group is not None else data["group_id"]
    if group is None:
        desc = describe(gid)
        refuse = member_access(request, gid, exists=desc is not None)
        if refuse is not None:
            return refuse
    before_offsets = committed(gid)
    try:
        result = run_consumer(
            gid,
            data["client_id"],
            data["topics"],
            data["max_records"],
            data["commit"] == "yes",
            data["auto_offset_reset"],
            desc,
        )
    except KafkaError as e:
        ctx["refusal"] = str(e)
        return render_action(request, template, ctx, REFUSED)
    claim_group(request, gid)
    changes = offset_changes(before_offsets, dict(result.after))
    audit.log(
        Actor.web(request),
        Action.RECORDS_CONSUME,
        cluster=current_cluster_name(),
        group_id=gid,
        offsets=changes,
        summary=f"consumed {len(result.records)} record(s) from {', '.join(data['topics'])} as member "
        f"{data['client_id']} of group {gid}" + (", committed" if result.committed else ", no commit"),
        details={"client_id": data["client_id"], "records": len(result.records)},
    )
    ctx.update(result=result, group=gid, note=state_note(describe(gid)))
    return render_action(request, template, ctx)


@require_http_methods(["GET", "POST"])
def consume(request: HttpRequest) -> HttpResponse:
    """Start (or join) a group by id: operators, or workshop visitors with a new group."""
    # The page needs the right to start a group of one's own; the chosen group id is
    # checked again once the form names it.
    refuse = member_access(request, "", exists=False)
    if refuse is not None:
        return refuse
    return _consume_page(request, None)


@require_http_methods(["GET", "POST"])
def group_consume(request: HttpRequest, group: str) -> HttpResponse:
    return _consume_page(request, group)


@require_http_methods(["GET", "POST"])
def group_commit(request: HttpRequest, group: str) -> HttpResponse:
    template = "dashboard/actions/commit.html"
    topics = user_topics()
    desc = describe(group)
    refuse = member_access(request, group, exists=desc is not None)
    if refuse is not None:
        return refuse
    ctx: dict[str, Any] = {"group": group, "note": state_note(desc), "current": sorted(committed(group).items())}
    if request.method != "POST":
        ctx["form"] = CommitForm(topics=topics)
        return render_action(request, template, ctx)
    form = CommitForm(request.POST, topics=topics)
    ctx["form"] = form
    if not form.is_valid():
        return render_action(request, template, ctx, INVALID)
    data = form.cleaned_data
    tp: TopicPartition = (data["topic"], data["partition"])
    cluster = get_cluster()
    with locked():
        try:
            start, hw = cluster.watermarks(*tp)
        except KafkaError as e:
            count = len(cluster.describe_topic(tp[0]).partitions)
            ctx["refusal"] = f"{e} Topic {tp[0]} has partitions 0 to {count - 1}."
            return render_action(request, template, ctx, INVALID)
        offset: int = data["offset"]
        if not start <= offset <= hw:
            ctx["outside"] = (
                f"Offset {offset} is outside {tp[0]}-{tp[1]}'s log: log start {start}, high watermark {hw}. "
                "Kafka accepts it, but the group's next poll will find no record there and jump to "
                "auto.offset.reset (earliest or latest)."
            )
            if not data["allow_outside"]:
                ctx["outside"] += " Tick the box below to commit it anyway; nothing was committed."
                return render_action(request, template, ctx, INVALID)
        before = committed(group)
        try:
            cluster.commit_offsets(group, {tp: OffsetAndMetadata(offset, data["metadata"])})
        except KafkaError as e:
            state = state_note(describe(group))
            ctx["refusal"] = (
                f"{e}"
                if not state.active
                else f"Refused: group {group} is {state.state} with {state.members} member(s). Only its members commit "
                f"while it is active; stop them first. ({e})"
            )
            return render_action(request, template, ctx, REFUSED)
        after = committed(group)
        changes = offset_changes(before, after, [tp])
        audit.log(
            Actor.web(request),
            Action.OFFSETS_COMMIT,
            cluster=current_cluster_name(),
            group_id=group,
            topic=tp[0],
            offsets=changes,
            summary=f"committed {tp[0]}-{tp[1]} = {offset} for group {group}",
        )
        claim_group(request, group)
        ctx.update(
            done={
                "topic": tp[0],
                "partition": tp[1],
                "before": before.get(tp),
                "after": after.get(tp),
                "start": start,
                "hw": hw,
            },
            current=sorted(after.items()),
            note=state_note(describe(group)),
        )
    return render_action(request, template, ctx)
