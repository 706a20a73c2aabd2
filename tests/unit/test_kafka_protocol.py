"""logcore.kafka_server's decoder and connection handling against bad input.

A malformed frame, an oversized one or an API the listener does not list closes that
one connection; every other connection goes on. The decoders are fuzzed with
hypothesis: whatever the bytes, the answer is a response or a clean refusal
(FrameError, BatchError), never another exception.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logcore import EmbeddedCluster
from logcore.kafka_server import KafkaListener, batches, parse_listener
from logcore.kafka_server.handlers import SUPPORTED
from logcore.kafka_server.protocol import FrameError
from logcore.records import Record


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedCluster]:
    cluster = EmbeddedCluster(tmp_path_factory.mktemp("kafka-proto"))
    cluster.create_topic("t", 2)
    yield cluster
    cluster.close()


@pytest.fixture
def listener(engine: EmbeddedCluster) -> Iterator[KafkaListener]:
    lst = KafkaListener(engine, threading.RLock(), "127.0.0.1", 0, max_request_bytes=4096, max_inflight_bytes=8192)
    lst.start()
    yield lst
    lst.stop()


def frame(api_key: int, version: int, correlation: int, body: bytes = b"", client: bytes = b"t") -> bytes:
    head = struct.pack(">hhih", api_key, version, correlation, len(client)) + client
    payload = head + body
    return struct.pack(">i", len(payload)) + payload


def api_versions(version: int = 0, correlation: int = 7) -> bytes:
    return frame(18, version, correlation)


def exchange(sock: socket.socket, data: bytes) -> bytes:
    """Send ``data``; the response frame, or b"" when the listener closed the connection."""
    sock.sendall(data)
    head = b""
    while len(head) < 4:
        chunk = sock.recv(4 - len(head))
        if not chunk:
            return b""
        head += chunk
    (n,) = struct.unpack(">i", head)
    body = b""
    while len(body) < n:
        chunk = sock.recv(n - len(body))
        if not chunk:
            return b""
        body += chunk
    return body


def connect(lst: KafkaListener) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", lst.port), timeout=10)
    return s


def test_api_versions_lists_every_supported_api(listener: KafkaListener) -> None:
    with connect(listener) as s:
        resp = exchange(s, api_versions())
    correlation, error, count = struct.unpack_from(">ihi", resp, 0)
    assert (correlation, error) == (7, 0)
    listed = {struct.unpack_from(">hhh", resp, 10 + 6 * i) for i in range(count)}
    assert listed == {(k, lo, hi) for k, (lo, hi) in SUPPORTED.items()}


def test_a_newer_api_versions_is_answered_with_unsupported_version_in_v0(listener: KafkaListener) -> None:
    with connect(listener) as s:
        resp = exchange(s, api_versions(version=99, correlation=3))
        assert struct.unpack_from(">ih", resp, 0) == (3, 35)  # UNSUPPORTED_VERSION
        # The connection stays usable: the client retries with a version we listed.
        assert struct.unpack_from(">ih", exchange(s, api_versions(correlation=4)), 0) == (4, 0)


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(frame(21, 0, 1), id="an API not listed (DeleteRecords)"),
        pytest.param(frame(3, 99, 1), id="a version out of range"),
        pytest.param(struct.pack(">i", 3) + b"abc", id="a frame too short for a header"),
        pytest.param(struct.pack(">i", 5000) + b"x" * 16, id="a frame over max_request_bytes"),
        pytest.param(struct.pack(">i", -1), id="a negative size"),
        pytest.param(frame(3, 12, 1, b"\xff" * 40), id="a body that does not parse"),
    ],
)
def test_bad_input_closes_only_its_own_connection(listener: KafkaListener, bad: bytes) -> None:
    with connect(listener) as good, connect(listener) as evil:
        assert exchange(evil, bad) == b""
        assert struct.unpack_from(">ih", exchange(good, api_versions()), 0) == (7, 0)
    with connect(listener) as again:
        assert struct.unpack_from(">ih", exchange(again, api_versions()), 0) == (7, 0)
    assert listener.closed_for_errors >= 1


def test_listener_specs_say_what_is_wrong() -> None:
    assert parse_listener("127.0.0.1:9092") == ("127.0.0.1", 9092)
    assert parse_listener("[::1]:9093") == ("::1", 9093)
    for bad, why in [("9092", "HOST:PORT"), ("host:port", "not a number"), ("h:70000", "0 to 65535")]:
        with pytest.raises(ValueError, match=why):
            parse_listener(bad)


# --- fuzzing -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def offline(engine: EmbeddedCluster) -> Iterator[tuple[KafkaListener, asyncio.AbstractEventLoop]]:
    """A listener that is never started: ``handle`` is called on frames directly."""
    lst = KafkaListener(engine, threading.RLock(), "127.0.0.1", 0, auto_create_topics=False)
    loop = asyncio.new_event_loop()
    yield lst, loop
    loop.close()


def _handled(lst: KafkaListener, loop: asyncio.AbstractEventLoop, data: bytes) -> None:
    try:
        out = loop.run_until_complete(asyncio.wait_for(lst.handle(data, "/fuzz"), 5))
    except FrameError:
        return
    assert out is None or (isinstance(out, bytes) and len(out) >= 8)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=200))
def test_any_bytes_are_answered_or_refused(
    offline: tuple[KafkaListener, asyncio.AbstractEventLoop], data: bytes
) -> None:
    _handled(*offline, data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(sorted(SUPPORTED)), st.data(), st.binary(max_size=120))
def test_every_listed_api_survives_random_bodies(
    offline: tuple[KafkaListener, asyncio.AbstractEventLoop], api_key: int, data: st.DataObject, body: bytes
) -> None:
    lo, hi = SUPPORTED[api_key]
    version = data.draw(st.integers(lo, hi))
    if api_key == 1:
        # A parsable Fetch would wait max_wait for data: keep fuzzed waits short.
        body = body[:4] + b"\0\0\0\0" + body[8:]
    _handled(*offline, frame(api_key, version, 1, body)[4:])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_batch_decoder_refuses_garbage_cleanly(data: bytes) -> None:
    try:
        for start, end in batches.iter_batches(data):
            batches.decode(data, start, end, max_bytes=1 << 20)
    except batches.BatchError:
        pass


records_strategy = st.lists(
    st.tuples(
        st.one_of(st.none(), st.binary(max_size=20)),
        st.one_of(st.none(), st.binary(max_size=60)),
        st.lists(st.tuples(st.text(max_size=5), st.one_of(st.none(), st.binary(max_size=5))), max_size=2),
        st.integers(0, 2**41),
    ),
    min_size=1,
    max_size=20,
)


@settings(max_examples=80, deadline=None)
@given(records_strategy, st.integers(0, 2**40), st.sampled_from([0, 1, 2, 3, 4]))
def test_batches_round_trip_through_every_codec(rows: list, base: int, codec: int) -> None:  # type: ignore[type-arg]
    recs = [Record(base + i, ts, k, v, tuple(h)) for i, (k, v, h, ts) in enumerate(rows)]
    data = batches.encode(recs)
    if codec:
        data = batches.recompress(data, codec)
    ((start, end),) = list(batches.iter_batches(data))
    wb = batches.decode(data, start, end, max_bytes=1 << 20)
    assert wb.base_offset == base
    assert wb.records == [(k, v, tuple(h), ts) for k, v, h, ts in rows]


def test_a_zip_bomb_is_refused() -> None:
    data = batches.encode([Record(0, 0, None, b"\0" * 100_000)])
    bomb = batches.recompress(data, batches.COMPRESSION_GZIP)
    with pytest.raises(batches.BatchError, match="more than"):
        batches.decode(bomb, 0, len(bomb), max_bytes=10_000)


def test_a_flipped_bit_fails_the_crc(tmp_path: Path) -> None:
    data = bytearray(batches.encode([Record(0, 0, b"k", b"v")]))
    data[-1] ^= 1
    with pytest.raises(batches.BatchError, match="CRC"):
        batches.decode(bytes(data), 0, len(data), max_bytes=1 << 20)
