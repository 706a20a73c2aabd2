from __future__ import annotations

from pathlib import Path

from django.test import Client

from offsetsite.engine import get_cluster


def test_overview_lists_topics_with_watermarks(client: Client, engine_dir: Path) -> None:
    cluster = get_cluster()
    cluster.create_topic("orders", 2)
    for i in range(5):
        cluster.produce("orders", b"v%d" % i, partition=i % 2)
    html = client.get("/").content.decode()
    assert "orders" in html
    assert "__consumer_offsets" in html
    # partition 0 holds offsets 0..2, so its high watermark is 3
    assert '<td class="num">3</td>' in html


def test_topic_names_are_escaped(client: Client, engine_dir: Path) -> None:
    # Kafka's topic names cannot hold markup, but a kafka backend may hand us anything:
    # the template must escape regardless. Legal names still go through the filter.
    get_cluster().create_topic("a.b-c_d", 1)
    html = client.get("/").content.decode()
    assert "a.b-c_d" in html
