"""Ticket checkers on the group page: the form, the buttons, the live counts, who may."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from logcore import ManualClock
from offsetsite import engine
from offsetsite.core.models import AuditEntry
from offsetsite.lab import service


@pytest.fixture
def clock(engine_dir: Path, settings: Any, db: Any) -> Iterator[ManualClock]:
    manual = ManualClock()
    settings.OFFSETSITE = {
        **settings.OFFSETSITE,
        "CLOCK": manual,
        "INITIAL_REBALANCE_DELAY_MS": "0",
        "LAB_RUNNER": False,
    }
    engine.close()
    yield manual
    engine.close()


def advance(clock: ManualClock, ms: int) -> None:
    """Move time in the runner's steps, as the server's thread would."""
    for _ in range(ms // 100):
        clock.advance(100)
        service.step_now()


def train(records: int = 30, group: str = "checkers") -> None:
    """One compartment (partition) of seats, and a group that exists (the page needs one)."""
    cluster = engine.get_cluster()
    cluster.create_topic("train", 1)
    for i in range(records):
        cluster.produce("train", f"seat {i}".encode())
    cluster.commit_offsets(group, {("train", 0): 0})


def start(client: Client, name: str = "front", policy: str = "every", **extra: Any) -> Any:
    data = {"name": name, "topic": "train", "pace": "10", "strategy": policy, "every": "10", "interval_ms": "5000"}
    data.update({k: str(v) for k, v in extra.items()})
    return client.post("/lab/groups/checkers/checkers/", data)


def control(client: Client, name: str, action: str) -> Any:
    return client.post(f"/lab/checkers/{name}/control/", {"action": action})


def totals(html: str) -> dict[str, int]:
    part = html.split('id="lab-counts"', 1)[1]
    return {
        k: int(re.search(rf'class="num count-{k}">(\d+)<', part).group(1))  # type: ignore[union-attr]
        for k in ("duplicates", "losses", "in-flight", "processed")
    }


def test_crash_and_restart_with_every_10_shows_5_duplicates(clock: ManualClock, operator_client: Client) -> None:
    train()
    r = start(operator_client)
    assert r.status_code == 302 and r["Location"].endswith("/groups/checkers/#checkers")
    advance(clock, 1_500)
    page = operator_client.get("/groups/checkers/").content.decode()
    assert "checking seat 15 of compartment 0" in page
    assert control(operator_client, "front", "crash").status_code == 302
    assert control(operator_client, "front", "restart").status_code == 302
    advance(clock, 5_000)
    page = operator_client.get("/groups/checkers/").content.decode()
    assert "waiting for the group: the crashed member&#x27;s session ends in ~" in page
    advance(clock, 10_000)
    page = operator_client.get("/groups/checkers/").content.decode()
    assert totals(page) == {"duplicates": 5, "losses": 0, "in-flight": 0, "processed": 35}
    actions = list(AuditEntry.objects.filter(action="lab.checker").values_list("details__action", flat=True))
    assert sorted(actions) == ["crash", "restart", "start"]
