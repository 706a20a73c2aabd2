"""Demo traffic moves the demo: records arrive, ticket-checker members join and commit."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from offsetsite import demo, engine, traffic
from offsetsite.engine import get_cluster


@pytest.mark.slow
def test_demo_traffic_produces_joins_and_commits(engine_dir: Path, settings: object) -> None:
    settings.OFFSETSITE = {**settings.OFFSETSITE, "INITIAL_REBALANCE_DELAY_MS": "0"}  # type: ignore[attr-defined]
    engine.close()
    cluster = get_cluster()
    with engine.locked():
        demo.seed(engine.embedded(), out=io.StringIO())
    before_hw = sum(p.high_watermark for p in cluster.describe_topic("train-seats").partitions)
    before = {p.partition: p.committed for p in cluster.describe_group("ticket-checker").offsets}
    sim = traffic.start(seed=7)
    try:
        deadline = time.monotonic() + 15
        members = 0
        moved = False
        desc = cluster.describe_group("ticket-checker")
        # The second member's join waits for the first to rejoin at its next heartbeat
        # (3 s), as in Kafka: allow for it.
        while time.monotonic() < deadline and not (members == 2 and moved and desc.state == "Stable"):
            time.sleep(0.25)
            desc = cluster.describe_group("ticket-checker")
            members = len(desc.members)
            moved = any(p.committed != before.get(p.partition) for p in desc.offsets)
        assert members == 2, "both checkers joined one group"
        assert desc.state == "Stable"
        assert moved, "the checkers committed new offsets"
        after_hw = sum(p.high_watermark for p in cluster.describe_topic("train-seats").partitions)
        assert after_hw > before_hw
        assert len(cluster.describe_group("kitchen").members) == 1
        # The topic page can draw where each checker will read next.
        marks = traffic.member_positions("train-seats")
        assert sorted(m.partition for m in marks) == [0, 1, 2]
        assert {m.member for m in marks} == {"checker-front", "checker-rear"}
        assert all(m.offset >= 0 for m in marks)
    finally:
        traffic.stop()
    assert not sim.is_alive()
    # Stopping leaves: the group is Empty again, nothing left running.
    assert cluster.describe_group("ticket-checker").members == ()
