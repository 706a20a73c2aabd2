"""Redis and PostgreSQL on the development and CI machines (127.0.0.1, trust auth).

A laptop without them skips the tests that need them, with the reason; under
``CI=true`` a missing service fails the test instead, since CI machines run both.
"""

from __future__ import annotations

import os
import socket
import subprocess

import pytest


def reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def need(port: int, what: str, why: str = "") -> None:
    if reachable(port):
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is not answering on 127.0.0.1:{port}; CI machines run it")
    pytest.skip(f"{what} is not running on 127.0.0.1:{port}" + (f" ({why})" if why else ""))


def psql(sql: str) -> None:
    """Run ``sql`` as postgres on the maintenance database (CREATE/DROP DATABASE)."""
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True,
        capture_output=True,
    )
