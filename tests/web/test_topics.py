"""The topic page: partitions drawn as logs, the record table, create and delete."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from django.test import Client

from offsetsite.core.models import AuditEntry
from offsetsite.dashboard.consumer_offsets import live as consumer_offsets_live
from offsetsite.dashboard.topics import live as live_topics
from offsetsite.dashboard.topics.records import show_bytes
from offsetsite.dashboard.topics.strip import Marker, windows
from offsetsite.engine import embedded, get_cluster, locked

XSS = "<script>alert(1)</script>"
# Every page reads the runtime site settings (workshop mode, reads need login) from the database.
pytestmark = pytest.mark.django_db


def cells(html: str, partition: int) -> str:
    """The HTML of one partition's strip."""
    m = re.search(rf'<div class="strip-row" id="strip-p{partition}">(.*?)</ol>', html, re.S)
    assert m, f"no strip for partition {partition}"
    return m.group(1)


def cell(html: str, offset: int) -> str:
    m = re.search(rf'<li class="cell ([^"]*)" data-offset="{offset}"(.*?)</li>', html, re.S)
    assert m, f"no cell for offset {offset}"
    return m.group(0)


def rows(html: str) -> list[int]:
    return [int(o) for o in re.findall(r'<tr class="[^"]*" data-offset="(\d+)"[^>]*>', html)]


def fill(topic: str, n: int, partition: int = 0, batch: int = 10_000) -> None:
    """Append ``n`` records fast, as whole batches (the produce path appends one by one)."""
    records = [(None, b"value")] * batch
    log = embedded().logs.partition(topic, partition)
    done = 0
    while done < n:
        k = min(batch, n - done)
        with locked():
            log.append_batch(records if k == batch else records[:k])
        done += k


# --- the strips ---------------------------------------------------------------------


def test_page_draws_each_partition_with_log_start_hw_and_group_markers(client: Client, engine_dir: Path) -> None:
    c = get_cluster()
    c.create_topic("orders", 2)
    for i in range(20):
        c.produce("orders", b"v%d" % i, partition=i % 2)
    c.commit_offsets("billing", {("orders", 0): 4})
    c.commit_offsets("audit", {("orders", 0): 10, ("orders", 1): 3})
    html = client.get("/topics/orders/").content.decode()
    p0, p1 = cells(html, 0), cells(html, 1)
    assert "log-start" in cell(p0, 0)
    hw = cell(p0, 10)
    assert "cell hw" in hw and "the high watermark" in hw
    # the committed offset is shown as the next record to read, on its own seat
    assert "billing: next record to read" in cell(p0, 4)
    assert "the next record it will read is 4" in cell(p0, 4)
    assert "audit: next record to read" in cell(p0, 10)  # caught up: it points at the HW
    assert "audit: next record to read" in cell(p1, 3)
    assert "billing" not in p1
    assert 'id="hw-p0">10<' in html


def test_big_partition_is_windowed_with_elided_counts(client: Client, engine_dir: Path) -> None:
    get_cluster().create_topic("big", 1)
    fill("big", 1_000_000)
    get_cluster().commit_offsets("slow", {("big", 0): 500_000})
    html = client.get("/topics/big/").content.decode()
    strip = cells(html, 0)
    drawn = re.findall(r'data-offset="(\d+)"', strip)
    assert len(drawn) < 80  # a window, not a million cells
    assert {"0", "499999", "500000", "500001", "999999", "1000000"} <= set(drawn)
    elided = re.findall(r"… ([\d,]+) (unread )?offsets folded", strip)
    assert len(elided) == 2
    # head window ends at 4, marker window is 499997..500003, tail starts at 999960
    assert [int(e.replace(",", "")) for e, _ in elided] == [499_997 - 4, 999_960 - 500_004]
    # behind the marker: read by every group; between the marker and the HW: unread
    assert [bool(u) for _, u in elided] == [False, True]
    assert "read by every group" in strip and "slow: 500,000 unread" in strip
    assert "slow: next record to read" in cell(strip, 500_000)


def test_unread_seats_between_marker_and_hw_are_drawn_and_counted(client: Client, engine_dir: Path) -> None:
    """Regression: a lag of 5 and one of 500 looked the same ("… 181 offsets …" either way)."""
    get_cluster().create_topic("lag", 3)
    for p in range(3):
        fill("lag", 1000, partition=p)
    get_cluster().commit_offsets("g", {("lag", 0): 995, ("lag", 1): 850, ("lag", 2): 500})
    html = client.get("/topics/lag/").content.decode()

    def unread_cells(strip: str) -> list[int]:
        return [int(o) for o in re.findall(r'<li class="cell [^"]*\bunread\b[^"]*" data-offset="(\d+)"', strip)]

    p0, p1, p2 = cells(html, 0), cells(html, 1), cells(html, 2)
    assert unread_cells(p0) == list(range(995, 1000))  # 5 unread seats; the HW's seat is empty
    assert "g: 5 unread" in p0
    assert unread_cells(p1) == list(range(850, 1000))  # 150: every unread seat drawn
    assert "g: 150 unread" in p1 and "unread offsets folded" not in p1
    # 500 unread: the marker's and the tail's seats drawn, the middle folded, and counted.
    folded = re.findall(r"… ([\d,]+) unread offsets folded …", p2)
    assert len(folded) == 1
    assert "g: 500 unread" in p2
    assert int(folded[0].replace(",", "")) + len(unread_cells(p2)) == 500
    # Behind the marker: folded, and said how many seats and why.
    assert re.search(r"… [\d,]+ offsets folded, read by every group …", p2)
    assert "next record to read · 500 unread" in p2


def test_strip_parts_have_stable_ids_for_the_live_merge(client: Client, engine_dir: Path) -> None:
    """Frames replace strips 2-3 times a second: the page merges them by id (live.js), so
    every part of a strip has an id that does not change while its content does not."""
    c = get_cluster()
    c.create_topic("ids", 1)
    for i in range(3):
        c.produce("ids", b"v%d" % i)
    before = live_topics.render_topic("ids", None)
    assert re.search(r'<section id="topic-strips" data-live-merge data-live-slow hx-swap-oob="true">', before)
    c.produce("ids", b"v3")
    after = live_topics.render_topic("ids", None)

    def seat(frame: str, offset: int) -> str:
        m = re.search(rf'<li [^>]*id="seat-p0-o{offset}".*?</li>', frame, re.S)
        assert m, offset
        return m.group(0)

    assert seat(before, 0) == seat(after, 0)  # unchanged: the page keeps that node
    assert "cell hw" in seat(before, 3) and "cell record" in seat(after, 3)
    assert 'id="strip-meta-p0"' in after and 'id="strip-seats-p0"' in after


def test_marker_below_log_start_is_listed_outside_the_strip(client: Client, engine_dir: Path) -> None:
    c = get_cluster()
    c.create_topic("t", 1)
    for _ in range(10):
        c.produce("t", b"x")
    c.commit_offsets("late", {("t", 0): 2})
    with locked():
        # retention-style delete of the first records (Kafka's delete-records)
        embedded().logs.partition("t", 0).delete_records(5)
    html = client.get("/topics/t/").content.decode()
    assert "outside the log [5, 10]" in html
    assert "those records are gone" in html


def test_compaction_gaps_and_tombstones_are_drawn(client: Client, engine_dir: Path) -> None:
    c = get_cluster()
    c.create_topic("compacted", 1, {"cleanup.policy": "compact"})
    for key, value in [(b"a", b"1"), (b"b", b"1"), (b"a", b"2"), (b"c", None), (b"b", b"2"), (b"d", b"1")]:
        c.produce("compacted", value, key=key)
    with locked():
        log = embedded().logs.partition("compacted", 0)
        log.roll()  # compaction never touches the active segment
        log.compact()
    html = client.get("/topics/compacted/").content.decode()
    strip = cells(html, 0)
    assert "cell gap" in cell(strip, 0)  # a@0 replaced by a@2
    assert "cell gap" in cell(strip, 1)  # b@1 replaced by b@4
    assert "cell tombstone" in cell(strip, 3)  # within delete.retention.ms: still there
    assert "cell record" in cell(strip, 2)
    assert "2 gaps drawn" in html


def test_windows_merge_and_clip() -> None:
    assert windows(0, 0, []) == []
    assert windows(0, 10, [5]) == [(0, 10)]
    assert windows(100, 1000, [500]) == [(100, 104), (497, 504), (960, 1000)]
    assert windows(100, 1000, [50, 2000]) == [(100, 104), (960, 1000)]  # outside markers draw nothing


# --- the record table --------------------------------------------------------------------


def test_tail_is_the_default_and_paging_moves_by_offset(client: Client, engine_dir: Path) -> None:
    c = get_cluster()
    c.create_topic("t", 2)
    for i in range(120):
        c.produce("t", b"v%d" % i, partition=0)
    html = client.get("/topics/t/").content.decode()
    assert rows(html) == list(range(70, 120))
    assert 'id="records-tail-p0"' in html
    html = client.get("/topics/t/?p=0&offset=10&size=20").content.decode()
    assert rows(html) == list(range(10, 30))
    assert 'id="records-page"' in html
    assert "offset=30" in re.search(r'<a href="([^"]*)" rel="next"', html).group(1)  # type: ignore[union-attr]
    assert "offset=0" in re.search(r'<a href="([^"]*)" rel="prev"', html).group(1)  # type: ignore[union-attr]
    html = client.get("/topics/t/?p=0&offset=100&size=50").content.decode()
    assert rows(html) == list(range(100, 120))
    assert 'rel="next"' not in html
    html = client.get("/topics/t/?p=1").content.decode()
    assert rows(html) == []
    assert "holds no records" in html


def test_out_of_range_offset_names_the_valid_range(client: Client, engine_dir: Path) -> None:
    c = get_cluster()
    c.create_topic("t", 1)
    for _ in range(7):
        c.produce("t", b"x")
    html = client.get("/topics/t/?offset=9").content.decode()
    assert "Offset 9 is out of range for partition 0: valid offsets are [0, 7)" in html
    assert rows(html) == []
    html = client.get("/topics/t/?offset=7").content.decode()
    assert "Offset 7 is out of range" in html


def test_bad_parameters_say_what_is_allowed(client: Client, engine_dir: Path) -> None:
    get_cluster().create_topic("t", 2)
    html = client.get("/topics/t/?p=9&size=9999&offset=abc").content.decode()
    assert "Partition 9 does not exist: choose 0 to 1." in html
    assert "A page holds 1 to 500 records, not 9999" in html
    assert "offset &#x27;abc&#x27; is not a whole number" in html


def test_page_size_is_capped(client: Client, engine_dir: Path) -> None:
    get_cluster().create_topic("t", 1)
    fill("t", 2000)
    html = client.get("/topics/t/?offset=0&size=9999").content.decode()
    assert len(rows(html)) == 500


def test_jump_to_time(client: Client, engine_dir: Path) -> None:
    c = get_cluster()
    c.create_topic("t", 1)
    base = 1_700_000_000_000  # 2023-11-14T22:13:20Z
    for i in range(10):
        c.produce("t", b"x", timestamp=base + i * 60_000)
    html = client.get("/topics/t/", {"time": "2023-11-14T22:16:00.000Z", "size": "3"}).content.decode()
    assert rows(html) == [3, 4, 5]
    assert "The first record at or after 2023-11-14T22:16:00.000Z is at offset 3." in html
    html = client.get("/topics/t/", {"time": "2023-11-14T22:15", "size": "2"}).content.decode()  # datetime-local
    assert rows(html) == [2, 3]
    html = client.get("/topics/t/", {"time": str(base + 61_000), "size": "1"}).content.decode()  # epoch ms
    assert rows(html) == [2]
    html = client.get("/topics/t/", {"time": "2030-01-01T00:00:00"}).content.decode()
    assert "No record of partition 0 is as new as 2030-01-01T00:00:00.000Z" in html
    html = client.get("/topics/t/", {"time": "yesterday"}).content.decode()
    assert "Error parsing timestamp" in html


def test_value_rendering_text_json_hex(client: Client, engine_dir: Path) -> None:
    c = get_cluster()
    c.create_topic("t", 1)
    c.produce("t", b'{"b":1,"a":[1,2]}', key=b"k")  # 0 json
    c.produce("t", b"plain words", key=b"k")  # 1 text
    c.produce("t", b"\x00\xff\xfe\x01", key=b"\x9f\x00")  # 2 binary
    c.produce("t", None, key=b"k")  # 3 tombstone
    c.produce("t", "héllo".encode(), headers=[("trace", b"abc"), ("bin", b"\xff")])  # 4
    html = client.get("/topics/t/?offset=0").content.decode()
    assert '<pre class="bytes json">{\n  &quot;b&quot;: 1,\n  &quot;a&quot;: [\n    1,\n    2\n  ]\n}</pre>' in html
    assert '<pre class="bytes text">plain words</pre>' in html
    assert '<pre class="bytes hex">00000000  00ff fe01</pre>' in html
    assert '<pre class="bytes hex">00000000  9f00</pre>' in html  # binary key
    assert "null: a tombstone" in html
    assert "<dt>trace</dt>" in html and '<pre class="bytes text">abc</pre>' in html
    assert '<pre class="bytes hex">00000000  ff</pre>' in html  # binary header value
    assert "héllo" in html
    html = client.get("/topics/t/?offset=0&view=hex").content.decode()
    assert '<pre class="bytes hex">00000000  706c 6169 6e20 776f 7264 73</pre>' in html
    html = client.get("/topics/t/?offset=1&size=1&view=json").content.decode()
    assert "not JSON: shown as text" in html
    html = client.get("/topics/t/?offset=0&size=1&view=text").content.decode()
    assert '<pre class="bytes text">{&quot;b&quot;:1,&quot;a&quot;:[1,2]}</pre>' in html


def test_show_bytes_cuts_long_values() -> None:
    shown = show_bytes(b"x" * 10_000)
    assert shown.kind == "text" and len(shown.text) == 2048 and shown.omitted == 10_000 - 2048
    big_json = json.dumps({"k": "v" * 5000}).encode()
    shown = show_bytes(big_json)
    assert shown.kind == "json" and shown.omitted > 0


def test_hostile_payloads_are_escaped_in_every_view(client: Client, engine_dir: Path) -> None:
    c = get_cluster()
    c.create_topic("t", 1)
    c.produce("t", XSS.encode(), key=XSS.encode(), headers=[(XSS, XSS.encode())])
    c.produce("t", json.dumps({"x": XSS}).encode(), key=XSS.encode())
    c.commit_offsets(XSS, {("t", 0): 1})
    for view in ("auto", "text", "json", "hex"):
        html = client.get(f"/topics/t/?view={view}").content.decode()
        assert XSS not in html, view
        assert "<script>alert" not in html, view
    html = client.get("/topics/t/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    live = live_topics.render_topic("t", None)
    assert "<script>alert" not in live
    assert "&lt;script&gt;alert(1)&lt;/script&gt;: next record to read" in live


def test_config_in_kafka_names_and_overrides_marked(client: Client, engine_dir: Path) -> None:
    get_cluster().create_topic("t", 1, {"retention.ms": "3600000"})
    html = client.get("/topics/t/").content.decode()
    # Humanized (templatetags/config_values.py) with the raw value on hover.
    assert re.search(
        r'<code[^>]*>cleanup.policy</code></td><td><span class="config-value" title="cleanup.policy = delete">delete<',
        html,
    )
    assert re.search(
        r'<tr class="override"><td><code[^>]*>retention.ms</code></td>'
        r'<td><span class="config-value" title="retention.ms = 3600000">1 h</span>',
        html,
    )


def test_unknown_topic_is_404(client: Client, engine_dir: Path) -> None:
    assert client.get("/topics/nope/").status_code == 404
    assert client.get("/topics/nope/records/").status_code == 404


def test_records_fragment(client: Client, engine_dir: Path) -> None:
    get_cluster().create_topic("t", 1)
    fill("t", 10)
    r = client.get("/topics/t/records/?offset=2&size=3")
    html = r.content.decode()
    assert r.status_code == 200 and "<html" not in html
    assert rows(html) == [2, 3, 4]


def test_record_table_pages_through_a_million_records(client: Client, engine_dir: Path, settings: object) -> None:
    """Pages anywhere in a large partition read only that page (speed: bench/web.py, 10M records)."""
    # No background retention rounds while the records go in.
    settings.OFFSETSITE = {**settings.OFFSETSITE, "MAINTENANCE": False}  # type: ignore[attr-defined]
    get_cluster().create_topic("huge", 1)
    fill("huge", 1_000_000, batch=20_000)
    for offset in (0, 500_000, 999_990):
        r = client.get(f"/topics/huge/records/?offset={offset}")
        assert r.status_code == 200
        assert rows(r.content.decode())[0] == offset
    r = client.get("/topics/huge/")
    assert r.status_code == 200
    # The strip is windowed: a handful of seats, not a million.
    seats = r.content.decode().count('<li class="cell ')
    assert 20 < seats < 200


# --- live ------------------------------------------------------------------------------


def test_live_renderer_returns_the_page_parts_out_of_band(client: Client, engine_dir: Path) -> None:
    c = get_cluster()
    c.create_topic("t", 2)
    c.produce("t", b"first", partition=1)
    page = client.get("/topics/t/?p=1").content.decode()
    live = live_topics.render_topic("t", None)
    for element_id in ("topic-summary", "topic-strips", "records-tail-p0", "records-tail-p1"):
        assert re.search(rf'id="{element_id}"[^>]*hx-swap-oob="true"', live), element_id
        if element_id != "records-tail-p0":
            assert f'id="{element_id}"' in page  # the page has what the frame replaces
    c.produce("t", b"second", partition=1)
    live = live_topics.render_topic("t", None)
    tail = re.search(r'<tbody id="records-tail-p1".*?</tbody>', live, re.S).group(0)  # type: ignore[union-attr]
    assert "second" in tail and "first" in tail
    assert 'id="hw-p1">2<' in live
    assert live_topics.render_topic("gone", None) == ""


def test_register_all_registers_both_kinds(engine_dir: Path) -> None:
    from offsetsite.live import registry

    old = {k: registry.get(k) for k in ("topic", "consumer_offsets")}
    try:
        live_topics.register_all()
        consumer_offsets_live.register_all()
        assert registry.get("topic") is live_topics.render_topic
        assert registry.get("consumer_offsets") is consumer_offsets_live.render_consumer_offsets
    finally:
        for kind, renderer in old.items():
            if renderer is None:
                registry.unregister(kind)
            else:
                registry.register(kind, renderer)


def test_position_markers_from_a_source(client: Client, engine_dir: Path) -> None:
    from offsetsite.dashboard.topics import strip as partition_strip

    get_cluster().create_topic("t", 1)
    fill("t", 10)

    def source(topic: str) -> list[Marker]:
        return [Marker("position", "g", 7, member="consumer-1", partition=0)] if topic == "t" else []

    partition_strip.register_position_source(source)
    try:
        html = client.get("/topics/t/").content.decode()
    finally:
        partition_strip._position_sources.remove(source)
    assert "consumer-1: position" in cell(cells(html, 0), 7)


# --- create and delete -------------------------------------------------------------------


def test_create_topic(operator_client: Client, engine_dir: Path) -> None:
    r = operator_client.post(
        "/topics/new/", {"name": "payments", "partitions": "3", "config": "cleanup.policy=compact\nretention.ms=1000\n"}
    )
    assert r.status_code == 302 and r["Location"] == "/topics/payments/"
    desc = get_cluster().describe_topic("payments")
    assert len(desc.partitions) == 3 and desc.config["cleanup.policy"] == "compact"
    entry = AuditEntry.objects.get(action="topic.create")
    assert entry.topic == "payments" and entry.username == "otto"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "bad name!", "partitions": "1"}, "InvalidTopic: Topic name &#x27;bad name!&#x27; is illegal"),
        ({"name": "x", "partitions": "1", "config": "retention.ms=soon"}, "InvalidConfig: Invalid value"),
        ({"name": "x", "partitions": "1", "config": "colour=blue"}, "Unknown topic config name"),
        ({"name": "x", "partitions": "1", "config": "no equals sign"}, "is not KEY=VALUE"),
        ({"name": "x", "partitions": "0"}, "greater than or equal to 1"),
        ({"name": "x", "partitions": "1", "config": "retention.ms=1\nretention.ms=2"}, "given twice"),
    ],
)
def test_create_topic_refusals_show_on_the_form(
    operator_client: Client, engine_dir: Path, data: dict[str, str], message: str
) -> None:
    r = operator_client.post("/topics/new/", data)
    assert r.status_code == 400
    assert message in r.content.decode()
    assert get_cluster().list_topics(include_internal=False) == []
    assert not AuditEntry.objects.exists()


def test_create_existing_topic_is_refused(operator_client: Client, engine_dir: Path) -> None:
    get_cluster().create_topic("dup", 1)
    r = operator_client.post("/topics/new/", {"name": "dup", "partitions": "2"})
    assert r.status_code == 400
    assert "TopicAlreadyExists: Topic &#x27;dup&#x27; already exists." in r.content.decode()
    assert len(get_cluster().describe_topic("dup").partitions) == 1


def test_create_and_delete_need_the_operator_role(
    client: Client, viewer_client: Client, engine_dir: Path, settings: object
) -> None:
    settings.OFFSETSITE = {**settings.OFFSETSITE, "WORKSHOP": True}  # type: ignore[attr-defined]
    get_cluster().create_topic("keep", 1)
    r = client.post("/topics/new/", {"name": "x", "partitions": "1"})
    assert r.status_code == 302 and r["Location"].startswith("/login/")
    assert viewer_client.post("/topics/new/", {"name": "x", "partitions": "1"}).status_code == 403
    r = client.post("/topics/keep/delete/", {"confirm": "keep"})
    assert r.status_code == 302 and r["Location"].startswith("/login/")
    assert viewer_client.post("/topics/keep/delete/", {"confirm": "keep"}).status_code == 403
    assert get_cluster().list_topics(include_internal=False) == ["keep"]


def test_delete_topic_needs_the_typed_name(operator_client: Client, engine_dir: Path) -> None:
    get_cluster().create_topic("old", 2)
    page = operator_client.get("/topics/old/delete/").content.decode()
    assert "Type the topic&#x27;s name to confirm" in page
    r = operator_client.post("/topics/old/delete/", {"confirm": "ol"})
    assert r.status_code == 400 and "does not match" in r.content.decode()
    assert "old" in get_cluster().list_topics()
    r = operator_client.post("/topics/old/delete/", {"confirm": "old"})
    assert r.status_code == 302 and r["Location"] == "/"
    assert "old" not in get_cluster().list_topics()
    entry = AuditEntry.objects.get(action="topic.delete")
    assert entry.topic == "old" and len(entry.offsets) == 2


def test_internal_topic_cannot_be_deleted(admin_client_: Client, engine_dir: Path) -> None:
    r = admin_client_.post("/topics/__consumer_offsets/delete/", {"confirm": "__consumer_offsets"})
    assert r.status_code == 403
    assert "internal topic" in r.content.decode()
    assert "__consumer_offsets" in get_cluster().list_topics()
    assert not AuditEntry.objects.exists()


def test_forms_enforce_csrf(operator: object, engine_dir: Path) -> None:
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(operator)  # type: ignore[arg-type]
    get_cluster().create_topic("t", 1)
    assert strict.post("/topics/new/", {"name": "x", "partitions": "1"}).status_code == 403
    assert strict.post("/topics/t/delete/", {"confirm": "t"}).status_code == 403
    assert get_cluster().list_topics(include_internal=False) == ["t"]


def test_strip_names_the_member_a_partition_is_assigned_to(client: Client, engine_dir: Path) -> None:
    from logcore.consumer import Consumer

    get_cluster().create_topic("t", 1)
    with locked():
        engine = embedded()
        engine.coordinator.initial_rebalance_delay_ms = 0
        consumer = Consumer(engine, "checkers", client_id="checker-7")
        consumer.subscribe(["t"])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with locked():
                consumer.poll(10)
                if consumer.assignment():
                    break
            time.sleep(0.01)
        html = client.get("/topics/t/").content.decode()
    finally:
        with locked():
            consumer.close()
    assert "assigned to checkers / checker-7" in html


def test_live_frame_replaces_the_empty_state_once_records_arrive(client: Client, engine_dir: Path) -> None:
    """Regression: a page loaded on an empty partition kept "holds no records ... [0, 0)" after live rows came."""
    c = get_cluster()
    c.create_topic("fresh", 1)
    page = client.get("/topics/fresh/").content.decode()
    assert "Partition 0 holds no records" in page and "offsets [0, 0)" in page
    for i in range(3):
        c.produce("fresh", b"v%d" % i)
    frame = live_topics.render_topic("fresh", None)
    # Every element of the page that says the partition is empty is replaced by the frame.
    empty_ids = re.findall(
        r'<(?:caption|p|span|div)[^>]*id="([^"]+)"[^>]*>(?:(?!</(?:caption|p|span|div)>).)*'
        r"holds no records",
        page,
        re.S,
    )
    assert empty_ids, "the empty state has no id a live frame could replace"
    for element_id in empty_ids:
        part = re.search(rf'<(\w+) id="{element_id}"[^>]*hx-swap-oob="true"[^>]*>.*?</\1>', frame, re.S)
        assert part, f"the frame does not replace #{element_id}"
        assert "holds no records" not in part.group(0)
        assert "offsets [0, 3)" in part.group(0)
    assert "offsets [0, 0)" not in frame
    tail = re.search(r'<tbody id="records-tail-p0".*?</tbody>', frame, re.S)
    assert tail and "v2" in tail.group(0)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
async def test_topic_socket_pushes_strips_and_tail(engine_dir: Path) -> None:
    from asgiref.sync import sync_to_async
    from channels.testing import WebsocketCommunicator

    from offsetsite.asgi import application
    from offsetsite.live import registry

    def setup() -> None:
        c = get_cluster()
        c.create_topic("orders", 1)
        c.produce("orders", b"one")
        c.commit_offsets("billing", {("orders", 0): 1})

    await sync_to_async(setup)()
    with registry.registered("topic", live_topics.render_topic):
        comm = WebsocketCommunicator(
            application, "/ws/topic/orders/", headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")]
        )
        connected, _ = await comm.connect()
        assert connected
        try:
            snapshot = await comm.receive_from()
            assert re.search(r'<section id="topic-strips" [^>]*hx-swap-oob="true">', snapshot)
            assert "billing: next record to read" in snapshot
            assert 'id="hw-p0">1<' in snapshot
            await sync_to_async(get_cluster().produce)("orders", b"two")
            frame = await comm.receive_from(timeout=5)
            assert 'id="hw-p0">2<' in frame
            # Only what changed: the new record is appended to the tail, the old row stays.
            tail = re.search(r'<tbody hx-swap-oob="beforeend:#records-tail-p0">.*?</tbody>', frame, re.S)
            assert tail and "two" in tail.group(0)
            assert 'id="rec-p0-o0"' not in frame
        finally:
            await comm.disconnect()
