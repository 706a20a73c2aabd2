"""Flush timing of live pages, with a fake clock (no Django, no event loop)."""

from __future__ import annotations

import itertools

import pytest

from offsetsite.live.coalesce import Coalescer


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run_burst(c: Coalescer, clock: FakeClock, notices_at: list[float]) -> list[float]:
    """Simulate an event loop: notices at given times; returns the times frames went out."""
    frames: list[float] = []
    due: float | None = None
    events = sorted(notices_at)
    i = 0
    end = (events[-1] if events else clock.now) + 5.0
    t = clock.now
    step = 0.001
    while t <= end:
        clock.now = t
        while i < len(events) and events[i] <= t:
            delay = c.request()
            if delay is not None:
                due = t + delay
            i += 1
        if due is not None and t >= due:
            c.begin_flush()
            c.sent(i)
            frames.append(t)
            due = None
        t = round(t + step, 6)
    return frames


def test_first_notice_schedules_one_delayed_flush() -> None:
    clock = FakeClock()
    c = Coalescer(max_fps=10, delay_s=0.1, clock=clock)
    assert c.request() == pytest.approx(0.1)
    assert c.pending
    # Later notices while the flush is pending schedule nothing more.
    assert c.request() is None
    assert c.request() is None


def test_burst_of_500_notices_is_one_frame() -> None:
    clock = FakeClock()
    c = Coalescer(max_fps=10, delay_s=0.1, clock=clock)
    start = clock.now
    frames = run_burst(c, clock, [start + k * 0.0001 for k in range(500)])  # 50 ms of notices
    assert len(frames) == 1


def test_steady_stream_is_capped_at_max_fps() -> None:
    clock = FakeClock()
    c = Coalescer(max_fps=10, delay_s=0.05, clock=clock)
    start = clock.now
    # A notice every 5 ms for 3 s: 600 notices.
    frames = run_burst(c, clock, [start + k * 0.005 for k in range(600)])
    span = frames[-1] - frames[0]
    assert len(frames) <= 10 * span + 1 + 1
    gaps = [b - a for a, b in itertools.pairwise(frames)]
    assert min(gaps) >= 0.1 - 1e-6


def test_lower_fps_spaces_frames_further() -> None:
    clock = FakeClock()
    c = Coalescer(max_fps=2, delay_s=0.1, clock=clock)
    assert c.request() == pytest.approx(0.1)
    clock.now += 0.1
    c.begin_flush()
    c.sent(1)
    clock.now += 0.05
    # The next frame may not come before 0.5 s after the last one.
    assert c.request() == pytest.approx(0.45)


def test_notice_during_flush_asks_for_another() -> None:
    clock = FakeClock()
    c = Coalescer(clock=clock)
    c.request()
    clock.now += 0.1
    c.begin_flush()
    # The render is running; a change now must lead to one more frame.
    assert c.request() is not None


def test_behind_compares_versions_and_ignores_pending() -> None:
    clock = FakeClock()
    c = Coalescer(clock=clock)
    assert c.behind(0)  # nothing sent yet
    c.begin_flush()
    c.sent(7)
    assert not c.behind(7)
    assert c.behind(8)
    c.request()
    assert not c.behind(8)  # a flush is already on its way
    c.begin_flush()
    c.sent(5)  # an older version never lowers what was sent
    assert c.sent_version == 7
    assert c.frames == 2


def test_bad_fps_is_refused() -> None:
    with pytest.raises(ValueError, match="max_fps"):
        Coalescer(max_fps=0)


# --- the bridge's engine side: counters and a single wake-up per burst ------------


class FakeLoop:
    """Records what the bridge schedules instead of running it."""

    def __init__(self) -> None:
        self.calls: list[object] = []
        self.closed = False

    def call_soon_threadsafe(self, fn: object, *args: object) -> None:
        if self.closed:
            raise RuntimeError("Event loop is closed")
        self.calls.append(fn)


def test_bridge_wakes_the_loop_once_per_burst_and_tracks_versions() -> None:
    from logcore.events import OffsetsCommitted, RecordsAppended
    from offsetsite.live.bridge import Bridge

    bridge = Bridge()
    # Events before anybody listens: counted, nothing scheduled, no error.
    bridge.on_event(RecordsAppended(topic="t", partition=0, high_watermark=1))
    assert bridge.version("topic", "t") == 1
    loop = FakeLoop()
    bridge.listen("group", "g", loop)  # type: ignore[arg-type]
    bridge.on_event(OffsetsCommitted(group="g", offsets=(("t", 0, 1),)))
    for i in range(500):
        bridge.on_event(RecordsAppended(topic="t", partition=0, high_watermark=i + 2))
    assert len(loop.calls) == 1  # one wake-up for the whole burst
    # The group's version follows appends to the topics it has offsets on.
    assert bridge.version("group", "g") == bridge.version("topic", "t") == 502
    assert bridge.version("overview") == 502
    assert bridge.version("topic", "other") == 0
    pages, version = bridge.take_dirty()
    assert version == 502
    assert pages == [("group", "g")]  # only pages someone listens to
    # After the notice went out, the next event wakes the loop again.
    bridge.on_event(RecordsAppended(topic="t", partition=0, high_watermark=600))
    assert len(loop.calls) == 2


def test_bridge_survives_a_closed_loop() -> None:
    from logcore.events import RecordsAppended
    from offsetsite.live.bridge import Bridge

    bridge = Bridge()
    loop = FakeLoop()
    loop.closed = True
    bridge.listen("topic", "t", loop)  # type: ignore[arg-type]
    bridge.on_event(RecordsAppended(topic="t"))  # must not raise into the engine
    fresh = FakeLoop()
    bridge.listen("topic", "t", fresh)  # type: ignore[arg-type]
    bridge.on_event(RecordsAppended(topic="t"))
    assert len(fresh.calls) == 1
