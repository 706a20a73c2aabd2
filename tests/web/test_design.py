"""The design system's server side: one time format (the ``when`` filter) and the lag
chart's marks in lag.json (resets, rebalances, operators' actions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.template import Context, Template
from django.test import Client, override_settings
from django.utils import timezone

from offsetsite.core.audit import Action
from offsetsite.core.models import AuditEntry
from offsetsite.dashboard.templatetags.times import local_text, when
from offsetsite.live.marks import MAX_MARKS
from offsetsite.live.models import GroupEvent

from .actions_helpers import seed_log

pytestmark = pytest.mark.django_db

MS = 1_796_042_096_789  # 2026-11-30 12:34:56.789 UTC


def render(source: str, **ctx: object) -> str:
    return Template("{% load times %}" + source).render(Context(ctx))


# --- the time filter ------------------------------------------------------------


def test_when_shows_local_seconds_and_keeps_epoch_ms_on_hover() -> None:
    html = render("{{ ts|when }}", ts=MS)
    assert html == (
        '<time class="when" datetime="2026-11-30T12:34:56.789+00:00" '
        'title="1796042096789 ms since the epoch (UTC)">2026-11-30 12:34:56</time>'
    )


@override_settings(TIME_ZONE="Europe/Paris")
def test_when_follows_the_site_time_zone() -> None:
    assert local_text(MS) == "2026-11-30 13:34:56"
    assert 'datetime="2026-11-30T13:34:56.789+01:00"' in when(MS)


def test_when_takes_datetimes_too() -> None:
    at = datetime(2026, 11, 30, 12, 34, 56, 789_000, tzinfo=UTC)
    assert render("{{ at|when }}", at=at) == render("{{ ts|when }}", ts=MS)


def test_when_says_when_there_is_no_time() -> None:
    assert (
        render("{{ ts|when }}", ts=-1) == '<span class="muted" title="timestamp -1: the record has none">\u2013</span>'
    )
    assert render("{{ ts|when }}", ts=None) == "\u2013"
    assert render("{{ ts|when }}", ts="not a time") == "not a time"  # autoescaped, shown as it is
    assert render("{{ ts|when }}", ts="<b>") == "&lt;b&gt;"


def test_record_table_uses_the_one_time_format(client: Client, engine_dir: Path) -> None:
    from offsetsite.engine import get_cluster

    cluster = get_cluster()
    cluster.create_topic("t", 1)
    cluster.produce("t", b'{"a": 1}', b"k", [], 0, MS)
    html = client.get("/topics/t/").content.decode()
    assert 'title="1796042096789 ms since the epoch (UTC)">2026-11-30 12:34:56</time>' in html
    assert "T12:34:56.789Z" not in html  # the old UTC ISO text is gone from the table


# --- lag chart marks -------------------------------------------------------------


def audit(action: Action, group: str, at: datetime, who: str = "otto", summary: str = "") -> None:
    entry = AuditEntry.objects.create(
        username=who, action=action, cluster="local", group_id=group, summary=summary or action
    )
    AuditEntry.objects.filter(pk=entry.pk).update(at=at)  # auto_now_add: set the time after


def event(kind: str, group: str, at: datetime, summary: str) -> None:
    GroupEvent.objects.create(cluster="local", group_id=group, at=at, kind=kind, summary=summary)


def marks(client: Client, group: str = "billing", rng: str = "15m") -> list[dict[str, object]]:
    resp = client.get(f"/groups/{group}/lag.json?range={rng}")
    assert resp.status_code == 200
    data = resp.json()
    assert "marks" in data
    return list(data["marks"])


def test_lag_json_marks_resets_rebalances_and_actions(client: Client, engine_dir: Path) -> None:
    now = timezone.now()
    event("rebalance", "billing", now - timedelta(minutes=5), "generation 3: 2 members")
    audit(Action.OFFSETS_RESET, "billing", now - timedelta(minutes=3), summary="to earliest")
    # The cluster's own event of the audited reset, a second later: drawn once, with its author.
    event("reset", "billing", now - timedelta(minutes=3) + timedelta(seconds=1), "reset 2 partitions")
    audit(Action.OFFSETS_COMMIT, "billing", now - timedelta(minutes=2), who="ada", summary="commit 1 partition")
    event("reset", "billing", now - timedelta(minutes=1), "reset by kafka-consumer-groups.sh")
    event("commit", "billing", now - timedelta(minutes=1), "not a mark: commits are the curve itself")
    event("reset", "other", now - timedelta(minutes=1), "another group's")
    event("rebalance", "billing", now - timedelta(hours=2), "before the range")

    got = marks(client)
    assert [(m["kind"], m["by"], m["label"]) for m in got] == [
        ("rebalance", "", "generation 3: 2 members"),
        ("reset", "otto", "to earliest"),
        ("action", "ada", "commit 1 partition"),
        ("reset", "", "reset by kafka-consumer-groups.sh"),
    ]
    assert got[1]["t"] == pytest.approx((now - timedelta(minutes=3)).timestamp(), abs=0.001)
    assert len(marks(client, rng="6h")) == 5  # the longer range reaches the older rebalance


def test_lag_json_marks_are_bounded_and_empty_for_a_quiet_group(client: Client, engine_dir: Path) -> None:
    assert marks(client, "quiet") == []
    now = timezone.now()
    GroupEvent.objects.bulk_create(
        GroupEvent(cluster="local", group_id="busy", at=now - timedelta(seconds=i), kind="rebalance", summary=str(i))
        for i in range(MAX_MARKS + 20)
    )
    got = marks(client, "busy")
    assert len(got) == MAX_MARKS
    assert got[-1]["label"] == "0"  # the newest are kept
    assert [m["t"] for m in got] == sorted(m["t"] for m in got)


def test_lag_json_marks_come_from_a_reset_through_the_page(operator_client: Client, engine_dir: Path) -> None:
    seed_log()  # group billing on orders-0/1, committed 10 and 5
    fields = {"scope": "all", "scenario": "to-offset", "to_offset": "4"}
    p = operator_client.post("/groups/billing/reset/", {**fields, "action": "preview"})
    r = operator_client.post(
        "/groups/billing/reset/",
        {
            **fields,
            "action": "execute",
            "fingerprint": p.context["plan_fingerprint"],
            "targets": p.context["targets_fingerprint"],
            "confirm": str(p.context["moving"]),
        },
    )
    assert r.status_code == 200, r.content.decode()[:500]
    got = marks(operator_client)
    assert [(m["kind"], m["by"]) for m in got] == [("reset", "otto")]
