"""Websocket consumers against the real ASGI application (origin check, auth, routing).

The page renderers here are test renderers registered for the duration of each test:
they read the engine like the real ones and print what a test needs to see.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.utils.html import format_html

from offsetsite.asgi import application
from offsetsite.engine import get_cluster
from offsetsite.live import registry
from offsetsite.live.bridge import BRIDGE

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

ORIGIN = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
VERSION = re.compile(r'data-ws-version="(\d+)"')


def topic_renderer(key: str, user: Any) -> str:
    cluster = get_cluster()
    hw = (
        sum(cluster.watermarks(key, p.partition)[1] for p in cluster.describe_topic(key).partitions)
        if key in cluster.list_topics()
        else -1
    )
    who = getattr(user, "username", "") or "anonymous"
    return str(format_html('<div id="hw" hx-swap-oob="true" data-hw="{}" data-user="{}">{}</div>', hw, who, key))


def group_renderer(key: str, user: Any) -> str:
    cluster = get_cluster()
    try:
        lag = cluster.describe_group(key).total_lag
    except Exception:
        lag = -1
    return str(format_html('<div id="lag" hx-swap-oob="true" data-lag="{}"></div>', lag))


def overview_renderer(key: str, user: Any) -> str:
    return str(format_html('<div id="topics" hx-swap-oob="true" data-n="{}"></div>', len(get_cluster().list_topics())))


@pytest.fixture
def renderers(engine_dir: Path) -> Iterator[None]:
    with (
        registry.registered("topic", topic_renderer),
        registry.registered("group", group_renderer),
        registry.registered("overview", overview_renderer),
        registry.registered("consumer_offsets", overview_renderer),
    ):
        yield


async def frames_until_quiet(comm: WebsocketCommunicator, quiet_s: float = 0.6) -> list[str]:
    frames = []
    while not await comm.receive_nothing(timeout=quiet_s):
        frames.append(await comm.receive_from())
    return frames


def carrying(frames: list[str], attr: str) -> str:
    """The last frame that carries ``attr``: a frame carries only what changed since the
    one before, so a trailing frame may carry just the version."""
    with_it = [f for f in frames if attr in f]
    assert with_it, frames
    return with_it[-1]


def version_of(frame: str) -> int:
    m = VERSION.search(frame)
    assert m, frame
    return int(m.group(1))


async def connect(path: str, headers: list[tuple[bytes, bytes]] = ORIGIN) -> tuple[WebsocketCommunicator, str]:
    comm = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await comm.connect()
    assert connected
    snapshot = await comm.receive_from()
    return comm, snapshot


def produce(topic: str, n: int, partitions: int = 1) -> None:
    cluster = get_cluster()
    if topic not in cluster.list_topics():
        cluster.create_topic(topic, partitions)
    for i in range(n):
        cluster.produce(topic, b"v%d" % i, partition=i % partitions)


async def test_connect_sends_a_snapshot(renderers: None) -> None:
    await sync_to_async(produce)("orders", 3)
    comm, snapshot = await connect("/ws/topic/orders/")
    try:
        assert 'data-hw="3"' in snapshot
        assert re.search(r'<div id="live-version" hx-swap-oob="true" data-ws-version="\d+" hidden></div>$', snapshot)
        assert 'data-user="anonymous"' in snapshot
        assert await comm.receive_nothing(timeout=0.3)
    finally:
        await comm.disconnect()


async def test_foreign_origin_is_refused(renderers: None) -> None:
    comm = WebsocketCommunicator(
        application, "/ws/overview/", headers=[(b"origin", b"http://evil.example"), (b"host", b"localhost")]
    )
    connected, _ = await comm.connect()
    assert not connected
    await comm.disconnect()


async def test_missing_origin_is_refused(renderers: None) -> None:
    comm = WebsocketCommunicator(application, "/ws/overview/")
    connected, _ = await comm.connect()
    assert not connected
    await comm.disconnect()


async def test_burst_of_500_appends_is_coalesced(renderers: None) -> None:
    await sync_to_async(produce)("burst", 1)
    comm, snapshot = await connect("/ws/topic/burst/")
    try:
        first = version_of(snapshot)
        await sync_to_async(produce)("burst", 500)
        frames = await frames_until_quiet(comm)
        assert 1 <= len(frames) <= 3, f"{len(frames)} frames for one burst"
        last = frames[-1]
        assert 'data-hw="501"' in carrying(frames, "data-hw")  # the changed element, sent once
        assert version_of(last) > first
        assert version_of(last) == BRIDGE.version("topic", "burst")
    finally:
        await comm.disconnect()


async def test_frame_rate_is_capped_under_a_steady_stream(renderers: None, settings: Any) -> None:
    settings.OFFSETSITE = {**settings.OFFSETSITE, "LIVE_MAX_FPS": 4}
    await sync_to_async(produce)("steady", 1)
    comm, _ = await connect("/ws/topic/steady/")
    try:
        import asyncio
        import time

        start = time.monotonic()
        for _ in range(20):  # 1.5 s of appends, one every 75 ms
            await sync_to_async(produce)("steady", 5)
            await asyncio.sleep(0.075)
        frames = await frames_until_quiet(comm)
        elapsed = time.monotonic() - start
        assert len(frames) <= 4 * elapsed + 2
        # The final state arrives: frames carry only what changed, so the last frame
        # that carries the element shows its newest value (a later one may carry only
        # the version, when nothing changed since).
        assert 'data-hw="101"' in carrying(frames, "data-hw")
    finally:
        await comm.disconnect()


async def test_other_topics_do_not_wake_a_topic_page(renderers: None) -> None:
    await sync_to_async(produce)("mine", 1)
    comm, _ = await connect("/ws/topic/mine/")
    try:
        await sync_to_async(produce)("theirs", 50)
        assert await comm.receive_nothing(timeout=0.6)
        await sync_to_async(produce)("mine", 2)
        frames = await frames_until_quiet(comm)
        assert len(frames) == 1 and 'data-hw="3"' in frames[0]
    finally:
        await comm.disconnect()


async def test_overview_wakes_on_any_topic(renderers: None) -> None:
    comm, snapshot = await connect("/ws/overview/")
    try:
        n0 = int(re.search(r'data-n="(\d+)"', snapshot).group(1))  # type: ignore[union-attr]
        await sync_to_async(produce)("new-topic", 1)
        frames = await frames_until_quiet(comm)
        assert frames and f'data-n="{n0 + 1}"' in carrying(frames, "data-n")
    finally:
        await comm.disconnect()


def commit(group: str, topic: str, offset: int) -> None:
    get_cluster().commit_offsets(group, {(topic, 0): offset})


async def test_group_page_wakes_on_commits_and_on_appends_to_its_topics(renderers: None) -> None:
    await sync_to_async(produce)("events", 10)
    await sync_to_async(commit)("billing", "events", 4)
    comm, snapshot = await connect("/ws/group/billing/")
    try:
        assert 'data-lag="6"' in snapshot
        # Appends to a topic the group has offsets on move its lag.
        await sync_to_async(produce)("events", 5)
        frames = await frames_until_quiet(comm)
        assert frames and 'data-lag="11"' in carrying(frames, "data-lag")
        # A commit.
        await sync_to_async(commit)("billing", "events", 15)
        frames = await frames_until_quiet(comm)
        assert frames and 'data-lag="0"' in carrying(frames, "data-lag")
        # Another group's commit and an unrelated topic stay silent.
        await sync_to_async(produce)("unrelated", 5)
        await sync_to_async(commit)("other", "unrelated", 1)
        assert await comm.receive_nothing(timeout=0.6)
    finally:
        await comm.disconnect()


async def test_group_page_carries_the_timeline(renderers: None) -> None:
    comm, snapshot = await connect("/ws/group/billing/")
    try:
        assert 'id="group-timeline"' in snapshot
    finally:
        await comm.disconnect()


async def test_consumer_offsets_page_wakes_on_commits(renderers: None) -> None:
    await sync_to_async(produce)("events", 3)
    comm, snapshot = await connect("/ws/consumer-offsets/")
    try:
        v0 = version_of(snapshot)
        await sync_to_async(commit)("g1", "events", 2)
        frames = await frames_until_quiet(comm)
        assert frames and version_of(frames[-1]) > v0
    finally:
        await comm.disconnect()


async def test_odd_group_ids_get_their_live_frames(renderers: None) -> None:
    gid = "team a/<b>"[:6] + " é!"  # spaces, non-ascii
    await sync_to_async(produce)("t", 5)
    await sync_to_async(commit)(gid, "t", 1)
    from urllib.parse import quote

    comm, snapshot = await connect(f"/ws/group/{quote(gid)}/")
    try:
        assert 'data-lag="4"' in snapshot
        await sync_to_async(commit)(gid, "t", 5)
        frames = await frames_until_quiet(comm)
        assert frames and 'data-lag="0"' in carrying(frames, "data-lag")
    finally:
        await comm.disconnect()


async def test_lost_notices_are_caught_up_by_the_tick(renderers: None) -> None:
    await sync_to_async(produce)("lossy", 1)
    comm, _ = await connect("/ws/topic/lossy/")
    try:
        # Simulate a full channel: the notice never reaches the consumer.
        original = BRIDGE.take_dirty

        def drop_all() -> tuple[list[str], int]:
            original()
            return [], 0

        BRIDGE.take_dirty = drop_all  # type: ignore[method-assign]
        try:
            await sync_to_async(produce)("lossy", 7)
            assert await comm.receive_nothing(timeout=0.5)
        finally:
            BRIDGE.take_dirty = original  # type: ignore[method-assign]
        frame = await comm.receive_from(timeout=4)  # the 2 s reconciliation tick
        assert 'data-hw="8"' in frame
    finally:
        await comm.disconnect()


async def test_a_failing_renderer_still_sends_the_version(engine_dir: Path) -> None:
    def broken(key: str, user: Any) -> str:
        raise RuntimeError("boom")

    with registry.registered("overview", broken):
        comm, snapshot = await connect("/ws/overview/")
        try:
            assert 'id="live-version"' in snapshot
        finally:
            await comm.disconnect()


async def test_read_login_refuses_anonymous(renderers: None, settings: Any) -> None:
    settings.OFFSETSITE = {**settings.OFFSETSITE, "READ_LOGIN": True}
    comm = WebsocketCommunicator(application, "/ws/overview/", headers=ORIGIN)
    connected, _ = await comm.connect()
    assert connected
    closing = await comm.receive_output(timeout=2)
    assert closing == {"type": "websocket.close", "code": 4401}
    await comm.disconnect()


def session_cookie() -> bytes:
    user = User.objects.create_user("livy", password="pw-livy")
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


async def test_read_login_lets_a_logged_in_user_in(renderers: None, settings: Any) -> None:
    settings.OFFSETSITE = {**settings.OFFSETSITE, "READ_LOGIN": True}
    cookie = await sync_to_async(session_cookie)()
    await sync_to_async(produce)("orders", 2)
    comm, snapshot = await connect("/ws/topic/orders/", headers=[*ORIGIN, (b"cookie", cookie)])
    try:
        assert 'data-hw="2"' in snapshot
        assert 'data-user="livy"' in snapshot
    finally:
        await comm.disconnect()


async def test_unknown_route_is_refused(renderers: None) -> None:
    comm = WebsocketCommunicator(application, "/ws/nothing-here/", headers=ORIGIN)
    # A clean refusal of the handshake, not the router's exception.
    connected, _ = await comm.connect()
    assert not connected
    await comm.disconnect()


async def test_listeners_are_released_on_disconnect(renderers: None) -> None:
    comm, _ = await connect("/ws/topic/gone/")
    assert ("topic", "gone") in BRIDGE._listeners
    await comm.disconnect()
    assert ("topic", "gone") not in BRIDGE._listeners
