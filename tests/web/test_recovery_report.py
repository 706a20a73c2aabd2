"""What log recovery cut is visible: /metrics counts it, the topic page says it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.test import Client

from logcore import LogManager
from logcore.records import parse_header
from offsetsite import engine

from .test_metrics import labels, scrape


def _corrupt_unclean(data: Path) -> None:
    """orders-0: 200 records in batches of 10, a stop without close, batch 10 corrupt."""
    lm = LogManager(data)
    lm.create_topic("orders", 2)
    p = lm.partition("orders", 0)
    for b in range(0, 200, 10):
        p.append_batch([(None, b"v%d" % i) for i in range(b, b + 10)])
    lm.partition("orders", 1).append(None, b"ok")
    lm.abandon()
    log = data / "orders" / "0" / "00000000000000000000.log"
    raw = bytearray(log.read_bytes())
    pos = 0
    for _ in range(10):
        pos += parse_header(raw, pos).total_size
    assert parse_header(raw, pos).base_offset == 100
    raw[pos + parse_header(raw, pos).total_size - 1] ^= 0xFF
    log.write_bytes(bytes(raw))


def test_metrics_count_records_recovery_truncated(engine_dir: Path, db: Any) -> None:
    _corrupt_unclean(engine_dir)
    assert engine.get_cluster().describe_topic("orders").partitions[0].high_watermark == 100
    samples = scrape()["logcore_recovery_truncated_records_total"]
    assert samples[labels(topic="orders", partition="0")] == 100
    assert samples[labels(topic="orders", partition="1")] == 0


def test_topic_page_says_what_recovery_cut(engine_dir: Path, viewer_client: Client) -> None:
    _corrupt_unclean(engine_dir)
    html = viewer_client.get("/topics/orders/").content.decode()
    assert "Log recovery cut records" in html
    assert "partition 0: 100 records dropped (offsets 100 to 199" in html
    assert "00000000000000000000.log" in html


def test_no_notice_without_a_cut(engine_dir: Path, viewer_client: Client) -> None:
    engine.get_cluster().create_topic("orders", 1)
    assert "Log recovery cut" not in viewer_client.get("/topics/orders/").content.decode()
