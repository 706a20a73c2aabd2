"""Record search in Chromium: type a value, see the progress and a highlighted hit while
the search runs, cancel it; the topic settings page at both widths.

The server pauses 5 s between search chunks (OFFSETSITE_SEARCH_CHUNK_PAUSE_S), so the
search of the demo's three partitions is still running when the test cancels it; the
waits are Playwright expectations, never sleeps. Set OFFSETSITE_FINISH_SHOTS=DIR to
also write screenshots at 1440x900 and 390x844.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from .conftest import Server, running_server, sign_in

pytestmark = pytest.mark.e2e

WAIT_MS = 30_000
ALL_SIZES = {"desktop": (1440, 900), "phone": (390, 844)}
# The phone run only when screenshots are asked for: the suite stays quick.
SIZES = ALL_SIZES if os.environ.get("OFFSETSITE_FINISH_SHOTS") else {"desktop": ALL_SIZES["desktop"]}


@pytest.fixture(scope="module")
def slow_search_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"OFFSETSITE_SEARCH_CHUNK_PAUSE_S": "5"}
    with running_server(tmp_path_factory.mktemp("e2e-search-var"), extra_env=env) as s:
        yield s


def shot(page: Page, name: str) -> None:
    out = os.environ.get("OFFSETSITE_FINISH_SHOTS")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(out) / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("size", list(SIZES))
def test_search_shows_progress_and_a_highlighted_hit_and_cancels(
    slow_search_server: Server, new_context: Any, size: str
) -> None:
    width, height = SIZES[size]
    page = new_context().new_page()
    page.set_viewport_size({"width": width, "height": height})
    page.goto(slow_search_server.url + "/topics/train-seats/")
    page.click("text=Search records…")
    expect(page.locator("h1")).to_contain_text("Search records of")
    page.fill("#search-q", "seat-changed")
    page.click("#search-form button[type=submit]")
    job = page.locator("#search-job")
    expect(job.locator(".search-state")).to_have_attribute("data-state", "running", timeout=WAIT_MS)
    expect(job).to_contain_text("Searching for “seat-changed”: read", timeout=WAIT_MS)
    mark = job.locator("td.snippet mark").first
    expect(mark).to_have_text("seat-changed", timeout=WAIT_MS)
    shot(page, f"search-running-{size}")
    page.click("#search-cancel")
    expect(job.locator(".search-state")).to_have_attribute("data-state", "cancelled", timeout=WAIT_MS)
    expect(job).to_contain_text("Cancelled after reading")
    expect(job.locator("td.snippet mark").first).to_have_text("seat-changed")  # the hits found stay
    shot(page, f"search-cancelled-{size}")
    page.goto(slow_search_server.url + "/topics/train-seats/merged/")
    expect(page.locator("#merged-rows tr").first).to_be_visible()
    shot(page, f"merged-{size}")
    page.goto(slow_search_server.url + "/")
    expect(page.locator("#overview-cards")).to_contain_text("Groups by health")
    shot(page, f"overview-{size}")
    sign_in(page, slow_search_server.url, "otto")
    page.goto(slow_search_server.url + "/topics/train-seats/settings/")
    page.fill("#id_name", "retention.ms")
    page.fill("#id_value", "soon")
    page.click("#config-edit button[type=submit]")
    expect(page.locator("#config-edit .errorlist")).to_contain_text(
        "Invalid value 'soon' for configuration retention.ms"
    )
    shot(page, f"settings-{size}")
