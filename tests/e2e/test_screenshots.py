"""The screenshot script still runs end to end (only with OFFSETSITE_SCREENSHOTS=1: ~25 s)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from .conftest import running_server
from .screenshots import take

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("OFFSETSITE_SCREENSHOTS") != "1", reason="set OFFSETSITE_SCREENSHOTS=1"),
]


def test_screenshots_of_the_main_pages(tmp_path: Path, browser: Browser) -> None:
    with running_server(tmp_path / "var") as server:
        shots = take(server, tmp_path / "shots", browser)
    names = {p.stem for p in shots}
    assert {"overview", "topic", "group", "group-lag-chart", "reset-preview", "consumer-offsets"} <= names
    for p in shots:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000
