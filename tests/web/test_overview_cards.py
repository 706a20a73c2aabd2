"""The overview's summary cards (groups by health, worst lag in time, records per second
in and out per topic) and the groups' lag sparklines: numbers, one query, escaping, live."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from logcore.cluster import Cluster, GroupDescription, PartitionOffsets
from logcore.kafka_cluster import KafkaCluster
from logcore.kafka_config import KafkaClusterConfig
from logcore.lag import PartitionHealth, PartitionStatus
from offsetsite import clusters
from offsetsite.dashboard.overview import cards as overview_cards
from offsetsite.dashboard.overview import views as views_overview
from offsetsite.engine import get_cluster
from offsetsite.live.models import TOTAL_PARTITION, LagMinute, LagSample

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_rates() -> None:
    """Sample ids start over in each test's database: no rates cached by an earlier test."""
    overview_cards._rates_cache.clear()


@pytest.fixture
def cluster(engine_dir: Path) -> Cluster:
    return get_cluster()


def card(html: str, name: str) -> str:
    return html.split(f'id="card-{name}"', 1)[1].split("</div>", 1)[0]


def row_of(html: str, group: str) -> str:
    body = html.split('<tbody id="groups-rows"', 1)[1]
    return body.split(f">{group}</a>", 1)[1].split("</tr>", 1)[0]


def text(fragment: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", fragment).split())


def lagging(cluster: Cluster, lags: dict[str, int], topic: str = "orders", hw: int = 100, age_ms: int = 0) -> None:
    cluster.create_topic(topic, 1)
    now = int(timezone.now().timestamp() * 1000)
    for i in range(hw):
        cluster.produce(topic, b"v%d" % i, partition=0, timestamp=now - age_ms + i)
    for gid, lag in lags.items():
        cluster.commit_offsets(gid, {(topic, 0): hw - lag})


def test_health_card_counts_every_group_as_the_rows_name_them(client: Client, cluster: Cluster) -> None:
    lagging(cluster, {f"g{i:02d}": i % 3 for i in range(60)})
    html = client.get("/?q=g0").content.decode()  # the filter narrows the table, not the cards
    shown = re.findall(r'class="health health-(\w+)"', html.split('<tbody id="groups-rows"', 1)[1])
    assert len(shown) == 10
    health = text(card(html, "health"))
    assert "60 groups in this cluster" in health
    total = sum(int(n) for n in re.findall(r'<strong class="num">([\d,]+)</strong>', card(html, "health")))
    assert total == 60
    assert shown[0].upper() in health  # the names are group_status's (NEW until the window fills)


class _Tracker:
    """Just what the health card asks of a tracker: a chosen Burrow status per partition."""

    def __init__(self, codes: dict[str, list[PartitionHealth]]) -> None:
        self.codes = codes

    def health(self, group_id: str, p: PartitionOffsets, at: int) -> PartitionStatus:
        return PartitionStatus(self.codes[group_id][p.partition], "chosen", 5)

    def operator_move(self, group_id: str, p: Any) -> None:
        return None


def desc(gid: str, committed: int | None, partitions: int = 1) -> GroupDescription:
    offsets = tuple(PartitionOffsets("t", p, committed, 0, 10, None, None, None) for p in range(partitions))
    return GroupDescription(gid, "Empty", 0, "consumer", "", None, (), offsets)


def test_health_counts_groups_worst_first_and_their_partitions() -> None:
    ok, warn, stop, stall = PartitionHealth.OK, PartitionHealth.WARN, PartitionHealth.STOP, PartitionHealth.STALL
    codes = {"a": [ok, ok], "b": [stall, warn], "c": [warn, ok], "d": [stop, stall], "e": [ok, ok]}
    descs = [desc(g, 5, 2) for g in codes] + [desc("none", None)]
    groups, parts = overview_cards.health_summary(_Tracker(codes), descs, 0)  # type: ignore[arg-type]
    assert [(c["name"], c["count"], c["css"]) for c in groups] == [
        ("ERR", 2, "bad"),
        ("WARN", 1, "warn"),
        ("OK", 2, "ok"),
        ("NO COMMITS", 1, "muted"),
    ]
    assert [(c["name"], c["count"]) for c in parts] == [("STOP", 1), ("STALL", 2), ("WARN", 2)]


def test_worst_lag_in_time_names_the_group(client: Client, cluster: Cluster) -> None:
    lagging(cluster, {"slow": 90, "quick": 2, "done": 0}, age_ms=30 * 60_000)
    html = client.get("/").content.decode()
    worst = card(html, "worst")
    assert 'href="/groups/slow/"' in worst
    row = row_of(html, "slow")
    row_time = re.search(r'class="lag-time[^"]*"[^>]*>([^<]+)<', row)
    assert row_time, row
    assert row_time.group(1) in worst  # the same number the row shows
    assert re.search(r"<strong>\d+\.\d min</strong>", worst)


def test_worst_lag_card_when_nobody_is_behind(client: Client, cluster: Cluster) -> None:
    lagging(cluster, {"done": 0})
    assert "No group is behind" in text(card(client.get("/").content.decode(), "worst"))


def sample(group: str, topic: str, partition: int, at: Any, committed: int, hw: int) -> LagSample:
    return LagSample(
        group_id=group, topic=topic, partition=partition, at=at, committed=committed, hw=hw, lag=hw - committed
    )


def test_rates_in_from_high_watermarks_out_from_commits(client: Client, engine_dir: Path) -> None:
    now = timezone.now()
    t0, t1 = now - timedelta(seconds=60), now - timedelta(seconds=1)
    LagSample.objects.bulk_create(
        [
            # p0 grows 59 records in 59 s, p1 118: in = 3.0/s (both groups see the same HW).
            sample("g1", "trips", 0, t0, 40, 100), sample("g1", "trips", 0, t1, 99, 159),
            sample("g2", "trips", 0, t0, 10, 100), sample("g2", "trips", 0, t1, 39, 159),
            sample("g1", "trips", 1, t0, 0, 0), sample("g1", "trips", 1, t1, 0, 118),
            # An old sample outside the 5-minute window changes nothing.
            sample("g1", "trips", 0, now - timedelta(minutes=20), 0, 0),
            sample("g3", "quiet", 0, t0, 5, 5), sample("g3", "quiet", 0, t1, 5, 5),
        ]
    )  # fmt: skip
    rates = {r.topic: r for r in overview_cards.topic_rates(now)}
    assert rates["trips"].in_per_s == pytest.approx(3.0)
    assert rates["trips"].out_per_s == pytest.approx(59 / 59 + 29 / 59)  # g1 + g2 on p0
    assert rates["trips"].groups == 2
    assert rates["quiet"].in_per_s == 0 and rates["quiet"].out_per_s == 0
    html = client.get("/").content.decode()
    rate_card = text(card(html, "rates"))
    assert client.get("/").content.decode().count("trips") == html.count("trips")  # the cached answer
    assert "trips 3.0 1.5" in rate_card and "quiet 0.0 0.0" in rate_card
    assert rate_card.index("trips") < rate_card.index("quiet")  # busiest first


def minutes(group: str, lags: list[int], now: Any) -> list[LagMinute]:
    base = now.replace(second=0, microsecond=0) - timedelta(minutes=len(lags))
    return [
        LagMinute(group_id=group, topic="", partition=TOTAL_PARTITION, at=base + timedelta(minutes=i), lag_max=lag, lag_last=lag)
        for i, lag in enumerate(lags)
    ]  # fmt: skip


def test_sparkline_per_row_with_the_numbers_in_its_title(client: Client, cluster: Cluster) -> None:
    lagging(cluster, {"billing": 30, "audit": 0})
    now = timezone.now()
    LagMinute.objects.bulk_create(minutes("billing", [0, 10, 50, 30], now) + minutes("audit", [0, 0], now))
    # Older than 30 minutes: not drawn.
    LagMinute.objects.create(
        group_id="billing", topic="", partition=TOTAL_PARTITION, at=now - timedelta(hours=2), lag_max=999, lag_last=999
    )
    html = client.get("/").content.decode()
    billing = row_of(html, "billing")
    assert '<svg class="spark"' in billing and 'role="img"' in billing
    assert (
        "<title>Total lag over the last 30 minutes (4 minutes sampled): lowest 0, highest 50, latest 30</title>"
        in billing
    )
    assert len(re.search(r'<polyline points="([^"]+)"', billing).group(1).split()) == 4  # type: ignore[union-attr]
    audit = row_of(html, "audit")
    assert "highest 0, latest 0" in audit


def test_sparklines_of_2000_groups_take_one_query(engine_dir: Path) -> None:
    now = timezone.now()
    rows = [m for i in range(0, 2000, 40) for m in minutes(f"g{i}", [i % 7, i % 5, 3], now)]
    LagMinute.objects.bulk_create(rows)
    with CaptureQueriesContext(connection) as queries:
        sparks = overview_cards.sparklines([f"g{i}" for i in range(2000)], now)
    assert len(queries) == 1
    assert len(sparks) == 50 and all(s.startswith('<svg class="spark"') for s in sparks.values())


def test_hostile_group_and_topic_names_are_escaped_in_the_cards(client: Client, cluster: Cluster) -> None:
    evil = "<img src=x onerror=alert(1)>"
    lagging(cluster, {evil: 50}, topic="t", age_ms=60_000)
    now = timezone.now()
    LagSample.objects.bulk_create(
        [sample(evil, "<b>t</b>", 0, now - timedelta(seconds=30), 0, 5), sample(evil, "<b>t</b>", 0, now, 5, 10)]
    )
    LagMinute.objects.bulk_create(minutes(evil, [1, 2], now))
    html = client.get("/").content.decode()
    cards = html.split('id="overview-cards"', 1)[1].split("</section>", 1)[0]
    assert "<img" not in html and "<b>t</b>" not in html
    assert "&lt;b&gt;t&lt;/b&gt;" in cards


def test_live_frame_carries_the_cards(cluster: Cluster) -> None:
    lagging(cluster, {"billing": 3})
    frame = views_overview.render_live("", None)
    assert '<section id="overview-cards" class="overview-cards" aria-label="summary" hx-swap-oob="true">' in frame


# --- on a Kafka cluster (tansu) ------------------------------------------------------


@pytest.fixture
def kafka(kafka_broker: Any, engine_dir: Path, settings: Any) -> Iterator[KafkaCluster]:
    settings.OFFSETSITE = {**settings.OFFSETSITE, "KAFKA_WATCH": False}
    clusters.configure([KafkaClusterConfig("k", kafka_broker.bootstrap, {})])
    cluster = clusters.kafka_cluster("k")
    assert isinstance(cluster, KafkaCluster)
    yield cluster
    clusters.configure([])


@pytest.mark.kafka
@pytest.mark.integration
def test_kafka_cluster_cards(viewer_client: Client, kafka: KafkaCluster) -> None:
    topic, group = f"cards-{uuid.uuid4().hex[:6]}", f"cards-{uuid.uuid4().hex[:6]}"
    kafka.create_topic(topic, 1)
    for i in range(5):
        kafka.produce(topic, b"v%d" % i, partition=0)
    kafka.commit_offsets(group, {(topic, 0): 2})
    now = timezone.now()
    LagMinute.objects.bulk_create([m for m in minutes(group, [1, 3], now) for m.cluster in ["k"]])
    html = viewer_client.get(f"/clusters/k/?q={group}").content.decode()
    assert "in this cluster" in text(card(html, "health"))
    row = row_of(html, group)
    assert "lowest 1, highest 3, latest 3" in row  # the Kafka cluster's own history, not local's
    local = get_cluster()
    assert group not in [g.group_id for g in local.list_groups()]
