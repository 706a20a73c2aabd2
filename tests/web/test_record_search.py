"""Record search (bounded, chunked, progress, cancel, escaped highlight) and records merged
by timestamp across partitions; on the embedded engine and on tansu."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from logcore.cluster import Cluster, EmbeddedCluster
from logcore.kafka_cluster import KafkaCluster
from logcore.kafka_config import KafkaClusterConfig
from offsetsite import clusters
from offsetsite.dashboard.topics import search as record_search
from offsetsite.dashboard.topics.search import SearchJob
from offsetsite.engine import get_cluster

pytestmark = pytest.mark.django_db

BASE_TS = 1_700_000_000_000


@pytest.fixture(autouse=True)
def no_runner(settings: Any) -> Iterator[None]:
    """Tests drive each search chunk by chunk (no thread, no timing), each with no jobs left over."""
    settings.OFFSETSITE = {**settings.OFFSETSITE, "SEARCH_RUNNER": False}
    yield
    for job in list(record_search._jobs.values()):
        job.cancel()
    record_search._jobs.clear()


def fill(cluster: Cluster, topic: str, partitions: int, per_partition: int) -> None:
    """Record i of partition p: key k<p>-<i>, value {"n": i, "p": p}, timestamp interleaved."""
    if topic not in cluster.list_topics():
        cluster.create_topic(topic, partitions)
    for i in range(per_partition):
        for p in range(partitions):
            ts = BASE_TS + (i * partitions + p) * 1000
            cluster.produce(
                topic, f'{{"n": {i}, "p": {p}}}'.encode(), key=f"k{p}-{i}".encode(), partition=p, timestamp=ts
            )


def start(client: Client, topic: str, prefix: str = "", **data: Any) -> tuple[Any, SearchJob]:
    r = client.post(f"{prefix}/topics/{topic}/search/start/", data)
    m = re.search(r'/search/jobs/([^/"]+)/', r.content.decode())
    assert m, (r.status_code, r.content.decode()[:2000])
    return r, record_search.get_job(m.group(1), topic)


def run(job: SearchJob, cluster: Cluster) -> int:
    steps = 0
    while job.step(cluster):
        steps += 1
    return steps


@pytest.fixture
def topic(engine_dir: Path) -> str:
    fill(get_cluster(), "trips", 3, 700)
    return "trips"


def test_search_finds_values_reads_in_chunks_and_shows_progress(
    client: Client, topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    r, job = start(client, topic, q='"n": 42,')
    html = r.content.decode()
    assert 'hx-trigger="every 400ms"' in html and "Cancel search" in html  # polls while running
    assert "read 0 of 2,100 records" in " ".join(html.split())
    cluster = get_cluster()
    sizes: list[int] = []
    real = EmbeddedCluster.read

    def counting(self: Any, t: str, p: int, offset: int, max_records: int = 500) -> Any:
        sizes.append(max_records)
        return real(self, t, p, offset, max_records)

    monkeypatch.setattr(EmbeddedCluster, "read", counting)
    assert job.step(cluster)  # one chunk of one partition
    mid = " ".join(client.get(f"/topics/{topic}/search/jobs/{job.id}/").content.decode().split())
    assert f"read {record_search.CHUNK} of 2,100 records" in mid
    run(job, cluster)
    assert max(sizes) <= record_search.CHUNK  # the engine lock is held for a chunk at a time
    assert job.state == "done" and job.scanned == 2100
    assert sorted((h.partition, h.offset) for h in job.hits) == [(0, 42), (1, 42), (2, 42)]
    done = client.get(f"/topics/{topic}/search/jobs/{job.id}/").content.decode()
    assert "every 400ms" not in done  # polling stops
    assert "<code>{&quot;n&quot;: 42, &quot;p&quot;: 2}</code>" in done  # value preview, escaped
    assert "<mark>&quot;n&quot;: 42,</mark>" in done


def test_search_by_key_and_header_in_any_case(client: Client, topic: str) -> None:
    get_cluster().produce(topic, b"x", key=b"other", headers=[("trace-ID", b"ABC-123")], partition=1)
    _, job = start(client, topic, q="abc-1", **{"in": "headers"})
    run(job, get_cluster())
    assert [(h.partition, h.offset, h.where, h.match) for h in job.hits] == [(1, 700, "header trace-ID", "ABC-1")]
    _, job = start(client, topic, q="K2-69", **{"in": "key"})
    run(job, get_cluster())
    assert {(h.partition, h.offset) for h in job.hits} == {(2, 69)} | {(2, i) for i in range(690, 700)}
    assert all(h.where == "key" for h in job.hits)


def test_bounds_max_scan_and_max_results(client: Client, topic: str) -> None:
    _, job = start(client, topic, q='"n": 5', max_scan="1200", max_results="1000")
    run(job, get_cluster())
    assert job.scanned == 1200 and job.state == "done" and "after reading 1,200 records" in job.stop_reason
    # The newest 400 records of each partition (offsets 300 to 699): n 500 to 599 match.
    assert sorted({h.offset for h in job.hits}) == list(range(500, 600)) and len(job.hits) == 300
    _, job = start(client, topic, q='"p": 1', max_results="5")
    run(job, get_cluster())
    assert len(job.hits) == 5 and job.stop_reason == "stopped at 5 results"
    assert job.scanned < 2100
    # Newest first: the hits are partition 1's last records.
    assert [h.offset for h in job.hits] == [699, 698, 697, 696, 695]


def test_cancel_stops_the_search(client: Client, topic: str) -> None:
    _, job = start(client, topic, q="nothing-like-this")
    cluster = get_cluster()
    job.step(cluster)
    r = client.post(f"/topics/{topic}/search/jobs/{job.id}/cancel/")
    text = " ".join(r.content.decode().split())
    assert "Cancelled after reading 500 of 2,100 records: 0 hits." in text
    assert not job.step(cluster) and job.scanned == 500 and job.state == "cancelled"


def test_hits_are_escaped_and_highlighted(client: Client, engine_dir: Path) -> None:
    cluster = get_cluster()
    cluster.create_topic("evil", 1)
    cluster.produce("evil", b'<script>alert("x")</script> needle <img src=x onerror=1>', key=b"<b>k</b>")
    _, job = start(client, "evil", q="<script>")
    run(job, cluster)
    html = client.get(f"/topics/evil/search/jobs/{job.id}/").content.decode()
    assert "<script>alert" not in html and "<img" not in html and "<b>k" not in html
    assert "<mark>&lt;script&gt;</mark>alert(&quot;x&quot;)&lt;/script&gt; needle" in html


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"q": ""}, "Type the text to search for"),
        ({"q": "x" * 201}, "at most 200"),
        ({"q": "a", "max_scan": "0"}, "max_scan must be a whole number from 1 to 1,000,000; got '0'."),
        ({"q": "a", "max_results": "lots"}, "max_results must be a whole number from 1 to 1,000"),
        ({"q": "a", "in": ["body"]}, "Search in must be some of: key, value, headers."),
    ],
)
def test_bad_input_says_what_is_allowed(client: Client, topic: str, data: dict[str, Any], words: str) -> None:
    r = client.post(f"/topics/{topic}/search/start/", data)
    assert r.status_code == 400
    assert words in r.content.decode().replace("&#x27;", "'")


def test_unknown_job_and_topic(client: Client, topic: str) -> None:
    assert client.get(f"/topics/{topic}/search/jobs/nope/").status_code == 404
    assert client.post("/topics/nope/search/start/", {"q": "a"}).status_code == 404
    page = client.get(f"/topics/{topic}/search/").content.decode()
    assert 'hx-post="/topics/trips/search/start/"' in page and "csrfmiddlewaretoken" in page


def test_at_most_a_few_searches_at_once(client: Client, topic: str) -> None:
    for _ in range(record_search.MAX_RUNNING):
        start(client, topic, q="zzz")
    r = client.post(f"/topics/{topic}/search/start/", {"q": "zzz"})
    assert r.status_code == 429 and "searches are running" in r.content.decode()


def test_merged_by_time_newest_first_paged_through_everything(client: Client, engine_dir: Path) -> None:
    fill(get_cluster(), "m", 3, 40)  # 120 records, timestamps interleaved across partitions
    seen: list[tuple[int, int]] = []
    url = "/topics/m/merged/"
    pages = 0
    while url:
        html = client.get(url).content.decode()
        rows = re.findall(r'<tr>\s*<td class="num">(\d+)</td>\s*<td class="num">(\d+)</td>', html)
        seen += [(int(p), int(o)) for p, o in rows]
        m = re.search(r'<a href="([^"]+)" rel="next">', html)
        url = m.group(1).replace("&amp;", "&") if m else ""
        pages += 1
    assert pages == 3  # 50 + 50 + 20
    # Timestamp order is (offset * 3 + partition): newest first is exactly that order reversed.
    assert seen == sorted(((p, o) for o in range(40) for p in range(3)), key=lambda po: -(po[1] * 3 + po[0]))


def test_merged_bad_cursor_says_so(client: Client, engine_dir: Path) -> None:
    fill(get_cluster(), "m", 2, 3)
    text = " ".join(client.get("/topics/m/merged/?before=9:1").content.decode().split())
    assert "is not one this page made (partition:offset pairs, partitions 0 to 1)" in text


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
def test_kafka_search_and_merged_view(viewer_client: Client, kafka: KafkaCluster) -> None:
    client = viewer_client  # a Kafka cluster's pages need a login
    topic = f"search-{uuid.uuid4().hex[:6]}"
    fill(kafka, topic, 2, 30)
    _, job = start(client, topic, prefix="/clusters/k", q='"n": 7,')
    assert job.cluster_name == "k"
    run(job, kafka)
    assert sorted((h.partition, h.offset) for h in job.hits) == [(0, 7), (1, 7)]
    html = client.get(f"/clusters/k/topics/{topic}/merged/").content.decode()
    rows = re.findall(r'<tr>\s*<td class="num">(\d+)</td>\s*<td class="num">(\d+)</td>', html)
    assert [(int(p), int(o)) for p, o in rows[:3]] == [(1, 29), (0, 29), (1, 28)]


def test_a_worker_without_the_engine_sends_a_progress_check_to_worker_0(
    engine_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """serve --workers N: the search started (a forwarded POST) in worker 0 and lives there."""
    from offsetsite import engine

    monkeypatch.setattr(engine, "is_owner", lambda: False)
    with pytest.raises(engine.EngineElsewhere):
        record_search.get_job("not-here", "orders")
