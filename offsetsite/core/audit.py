"""The audit service: the one way the web pages, the API and the command line log a change.

Every entry names an ``Action`` (the one vocabulary, so that the same change has the
same name whichever way it came in), an ``Actor`` (who, and through which door:
web, api or cli) and the cluster it changed. Details are scrubbed of secrets before
anything is written. Resets and undos record the offsets *read back from the cluster*
after they were applied (``logcore.admin.Verification``): the entry says what the
cluster holds, and says so loudly when that is not what was planned.

The command line writes entries only through the server (its API calls land here
with source ``cli``); a command that opens the data directory itself, with no server
running, writes none: it never loads Django.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from logcore.admin import ResetPlan, RestorePoint, Verification
from logcore.groups import TopicPartition

from .models import AuditEntry


class Action(StrEnum):
    """Every audited change. The values are what the log stores and filters on."""

    RECORDS_PRODUCE = "records.produce"
    RECORDS_BURST = "records.burst"  # a produce burst started (its records follow over time)
    RECORDS_CONSUME = "records.consume"  # consumed as a group member, with or without a commit
    OFFSETS_COMMIT = "offsets.commit"
    OFFSETS_RESET = "offsets.reset"
    OFFSETS_UNDO = "offsets.undo"
    OFFSETS_DELETE = "offsets.delete"
    GROUP_DELETE = "group.delete"
    TOPIC_CREATE = "topic.create"
    TOPIC_DELETE = "topic.delete"
    TOPIC_PARTITIONS = "topic.partitions"
    TOPIC_CONFIG = "topic.config"  # topic configs set (kafka-configs.sh --alter --add-config)
    USER_CREATE = "user.create"
    USER_ROLE = "user.role"
    USER_DEACTIVATE = "user.deactivate"
    USER_REACTIVATE = "user.reactivate"
    USER_PASSWORD = "user.password"  # noqa: S105 - an action name
    TOKEN_CREATE = "token.create"  # noqa: S105 - an action name
    TOKEN_REVOKE = "token.revoke"  # noqa: S105 - an action name
    SETTINGS_CHANGE = "settings.change"
    LAB_CHECKER = "lab.checker"  # a ticket checker started, paused, crashed, restarted, removed
    LAB_RESET = "lab.reset"  # the whole lab (checkers, ledger, its groups' offsets) reset


# The names earlier versions wrote (the pages and the API disagreed). Migration 0004
# renames stored entries; the audit filters still accept these.
LEGACY_ACTIONS: dict[str, Action] = {
    "produce": Action.RECORDS_PRODUCE,
    "produce_burst": Action.RECORDS_BURST,
    "consume": Action.RECORDS_CONSUME,
    "commit_offsets": Action.OFFSETS_COMMIT,
    "reset_offsets": Action.OFFSETS_RESET,
    "group.reset": Action.OFFSETS_RESET,
    "undo_reset": Action.OFFSETS_UNDO,
    "group.undo": Action.OFFSETS_UNDO,
    "delete_offsets": Action.OFFSETS_DELETE,
    "delete_group": Action.GROUP_DELETE,
    "topic_create": Action.TOPIC_CREATE,
    "topic_delete": Action.TOPIC_DELETE,
    "user_create": Action.USER_CREATE,
    "user_role": Action.USER_ROLE,
    "user_deactivate": Action.USER_DEACTIVATE,
    "user_reactivate": Action.USER_REACTIVATE,
    "user_password": Action.USER_PASSWORD,
    "token_create": Action.TOKEN_CREATE,
    "token_revoke": Action.TOKEN_REVOKE,
    "site_settings": Action.SETTINGS_CHANGE,
}


def action_named(name: str) -> str:
    """The current name for ``name`` (an old name maps to its new one; others pass unchanged)."""
    legacy = LEGACY_ACTIONS.get(name)
    return legacy.value if legacy is not None else name


class Source(StrEnum):
    WEB = "web"
    API = "api"
    CLI = "cli"


@dataclass(frozen=True)
class Actor:
    """Who made a change (None: anonymous, e.g. a workshop visitor) and through which door."""

    user: Any
    source: Source

    @classmethod
    def of(cls, request: Any, source: Source) -> Actor:
        user = getattr(request, "user", None)
        return cls(user if user is not None and user.is_authenticated else None, source)

    @classmethod
    def web(cls, request: Any) -> Actor:
        return cls.of(request, Source.WEB)

    @property
    def username(self) -> str:
        return self.user.get_username() if self.user is not None else ""


# --- secrets --------------------------------------------------------------------------

REDACTED = "[redacted]"
# Keys whose values are secret, after lower-casing and turning '_' and '-' into '.':
# password, sasl.jaas.config, ssl.key.password, ssl.keystore.key, client_secret, ...
_SECRET_KEY = re.compile(
    r"password|passwd|passphrase|secret|token|sasl|ssl\.key|keystore|truststore\.certificates"
    r"|credential|jaas|authorization|api\.?key|private\.?key|bearer|cookie|session"
)
# Inside free text: key=value / key: value pairs with a secret-looking key, bearer
# tokens and offsetsite's own API tokens (the 12-character prefix shown in lists is
# not secret and is kept).
_SECRET_PAIR = re.compile(
    r"(?i)([\w.-]*(?:password|passwd|secret|token|credential)[\w.-]*[\"']?\s*[=:]\s*)"
    r"(\"[^\"]*\"|'[^']*'|[^\s,;&\"']+)"
)
_BEARER = re.compile(r"(?i)(bearer\s+)[\w.~+/=-]+")
_API_TOKEN = re.compile(r"oss_[A-Za-z0-9_-]{16,}")


def secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key.lower().replace("_", ".").replace("-", ".")))


def scrub_text(text: str) -> str:
    text = _SECRET_PAIR.sub(lambda m: m.group(1) + REDACTED, text)
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    return _API_TOKEN.sub(REDACTED, text)


def scrub(value: Any) -> Any:
    """``value`` with every secret replaced by ``[redacted]`` (dicts, lists and text, recursively)."""
    if isinstance(value, Mapping):
        return {str(k): (REDACTED if secret_key(str(k)) else scrub(v)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        return scrub_text(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return scrub_text(str(value))


# --- writing ----------------------------------------------------------------------------


def _fit(field: str, value: str, details: dict[str, Any]) -> str:
    """``value`` cut to its column; the whole of it goes to ``details`` (group ids may be long)."""
    limit = getattr(AuditEntry._meta.get_field(field), "max_length", None)
    if limit is None or len(value) <= limit:
        return value
    details.setdefault(field, value)
    return value[: limit - 1] + "\u2026"


def log(
    actor: Actor,
    action: Action,
    *,
    cluster: str,
    topic: str = "",
    group_id: str = "",
    summary: str = "",
    offsets: Sequence[Mapping[str, Any]] | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Write one entry. ``cluster`` is ``offsetsite.engine.current_cluster_name()``."""
    action = Action(action)  # refuses a name outside the vocabulary
    clean: dict[str, Any] = scrub(dict(details or {}))
    topic, group_id = _fit("topic", topic, clean), _fit("group_id", group_id, clean)
    cluster = _fit("cluster", cluster or "local", clean)
    return AuditEntry.objects.create(
        user=actor.user,
        username=actor.username,
        source=Source(actor.source).value,
        action=action.value,
        cluster=cluster,
        topic=topic,
        group_id=group_id,
        summary=scrub_text(summary),
        offsets=scrub([dict(o) for o in offsets or ()]),
        details=clean,
    )


def checker_changed(
    actor: Actor, *, topic: str, group_id: str, checker: str, action: str, summary: str, **details: Any
) -> AuditEntry:
    """A lab ticket checker started, paused, crashed, restarted, removed or changed strategy.

    On the embedded engine only (the lab has no checkers on a Kafka cluster), so the
    cluster is the current one; ``details`` says where (room, lesson step) and how.
    """
    from offsetsite.engine import current_cluster_name

    return log(
        actor,
        Action.LAB_CHECKER,
        cluster=current_cluster_name(),
        topic=topic,
        group_id=group_id,
        summary=summary,
        details={"checker": checker, "action": action, **details},
    )


# --- resets, read back ------------------------------------------------------------------


def mismatch_rows(verified: Verification) -> list[dict[str, Any]]:
    return [{"topic": t, "partition": p, "expected": e, "actual": a} for t, p, e, a in verified.mismatches]


def mismatch_warning(verified: Verification) -> str:
    """A sentence for the page or the API response; empty when the cluster holds the plan."""
    rows = verified.mismatches
    if not rows:
        return ""
    shown = ", ".join(
        f"{t}-{p}: expected {'none' if e is None else e}, holds {'none' if a is None else a}" for t, p, e, a in rows[:5]
    )
    more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
    return (
        f"Warning: read back after the change, the cluster holds other committed offsets than planned on "
        f"{len(rows)} partition(s): {shown}{more}. Check the group before relying on it."
    )


def _verified_rows(verified: Verification) -> list[dict[str, Any]]:
    """Partitions that moved (before -> what the cluster now holds), and any that do not hold the plan."""
    mismatched = {(t, p) for t, p, _, _ in verified.mismatches}
    rows = []
    for tp in sorted(verified.expected):
        before, after = verified.before.get(tp), verified.actual.get(tp)
        if before != after or tp in mismatched:
            rows.append({"topic": tp[0], "partition": tp[1], "before": before, "after": after})
    return rows


def _with_verification(details: dict[str, Any], summary: str, verified: Verification) -> str:
    details["verified"] = True  # "after" is what the cluster answered, not what was asked
    if verified.mismatches:
        details["mismatch"] = mismatch_rows(verified)
        summary += (
            f"; MISMATCH: the cluster holds other offsets than planned on {len(verified.mismatches)} partition(s)"
        )
    return summary


def reset_executed(actor: Actor, *, cluster: str, plan: ResetPlan, verified: Verification) -> AuditEntry:
    """An executed reset: ``verified`` is ``execute_reset``'s read-back."""
    rows = _verified_rows(verified)
    value = plan.scenario.value if plan.scenario.kind != "from-file" else None
    summary = (
        f"reset group {plan.group_id} {plan.scenario.kind}"
        + (f" {value}" if value is not None else "")
        + f": {len(rows)} partition(s) moved, {plan.total_reread} to read again, {plan.total_skipped} skipped"
    )
    details: dict[str, Any] = {"scenario": plan.scenario.kind, "value": value, "warnings": list(plan.warnings)}
    if plan.scenario.kind == "from-file":
        details["planned"] = [{"topic": r.topic, "partition": r.partition, "offset": r.after} for r in plan.rows]
    summary = _with_verification(details, summary, verified)
    return log(
        actor,
        Action.OFFSETS_RESET,
        cluster=cluster,
        group_id=plan.group_id,
        summary=summary,
        offsets=rows,
        details=details,
    )


def reset_undone(actor: Actor, *, cluster: str, point: RestorePoint, verified: Verification) -> AuditEntry:
    """An undone reset: ``verified`` is ``undo_reset_verified``'s read-back."""
    rows = _verified_rows(verified)
    summary = f"undid the {point.scenario} reset of group {point.group_id}: {len(rows)} partition(s) restored"
    details: dict[str, Any] = {"scenario": point.scenario, "restore_point_ms": point.created_ms}
    summary = _with_verification(details, summary, verified)
    return log(
        actor,
        Action.OFFSETS_UNDO,
        cluster=cluster,
        group_id=point.group_id,
        summary=summary,
        offsets=rows,
        details=details,
    )


def offset_changes(
    before: Mapping[TopicPartition, int | None],
    after: Mapping[TopicPartition, int | None],
    parts: Sequence[TopicPartition] | None = None,
) -> list[dict[str, Any]]:
    """Entry rows for the partitions whose committed offset changed (None: none committed)."""
    keys = sorted(parts if parts is not None else set(before) | set(after))
    return [
        {"topic": t, "partition": p, "before": before.get((t, p)), "after": after.get((t, p))}
        for t, p in keys
        if before.get((t, p)) != after.get((t, p))
    ]
