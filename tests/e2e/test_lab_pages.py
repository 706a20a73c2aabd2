"""Ticket checkers from the group page in a real browser, against the server's lab runner.

The server steps the lab on a real clock, so the test waits for what it needs to see
(Playwright's expect with generous timeouts), never for a fixed time. A restarted
checker waits for the crashed member's session (10 s) before the group rebalances.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from .conftest import Server

pytestmark = pytest.mark.e2e

GROUP = "lost-and-found"  # the demo's Empty group on train-seats: no other test reads it
TOPIC = "train-seats"
SESSION_WAIT_MS = 60_000  # the crashed member's session (10 s) and a rebalance, on a busy machine
SHOTS = os.environ.get("OFFSETSITE_LAB_SHOTS", "")  # a directory: also save screenshots there


def shoot(page: Page, name: str, part: str) -> None:
    """The whole page and the part under test, on a laptop and on a phone (for review)."""
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    for width, height in ((1440, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=f"{SHOTS}/{name}-{width}.png", full_page=True)
        page.locator(part).screenshot(path=f"{SHOTS}/{name}-{width}-part.png")
    page.set_viewport_size({"width": 1280, "height": 800})


def test_start_crash_restart_a_checker_and_see_the_reread_seats(server: Server, user_page: Any) -> None:
    page: Page = user_page("otto")
    page.goto(f"{server.url}/groups/{GROUP}/")
    expect(page.locator("#live-socket")).to_have_attribute("data-ws-state", "open", timeout=5000)
    form = page.locator("form.lab-start")
    form.locator("input[name=name]").fill("e2e checker")
    form.locator("select[name=topic]").select_option(TOPIC)
    form.locator("input[name=pace]").fill("50")
    # Auto-commit with a long interval: nothing is committed before the crash, so the
    # restarted checker checks every seat its crashed self checked again.
    form.locator("input[name=strategy][value=auto]").check()
    form.locator("input[name=interval_ms]").fill("600000")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    row = page.locator('#lab-checkers tr[data-checker="e2e checker"]')
    expect(row.locator(".state")).to_have_text("running")
    checked = row.locator("td").nth(3)  # Checked (processed)
    expect(checked).not_to_have_text("0", timeout=20_000)  # live
    shoot(page, "group-running", "#checkers")
    with page.expect_navigation():
        row.get_by_role("button", name="crash checker e2e checker").click()
    expect(row.locator(".state")).to_have_text("crashed")
    with page.expect_navigation():
        row.get_by_role("button", name="restart checker e2e checker").click()
    expect(row.locator(".in-hand")).to_contain_text("waiting for the group", timeout=10_000)
    expect(page.locator("#lab-counts .count-duplicates")).not_to_have_text("0", timeout=SESSION_WAIT_MS)
    shoot(page, "group-duplicates", "#checkers")

    topic = user_page("otto")
    topic.goto(f"{server.url}/topics/{TOPIC}/?lab={GROUP}")
    expect(topic.locator(".seat-legend")).to_contain_text(GROUP)
    twice = topic.locator('#topic-strips li[data-seat="twice"]')
    expect(twice.first).to_be_visible(timeout=20_000)
    expect(twice.first).to_have_attribute("title", re.compile(r"checked twice or more: a duplicate"))
    shoot(topic, "topic-seats", "#topic-strips")

    with page.expect_navigation():
        row.get_by_role("button", name="remove checker e2e checker").click()
    expect(page.locator('#lab-checkers tr[data-checker="e2e checker"]')).to_have_count(0)
