"""/consumer-offsets/: the internal topic's records decoded, newest first."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from django.test import Client

from logcore import offsets_codec as codec
from logcore.consumer import Consumer
from logcore.java_hash import partition_for_group
from logcore.records import Record
from offsetsite.dashboard.consumer_offsets import live as consumer_offsets_live
from offsetsite.dashboard.consumer_offsets.page import decode_record, parse_cursor
from offsetsite.engine import embedded, get_cluster, locked

XSS = "<script>alert(1)</script>"
# Every page reads the runtime site settings (workshop mode, reads need login) from the database.
pytestmark = pytest.mark.django_db


def body_rows(html: str) -> list[str]:
    tbody = re.search(r'<tbody id="co-(?:newest|page)".*?</tbody>', html, re.S)
    assert tbody
    return re.findall(r"<tr class=\"[^\"]*\"[^>]*>.*?</tr>", tbody.group(0), re.S)


def test_a_real_commit_is_decoded(client: Client, engine_dir: Path) -> None:
    c = get_cluster()
    c.create_topic("orders", 2)
    c.commit_offsets("billing", {("orders", 1): 42})
    html = client.get("/consumer-offsets/").content.decode()
    assert "notebook" in html  # the one line saying what this topic is
    rows = body_rows(html)
    assert len(rows) == 1
    row = rows[0]
    assert 'class="commit"' in row
    assert '<td>offset commit</td><td>billing</td><td>orders · 1</td><td class="num">42</td>' in row
    assert "Committed: next record to read" in html


def test_tombstones_and_group_metadata_are_shown_as_such(client: Client, engine_dir: Path) -> None:
    c = get_cluster()
    c.create_topic("t", 1)
    c.produce("t", b"x")
    c.commit_offsets("g", {("t", 0): 1})
    c.delete_offsets("g", [("t", 0)])  # the group's last offset: the group goes too
    html = client.get("/consumer-offsets/").content.decode()
    kinds = [re.match(r'<tr class="([^"]*)"', r).group(1) for r in body_rows(html)]  # type: ignore[union-attr]
    assert kinds == ["group-tombstone", "commit-tombstone", "commit"]  # newest first
    assert "tombstone</span>: offset deleted" in html
    assert "tombstone</span>: group deleted" in html


def test_group_metadata_of_a_joined_consumer(client: Client, engine_dir: Path) -> None:
    get_cluster().create_topic("t", 1)
    with locked():
        engine = embedded()
        engine.coordinator.initial_rebalance_delay_ms = 0  # no 3 s wait for more members
        consumer = Consumer(engine, "joiners", client_id="checker-1")
        consumer.subscribe(["t"])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with locked():
                consumer.poll(10)
                if consumer.assignment():
                    break
            time.sleep(0.01)
    finally:
        with locked():
            consumer.close()
    html = client.get("/consumer-offsets/").content.decode()
    group_rows = [r for r in body_rows(html) if 'class="group"' in r]
    assert group_rows, html
    assert any("generation 1 · consumer · assignor range" in r and "checker-1@" in r for r in group_rows)


def test_partition_filter_and_paging_newest_first(client: Client, engine_dir: Path) -> None:
    c = get_cluster()
    c.create_topic("t", 1)
    for i in range(7):
        c.commit_offsets("pager", {("t", 0): i})
    p = partition_for_group("pager", len(c.describe_topic("__consumer_offsets").partitions))
    html = client.get(f"/consumer-offsets/?p={p}&size=3").content.decode()
    committed = re.findall(r'<td class="num">(\d+)</td><td></td>', html)
    assert committed == ["6", "5", "4"]
    older = re.search(r'<a href="([^"]+)" rel="next">Older', html)
    assert older
    html = client.get(older.group(1).replace("&amp;", "&")).content.decode()
    assert re.findall(r'<td class="num">(\d+)</td><td></td>', html) == ["3", "2", "1"]
    older = re.search(r'<a href="([^"]+)" rel="next">Older', html)
    assert older
    html = client.get(older.group(1).replace("&amp;", "&")).content.decode()
    assert re.findall(r'<td class="num">(\d+)</td><td></td>', html) == ["0"]
    assert 'rel="next"' not in html
    # another partition holds none of these
    other = (p + 1) % len(c.describe_topic("__consumer_offsets").partitions)
    html = client.get(f"/consumer-offsets/?p={other}").content.decode()
    assert "<td>pager</td>" not in html
    assert "No records yet" in html  # the filtered view follows new commits live too


def test_all_partitions_merge_by_time(client: Client, engine_dir: Path) -> None:
    c = get_cluster()
    c.create_topic("t", 1)
    groups = ["a", "b", "c", "d", "e", "f"]
    for g in groups:
        c.commit_offsets(g, {("t", 0): 1})
        time.sleep(0.002)  # distinct commit times
    html = client.get("/consumer-offsets/?size=4").content.decode()
    shown = re.findall(r"<td>offset commit</td><td>(\w)</td>", html)
    assert shown == ["f", "e", "d", "c"]
    older = re.search(r'<a href="([^"]+)" rel="next">Older', html)
    assert older
    html = client.get(older.group(1).replace("&amp;", "&")).content.decode()
    assert re.findall(r"<td>offset commit</td><td>(\w)</td>", html) == ["b", "a"]


def test_bad_parameters_are_explained(client: Client, engine_dir: Path) -> None:
    html = client.get("/consumer-offsets/?p=99&size=0&before=x").content.decode()
    assert "Partition &#x27;99&#x27; does not exist: __consumer_offsets has partitions 0 to" in html
    assert "A page holds 1 to 500 records, not &#x27;0&#x27;" in html
    assert "is not partition:offset" in html


def test_parse_cursor() -> None:
    assert parse_cursor("0:12, 3:4", 10) == {0: 12, 3: 4}
    for bad in ("0", "a:1", "11:3", "1:-2"):
        try:
            parse_cursor(bad, 10)
        except ValueError:
            continue
        raise AssertionError(bad)


def test_undecodable_records_are_shown_not_dropped() -> None:
    row = decode_record(0, Record(5, 0, b"\x00\x09zz", b"junk"))
    assert row.kind == "undecodable" and "key version 9" in row.error
    key = codec.encode_key(codec.OffsetCommitKey("g", "t", 0))
    row = decode_record(0, Record(6, 0, key, b"\x00"))
    assert row.kind == "undecodable" and row.group == "g"


def test_names_are_escaped_and_live_renderer(client: Client, engine_dir: Path) -> None:
    c = get_cluster()
    c.create_topic("t", 1)
    c.commit_offsets(XSS, {("t", 0): 0})
    html = client.get("/consumer-offsets/").content.decode()
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    live = consumer_offsets_live.render_consumer_offsets("", None)
    assert re.search(r'<section id="co-partitions" hx-swap-oob="true">', live)
    assert re.search(r'<tbody id="co-newest" hx-swap-oob="true">', live)
    assert "<script>alert" not in live and "&lt;script&gt;" in live
    assert 'id="co-newest"' in html and 'id="co-partitions"' in html


# --- filter by group, latest per group and partition ----------------------------------


def _two_groups() -> None:
    c = get_cluster()
    c.create_topic("t", 2)
    for i in range(5):
        c.commit_offsets("billing", {("t", 0): i, ("t", 1): 10 + i})
        c.commit_offsets("audit", {("t", 0): 100 + i})


def test_group_filter_from_the_query_string(client: Client, engine_dir: Path) -> None:
    """Regression: the page was a firehose of every group's commits, with no group filter."""
    _two_groups()
    html = client.get("/consumer-offsets/?group=billing").content.decode()
    rows = body_rows(html)
    assert rows and all("<td>billing</td>" in r for r in rows)
    assert not any("<td>audit</td>" in r for r in rows)
    count = len(get_cluster().describe_topic("__consumer_offsets").partitions)
    assert f"group <strong>billing</strong> only (partition {partition_for_group('billing', count)})" in html
    assert 'name="group" value="billing"' in html  # the form keeps the filter: the URL is shareable
    assert 'ws-connect="/ws/consumer-offsets/?group=billing"' in html


def test_latest_view_keeps_the_current_entry_per_group_and_partition(client: Client, engine_dir: Path) -> None:
    _two_groups()
    c = get_cluster()
    c.delete_offsets("billing", [("t", 1)])  # a tombstone: that key is gone from the latest view
    html = client.get("/consumer-offsets/?view=latest").content.decode()
    tbody = re.search(r'<tbody id="co-latest".*?</tbody>', html, re.S)
    assert tbody
    cells = [
        re.findall(r"<td[^>]*>(.*?)</td>", r)[:3]
        for r in re.findall(r"<tr class=\"commit\"[^>]*>(.*?)</tr>", tbody.group(0))
    ]
    assert cells == [["audit", "t · 0", "104"], ["billing", "t · 0", "4"]]
    html = client.get("/consumer-offsets/?view=latest&group=audit").content.decode()
    assert "<td>billing</td>" not in html and "<td>audit</td>" in html


def test_group_without_entries_is_said_so_and_escaped(client: Client, engine_dir: Path) -> None:
    _two_groups()
    for view in ("log", "latest"):
        html = client.get("/consumer-offsets/", {"group": XSS, "view": view}).content.decode()
        assert "<script>alert" not in html
        assert "Group &#x27;&lt;script&gt;alert(1)&lt;/script&gt;&#x27; has no entries in __consumer_offsets" in html
    html = client.get("/consumer-offsets/", {"view": "nope"}).content.decode()
    assert "View &#x27;nope&#x27; does not exist" in html


def test_live_frames_render_the_viewers_filter(client: Client, engine_dir: Path) -> None:
    _two_groups()
    live = consumer_offsets_live.render_consumer_offsets("group=billing", None)
    rows = re.search(r'<tbody id="co-newest" hx-swap-oob="true">.*?</tbody>', live, re.S)
    assert rows and "<td>billing</td>" in rows.group(0) and "<td>audit</td>" not in rows.group(0)
    # A group with no entries yet gets them live, and the message goes.
    empty = consumer_offsets_live.render_consumer_offsets("group=newbie&view=latest", None)
    assert "Group &#x27;newbie&#x27; has no entries" in empty
    get_cluster().commit_offsets("newbie", {("t", 0): 3})
    latest = consumer_offsets_live.render_consumer_offsets("group=newbie&view=latest", None)
    tbody = re.search(r'<tbody id="co-latest" hx-swap-oob="true">.*?</tbody>', latest, re.S)
    assert tbody and "<td>newbie</td>" in tbody.group(0) and "has no entries" not in tbody.group(0)
    page = client.get("/consumer-offsets/?group=newbie&view=latest").content.decode()
    assert 'id="co-latest"' in page  # the element the frame replaces


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
async def test_consumer_offsets_socket_follows_the_filter(engine_dir: Path) -> None:
    from asgiref.sync import sync_to_async
    from channels.testing import WebsocketCommunicator

    from offsetsite.asgi import application
    from offsetsite.live import registry

    await sync_to_async(_two_groups)()
    with registry.registered("consumer_offsets", consumer_offsets_live.render_consumer_offsets):
        comm = WebsocketCommunicator(
            application,
            "/ws/consumer-offsets/?group=billing&view=latest",
            headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")],
        )
        connected, _ = await comm.connect()
        assert connected
        try:
            snapshot = await comm.receive_from()
            assert '<tbody id="co-latest" hx-swap-oob="true">' in snapshot
            assert "<td>billing</td>" in snapshot and "<td>audit</td>" not in snapshot
            await sync_to_async(get_cluster().commit_offsets)("billing", {("t", 0): 42})
            frame = await comm.receive_from(timeout=5)
            while "<td>42</td>" not in frame and '<td class="num">42</td>' not in frame:
                frame = await comm.receive_from(timeout=5)
            assert "<td>audit</td>" not in frame
        finally:
            await comm.disconnect()
