"""Stopping the Kafka listener just after a client hung up leaves no task behind."""

from __future__ import annotations

import gc
import logging
import socket
import struct
import threading
from pathlib import Path

import pytest

from logcore import EmbeddedCluster
from logcore.kafka_server import KafkaListener


def test_stop_right_after_a_client_hangs_up_waits_for_its_connection(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Before the fix a connection task left the listener's set before its socket had
    # closed, so stop() closed the loop under it: asyncio logged "Task was destroyed
    # but it is pending" every time (10 of 10 here).
    cluster = EmbeddedCluster(tmp_path)
    request = struct.pack(">hhih", 18, 0, 1, 1) + b"t"  # ApiVersions v0
    try:
        with caplog.at_level(logging.ERROR, logger="asyncio"):
            for _ in range(10):
                listener = KafkaListener(cluster, threading.RLock(), "127.0.0.1", 0)
                listener.start()
                with socket.create_connection(("127.0.0.1", listener.port), timeout=10) as s:
                    s.sendall(struct.pack(">i", len(request)) + request)
                    assert s.recv(1000)  # the whole answer: the hang-up is a clean FIN
                listener.stop()
                gc.collect()
    finally:
        cluster.close()
    # Nor may a connection task end cancelled: Python 3.11's asyncio.streams then logs
    # "Exception in callback ... CancelledError" (its done callback calls exception()).
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []
