"""Producing from the web: one record, bursts, limits, permissions, CSRF."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from offsetsite.core.models import AuditEntry
from offsetsite.dashboard.topics import bursts
from offsetsite.engine import get_cluster

XSS = "<script>alert(1)</script>"


def form(**overrides: Any) -> dict[str, Any]:
    data = {"key": "", "value": "hello", "headers": "", "partition": "", "count": "1", "rate": "10"}
    data.update({k: str(v) for k, v in overrides.items()})
    return data


@pytest.fixture
def topic(engine_dir: Path) -> str:
    get_cluster().create_topic("orders", 3)
    return "orders"


def hw(topic: str) -> list[int]:
    return [p.high_watermark for p in get_cluster().describe_topic(topic).partitions]


def wait_burst(burst_id: str) -> bursts.Burst:
    burst = bursts.get(burst_id)
    assert burst is not None
    assert burst.join(timeout=20), "burst did not finish"
    return burst


def test_single_produce_reports_partition_and_offset(operator_client: Client, topic: str) -> None:
    get_cluster().produce(topic, b"before", partition=2)
    r = operator_client.post(
        "/topics/orders/produce/",
        form(key="k1", value="v1", headers="trace=abc\ncolour = blue=green", partition=2),
        follow=True,
    )
    assert r.redirect_chain == [("/topics/orders/", 302)]
    assert "Produced to partition 2 at offset 1." in r.content.decode()
    rec = get_cluster().read(topic, 2, 1, 1)[0]
    assert (rec.key, rec.value) == (b"k1", b"v1")
    assert rec.headers == (("trace", b"abc"), ("colour", b"blue=green"))
    entry = AuditEntry.objects.get(action="records.produce")
    assert entry.username == "otto" and entry.topic == topic
    assert entry.offsets == [{"topic": topic, "partition": 2, "before": 1, "after": 2}]


def test_by_key_uses_the_partitioner(operator_client: Client, topic: str) -> None:
    # murmur2("foobar") = -790332482; & 0x7fffffff = 1357151166; % 3 = 0
    operator_client.post("/topics/orders/produce/", form(key="foobar"))
    assert hw(topic) == [1, 0, 0]


def test_null_key_and_tombstone(operator_client: Client, topic: str) -> None:
    operator_client.post("/topics/orders/produce/", form(key="", value="ignored", tombstone="on", partition=1))
    rec = get_cluster().read(topic, 1, 0, 1)[0]
    assert rec.key is None and rec.value is None


def test_htmx_post_returns_the_result_fragment(operator_client: Client, topic: str) -> None:
    r = operator_client.post("/topics/orders/produce/", form(partition=0), HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert r.status_code == 200 and "<html" not in html
    assert 'id="produce-result"' in html
    assert "Produced to partition <strong>0</strong> at offset <strong>0</strong>." in html
    r = operator_client.post("/topics/orders/produce/", form(partition=7), HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert r.status_code == 200  # htmx swaps only 2xx: the refusal must still show
    assert "Nothing was produced" in html and "Partition &#x27;7&#x27; does not exist: choose 0 to 2" in html
    assert hw(topic) == [1, 0, 0]


def test_burst_produces_at_the_rate_and_reports_first_and_last_offsets(operator_client: Client, topic: str) -> None:
    get_cluster().produce(topic, b"x", partition=1)
    r = operator_client.post(
        "/topics/orders/produce/", form(key="k-{n}", value='{"n": {n}}', partition=1, count=30, rate=300)
    )
    assert r.status_code == 302
    burst_id = r["Location"].rstrip("/").rsplit("/", 1)[1]
    assert r["Location"] == f"/topics/orders/produce/bursts/{burst_id}/"
    burst = wait_burst(burst_id)
    assert burst.error == "" and burst.produced == 30
    assert burst.first_last == [(1, 1, 30)]
    # 30 records at 300/s take about 0.1 s: paced, not all at once
    assert burst.finished is not None and burst.finished - burst.started >= 0.08
    records = get_cluster().read(topic, 1, 1, 100)
    assert [r.value for r in records[:2]] == [b'{"n": 1}', b'{"n": 2}']
    assert records[-1].key == b"k-30"
    page = operator_client.get(r["Location"]).content.decode()
    assert "30 of 30 records" in page and "done" in page
    assert re.search(r'<td class="num">1</td><td class="num">1</td><td class="num">30</td>', page)
    entry = AuditEntry.objects.get(action="records.burst")
    assert entry.details["count"] == 30 and entry.details["rate"] == 300


def test_htmx_burst_status_polls_until_done(operator_client: Client, topic: str) -> None:
    r = operator_client.post("/topics/orders/produce/", form(count=5, rate=1000), HTTP_HX_REQUEST="true")
    html = r.content.decode()
    burst_id = re.search(r'id="burst-([0-9a-f]+)"', html).group(1)  # type: ignore[union-attr]
    wait_burst(burst_id)
    status = operator_client.get(f"/topics/orders/produce/bursts/{burst_id}/", HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in status  # finished: it stops polling
    assert "5 of 5 records" in status
    assert operator_client.get("/topics/orders/produce/bursts/nope/").status_code == 404


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"count": 10_001}, "at most 10,000 records"),
        ({"count": 10, "rate": 5001}, "at most 5,000 per second"),
        ({"count": 0}, "greater than or equal to 1"),
        ({"headers": "no-equals"}, "is not KEY=VALUE"),
        ({"partition": "x"}, "does not exist"),
    ],
)
def test_refusals_produce_nothing(operator_client: Client, topic: str, overrides: dict[str, Any], message: str) -> None:
    r = operator_client.post("/topics/orders/produce/", form(**overrides))
    assert r.status_code == 400
    assert message in r.content.decode()
    assert hw(topic) == [0, 0, 0]
    assert bursts.running() == []
    assert not AuditEntry.objects.exists()


def test_burst_limits_come_from_settings(operator_client: Client, topic: str, settings: Any) -> None:
    settings.OFFSETSITE = {**settings.OFFSETSITE, "BURST_MAX_RECORDS": 5, "BURST_MAX_RATE": 50}
    r = operator_client.post("/topics/orders/produce/", form(count=6, rate=10))
    assert "at most 5 records" in r.content.decode()
    r = operator_client.post("/topics/orders/produce/", form(count=5, rate=51))
    assert "at most 50 per second" in r.content.decode()
    assert hw(topic) == [0, 0, 0]


def test_permissions(client: Client, viewer_client: Client, operator_client: Client, topic: str) -> None:
    r = client.post("/topics/orders/produce/", form())
    assert r.status_code == 302 and r["Location"].startswith("/login/?next=/topics/orders/produce/")
    assert viewer_client.post("/topics/orders/produce/", form()).status_code == 403
    assert viewer_client.get("/topics/orders/produce/").status_code == 403
    assert hw(topic) == [0, 0, 0]
    assert operator_client.post("/topics/orders/produce/", form(partition=0)).status_code == 302
    assert hw(topic) == [1, 0, 0]
    # the topic page offers the form only to those who may use it
    assert "produce-form" not in viewer_client.get("/topics/orders/").content.decode()
    assert "produce-form" in operator_client.get("/topics/orders/").content.decode()


def test_workshop_mode_lets_anonymous_visitors_produce(client: Client, topic: str, settings: Any, db: None) -> None:
    settings.OFFSETSITE = {**settings.OFFSETSITE, "WORKSHOP": True}
    assert "produce-form" in client.get("/topics/orders/").content.decode()
    r = client.post("/topics/orders/produce/", form(partition=1))
    assert r.status_code == 302
    assert hw(topic) == [0, 1, 0]
    entry = AuditEntry.objects.get(action="records.produce")
    assert entry.user is None and entry.username == ""


def test_internal_topic_refuses_produce(operator_client: Client, engine_dir: Path) -> None:
    before = [p.high_watermark for p in get_cluster().describe_topic("__consumer_offsets").partitions]
    assert operator_client.post("/topics/__consumer_offsets/produce/", form()).status_code == 403
    assert [p.high_watermark for p in get_cluster().describe_topic("__consumer_offsets").partitions] == before


def test_unknown_topic_is_404(operator_client: Client, engine_dir: Path) -> None:
    assert operator_client.post("/topics/nope/produce/", form()).status_code == 404


def test_csrf_is_enforced(operator: User, topic: str) -> None:
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(operator)
    assert strict.post("/topics/orders/produce/", form()).status_code == 403
    assert hw(topic) == [0, 0, 0]
    # with the token from the page it works
    page = strict.get("/topics/orders/produce/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    assert (
        strict.post("/topics/orders/produce/", {**form(partition=0), "csrfmiddlewaretoken": token}).status_code == 302
    )
    assert hw(topic) == [1, 0, 0]


def test_hostile_input_is_stored_as_is_and_shown_escaped(operator_client: Client, topic: str) -> None:
    r = operator_client.post(
        "/topics/orders/produce/",
        form(key=XSS, value=XSS, headers=f"{XSS}={XSS}", partition=0),
        HTTP_HX_REQUEST="true",
    )
    assert r.status_code == 200
    rec = get_cluster().read(topic, 0, 0, 1)[0]
    assert rec.key == XSS.encode() and rec.value == XSS.encode() and rec.headers == ((XSS, XSS.encode()),)
    html = operator_client.get("/topics/orders/?p=0").content.decode()
    assert "<script>alert" not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4  # key, value, header key and value


def test_burst_stops_with_a_message_when_the_topic_goes(operator_client: Client, topic: str) -> None:
    r = operator_client.post("/topics/orders/produce/", form(count=1000, rate=100))
    burst_id = r["Location"].rstrip("/").rsplit("/", 1)[1]
    get_cluster().delete_topic(topic)
    burst = wait_burst(burst_id)
    assert burst.produced < 1000
    assert "orders" in burst.error


@pytest.fixture
def small_quota(settings: Any) -> Iterator[None]:
    from offsetsite.core import quota

    settings.OFFSETSITE = {
        **settings.OFFSETSITE,
        "WORKSHOP": True,
        "WORKSHOP_VISITOR_BYTES": 1000,
        "WORKSHOP_TOTAL_BYTES": 1500,
    }
    quota.reset()
    yield
    quota.reset()


def test_workshop_visitors_have_a_byte_quota_and_a_refusal_writes_nothing(
    client: Client, topic: str, db: None, small_quota: None
) -> None:
    """Regression: anonymous visitors could fill the disk at about 234 MB/s with bursts."""
    big = "x" * 600
    assert client.post("/topics/orders/produce/", form(value=big, partition=0)).status_code == 302
    r = client.post("/topics/orders/produce/", form(value=big, partition=0))
    assert r.status_code == 400
    assert "a workshop visitor may write 1000 bytes an hour (600 bytes written so far)" in r.content.decode()
    r = client.post("/topics/orders/produce/", form(value="y", count=5000, rate=5000, partition=0))
    assert r.status_code == 400  # a burst asks for all its bytes first
    assert hw(topic) == [1, 0, 0]
    other = Client()  # a second visitor: their own allowance, within the room's total
    assert other.post("/topics/orders/produce/", form(value=big, partition=1)).status_code == 302
    r = other.post("/topics/orders/produce/", form(value="z" * 400, partition=1))
    assert r.status_code == 400 and "workshop visitors together may write" in r.content.decode()
    assert hw(topic) == [1, 1, 0]


def test_operators_are_not_counted(operator_client: Client, topic: str, small_quota: None) -> None:
    for _ in range(3):
        assert operator_client.post("/topics/orders/produce/", form(value="x" * 600)).status_code == 302
