"""The group page's socket carries the ticket checkers' rows and counts as they move."""

from __future__ import annotations

import re

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from logcore import ManualClock
from logcore.checkers import CheckerSpec, CommitPolicy
from offsetsite import engine
from offsetsite.asgi import application
from offsetsite.lab import service

from .lab_helpers import advance

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

ORIGIN = [(b"origin", b"http://localhost"), (b"host", b"localhost")]


def setup_train() -> None:
    cluster = engine.get_cluster()
    cluster.create_topic("train", 1)
    for i in range(30):
        cluster.produce("train", f"seat {i}".encode())
    service.start_checker(CheckerSpec("front", "checkers", "train", pace=10, policy=CommitPolicy.parse("every:10")))


def count(frame: str, name: str) -> int:
    found = re.search(rf'class="num count-{name}">(\d+)<', frame)
    assert found, frame
    return int(found.group(1))


async def last_frame(comm: WebsocketCommunicator) -> str:
    frames: list[str] = [await comm.receive_from(timeout=5)]
    while not await comm.receive_nothing(timeout=0.6):
        frames.append(await comm.receive_from())
    return frames[-1]


async def test_the_group_socket_carries_the_new_counts_after_a_step(lab_clock: ManualClock) -> None:
    await sync_to_async(setup_train)()
    comm = WebsocketCommunicator(application, "/ws/group/checkers/", headers=ORIGIN)
    connected, _ = await comm.connect()
    assert connected
    try:
        snapshot = await comm.receive_from()
        assert 'id="lab-checkers" hx-swap-oob="true"' in snapshot
        assert count(snapshot, "processed") == 0
        await sync_to_async(advance)(lab_clock, 1_500)
        frame = await last_frame(comm)
        assert 'id="lab-counts" hx-swap-oob="true"' in frame
        assert count(frame, "processed") == 15 and "checking seat 15 of compartment 0" in frame
        await sync_to_async(service.control)("front", "crash")
        await sync_to_async(service.control)("front", "restart")
        await sync_to_async(advance)(lab_clock, 15_000)
        frame = await last_frame(comm)
        assert (count(frame, "duplicates"), count(frame, "losses"), count(frame, "processed")) == (5, 0, 35)
    finally:
        await comm.disconnect()
