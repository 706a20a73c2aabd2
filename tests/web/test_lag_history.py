"""Lag history (sampling, downsampling, retention), lag.json, and the group timeline."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError
from django.template import Context, Template
from django.test import Client
from django.utils import timezone

from logcore.admin import Scenario, Scope, execute_reset, plan_reset
from logcore.events import GroupChanged, GroupRebalanced, OffsetsCommitted, OffsetsReset
from offsetsite import engine
from offsetsite.engine import get_cluster
from offsetsite.live import sampler
from offsetsite.live.bridge import BRIDGE
from offsetsite.live.models import TOTAL_PARTITION, GroupEvent, LagMinute, LagSample
from offsetsite.live.timeline import TimelineBuffer

pytestmark = pytest.mark.django_db


def setup_group(group: str = "billing", topic: str = "events", n: int = 10, committed: int = 4) -> None:
    cluster = get_cluster()
    if topic not in cluster.list_topics():
        cluster.create_topic(topic, 2)
    for i in range(n):
        cluster.produce(topic, b"v%d" % i, partition=i % 2)
    cluster.commit_offsets(group, {(topic, 0): committed, (topic, 1): 0})


# --- sampling -----------------------------------------------------------------


def test_sample_once_writes_one_row_per_committed_partition(engine_dir: Path) -> None:
    setup_group()  # HW 5 and 5; committed 4 and 0
    get_cluster().create_topic("quiet", 1)
    now = timezone.now()
    result = sampler.sample_once(now)
    assert result.samples == 2
    rows = sorted(LagSample.objects.values_list("group_id", "topic", "partition", "committed", "hw", "lag"))
    assert rows == [("billing", "events", 0, 4, 5, 1), ("billing", "events", 1, 0, 5, 5)]
    assert set(LagSample.objects.values_list("at", flat=True)) == {now}


@pytest.mark.django_db(transaction=True)
def test_sample_once_asks_the_cluster_outside_any_transaction(engine_dir: Path, monkeypatch: Any) -> None:
    """SQLite transactions here are IMMEDIATE: a cluster call inside one would hold the write
    lock for as long as a slow or unreachable Kafka cluster takes to answer (up to its
    timeout), and every login or audit write meanwhile fails with "database is locked"."""
    from django.db import connection

    setup_group()
    cluster = get_cluster()
    seen: list[bool] = []
    real = cluster.group_offsets

    def group_offsets(*args: Any, **kwargs: Any) -> Any:
        seen.append(connection.in_atomic_block)
        return real(*args, **kwargs)

    monkeypatch.setattr(cluster, "group_offsets", group_offsets)
    assert sampler.sample_once(timezone.now()).samples == 2
    assert seen == [False]


def test_groups_without_commits_are_not_sampled(engine_dir: Path) -> None:
    get_cluster().create_topic("t", 1)
    assert sampler.sample_once(timezone.now()).samples == 0
    assert LagSample.objects.count() == 0


def test_downsampling_folds_complete_minutes_with_max_and_total(engine_dir: Path) -> None:
    base = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=10)
    # Minute 0: lags (p0, p1) = (1, 5), (7, 2), (3, 3); totals 6, 9, 6.
    for i, (l0, l1) in enumerate([(1, 5), (7, 2), (3, 3)]):
        at = base + timedelta(seconds=5 * i)
        LagSample.objects.create(group_id="g", topic="t", partition=0, at=at, committed=10, hw=10 + l0, lag=l0)
        LagSample.objects.create(group_id="g", topic="t", partition=1, at=at, committed=20, hw=20 + l1, lag=l1)
    # Minute 1: one sample.
    at1 = base + timedelta(minutes=1, seconds=5)
    LagSample.objects.create(group_id="g", topic="t", partition=0, at=at1, committed=30, hw=30, lag=0)
    assert sampler.downsample(base + timedelta(minutes=1, seconds=30)) == 3  # only minute 0 is complete
    m0 = {(m.topic, m.partition): m for m in LagMinute.objects.filter(at=base)}
    assert m0[("t", 0)].lag_max == 7 and m0[("t", 0)].lag_last == 3 and m0[("t", 0)].samples == 3
    assert m0[("t", 1)].lag_max == 5 and m0[("t", 1)].lag_last == 3
    total = m0[("", TOTAL_PARTITION)]
    assert total.lag_max == 9  # the highest total, not 7 + 5
    assert total.lag_last == 6
    # Running again folds nothing twice; the next minute folds once it is complete.
    assert sampler.downsample(base + timedelta(minutes=1, seconds=55)) == 0
    assert sampler.downsample(base + timedelta(minutes=2, seconds=1)) == 2
    assert LagMinute.objects.filter(at=base + timedelta(minutes=1), partition=0).get().lag_max == 0
    assert LagMinute.objects.count() == 5


def test_retention_prunes_each_tier(engine_dir: Path, settings: Any) -> None:
    settings.OFFSETSITE = {
        **settings.OFFSETSITE,
        "LAG_RAW_RETENTION": 600,
        "LAG_MINUTE_RETENTION": 3600,
        "TIMELINE_RETENTION": 7200,
    }
    now = timezone.now()
    for age_s in (30, 500, 700, 4000):
        LagSample.objects.create(
            group_id="g", topic="t", partition=0, at=now - timedelta(seconds=age_s), committed=0, hw=1, lag=1
        )
    for age_s in (120, 3000, 4000):
        LagMinute.objects.create(
            group_id="g", topic="t", partition=0, at=now - timedelta(seconds=age_s), lag_max=1, lag_last=1
        )
    for age_s in (10, 8000):
        GroupEvent.objects.create(group_id="g", at=now - timedelta(seconds=age_s), kind="commit", summary="x")
    assert sampler.prune(now) == 2 + 1 + 1
    assert sorted(round((now - a).total_seconds()) for a in LagSample.objects.values_list("at", flat=True)) == [30, 500]
    assert LagMinute.objects.count() == 2
    assert GroupEvent.objects.count() == 1


def test_rounds_over_time_keep_raw_for_an_hour_and_minutes_for_a_week(engine_dir: Path) -> None:
    setup_group()
    start = timezone.now() - timedelta(hours=3)
    for k in range(0, 3 * 60, 2):  # a sample every 2 minutes for 3 hours
        sampler.sample_once(start + timedelta(minutes=k))
    last = start + timedelta(minutes=178)
    oldest_raw = LagSample.objects.order_by("at").first()
    assert oldest_raw is not None and last - oldest_raw.at <= timedelta(hours=1)
    # Every sampled minute before the last one was folded, none was lost to the raw pruning.
    assert LagMinute.objects.filter(partition=TOTAL_PARTITION).count() == 89


# --- lag.json -----------------------------------------------------------------


def test_lag_json_raw_range(client: Client, engine_dir: Path) -> None:
    setup_group()
    now = timezone.now()
    sampler.sample_once(now - timedelta(seconds=10))
    get_cluster().produce("events", b"x", partition=0)
    sampler.sample_once(now - timedelta(seconds=5))
    sampler.sample_once(now - timedelta(hours=2))  # outside 15m (and pruned from raw anyway)
    resp = client.get("/groups/billing/lag.json?range=15m")
    assert resp.status_code == 200
    data = resp.json()
    assert data["tier"] == "raw" and data["range"] == "15m" and data["group"] == "billing"
    assert data["now"] - data["since"] == 900
    assert data["partitions"] == [
        {"key": "events-0", "topic": "events", "partition": 0},
        {"key": "events-1", "topic": "events", "partition": 1},
    ]
    s = data["series"]
    assert len(s["t"]) == 2 and s["t"] == sorted(s["t"])
    assert s["events-0"] == [1, 2]
    assert s["events-1"] == [5, 5]
    assert s["total"] == [6, 7]


def test_lag_json_default_range_and_empty_group(client: Client, engine_dir: Path) -> None:
    data = client.get("/groups/nobody/lag.json").json()
    assert data["range"] == "15m"
    assert data["partitions"] == [] and data["series"] == {"t": [], "total": []}


def test_lag_json_minute_range_uses_aggregates_and_the_live_tail(client: Client, engine_dir: Path) -> None:
    now = timezone.now()
    m = now.replace(second=0, microsecond=0) - timedelta(minutes=30)
    LagMinute.objects.create(group_id="g", topic="t", partition=0, at=m, lag_max=9, lag_last=3)
    LagMinute.objects.create(group_id="g", topic="t", partition=1, at=m, lag_max=4, lag_last=4)
    LagMinute.objects.create(group_id="g", topic="", partition=TOTAL_PARTITION, at=m, lag_max=11, lag_last=7)
    LagMinute.objects.create(
        group_id="g", topic="t", partition=0, at=now - timedelta(hours=30), lag_max=1, lag_last=1
    )  # outside 24h
    # Raw samples after the last folded minute are the live edge.
    LagSample.objects.create(
        group_id="g", topic="t", partition=0, at=now - timedelta(seconds=5), committed=0, hw=2, lag=2
    )
    LagSample.objects.create(
        group_id="g", topic="t", partition=1, at=now - timedelta(seconds=5), committed=0, hw=1, lag=1
    )
    data = client.get("/groups/g/lag.json?range=24h").json()
    assert data["tier"] == "minute"
    s = data["series"]
    assert s["t"] == [int(m.timestamp()), int((now - timedelta(seconds=5)).timestamp())]
    assert s["t-0"] == [9, 2]
    assert s["t-1"] == [4, 1]
    assert s["total"] == [11, 3]
    assert client.get("/groups/g/lag.json?range=6h").json()["series"]["t-0"] == [9, 2]


@pytest.mark.parametrize("bad", ["2h", "", "15m;drop", "<script>"])
def test_lag_json_bad_range(client: Client, engine_dir: Path, bad: str) -> None:
    resp = client.get("/groups/g/lag.json", {"range": bad})
    assert resp.status_code == 400
    msg = resp.json()["error"]
    assert "15m, 1h, 6h, 24h" in msg


def test_lag_json_is_get_only(client: Client, engine_dir: Path) -> None:
    assert client.post("/groups/g/lag.json").status_code == 405


def test_lag_json_read_login(client: Client, viewer_client: Client, engine_dir: Path, settings: Any) -> None:
    settings.OFFSETSITE = {**settings.OFFSETSITE, "READ_LOGIN": True}
    assert client.get("/groups/g/lag.json").status_code == 401
    assert viewer_client.get("/groups/g/lag.json").status_code == 200


def test_lag_json_hostile_group_name(client: Client, engine_dir: Path) -> None:
    gid = "<img src=x onerror=alert(1)>"
    LagSample.objects.create(group_id=gid, topic="t", partition=0, at=timezone.now(), committed=0, hw=1, lag=1)
    resp = client.get(f"/groups/{gid}/lag.json")
    assert resp.status_code == 200
    assert resp["Content-Type"] == "application/json"
    assert json.loads(resp.content)["group"] == gid


def test_lag_json_query_count(client: Client, engine_dir: Path, django_assert_max_num_queries: Any) -> None:
    now = timezone.now()
    LagSample.objects.bulk_create(
        LagSample(group_id="g", topic="t", partition=p, at=now - timedelta(seconds=5 * k), committed=0, hw=k, lag=k)
        for k in range(100)
        for p in range(4)
    )
    with django_assert_max_num_queries(3):  # session/auth lookups aside: one data query
        data = client.get("/groups/g/lag.json?range=1h").json()
    assert len(data["series"]["t"]) == 100 and len(data["partitions"]) == 4


# --- the timeline ---------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def test_timeline_folds_fast_commits_into_one_entry_per_window() -> None:
    clock = Clock()
    buf = TimelineBuffer(commit_window_s=5, clock=clock)
    for i in range(1000):
        buf.add(OffsetsCommitted(group="g", offsets=(("t", 0, i), ("t", 1, i * 2)), member_id="m1"))
        clock.now += 0.001
    entries = buf.drain()
    assert len(entries) == 1
    e = entries[0]
    assert e.kind == "commit" and e.details["commits"] == 1000
    assert e.summary.startswith("1000 commits: t-0→999, t-1→1998")
    # Within the window, later commits keep folding instead of making entries.
    clock.now += 1
    buf.add(OffsetsCommitted(group="g", offsets=(("t", 0, 1000),)))
    assert buf.drain() == []
    clock.now += 5
    (later,) = buf.drain()
    assert later.details["commits"] == 1 and later.details["offsets"][0]["offset"] == 1000
    # Other groups have their own windows.
    buf.add(OffsetsCommitted(group="h", offsets=(("t", 0, 1),)))
    assert [x.group_id for x in buf.drain()] == ["h"]


def test_timeline_entries_for_membership_rebalance_reset_delete() -> None:
    clock = Clock()
    buf = TimelineBuffer(clock=clock)
    buf.add(GroupChanged(group="g", state="PreparingRebalance", generation=1, reason="member m-1 joined"))
    buf.add(GroupChanged(group="g", state="CompletingRebalance", generation=1, reason="generation 1 formed; waiting"))
    buf.add(GroupRebalanced(group="g", generation=1, protocol="range", members=(("m-1", (("t", 0), ("t", 1))),)))
    buf.add(GroupChanged(group="g", state="PreparingRebalance", generation=1, reason="member m-1 left"))
    buf.add(
        GroupChanged(
            group="g", state="PreparingRebalance", generation=2, reason="member m-2 missed its session timeout"
        )
    )
    buf.add(OffsetsReset(group="g", changes=(("t", 0, 5, 0),), scenario="to-earliest"))
    entries = buf.drain()
    assert [e.kind for e in entries] == ["member-join", "rebalance", "leave", "leave", "reset"]
    assert entries[1].summary == "generation 1 formed with 1 member (range)"
    assert entries[1].details["members"] == [{"member": "m-1", "partitions": ["t-0", "t-1"]}]
    assert "t-0→0" in entries[4].summary


def test_timeline_buffer_is_bounded() -> None:
    buf = TimelineBuffer(max_entries=10, clock=Clock())
    for i in range(25):
        buf.add(GroupChanged(group="g", reason=f"member m{i} joined"))
    assert len(buf.drain()) == 10
    assert buf.dropped == 15


def test_engine_events_reach_the_group_event_table(engine_dir: Path) -> None:
    BRIDGE.timeline.drain(force=True)  # nothing left over from other tests
    setup_group()
    cluster = get_cluster()
    cluster.commit_offsets("billing", {("events", 0): 5})
    plan = plan_reset(
        cluster, "billing", Scenario("to-earliest"), Scope.parse(all_topics=True), now_ms=int(time.time() * 1000)
    )
    execute_reset(cluster, plan)
    cluster.events.publish(GroupRebalanced(group="billing", generation=3, protocol="range", members=()))
    cluster.delete_group("billing")
    assert sampler.write_timeline(force=True) >= 4
    kinds = list(GroupEvent.objects.filter(group_id="billing").order_by("at", "id").values_list("kind", flat=True))
    assert kinds[0] in ("reset", "commit") and {"commit", "reset", "rebalance", "delete"} <= set(kinds)
    commit = GroupEvent.objects.get(group_id="billing", kind="commit")
    assert commit.details["commits"] >= 2  # setup commit, the later one and the reset's commit folded


def test_group_timeline_tag_renders_latest_50_escaped(engine_dir: Path) -> None:
    now = timezone.now()
    GroupEvent.objects.bulk_create(
        GroupEvent(group_id="g", at=now - timedelta(seconds=k), kind="commit", summary=f"commit #{k}")
        for k in range(60)
    )
    GroupEvent.objects.create(group_id="g", at=now, kind="reset", summary="<script>alert(1)</script>")
    GroupEvent.objects.create(group_id="other", at=now, kind="reset", summary="not mine")
    html = Template("{% load live %}{% group_timeline gid %}").render(Context({"gid": "g"}))
    assert 'id="group-timeline"' in html and "hx-swap-oob" not in html
    assert html.count("<li ") == 50
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "not mine" not in html
    assert "commit #0<" in html and "commit #49<" not in html  # newest first: reset, #0..#48


def test_group_timeline_empty_state(engine_dir: Path) -> None:
    html = Template("{% load live %}{% group_timeline 'g' %}").render(Context())
    assert "Nothing yet" in html


# --- template tags --------------------------------------------------------------


def test_live_socket_tag(engine_dir: Path) -> None:
    html = Template("{% load live %}{% live_socket 'group' gid %}").render(Context({"gid": 'a b"<x>'}))
    assert 'id="live-socket"' in html and 'hx-ext="ws"' in html
    assert 'ws-connect="/ws/group/a%20b%22%3Cx%3E/"' in html
    assert 'data-ws-state="connecting"' in html
    assert 'data-live-key="a b&quot;&lt;x&gt;"' in html
    # {% htmx_script %} defers htmx; the extension must be deferred too or it runs before htmx exists.
    assert 'src="/static/django_htmx/ext/hx-ws-2.min.js" defer' in html
    assert 'src="/static/offsetsite/live.js" defer' in html
    assert 'id="live-version"' in html
    assert "//cdn" not in html and "https://" not in html
    overview = Template("{% load live %}{% live_socket 'overview' %}").render(Context())
    assert 'ws-connect="/ws/overview/"' in overview
    co = Template("{% load live %}{% live_socket 'consumer_offsets' %}").render(Context())
    assert 'ws-connect="/ws/consumer-offsets/"' in co


def test_live_socket_tag_refuses_unknown_kinds(engine_dir: Path) -> None:
    from django.template import TemplateSyntaxError

    with pytest.raises(TemplateSyntaxError, match="unknown kind"):
        Template("{% load live %}{% live_socket 'nope' %}").render(Context())
    with pytest.raises(TemplateSyntaxError, match="needs its topic"):
        Template("{% load live %}{% live_socket 'topic' '' %}").render(Context())


def test_lag_chart_tag(engine_dir: Path) -> None:
    html = Template("{% load live %}{% lag_chart gid %}").render(Context({"gid": "<b>g</b>"}))
    assert 'id="lag-chart"' not in html  # "/" cannot be in the group's path segment
    assert "No lag chart" in html
    html = Template("{% load live %}{% lag_chart gid %}").render(Context({"gid": "<b>g"}))
    assert 'data-lag-url="/groups/%3Cb%3Eg/lag.json"' in html
    assert 'data-group="&lt;b&gt;g"' in html
    assert 'src="/static/vendor/uplot/uPlot.iife.min.js" defer' in html
    assert 'src="/static/offsetsite/lagchart.js" defer' in html


def test_vendored_uplot_is_recorded() -> None:
    root = Path(__file__).resolve().parents[2] / "static" / "vendor" / "uplot"
    version = (root / "VERSION").read_text()
    assert "1.6." in version and "registry.npmjs.org" in version
    assert "MIT" in (root / "LICENSE").read_text()
    assert (root / "uPlot.iife.min.js").stat().st_size > 20_000


# --- the sampler thread ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_sampler_thread_samples_and_stops_with_the_engine(engine_dir: Path, settings: Any) -> None:
    settings.OFFSETSITE = {**settings.OFFSETSITE, "SAMPLER": True, "LAG_SAMPLE_INTERVAL": 0.2, "SAMPLER_TICK": 0.1}
    setup_group()
    thread = sampler._current
    assert thread is not None and thread.is_alive()
    deadline = time.monotonic() + 10

    def samples() -> int:
        # The test database is SQLite's shared-cache memory database, whose table locks
        # answer "locked" at once (no busy wait) while the sampler thread writes: retry.
        try:
            return LagSample.objects.filter(group_id="billing").count()
        except OperationalError:
            return 0

    while samples() < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert samples() >= 4
    engine.close()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_sampler_is_off_in_tests_by_default(engine_dir: Path) -> None:
    get_cluster()
    assert sampler._current is None
