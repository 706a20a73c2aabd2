"""Consuming as a group member and committing one offset, through the web."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from offsetsite import engine
from offsetsite.core.models import AuditEntry
from offsetsite.dashboard.groups import consume as views_consume
from offsetsite.engine import get_cluster

from .actions_helpers import live_member, offsets, seed_log


@pytest.fixture
def log(engine_dir: Path) -> None:
    seed_log()


def consume_data(**fields: Any) -> dict[str, Any]:
    return {
        "client_id": "web-1",
        "topics": ["orders"],
        "max_records": "5",
        "auto_offset_reset": "earliest",
        "commit": "yes",
        **fields,
    }


def text(response: Any) -> str:
    return " ".join(response.content.decode().split())


# --- consume -------------------------------------------------------------------------


def test_consume_in_a_new_group_reads_and_commits(operator_client: Client, log: None) -> None:
    r = operator_client.post("/consume/", consume_data(group_id="fresh"))
    assert r.status_code == 200, r.content.decode()
    result = r.context["result"]
    assert len(result.records) == 5
    assert result.joined and result.state_before == "unknown"
    # The committed offset is the next record to read: last offset read + 1, per partition.
    read: dict[tuple[str, int], int] = {}
    for rec in result.records:
        read[(rec.topic, rec.partition)] = max(read.get((rec.topic, rec.partition), -1), rec.offset)
    committed = offsets("fresh")
    assert {tp: committed[tp] for tp in read} == {tp: o + 1 for tp, o in read.items()}
    # Partitions the member held but did not reach are committed at their starting
    # position (earliest: the log start), as Kafka's commitSync() does.
    for tp in set(committed) - set(read):
        assert committed[tp] == get_cluster().watermarks(*tp)[0]
    html = text(r)
    assert "Read 5 records as" in html and "Next record to read" in html
    assert "k0" in html and "v0" in html
    # The member left: the group is Empty again and keeps its offsets.
    assert get_cluster().describe_group("fresh").state == "Empty"
    entry = AuditEntry.objects.get(action="records.consume")
    assert entry.group_id == "fresh" and entry.offsets


@pytest.mark.slow
def test_consume_with_the_servers_real_initial_rebalance_delay(operator_client: Client, log: None) -> None:
    engine.embedded().coordinator.initial_rebalance_delay_ms = 3000  # the broker default the server runs with
    started = time.monotonic()
    r = operator_client.post("/consume/", consume_data(group_id="fresh"))
    assert r.status_code == 200
    # The delay is honoured (no upper bound: a loaded CI machine may be slow, not wrong).
    assert time.monotonic() - started >= 3.0
    assert len(r.context["result"].records) == 5
    assert "group.initial.rebalance.delay.ms (3000 ms)" in text(r)


def test_consume_again_continues_from_the_committed_offset(operator_client: Client, log: None) -> None:
    r = operator_client.post("/groups/billing/consume/", consume_data(max_records="500"))
    assert r.status_code == 200, r.content.decode()
    result = r.context["result"]
    # billing had committed 10 and 5: it reads the rest of both partitions, 10 + 15 records.
    assert sorted((x.partition, x.offset) for x in result.records)[0] == (0, 10)
    assert len(result.records) == 25 and result.caught_up
    assert offsets() == {("orders", 0): 20, ("orders", 1): 20}


def test_consume_without_commit_changes_no_offset(operator_client: Client, log: None) -> None:
    r = operator_client.post("/groups/billing/consume/", consume_data(commit="no"))
    assert r.status_code == 200
    assert len(r.context["result"].records) == 5
    assert "Nothing was committed" in text(r)
    assert offsets() == {("orders", 0): 10, ("orders", 1): 5}


def test_latest_reads_nothing_in_a_new_group(operator_client: Client, log: None) -> None:
    r = operator_client.post("/consume/", consume_data(group_id="late", auto_offset_reset="latest"))
    assert r.status_code == 200
    assert r.context["result"].records == []
    assert "nothing to read" in text(r)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"max_records": "501"}, "less than or equal to 500"),
        ({"max_records": "0"}, "greater than or equal to 1"),
        ({"max_records": "many"}, "Enter a whole number"),
        ({"topics": ["nosuch"]}, "Select a valid choice"),
        ({"topics": []}, "This field is required"),
        ({"group_id": ""}, "This field is required"),
        ({"group_id": "a\nb"}, "control characters"),
        ({"group_id": "x" * 256}, "at most 255"),
    ],
)
def test_consume_bad_input(operator_client: Client, log: None, fields: dict[str, Any], message: str) -> None:
    r = operator_client.post("/consume/", consume_data(**{"group_id": "g2", **fields}))
    assert r.status_code == 422
    assert message in r.content.decode()
    assert "g2" not in {g.group_id for g in get_cluster().list_groups()}


def test_joining_a_stable_group_whose_members_do_not_rejoin_in_time(
    operator_client: Client, log: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views_consume, "REBALANCE_WAIT_MS", 300)
    with live_member():
        r = operator_client.post("/groups/billing/consume/", consume_data())
        assert r.status_code == 200, r.content.decode()
        result = r.context["result"]
        assert not result.joined and result.records == []
        html = text(r)
        assert "The group was Stable with 1 other member(s)" in html
        assert "did not finish within" in html
        assert offsets() == {("orders", 0): 10, ("orders", 1): 5}
        # The runner is still a member; our member left.
        members = get_cluster().describe_group("billing").members
        assert [m.client_id for m in members] == ["runner"]


def test_joining_a_stable_group_rebalances_and_shares_partitions(operator_client: Client, log: None) -> None:
    stop = threading.Event()
    with live_member(heartbeat_interval_ms=50) as runner:

        def keep_polling() -> None:  # a live consumer: polls (and so heartbeats) all the time
            while not stop.is_set():
                with engine.locked():
                    runner.poll(0, max_records=1)
                time.sleep(0.01)

        t = threading.Thread(target=keep_polling, daemon=True)
        t.start()
        try:
            r = operator_client.post("/groups/billing/consume/", consume_data(max_records="500", commit="no"))
        finally:
            stop.set()
            t.join()
        assert r.status_code == 200, r.content.decode()
        result = r.context["result"]
        assert result.joined
        assert len(result.assignment) == 1  # two members, two partitions: one each
        assert {x.partition for x in result.records} <= {result.assignment[0][1]}
        html = text(r)
        assert "Joining made the coordinator start a rebalance" in html
        assert "the remaining members rebalance again" in html


def test_consume_escapes_keys_and_values(operator_client: Client, log: None) -> None:
    get_cluster().create_topic("evil", 1)
    get_cluster().produce("evil", b"<script>alert('v')</script>", key=b"<script>alert('k')</script>", partition=0)
    r = operator_client.post("/consume/", consume_data(group_id="<img src=x onerror=alert(1)>", topics=["evil"]))
    html = r.content.decode()
    assert r.status_code == 200
    assert "<script>alert(" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#x27;k&#x27;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_consume_permissions(client: Client, viewer_client: Client, log: None) -> None:
    assert client.get("/consume/").status_code == 302
    r = client.post("/groups/billing/consume/", consume_data())
    assert r.status_code == 302 and "/login" in r["Location"]
    assert viewer_client.get("/groups/billing/consume/").status_code == 403
    assert viewer_client.post("/consume/", consume_data(group_id="v")).status_code == 403
    # Refused before the form is even looked at.
    assert client.post("/consume/", {"group_id": ""}).status_code == 302
    assert viewer_client.post("/consume/", {"group_id": ""}).status_code == 403
    assert offsets() == {("orders", 0): 10, ("orders", 1): 5}


def test_workshop_visitors_consume_only_in_their_own_groups(client: Client, db: None, log: None, settings: Any) -> None:
    settings.OFFSETSITE = {**settings.OFFSETSITE, "WORKSHOP": True}
    assert client.get("/consume/").status_code == 200
    r = client.post("/consume/", consume_data(group_id="mine"))
    assert r.status_code == 200
    assert offsets("mine")
    # Theirs from now on: consuming and committing again is fine.
    assert client.post("/groups/mine/consume/", consume_data()).status_code == 200
    assert client.post("/groups/mine/commit/", {"topic": "orders", "partition": "0", "offset": "1"}).status_code == 200
    assert offsets("mine")[("orders", 0)] == 1
    # Someone else's group (billing) and another visitor's (mine) are not.
    assert client.post("/groups/billing/consume/", consume_data()).status_code == 403
    assert (
        client.post("/groups/billing/commit/", {"topic": "orders", "partition": "0", "offset": "1"}).status_code == 403
    )
    other = Client()
    assert other.post("/groups/mine/consume/", consume_data()).status_code == 403
    assert offsets() == {("orders", 0): 10, ("orders", 1): 5}


def test_consume_needs_csrf(operator: User, log: None) -> None:
    c = Client(enforce_csrf_checks=True)
    c.force_login(operator)
    assert c.post("/groups/billing/consume/", consume_data()).status_code == 403
    assert c.post("/groups/billing/commit/", {"topic": "orders", "partition": "0", "offset": "1"}).status_code == 403
    assert offsets() == {("orders", 0): 10, ("orders", 1): 5}


# --- commit --------------------------------------------------------------------------


def commit(client: Client, group: str = "billing", **fields: Any) -> Any:
    return client.post(f"/groups/{group}/commit/", {"topic": "orders", "partition": "0", "offset": "7", **fields})


def test_commit_to_an_empty_group(operator_client: Client, log: None) -> None:
    r = commit(operator_client, metadata="fixed by hand")
    assert r.status_code == 200, r.content.decode()
    assert offsets() == {("orders", 0): 7, ("orders", 1): 5}
    assert get_cluster().committed_offsets("billing")[("orders", 0)].metadata == "fixed by hand"
    assert "10 &rarr; 7" in text(r)
    entry = AuditEntry.objects.get(action="offsets.commit")
    assert entry.offsets == [{"topic": "orders", "partition": 0, "before": 10, "after": 7}]


def test_commit_to_an_active_group_is_refused(operator_client: Client, log: None) -> None:
    with live_member():
        r = commit(operator_client)
        assert r.status_code == 409
        html = text(r)
        assert "Refused: group billing is Stable with 1 member(s)" in html
        assert "only accepted while it is Empty" in html
        assert offsets() == {("orders", 0): 10, ("orders", 1): 5}
    assert not AuditEntry.objects.exists()


def test_commit_outside_the_log_needs_a_second_confirmation(operator_client: Client, log: None) -> None:
    r = commit(operator_client, offset="100")
    assert r.status_code == 422
    html = text(r)
    assert "Offset 100 is outside orders-0&#x27;s log: log start 0, high watermark 20" in html
    assert "nothing was committed" in html and 'value="100"' in html
    assert offsets()[("orders", 0)] == 10
    r = commit(operator_client, offset="100", allow_outside="on")
    assert r.status_code == 200
    assert offsets()[("orders", 0)] == 100


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"offset": "seven"}, "The offset must be a whole number (0 or more)."),
        ({"offset": "-1"}, "greater than or equal to 0"),
        ({"partition": "x"}, "The partition must be a whole number"),
        ({"partition": "5"}, "Topic orders has partitions 0 to 1"),
        ({"topic": "nosuch"}, "Select a valid choice"),
        ({"metadata": "é" * 2049}, "The metadata is 4098 bytes in UTF-8; at most 4096 are allowed."),
    ],
)
def test_commit_bad_input_keeps_values(
    operator_client: Client, log: None, fields: dict[str, str], message: str
) -> None:
    r = commit(operator_client, **fields)
    assert r.status_code == 422
    html = r.content.decode()
    assert message in html
    for name in ("offset", "partition"):
        if name in fields:
            assert f'value="{fields[name]}"' in html
    assert offsets() == {("orders", 0): 10, ("orders", 1): 5}
    assert not AuditEntry.objects.exists()


def test_commit_permissions(client: Client, viewer_client: Client, log: None) -> None:
    assert commit(viewer_client).status_code == 403
    r = commit(client)
    assert r.status_code == 302
    assert offsets() == {("orders", 0): 10, ("orders", 1): 5}


def test_commit_page_htmx_partial(operator_client: Client, log: None) -> None:
    r = operator_client.post(
        "/groups/billing/commit/", {"topic": "orders", "partition": "1", "offset": "3"}, HTTP_HX_REQUEST="true"
    )
    body = r.content.decode().lstrip()
    assert body.startswith('<div id="commit-panel"') and "Committed" in body


def test_forms_render_for_operators(operator_client: Client, log: None) -> None:
    for url in ("/consume/", "/groups/billing/consume/", "/groups/billing/commit/"):
        r = operator_client.get(url)
        assert r.status_code == 200
        html = r.content.decode()
        assert "csrfmiddlewaretoken" in html and "actions.css" in html
        assert ('name="topic"' if url.endswith("commit/") else 'name="topics"') in html
    # The group's committed topics are pre-selected when joining it.
    html = operator_client.get("/groups/billing/consume/").content.decode()
    assert 'name="topics" value="orders" id="id_topics_0" checked' in html


def test_two_reads_without_a_commit_name_the_records_read_twice(operator_client: Client, log: None) -> None:
    """The page used to say only "Nothing was committed" while offsets 0 to 2 were read again."""
    first = operator_client.post("/consume/", consume_data(group_id="forgetful", max_records="3", commit="no"))
    assert first.status_code == 200
    assert first.context["result"].read_again == []
    read = sorted((r.topic, r.partition, r.offset) for r in first.context["result"].records)
    assert "the next member of the group reads the same 3 record(s) again" in text(first)
    second = operator_client.post(
        "/groups/forgetful/consume/", consume_data(client_id="web-2", max_records="3", commit="no")
    )
    result = second.context["result"]
    assert sorted(result.read_again) == read
    page = text(second)
    assert "3 of these records had been read by this group before" in page and "a duplicate" in page
    # The group page counts them as the lab's ledger does: 3 records read twice.
    group_page = text(operator_client.get("/groups/forgetful/"))
    assert "checked twice" in group_page


def test_the_consume_form_says_what_the_rebalance_wait_is(operator_client: Client, log: None) -> None:
    page = text(operator_client.get("/groups/billing/consume/"))
    assert 'hx-indicator="#consume-wait"' in page and "<progress" in page
    assert "the coordinator hands out partitions once every member has rejoined (at most" in page
