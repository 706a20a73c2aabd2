"""The server's lab: checkers run in the embedded engine and wake the live pages."""

from __future__ import annotations

import pytest

from logcore import ManualClock
from logcore.checkers import CheckerSpec, CommitPolicy
from logcore.errors import UnsupportedVersion
from offsetsite import engine
from offsetsite.lab import service
from offsetsite.live.bridge import BRIDGE

from .lab_helpers import advance


def test_a_checker_crash_and_restart_is_counted_on_the_group(lab_clock: ManualClock) -> None:
    cluster = engine.get_cluster()
    cluster.create_topic("train", 1)
    for i in range(30):
        cluster.produce("train", f"p{i}".encode())
    before = BRIDGE.version("lab")
    service.start_checker(CheckerSpec("front", "checkers", "train", pace=10, policy=CommitPolicy.parse("every:10")))
    advance(lab_clock, 1_500)
    assert BRIDGE.version("lab") > before
    lab = service.group_lab("checkers")
    assert lab is not None and lab.checkers[0].processed == 15
    service.control("front", "crash")
    service.control("front", "restart")
    # The crashed member never left: the new one waits for its session (10 s) to end.
    advance(lab_clock, 5_000)
    lab = service.group_lab("checkers")
    assert lab is not None and lab.checkers[0].joining and lab.totals.processed == 15
    advance(lab_clock, 10_000)
    lab = service.group_lab("checkers")
    assert lab is not None
    assert (lab.totals.processed, lab.totals.duplicates, lab.totals.losses) == (35, 5, 0)
    markers = service.member_positions("train")
    assert [(m.member, m.offset) for m in markers] == [("front", 30)]


def test_a_reopened_engine_starts_an_empty_lab(lab_clock: ManualClock) -> None:
    engine.get_cluster().create_topic("train", 1)
    service.start_checker(CheckerSpec("front", "checkers", "train"))
    assert [c.name for c in service.checkers()] == ["front"]
    engine.close()
    assert service.checkers() == []


def test_no_lab_on_a_kafka_cluster(lab_clock: ManualClock) -> None:
    with engine.using("prod"), pytest.raises(UnsupportedVersion):
        service.start_checker(CheckerSpec("front", "checkers", "train"))
