"""The overview: topics and groups, filtered, sorted, paged; htmx partial; live renderer."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import Client

from logcore.cluster import Cluster
from offsetsite.dashboard.groups import status as group_status
from offsetsite.dashboard.overview import views as views_overview
from offsetsite.engine import get_cluster


@pytest.fixture
def cluster(engine_dir: Path, db: Any) -> Cluster:
    return get_cluster()


def group_rows(html: str) -> list[str]:
    """Group ids in the groups table body, in order."""
    body = html.split('<tbody id="groups-rows"', 1)[1].split("</tbody>", 1)[0]
    return re.findall(r'<th scope="row"><a href="/groups/[^"]*/">([^<]*)</a>', body)


def topic_rows(html: str) -> list[str]:
    body = html.split('<tbody id="topics-rows"', 1)[1].split("</tbody>", 1)[0]
    return re.findall(r'<th scope="row">(?:<a href="[^"]*">)?([^<]*)', body)


def make_groups(cluster: Cluster, lags: dict[str, int], topic: str = "orders", hw: int = 100) -> None:
    """One Empty group per entry, committed so that its lag on ``topic``-0 is the value."""
    if topic not in cluster.list_topics():
        cluster.create_topic(topic, 1)
        for i in range(hw):
            cluster.produce(topic, b"v%d" % i, partition=0)
    for gid, lag in lags.items():
        cluster.commit_offsets(gid, {(topic, 0): hw - lag})


def test_overview_lists_topics_with_sizes_and_retention(client: Client, cluster: Cluster) -> None:
    cluster.create_topic("orders", 2, {"retention.ms": "3600000", "retention.bytes": "1048576"})
    for i in range(5):
        cluster.produce("orders", b"v%d" % i, partition=i % 2)
    html = client.get("/").content.decode()
    rows = html.split('<tbody id="topics-rows"', 1)[1].split("</tbody>", 1)[0]
    orders = rows.split("orders", 1)[1].split("</tr>", 1)[0]
    cells = re.findall(r'<td class="num"[^>]*>([^<]*)</td>', orders)
    assert cells[0] == "2"  # partitions
    assert cells[1] == "5"  # records: HW 3 + HW 2, log start 0
    # Retention through the one config filter (config_values.py), the raw value on hover.
    assert '<span class="config-value" title="retention.ms = 3600000">1 h</span>' in orders
    assert '<span class="config-value" title="retention.bytes = 1048576">1 MiB</span>' in orders
    assert "__consumer_offsets" in html


def test_hide_internal_hides_consumer_offsets(client: Client, cluster: Cluster) -> None:
    cluster.create_topic("orders", 1)
    assert "__consumer_offsets" in topic_rows(client.get("/").content.decode())
    rows = topic_rows(client.get("/?hide_internal=1").content.decode())
    assert rows == ["orders"]


def test_groups_show_state_members_and_lag(client: Client, cluster: Cluster) -> None:
    make_groups(cluster, {"billing": 30, "audit": 0})
    html = client.get("/").content.decode()
    assert group_rows(html) == ["audit", "billing"]
    body = html.split('<tbody id="groups-rows"', 1)[1].split("</tbody>", 1)[0]
    billing = body.split(">billing<", 1)[1].split("</tr>", 1)[0]
    assert '<span class="state">Empty</span>' in billing
    nums = re.findall(r'<td class="num[^"]*"[^>]*>([^<]*)</td>', billing)
    assert nums[:3] == ["0", "1", "30"]  # members, partitions, lag
    assert "health-" in billing


def test_text_filter_applies_to_groups_and_topics(client: Client, cluster: Cluster) -> None:
    make_groups(cluster, {"payments-a": 1, "payments-b": 2, "shipping": 3})
    html = client.get("/?q=PAY").content.decode()
    assert group_rows(html) == ["payments-a", "payments-b"]
    assert topic_rows(html) == []  # no topic name contains "pay"
    assert "No topics match this filter" in html
    html = client.get("/?q=ord").content.decode()
    assert group_rows(html) == []
    assert topic_rows(html) == ["orders"]


def test_state_filter(client: Client, cluster: Cluster) -> None:
    from logcore.consumer import Consumer
    from offsetsite import engine

    make_groups(cluster, {"idle": 5})
    with engine.locked():
        engine.embedded().coordinator.initial_rebalance_delay_ms = 0  # join at once
        c = Consumer(engine.embedded(), "busy", auto_offset_reset="earliest")
        c.subscribe(["orders"])
        for _ in range(5):
            c.poll(0)
    try:
        assert group_rows(client.get("/?state=Stable").content.decode()) == ["busy"]
        assert group_rows(client.get("/?state=Empty").content.decode()) == ["idle"]
        html = client.get("/?state=Bogus").content.decode()
        assert "Unknown group state &#x27;Bogus&#x27;" in html
        assert group_rows(html) == ["busy", "idle"]  # the bad filter is ignored, said so
    finally:
        with engine.locked():
            c.close()


def test_sort_by_lag_name_and_members(client: Client, cluster: Cluster) -> None:
    make_groups(cluster, {"a": 10, "b": 50, "c": 0, "d": 20})
    cluster.create_topic("other", 1)
    assert group_rows(client.get("/?sort=-lag").content.decode()) == ["b", "d", "a", "c"]
    assert group_rows(client.get("/?sort=lag").content.decode()) == ["c", "a", "d", "b"]
    assert group_rows(client.get("/?sort=-name").content.decode()) == ["d", "c", "b", "a"]
    assert group_rows(client.get("/?sort=members").content.decode()) == ["a", "b", "c", "d"]
    html = client.get("/?sort=-lag").content.decode()
    # the active header offers the other direction, keeping the rest of the query
    assert 'aria-sort="descending"' in html
    assert 'href="/?sort=lag"' in html
    html = client.get("/?sort=weird").content.decode()
    assert "Unknown sort &#x27;weird&#x27;" in html
    assert group_rows(html) == ["a", "b", "c", "d"]


def test_sort_by_lag_time_uses_record_timestamps(client: Client, cluster: Cluster) -> None:
    import time

    now = int(time.time() * 1000)
    cluster.create_topic("t", 1)
    for i in range(10):  # record i was produced i minutes after the first
        cluster.produce("t", b"x", partition=0, timestamp=now - (10 - i) * 60_000)
    cluster.commit_offsets("old", {("t", 0): 1})  # next unread: produced 9 minutes ago
    cluster.commit_offsets("new", {("t", 0): 8})  # 2 minutes ago
    cluster.commit_offsets("done", {("t", 0): 10})  # caught up
    html = client.get("/?sort=-lag_time").content.decode()
    assert group_rows(html) == ["old", "new", "done"]
    body = html.split('<tbody id="groups-rows"', 1)[1]
    old = body.split(">old<", 1)[1].split("</tr>", 1)[0]
    assert "9.0 min" in old
    assert "src-record" in old  # no HW samples yet: labelled as the record-timestamp fallback


def test_paging_fifty_per_page(client: Client, cluster: Cluster) -> None:
    make_groups(cluster, {f"g{i:03d}": i for i in range(120)}, hw=200)
    html = client.get("/").content.decode()
    assert group_rows(html) == [f"g{i:03d}" for i in range(50)]
    assert "Groups 1\u201350 of 120" in html
    assert 'href="/?page=2"' in html
    page3 = client.get("/?page=3").content.decode()
    assert group_rows(page3) == [f"g{i:03d}" for i in range(100, 120)]
    assert group_rows(client.get("/?page=99").content.decode()) == group_rows(page3)  # clamps
    html = client.get("/?page=abc").content.decode()
    assert "page must be a whole number" in html
    assert group_rows(html)[0] == "g000"
    # sorting keeps the filter and restarts at page 1
    html = client.get("/?q=g1&page=2").content.decode()
    assert 'href="/?q=g1&amp;sort=-lag"' in html


def test_htmx_filter_returns_only_the_tables(client: Client, cluster: Cluster) -> None:
    make_groups(cluster, {"alpha": 1, "beta": 2})
    response = client.get("/?q=alp", headers={"HX-Request": "true", "HX-Target": "overview-tables"})
    html = response.content.decode()
    assert "<html" not in html
    assert html.strip().startswith('<div id="overview-tables">')
    assert group_rows(html) == ["alpha"]
    # the address bar gets the canonical query, without the empty fields of the form
    response = client.get("/?q=alp&state=&sort=name", headers={"HX-Request": "true", "HX-Target": "overview-tables"})
    assert response["HX-Push-Url"] == "/?q=alp"


def test_filter_inputs_use_htmx_and_work_without_js(client: Client, cluster: Cluster) -> None:
    html = client.get("/").content.decode()
    assert 'hx-trigger="input changed delay:200ms, search"' in html
    assert '<form id="overview-filter" class="filters" method="get" action="/"' in html
    assert '<button type="submit">Apply</button>' in html


def test_group_ids_are_escaped(client: Client, cluster: Cluster) -> None:
    evil = '<script>alert("g")</script>'
    make_groups(cluster, {evil: 3})
    html = client.get("/").content.decode()
    assert evil not in html
    assert "&lt;script&gt;alert(&quot;g&quot;)&lt;/script&gt;" in html
    html = client.get("/", {"q": "<script>"}).content.decode()
    assert "<script>alert" not in html
    assert 'value="&lt;script&gt;"' in html


def test_topic_names_are_escaped(client: Client, cluster: Cluster) -> None:
    # Kafka's topic names cannot hold markup, but a kafka backend may hand us anything:
    # the template must escape regardless. Legal names still go through the filter.
    cluster.create_topic("a.b-c_d", 1)
    html = client.get("/").content.decode()
    assert "a.b-c_d" in html


def test_live_renderer_respects_the_viewers_query(cluster: Cluster) -> None:
    make_groups(cluster, {"x1": 1, "x2": 2, "y": 3})
    html = views_overview.render_live("q=x&sort=-lag", AnonymousUser())
    assert '<tbody id="groups-rows" hx-swap-oob="true">' in html
    assert '<tbody id="topics-rows" hx-swap-oob="true">' in html
    assert '<p class="summary" id="groups-summary" hx-swap-oob="true">' in html
    assert group_rows(html) == ["x2", "x1"]
    assert group_rows(views_overview.render_live("", AnonymousUser())) == ["x1", "x2", "y"]


def test_page_carries_its_query_to_the_live_socket(client: Client, cluster: Cluster) -> None:
    html = client.get("/?q=x&sort=-lag").content.decode()
    assert 'data-live-kind="overview"' in html
    assert 'data-live-key="q=x&amp;sort=-lag"' in html
    assert 'ws-connect="/ws/overview/?q=x&amp;sort=-lag"' in html


def test_lag_time_only_for_the_page_unless_sorted_by_it(
    client: Client, cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scales with the page, not the number of groups: record lookups only for shown rows."""
    make_groups(cluster, {f"g{i:03d}": 5 for i in range(120)})
    calls: list[tuple[str, int, int]] = []
    real = group_status.LagTracker._record_timestamp

    def counting(self: group_status.LagTracker, c: Cluster, t: str, p: int, o: int) -> int | None:
        calls.append((t, p, o))
        return real(self, c, t, p, o)

    monkeypatch.setattr(group_status.LagTracker, "_record_timestamp", counting)
    client.get("/")
    assert len(calls) == 50
    calls.clear()
    client.get("/?sort=-lag_time")
    assert len(calls) == 120 + 50  # every group to sort, then the page's rows again (cached)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
async def test_websocket_frames_follow_the_viewers_filter(engine_dir: Path) -> None:
    """Through the real ASGI app: the socket's query string reaches the overview renderer."""
    from asgiref.sync import sync_to_async
    from channels.testing import WebsocketCommunicator

    from offsetsite.asgi import application
    from offsetsite.live import registry

    await sync_to_async(lambda: make_groups(get_cluster(), {"x1": 1, "x2": 2, "y": 3}))()
    with registry.registered("overview", views_overview.render_live):
        comm = WebsocketCommunicator(
            application,
            "/ws/overview/?q=x&sort=-lag",
            headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")],
        )
        connected, _ = await comm.connect()
        assert connected
        try:
            frame = await comm.receive_from(timeout=10)
            assert group_rows(frame) == ["x2", "x1"]
            await sync_to_async(lambda: get_cluster().commit_offsets("x3", {("orders", 0): 90}))()
            for _ in range(20):  # the next frame carries the new group, still filtered
                frame = await comm.receive_from(timeout=10)
                if "x3" in frame:
                    break
            # Only what changed: the new group's row, inserted where the sort puts it
            # (offsetsite/live/delta.py); the filtered-out group stays out.
            assert 'hx-swap-oob="beforebegin:#group-row-x2"' in frame and 'id="group-row-x3"' in frame
            assert ">y</a>" not in frame
        finally:
            await comm.disconnect()
