"""execute_reset / undo_reset read the committed offsets back from the cluster afterwards."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from logcore.admin import (
    RestorePoints,
    Scenario,
    Scope,
    Verification,
    execute_reset,
    plan_reset,
    undo_reset,
    undo_reset_verified,
)
from logcore.cluster import EmbeddedCluster
from logcore.groups import OffsetAndMetadata, TopicPartition


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[EmbeddedCluster]:
    c = EmbeddedCluster(tmp_path / "data", initial_rebalance_delay_ms=0)
    c.create_topic("orders", 2)
    for i in range(10):
        for p in range(2):
            c.produce("orders", f"o{i}".encode(), partition=p)
    c.commit_offsets("billing", {("orders", 0): 8, ("orders", 1): 5})
    yield c
    c.close()


class Lying:
    """A cluster whose coordinator keeps partition 1 one offset past what it is asked
    (as a real cluster might after a concurrent commit): the read-back must see it."""

    def __init__(self, target: EmbeddedCluster) -> None:
        self._target = target

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)

    def commit_offsets(self, group_id: str, offsets: Mapping[TopicPartition, int | OffsetAndMetadata]) -> None:
        changed = {tp: (v + 1 if tp == ("orders", 1) and isinstance(v, int) else v) for tp, v in offsets.items()}
        self._target.commit_offsets(group_id, changed)


def test_execute_reset_returns_what_the_cluster_holds(cluster: EmbeddedCluster, tmp_path: Path) -> None:
    plan = plan_reset(cluster, "billing", Scenario("to-offset", 2), Scope(all_topics=True), now_ms=0)
    verified = execute_reset(cluster, plan, RestorePoints(tmp_path / "rp.json"))
    assert isinstance(verified, Verification)
    assert verified.before == {("orders", 0): 8, ("orders", 1): 5}
    assert verified.expected == verified.actual == {("orders", 0): 2, ("orders", 1): 2}
    assert verified.ok and verified.mismatches == ()


def test_a_cluster_holding_other_offsets_is_reported(cluster: EmbeddedCluster, tmp_path: Path) -> None:
    lying: Any = Lying(cluster)
    restore = RestorePoints(tmp_path / "rp.json")
    plan = plan_reset(lying, "billing", Scenario("to-offset", 2), Scope(all_topics=True), now_ms=0)
    verified = execute_reset(lying, plan, restore)
    assert not verified.ok
    assert verified.mismatches == (("orders", 1, 2, 3),)
    assert verified.actual == {("orders", 0): 2, ("orders", 1): 3}
    point, undone = undo_reset_verified(lying, "billing", restore)
    assert point.scenario == "to-offset"
    assert undone.before == {("orders", 0): 2, ("orders", 1): 3}
    assert undone.expected == {("orders", 0): 8, ("orders", 1): 5}
    assert undone.mismatches == (("orders", 1, 5, 6),)


def test_undo_of_offsets_that_did_not_exist_expects_none(cluster: EmbeddedCluster, tmp_path: Path) -> None:
    cluster.create_topic("fresh", 1)
    cluster.produce("fresh", b"x", partition=0)
    restore = RestorePoints(tmp_path / "rp.json")
    plan = plan_reset(cluster, "billing", Scenario("to-earliest"), Scope.parse(["fresh"]), now_ms=0)
    assert execute_reset(cluster, plan, restore).actual == {("fresh", 0): 0}
    point, verified = undo_reset_verified(cluster, "billing", restore)
    assert verified.expected == {("fresh", 0): None} == verified.actual and verified.ok
    assert undo_reset is not None and point.offsets  # undo_reset stays: it returns the point alone
