"""Hubs (offsetsite/live/hub.py): one render a flush for every socket of a page, and the
slow parts (a busy topic's strip and newest records) at most once a second on a page."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from offsetsite.asgi import application
from offsetsite.dashboard.topics import live as live_topics
from offsetsite.engine import get_cluster
from offsetsite.live import hub as hubs
from offsetsite.live import registry
from offsetsite.live.bridge import Bridge
from offsetsite.live.renders import Render

from .test_live_delta import apply, same

ORIGIN = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
DEADLINE_S = 30.0  # generous: a loaded machine; the tests never wait for it when all goes well


def _page(fast: str, slow: str) -> str:
    return f'<p id="counter">{fast}</p>\n<section id="tail" data-live-slow><i id="r">{slow}</i></section>'


@pytest.mark.asyncio
async def test_a_slow_part_goes_at_once_then_at_most_once_per_slow_s() -> None:
    hub = hubs.PageHub(("test",), "topic", "t", "t", None, Bridge())
    try:
        hub.current = Render(_page("1", "a"))
        t0 = 1000.0
        # The first change after a quiet second: sent at once, whole.
        first, due = hub._compose(Render(_page("2", "b")), t0, commit=True)
        assert due is None and ">b<" in first.html
        hub.current = first
        # A change within the second: the counter moves, the slow part is held...
        second, due = hub._compose(Render(_page("3", "c")), t0 + 0.2, commit=True)
        assert ">3<" in second.html and ">b<" in second.html and ">c<" not in second.html
        assert due == pytest.approx(t0 + hubs.SLOW_S)
        # ...and a snapshot for a socket joining now shows what the others show.
        snap, _ = hub._compose(Render(_page("3", "c")), t0 + 0.3, commit=False)
        assert ">b<" in snap.html
        hub.current = second
        # Once the second is over, the held part's newest state goes out.
        third, due = hub._compose(Render(_page("4", "d")), t0 + hubs.SLOW_S, commit=True)
        assert due is None and ">d<" in third.html and ">4<" in third.html
        # Whole frames (the benchmark's baseline) hold nothing.
        hub.full_frames = True
        hub.current = third
        fourth, due = hub._compose(Render(_page("5", "e")), t0 + hubs.SLOW_S + 0.1, commit=True)
        assert due is None and ">e<" in fourth.html
    finally:
        hub.close()


@pytest.mark.asyncio
async def test_a_pages_slow_parts_go_together() -> None:
    """The strip and the records it shows stay in step: one clock for all slow parts."""

    def page(strip: str, rows: str) -> str:
        return f'<div id="strip" data-live-slow>{strip}</div>\n<table id="rows" data-live-slow>{rows}</table>'

    hub = hubs.PageHub(("test-together",), "topic", "t", "t", None, Bridge())
    try:
        hub.current = Render(page("s1", "r1"))
        first, due = hub._compose(Render(page("s2", "r1")), 1000.0, commit=True)  # the strip moved: at once
        assert due is None and "s2" in first.html
        hub.current = first
        # The rows move 0.3 s later: held with the strip's clock, though they were never sent.
        second, due = hub._compose(Render(page("s2", "r2")), 1000.3, commit=True)
        assert "r1" in second.html and due == pytest.approx(1000.0 + hubs.SLOW_S)
        hub.current = second
        third, due = hub._compose(Render(page("s3", "r3")), 1000.0 + hubs.SLOW_S, commit=True)
        assert due is None and "s3" in third.html and "r3" in third.html  # both, in one frame
    finally:
        hub.close()


@pytest.fixture
def busy(engine_dir: Path) -> None:
    c = get_cluster()
    c.create_topic("busy", 1)
    for i in range(60):
        c.produce("busy", b"value-%d" % i, partition=0)
    c.commit_offsets("billing", {("busy", 0): 10})


def _render_busy() -> str:
    return live_topics.render_topic("busy", None)


async def _receive_until(comm: WebsocketCommunicator, page: str, want: str) -> tuple[str, list[str]]:
    """Apply frames to ``page`` until it shows ``want`` (a fresh render); the frames seen."""
    frames: list[str] = []
    deadline = time.monotonic() + DEADLINE_S
    while not same(page, want):
        assert time.monotonic() < deadline, f"the page never reached the fresh render after {len(frames)} frames"
        frame = await comm.receive_from(timeout=DEADLINE_S)
        frames.append(frame)
        page = apply(page, frame.rsplit('<div id="live-version"', 1)[0])
    return page, frames


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(90)
async def test_many_sockets_of_a_busy_topic_share_renders_and_all_reach_the_final_state(busy: None) -> None:
    produce = sync_to_async(get_cluster().produce)
    with registry.registered("topic", live_topics.render_topic):
        comms, pages = [], []
        for _ in range(5):
            comm = WebsocketCommunicator(application, "/ws/topic/busy/", headers=ORIGIN)
            connected, _ = await comm.connect()
            assert connected
            comms.append(comm)
            pages.append((await comm.receive_from()).rsplit('<div id="live-version"', 1)[0])
        try:
            live = [h for h in hubs._hubs.values() if h.kind == "topic" and h.bridge_key == "busy"]
            assert len(live) == 1 and len(live[0].seats) == 5  # one hub for the five sockets
            # A stream of records, in bursts: the strip and the tail are held between
            # frames, yet every page ends exactly at a fresh render (the trailing flush).
            for burst in range(6):
                for i in range(40):
                    await produce("busy", b"burst-%d-%d" % (burst, i), partition=0)
            want = await sync_to_async(_render_busy)()
            for k, comm in enumerate(comms):
                pages[k], _ = await _receive_until(comm, pages[k], want)
        finally:
            for comm in comms:
                await comm.disconnect()
    assert not [h for h in hubs._hubs.values() if h.bridge_key == "busy"]  # the last socket closed it


@pytest.mark.django_db
def test_live_parts_are_what_a_socket_is_sent_and_follow_the_read_rules(busy: None, client: Any, settings: Any) -> None:
    """Worker 0 renders live parts for the other workers' hubs (offsetsite/live/owner.py)."""
    with registry.registered("topic", live_topics.render_topic):
        answer = client.get("/live/parts/topic/", {"key": "busy", "v": "0"})
        assert answer.status_code == 200 and answer["Cache-Control"].startswith("max-age=0")
        html = answer.content.decode()
        assert 'id="hw-p0">60<' in html and 'hx-swap-oob="true"' in html
        assert same(html, _render_busy())
        assert client.get("/live/parts/nope/", {"key": "x"}).status_code == 400
        assert b"v must be a version" in client.get("/live/parts/topic/", {"key": "busy", "v": "x"}).content
        assert client.post("/live/parts/topic/", {"key": "busy"}).status_code in (403, 405)
        settings.OFFSETSITE = {**settings.OFFSETSITE, "READ_LOGIN": True}
        assert client.get("/live/parts/topic/", {"key": "busy"}).status_code == 302  # to the login page


class _FakeSocket:
    session_key = None

    def __init__(self) -> None:
        self.frames: list[str] = []

    async def send_frame(self, text: str) -> None:
        self.frames.append(text)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_socket_joining_a_hub_its_last_socket_just_left_gets_a_new_hub(busy: None) -> None:
    import asyncio

    with registry.registered("topic", live_topics.render_topic):
        bridge = Bridge()
        first, second = _FakeSocket(), _FakeSocket()
        hub = hubs.hub_for("topic", "busy", "busy", None, bridge, first)
        assert await hub.join(first) and 'id="hw-p0">60<' in first.frames[0]
        await hub._lock.acquire()  # the second socket waits for the lock, as behind a flush
        try:
            joining = asyncio.ensure_future(hub.join(second))
            await asyncio.sleep(0)  # it reaches the lock
            hub.leave(first)  # the last socket leaves: the hub closes
        finally:
            hub._lock.release()
        assert await joining is False and not second.frames
        again = hubs.hub_for("topic", "busy", "busy", None, bridge, second)
        assert again is not hub and await again.join(second)
        assert 'id="hw-p0">60<' in second.frames[0]
        again.leave(second)
