"""EventBus: callbacks, asyncio subscriptions, versions, isolation of broken subscribers."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading

import pytest

from logcore.events import (
    Event,
    EventBus,
    RecordsAppended,
    RecordsDeleted,
    TopicCreated,
    TopicDeleted,
)


def test_callbacks_receive_events_with_increasing_versions() -> None:
    bus = EventBus()
    seen: list[Event] = []
    bus.subscribe(seen.append)
    assert bus.has_subscribers
    a = bus.publish(TopicCreated(topic="t", partitions=3))
    b = bus.publish(TopicDeleted(topic="t"))
    assert seen == [a, b]
    assert (a.version, b.version) == (1, 2)
    assert bus.version == 2
    assert a.name == "topic_created" and b.name == "topic_deleted"
    assert RecordsAppended.name == "records_appended" and RecordsDeleted.name == "records_deleted"


def test_events_are_frozen_and_compare_without_version() -> None:
    e = TopicCreated(topic="t", partitions=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.topic = "u"  # type: ignore[misc]
    bus = EventBus()
    bus.publish(e)
    assert e == TopicCreated(topic="t", partitions=1)  # version is not compared


def test_unsubscribe() -> None:
    bus = EventBus()
    seen: list[Event] = []
    unsubscribe = bus.subscribe(seen.append)
    bus.publish(TopicDeleted(topic="a"))
    unsubscribe()
    assert not bus.has_subscribers
    bus.publish(TopicDeleted(topic="b"))
    assert [e.topic for e in seen] == ["a"]  # type: ignore[attr-defined]


def test_publish_without_subscribers_still_counts() -> None:
    bus = EventBus()
    assert not bus.has_subscribers
    assert bus.publish(TopicDeleted(topic="x")).version == 1


def test_broken_subscriber_does_not_stop_others(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    seen: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("boom")

    bus.subscribe(broken)
    bus.subscribe(seen.append)
    with caplog.at_level(logging.ERROR, logger="logcore.events"):
        bus.publish(TopicDeleted(topic="t"))
    assert len(seen) == 1
    assert "boom" in caplog.text or "failed" in caplog.text


def test_async_subscription_receives_events() -> None:
    async def main() -> list[Event]:
        bus = EventBus()
        sub = bus.subscribe_async()
        bus.publish(TopicCreated(topic="t", partitions=1))
        bus.publish(RecordsAppended(topic="t", partition=0, base_offset=0, last_offset=0, high_watermark=1))
        got = [await asyncio.wait_for(sub.get(), 1), await asyncio.wait_for(sub.get(), 1)]
        sub.close()
        assert not bus.has_subscribers
        return got

    got = asyncio.run(main())
    assert [type(e) for e in got] == [TopicCreated, RecordsAppended]


def test_async_subscription_from_another_thread() -> None:
    async def main() -> list[int]:
        bus = EventBus()
        sub = bus.subscribe_async()

        def produce() -> None:
            for i in range(50):
                bus.publish(RecordsAppended(topic="t", base_offset=i, last_offset=i, high_watermark=i + 1))

        t = threading.Thread(target=produce)
        t.start()
        out = [(await asyncio.wait_for(sub.get(), 2)).base_offset for _ in range(50)]  # type: ignore[attr-defined]
        t.join()
        return out

    assert asyncio.run(main()) == list(range(50))


def test_async_subscription_drops_oldest_when_full() -> None:
    async def main() -> tuple[list[str], int]:
        bus = EventBus()
        sub = bus.subscribe_async(maxsize=2)
        for name in "abcd":
            bus.publish(TopicDeleted(topic=name))
        await asyncio.sleep(0)  # let call_soon_threadsafe callbacks run
        topics = [sub.queue.get_nowait().topic for _ in range(sub.queue.qsize())]  # type: ignore[attr-defined]
        return topics, sub.dropped

    topics, dropped = asyncio.run(main())
    assert topics == ["c", "d"]
    assert dropped == 2


def test_async_subscription_of_closed_loop_unsubscribes_itself() -> None:
    bus = EventBus()
    loop = asyncio.new_event_loop()
    bus.subscribe_async(loop=loop)
    loop.close()
    bus.publish(TopicDeleted(topic="t"))  # must not raise
    assert not bus.has_subscribers
