"""The group page: facts, members, per-partition offsets, lag, lag in time and health."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import Client

from logcore.cluster import Cluster
from logcore.consumer import Consumer
from logcore.lag import DEFAULT_WINDOW_COMMITS
from offsetsite import engine
from offsetsite.dashboard.groups import status as group_status
from offsetsite.dashboard.groups import views as views_groups
from offsetsite.dashboard.groups.status import LagTracker
from offsetsite.engine import get_cluster

DASH = "\u2013"  # the en dash the page shows for "no value"


class FakeClock:
    def __init__(self, ms: int = 1_000_000) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


@pytest.fixture
def cluster(engine_dir: Path, db: Any) -> Cluster:
    return get_cluster()


@pytest.fixture
def clock(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """A tracker on a clock the test moves, following the engine from before any change."""
    fake = FakeClock()
    lt = LagTracker(clock=fake)
    lt.attach(cluster.events)
    monkeypatch.setitem(group_status._trackers, engine.current_cluster_name(), lt)
    return fake


def partition_rows(html: str) -> list[list[str]]:
    """The partitions table, one list of cell texts (tags stripped) per row."""
    body = html.split('<tbody id="group-partitions"', 1)[1].split("</tbody>", 1)[0]
    rows = []
    for tr in re.findall(r"<tr class=\"partition\"[^>]*>(.*?)</tr>", body, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)
        rows.append([re.sub(r"<[^>]+>", "", c).strip() for c in cells])
    return rows


def produce(cluster: Cluster, topic: str, counts: list[int]) -> None:
    cluster.create_topic(topic, len(counts))
    for p, n in enumerate(counts):
        for i in range(n):
            cluster.produce(topic, b"v%d" % i, partition=p)


@pytest.fixture
def stable_group(cluster: Cluster) -> Iterator[Consumer]:
    """Group "readers": one member subscribed to orders (3 partitions), read and committed."""
    produce(cluster, "orders", [5, 3, 0])
    with engine.locked():
        engine.embedded().coordinator.initial_rebalance_delay_ms = 0
        c = Consumer(
            engine.embedded(),
            "readers",
            client_id="reader-1",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        c.subscribe(["orders"])
        for _ in range(10):
            c.poll(0, max_records=2)
        c.commit({("orders", 0): 4, ("orders", 1): 3})
    yield c
    with engine.locked():
        c.close(autocommit=False)


def test_stable_group_page(client: Client, stable_group: Consumer) -> None:
    response = client.get("/groups/readers/")
    assert response.status_code == 200
    html = response.content.decode()
    facts = html.split('id="group-facts"', 1)[1].split("</dl>", 1)[0]
    assert "Stable" in facts
    assert "<dt>Generation</dt><dd>1</dd>" in facts
    assert "consumer / range" in facts
    assert stable_group.member_id in facts  # the leader
    members = html.split('<tbody id="group-members"', 1)[1].split("</tbody>", 1)[0]
    assert "reader-1" in members
    assert "orders-0, orders-1, orders-2" in members
    rows = partition_rows(html)
    # topic, partition, committed, log start, HW, lag, lag time, health, owner
    assert [r[:6] for r in rows] == [
        ["orders", "0", "4", "0", "5", "1"],
        ["orders", "1", "3", "0", "3", "0"],
        ["orders", "2", DASH, "0", "0", DASH],
    ]
    assert all(stable_group.member_id in r[9] for r in rows)
    assert rows[1][6] == "0 ms"  # caught up
    assert rows[1][8] == "OK"
    totals = html.split('<tfoot id="group-totals"', 1)[1].split("</tfoot>", 1)[0]
    assert '<td class="num lag" data-label="Lag">1</td>' in totals
    assert "next to read" in html


def test_empty_group_lag_numbers(client: Client, cluster: Cluster) -> None:
    produce(cluster, "pay", [10, 7])
    cluster.commit_offsets("batch", {("pay", 0): 4, ("pay", 1): 7})
    html = client.get("/groups/batch/").content.decode()
    assert "Empty" in html.split('id="group-facts"', 1)[1].split("</dl>", 1)[0]
    rows = partition_rows(html)
    assert [r[:6] for r in rows] == [["pay", "0", "4", "0", "10", "6"], ["pay", "1", "7", "0", "7", "0"]]
    assert rows[0][9] == "unassigned"
    assert "No members" in html
    assert '<dt>Total lag</dt><dd class="num">6</dd>' in html


def test_unknown_group_is_a_404_with_a_message(client: Client, cluster: Cluster) -> None:
    response = client.get("/groups/nobody-here/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "No consumer group “nobody-here”" in html
    assert "/?q=nobody-here" in html


def test_group_id_with_markup_is_escaped(client: Client, cluster: Cluster) -> None:
    evil = '<img src=x onerror=alert(1)>"'  # no "/": reachable by URL
    produce(cluster, "t", [3])
    cluster.commit_offsets(evil, {("t", 0): 1})
    from django.urls import reverse

    url = reverse("group", args=[evil])
    html = client.get(url).content.decode()
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;&quot;" in html
    missing = client.get(reverse("group", args=["<b>x<b>"])).content.decode()
    assert "<b>x<b>" not in missing and "&lt;b&gt;x&lt;b&gt;" in missing


def test_action_links_only_for_operators(
    client: Client, viewer_client: Client, operator_client: Client, cluster: Cluster
) -> None:
    produce(cluster, "t", [3])
    cluster.commit_offsets("g", {("t", 0): 1})
    for c in (client, viewer_client):
        response = c.get("/groups/g/")
        assert response.context["may_admin"] is False
        assert response.context["may_use"] is False
        assert 'aria-label="group actions"' not in response.content.decode()
    response = operator_client.get("/groups/g/")
    assert response.context["may_admin"] is True
    html = response.content.decode()
    assert 'aria-label="group actions"' in html
    from django.urls import NoReverseMatch, reverse

    for name in ("group_reset", "group_delete", "group_consume"):
        try:
            url = reverse(name, args=["g"])
        except NoReverseMatch:  # the actions' routes may not be there yet
            continue
        assert f'href="{url}"' in html


def test_workshop_visitor_may_use_own_group_only(client: Client, cluster: Cluster, settings: Any) -> None:
    settings.OFFSETSITE = {**settings.OFFSETSITE, "WORKSHOP": True}
    produce(cluster, "t", [3])
    cluster.commit_offsets("mine", {("t", 0): 1})
    cluster.commit_offsets("theirs", {("t", 0): 1})
    session = client.session
    session["offsetsite.own_groups"] = ["mine"]
    session.save()
    mine = client.get("/groups/mine/")
    assert mine.context["may_use"] is True and mine.context["may_admin"] is False
    assert client.get("/groups/theirs/").context["may_use"] is False


def test_lag_in_time_interpolated_from_hw_samples(client: Client, cluster: Cluster, clock: FakeClock) -> None:
    cluster.create_topic("t", 1)
    cluster.produce("t", b"a", partition=0)  # HW 1 sampled at t0
    t0 = clock.ms
    clock.ms += 10_000
    for _ in range(10):
        cluster.produce("t", b"b", partition=0)  # HW 2 sampled at t0+10s (one sample a second)
    clock.ms += 1_000
    cluster.produce("t", b"c", partition=0)  # HW 12 sampled at t0+11s
    cluster.commit_offsets("g", {("t", 0): 1})
    clock.ms = t0 + 20_000
    html = client.get("/groups/g/").content.decode()
    row = partition_rows(html)[0]
    assert row[5] == "11"
    # offset 1 was the HW from t0 (first point) to t0+10s (next sample, HW 2): the
    # newest pair around it gives t0 + 0 .. interpolation between (1, t0) and (2, t0+10s)
    # puts offset 1 at t0, so the lag in time is 20 s.
    assert row[6] == "20.0 s"
    assert "src-interpolated" in html.split('<tbody id="group-partitions"', 1)[1]


def test_lag_in_time_falls_back_to_record_timestamp(client: Client, cluster: Cluster, clock: FakeClock) -> None:
    cluster.create_topic("t", 1)
    for i in range(5):
        cluster.produce("t", b"x", partition=0, timestamp=clock.ms - 60_000 + i * 1000)
    cluster.commit_offsets("g", {("t", 0): 2})  # next unread record: produced 58 s ago
    html = client.get("/groups/g/").content.decode()
    assert partition_rows(html)[0][6] == "58.0 s"
    assert "src-record" in html.split('<tbody id="group-partitions"', 1)[1]


def _walk(cluster: Cluster, clock: FakeClock, produce_per_s: int, commit_per_s: int) -> None:
    """Ten seconds of a partition written and read at steady rates, from HW 100 and offset 10."""
    cluster.create_topic("t", 1)
    for _ in range(100):
        cluster.produce("t", b"x", partition=0)
    committed = 10
    cluster.commit_offsets("g", {("t", 0): committed})
    for _ in range(10):
        clock.ms += 1000
        for _ in range(produce_per_s):
            cluster.produce("t", b"y", partition=0)
        committed += commit_per_s
        cluster.commit_offsets("g", {("t", 0): committed})


def test_time_to_clear_from_read_and_write_rates(client: Client, cluster: Cluster, clock: FakeClock) -> None:
    _walk(cluster, clock, produce_per_s=1, commit_per_s=5)
    row = partition_rows(client.get("/groups/g/").content.decode())[0]
    # lag 110 - 60 = 50, shrinking by 5 - 1 = 4 records a second: 12.5 s
    assert row[5] == "50"
    assert row[7] == "12.5 s"


def test_time_to_clear_never_when_writers_are_faster(client: Client, cluster: Cluster, clock: FakeClock) -> None:
    _walk(cluster, clock, produce_per_s=5, commit_per_s=1)
    row = partition_rows(client.get("/groups/g/").content.decode())[0]
    assert row[7] == "not at this pace"


def test_time_to_clear_unknown_before_two_commits(client: Client, cluster: Cluster, clock: FakeClock) -> None:
    produce(cluster, "t", [10])
    cluster.commit_offsets("g", {("t", 0): 2})
    assert partition_rows(client.get("/groups/g/").content.decode())[0][7] == DASH


def health_of(client: Client, gid: str) -> tuple[str, str]:
    html = client.get(f"/groups/{gid}/").content.decode()
    part = partition_rows(html)[0][8]
    group = re.search(r'<dt>Health</dt><dd><span class="health health-\w+"[^>]*>(\w+)</span>', html)
    assert group is not None
    return part, group.group(1)


def test_health_ok_when_caught_up(client: Client, cluster: Cluster, clock: FakeClock) -> None:
    produce(cluster, "t", [5])
    clock.ms += 1000
    cluster.commit_offsets("g", {("t", 0): 5})
    clock.ms += 60_000
    assert health_of(client, "g") == ("OK", "OK")


# Burrow judges a partition once its window of commits is full (LagTracker.min_commits).
WINDOW = DEFAULT_WINDOW_COMMITS


def test_health_warn_when_lag_keeps_growing(client: Client, cluster: Cluster, clock: FakeClock) -> None:
    cluster.create_topic("t", 1)
    for step in range(1, WINDOW + 1):
        for _ in range(10):
            cluster.produce("t", b"x", partition=0)
        cluster.commit_offsets("g", {("t", 0): step})  # lag 9, 18, 27, ...
        clock.ms += 1000
    assert health_of(client, "g") == ("WARN", "WARN")


def test_health_stall_when_offset_does_not_move(client: Client, cluster: Cluster, clock: FakeClock) -> None:
    produce(cluster, "t", [10])
    for _ in range(WINDOW):
        cluster.commit_offsets("g", {("t", 0): 2})
        clock.ms += 1000
    assert health_of(client, "g") == ("STALL", "ERR")


def test_health_rewind_when_offset_goes_back(client: Client, cluster: Cluster, clock: FakeClock) -> None:
    produce(cluster, "t", [20])
    for offset in range(5, 5 + WINDOW - 1):
        cluster.commit_offsets("g", {("t", 0): offset})
        clock.ms += 1000
    cluster.commit_offsets("g", {("t", 0): 3})  # the consumer itself sought back and committed
    clock.ms += 500
    assert health_of(client, "g") == ("REWIND", "ERR")


def test_health_stop_when_commits_stop(client: Client, cluster: Cluster, clock: FakeClock) -> None:
    produce(cluster, "t", [20])
    for offset in range(2, 2 + WINDOW):
        cluster.commit_offsets("g", {("t", 0): offset})
        clock.ms += 1000
    clock.ms += 30_000  # far longer than the 10 s the window's commits took
    part, group = health_of(client, "g")
    assert (part, group) == ("STOP", "ERR")
    html = client.get("/groups/g/").content.decode()
    assert "no commit for 31.0 s" in html  # 30 s plus the second after the last commit


def test_new_group_with_one_commit_is_not_in_error(client: Client, cluster: Cluster, clock: FakeClock) -> None:
    """Regression: a group showed red ERR (STOP) right after its first consume and commit."""
    produce(cluster, "t", [10])
    cluster.commit_offsets("g", {("t", 0): 2})
    clock.ms += 5_000
    assert health_of(client, "g") == ("NEW", "NEW")
    html = client.get("/groups/g/").content.decode()
    assert "not enough commits yet: 1 commit so far, 10 needed to judge" in html
    assert "health-err" not in html and "health-stop" not in html


def test_operator_reset_and_undo_are_not_a_rewind(operator_client: Client, cluster: Cluster, clock: FakeClock) -> None:
    """Regression: after an operator's reset and its undo every partition showed REWIND."""
    from .actions_helpers import seed_log
    from .test_reset_flow import do_reset

    seed_log()  # billing committed 10 and 5 on orders' two partitions (HW 20)
    clock.ms += 1000
    do_reset(operator_client, scenario="to-earliest")
    clock.ms += 1000
    html = operator_client.get("/groups/billing/").content.decode()
    assert [row[8].split()[0] for row in partition_rows(html)] == ["RESET", "RESET"]
    assert ">REWIND<" not in html and "health-err" not in html
    assert "reset (to-earliest) by otto at " in html and "not the consumer rewinding" in html

    clock.ms += 1000
    assert operator_client.post("/groups/billing/undo/").status_code == 200
    clock.ms += 1000
    html = operator_client.get("/groups/billing/").content.decode()
    assert [row[8].split()[0] for row in partition_rows(html)] == ["RESET", "RESET"]
    assert ">REWIND<" not in html
    assert "undo of a reset by otto at " in html
    group = re.search(r'<dt>Health</dt><dd><span class="health health-\w+"[^>]*>(\w+)</span>', html)
    assert group is not None and group.group(1) == "RESET"


def test_health_seeded_from_existing_commit_when_not_watching(client: Client, cluster: Cluster) -> None:
    """Offsets committed before anybody watched still get a verdict (one commit, lag > 0: STOP)."""
    from logcore import EventBus
    from offsetsite.dashboard.groups.status import tracker

    # The tracker follows the engine from the moment it opens; point it elsewhere so that
    # the commit below happens unwatched, as after a server restart.
    tracker().attach(EventBus())
    produce(cluster, "t", [10])
    cluster.commit_offsets("g", {("t", 0): 2})
    import time

    time.sleep(0.01)
    assert health_of(client, "g") == ("STOP", "ERR")


def test_live_renderer_returns_oob_parts(cluster: Cluster, stable_group: Consumer) -> None:
    html = views_groups.render_live("readers", AnonymousUser())
    assert '<dl class="facts" id="group-facts" hx-swap-oob="true">' in html
    assert '<tbody id="group-partitions" hx-swap-oob="true">' in html
    assert '<tbody id="group-members" hx-swap-oob="true">' in html
    assert '<tfoot id="group-totals" hx-swap-oob="true">' in html
    gone = views_groups.render_live("vanished", AnonymousUser())
    assert "no longer exists" in gone and 'hx-swap-oob="true"' in gone


def test_page_has_live_socket_chart_and_timeline(client: Client, stable_group: Consumer) -> None:
    html = client.get("/groups/readers/").content.decode()
    assert 'data-live-kind="group"' in html and 'data-live-key="readers"' in html
    assert 'ws-connect="/ws/group/readers/"' in html
    assert 'id="group-timeline"' in html
    assert "lag-chart" in html


def test_register_all_registers_both_renderers() -> None:
    from offsetsite.dashboard.groups import live as live_groups
    from offsetsite.dashboard.overview import views as views_overview
    from offsetsite.live import registry

    with registry.registered("overview", lambda k, u: ""), registry.registered("group", lambda k, u: ""):
        live_groups.register_all()
        assert registry.get("overview") is views_overview.render_live
        assert registry.get("group") is views_groups.render_live


def test_tracker_follows_a_reopened_engine(cluster: Cluster) -> None:
    """A new engine (new event bus) starts a clean history: old windows describe another log."""
    lt = LagTracker(clock=FakeClock())
    produce(cluster, "t", [5])
    cluster.commit_offsets("g", {("t", 0): 2})
    lt.group_view(cluster, "g")
    assert lt._windows
    engine.close()
    fresh = get_cluster()
    fresh.create_topic("u", 1)
    fresh.produce("u", b"x", partition=0)
    fresh.commit_offsets("h", {("u", 0): 0})
    view = lt.group_view(fresh, "h")
    assert list(lt._windows) == [("h", "u", 0)]
    assert view.partitions[0].lag == 1
