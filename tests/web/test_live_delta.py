"""Live frames carry what changed (offsetsite/live/delta.py), and a page that missed frames
still ends up showing exactly a fresh render.

The frames are applied here the way htmx applies them in a browser (swap by id,
``beforeend:#id`` / ``afterend:#id`` / ``beforebegin:#id`` inserts, the
``data-live-delete`` template live.js handles), to a copy of the page's live parts; the
result is compared with a fresh render of the real topic renderer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from logcore import ManualClock
from logcore.checkers import CheckerSpec, CommitPolicy
from offsetsite.asgi import application
from offsetsite.dashboard.topics import live as live_topics
from offsetsite.engine import get_cluster
from offsetsite.lab import service
from offsetsite.live import delta, registry
from offsetsite.live.bridge import BRIDGE

from .lab_helpers import advance

ORIGIN = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
TAG = delta._TAG  # the same reading of tags: the applier below is the browser's stand-in

# --- a browser's stand-in -------------------------------------------------------------


def _span(html: str, el_id: str) -> tuple[int, int, int]:
    """(start, end of the start tag, end) of the element with ``el_id`` in ``html``."""
    m = re.search(r'<([a-zA-Z][a-zA-Z0-9-]*)\b[^>]*\sid="' + re.escape(el_id) + '"[^>]*>', html)
    assert m, f"#{el_id} is not on the page"
    tag, depth = m.group(1).lower(), 0
    for t in TAG.finditer(html, m.start()):
        if t.group(2) is None or t.group(2).lower() != tag:
            continue
        depth += -1 if t.group(1) else 1
        if depth == 0:
            return m.start(), m.end(), t.end()
    raise AssertionError(f"#{el_id} never ends")


def _top_level(frame: str) -> Iterator[tuple[str, str]]:
    """(start tag, whole element) of each top-level element of a frame."""
    depth, start, head = 0, 0, ""
    for t in TAG.finditer(frame):
        if t.group(2) is None or t.group(2).lower() in delta.VOID:
            continue
        if not t.group(1):
            if depth == 0:
                start, head = t.start(), t.group(0)
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                yield head, frame[start : t.end()]


def apply(page: str, frame: str) -> str:
    """``page`` (live parts as shown) after the browser applied ``frame``."""
    for head, element in _top_level(frame):
        dele = re.match(r'<template data-live-delete="([^"]*)">', head)
        if dele:
            for el_id in dele.group(1).split():
                s, _, e = _span(page, el_id)
                page = page[:s] + page[e:]
            continue
        oob = re.search(r'hx-swap-oob="([^"]*)"', head)
        assert oob, f"a frame element that is not swapped: {head}"
        inner = element[len(head) : element.rindex("</")]
        if oob.group(1) == "true":
            el_id = re.search(r'\sid="([^"]+)"', head)
            assert el_id, head
            s, _, e = _span(page, el_id.group(1))
            page = page[:s] + element + page[e:]
            continue
        style, target = oob.group(1).split(":#")
        s, _, e = _span(page, target)
        at = {"beforeend": e - len(f"</{_tag(page, s)}>"), "afterend": e, "beforebegin": s}[style]
        page = page[:at] + inner + page[at:]
    return page


def _tag(html: str, start: int) -> str:
    m = re.match(r"<([a-zA-Z][a-zA-Z0-9-]*)", html[start:])
    assert m
    return m.group(1)


def same(a: str, b: str) -> bool:
    """Equal as a browser shows them: htmx drops hx-swap-oob; whitespace between elements aside."""

    def norm(s: str) -> str:
        s = re.sub(r' hx-swap-oob="true"', "", s)
        return re.sub(r">\s+<", "><", s).strip()

    return norm(a) == norm(b)


# --- the scenes ------------------------------------------------------------------------


def render() -> str:
    return live_topics.render_topic("orders", None)


@pytest.fixture
def orders(engine_dir: Path) -> None:
    c = get_cluster()
    c.create_topic("orders", 1)
    for i in range(60):
        c.produce("orders", b"value-%d" % i, partition=0)
    c.commit_offsets("billing", {("orders", 0): 10})


def ids_of(frame: str) -> set[str]:
    return set(re.findall(r'\sid="([^"]+)"', frame))


def test_one_produce_carries_the_changed_cells_and_the_new_row(orders: None) -> None:
    before = render()
    get_cluster().produce("orders", b"the-new-one", partition=0)
    after = render()
    old, new = delta.parse(before), delta.parse(after)
    assert old is not None and new is not None
    frame = delta.diff(old, new)
    ids = ids_of(frame)
    # What changed: the partition's row of the summary (its HW cell), the new record
    # appended to the tail, the new seat, the strip's counts.
    assert {"summary-p0", "hw-p0", "rec-p0-o60", "strip-meta-p0", "seat-p0-o60"} <= ids
    assert '<tbody hx-swap-oob="beforeend:#records-tail-p0">' in frame
    assert "the-new-one" in frame
    # Not what did not change: the regions as a whole, the rows still in the tail.
    assert not ids & {"topic-summary", "topic-strips", "records-tail-p0", "rec-p0-o30", "rec-p0-o59"}
    # The row that fell off the 50-record tail is removed, not the tail resent.
    assert 'data-live-delete="' in frame and "rec-p0-o10" in frame
    assert len(frame) < len(after) / 5, (len(frame), len(after))
    assert same(apply(before, frame), after)


def test_frames_chain_and_a_skipped_stretch_reconciles_exactly(orders: None) -> None:
    c = get_cluster()
    first = render()
    page = first
    shown = delta.parse(first)
    assert shown is not None
    # Frame after frame, as a socket that hears every notice...
    for n in (1, 3, 70, 2):
        for i in range(n):
            c.produce("orders", b"x%d" % i, partition=0)
        c.commit_offsets("billing", {("orders", 0): 10 + n})
        html = render()
        nodes = delta.parse(html)
        assert nodes is not None
        page = apply(page, delta.diff(shown, nodes))
        shown = nodes
        assert same(page, html)
    # ...and one frame over many changes, as a socket whose notices were dropped.
    late = apply(first, delta.diff(delta.parse(first) or [], shown))
    assert same(late, render())


def test_a_renderer_this_reader_cannot_follow_gets_whole_frames() -> None:
    assert delta.parse('<div id="a" hx-swap-oob="true"><script>x < y</script></div>') is None
    assert delta.parse('text <div id="a"></div>') is None
    assert delta.parse('<div id="a"><p></div>') is None
    assert delta.parse('<div hx-swap-oob="true"></div>') is None  # no id: not addressable


def test_a_changed_shell_sends_the_element_whole_and_a_reorder_too() -> None:
    a = delta.parse('<ul id="l"><li id="x">1</li><li id="y">2</li></ul>')
    b = delta.parse('<ul id="l" class="new"><li id="x">1</li><li id="y">2</li></ul>')
    c = delta.parse('<ul id="l"><li id="y">2</li><li id="x">1</li></ul>')
    assert a and b and c
    assert delta.diff(a, b) == '<ul hx-swap-oob="true" id="l" class="new"><li id="x">1</li><li id="y">2</li></ul>'
    assert delta.diff(a, c).startswith('<ul hx-swap-oob="true" id="l">')
    assert delta.diff(a, a) == ""


# --- over the socket --------------------------------------------------------------------


async def _connect() -> tuple[WebsocketCommunicator, str]:
    comm = WebsocketCommunicator(application, "/ws/topic/orders/", headers=ORIGIN)
    connected, _ = await comm.connect()
    assert connected
    return comm, await comm.receive_from()


async def _frames(comm: WebsocketCommunicator) -> list[str]:
    frames = []
    while not await comm.receive_nothing(timeout=0.6):
        frames.append(await comm.receive_from())
    return frames


def _live_parts(frame: str) -> str:
    return re.sub(r'<div id="live-version"[^>]*></div>$', "", frame)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
async def test_socket_frames_after_a_produce_and_after_missed_notices(orders: None) -> None:
    produce = sync_to_async(get_cluster().produce)
    with registry.registered("topic", live_topics.render_topic):
        comm, snapshot = await _connect()
        try:
            page = _live_parts(snapshot)
            assert 'id="topic-strips"' in page  # the first frame: the whole region
            await produce("orders", b"one-more", partition=0)
            frames = await _frames(comm)
            assert frames
            assert "one-more" in frames[0] and 'id="topic-strips"' not in frames[0]
            assert len(frames[0]) < len(snapshot) / 5, (len(frames[0]), len(snapshot))
            for f in frames:
                page = apply(page, _live_parts(f))
            assert same(page, await sync_to_async(render)())

            # Notices dropped (a full channel layer): the slow tick finds the version
            # behind and sends one frame from what this socket was last sent.
            original = BRIDGE.take_dirty

            def drop_all() -> tuple[list[str], int]:
                original()
                return [], 0

            BRIDGE.take_dirty = drop_all  # type: ignore[method-assign]
            try:
                for i in range(7):
                    await produce("orders", b"unheard-%d" % i, partition=0)
                assert await comm.receive_nothing(timeout=0.5)
            finally:
                BRIDGE.take_dirty = original  # type: ignore[method-assign]
            frame = await comm.receive_from(timeout=5)  # the 2 s reconciliation tick
            page = apply(page, _live_parts(frame))
            for f in await _frames(comm):
                page = apply(page, _live_parts(f))
            assert same(page, await sync_to_async(render)())
        finally:
            await comm.disconnect()
        # Away for a while: a reconnect gets the whole region again.
        for i in range(5):
            await produce("orders", b"while-away-%d" % i, partition=0)
        comm, snapshot = await _connect()
        try:
            assert same(_live_parts(snapshot), await sync_to_async(render)())
        finally:
            await comm.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
async def test_full_frames_setting_sends_the_whole_region(orders: None, settings: Any) -> None:
    settings.OFFSETSITE = {**settings.OFFSETSITE, "LIVE_FULL_FRAMES": True}
    with registry.registered("topic", live_topics.render_topic):
        comm, snapshot = await _connect()
        try:
            await sync_to_async(get_cluster().produce)("orders", b"one-more", partition=0)
            frame = (await _frames(comm))[0]
            assert 'id="topic-strips"' in frame and 'id="rec-p0-o30"' in frame
            assert len(frame) > len(snapshot) * 0.9
        finally:
            await comm.disconnect()


# --- every live page kind -----------------------------------------------------------------


@pytest.mark.django_db
def test_every_page_kind_is_read_and_its_frames_apply_exactly(lab_clock: ManualClock, operator: Any) -> None:
    """Overview, topic, group (with its timeline and ticket checkers), __consumer_offsets
    and the lab's lesson: each render is read into elements (else the socket would send
    whole frames), a frame after some work is smaller than the render, and applying it
    gives the fresh render."""
    from offsetsite.live.renders import render_html

    cluster = get_cluster()
    cluster.create_topic("train", 2)
    for i in range(40):
        cluster.produce("train", b"p%d" % i, partition=i % 2)
    cluster.commit_offsets("kitchen", {("train", 0): 3, ("train", 1): 2})
    service.start_checker(CheckerSpec("front", "checkers", "train", pace=10, policy=CommitPolicy.parse("every:5")))
    advance(lab_clock, 1_000)
    pages = [
        ("overview", ""),
        ("topic", "train"),
        ("group", "kitchen"),
        ("group", "checkers"),
        ("consumer_offsets", ""),
        ("consumer_offsets", "view=latest"),
        ("lab", "view=lesson&step=1"),
    ]
    before = {p: render_html(*p, operator) for p in pages}
    for p, html in before.items():
        assert delta.parse(html) is not None, f"{p} cannot be read: its frames would be whole"
    for i in range(5):
        cluster.produce("train", b"more-%d" % i, partition=0)
    cluster.commit_offsets("kitchen", {("train", 0): 6})
    advance(lab_clock, 1_000)
    for p, html in before.items():
        after = render_html(*p, operator)
        old, new = delta.parse(html), delta.parse(after)
        assert old is not None and new is not None
        frame = delta.diff(old, new)
        assert same(apply(html, frame), after), p
        assert len(frame) < len(after), (p, len(frame), len(after))
