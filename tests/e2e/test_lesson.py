"""The guided lesson end to end in Chromium: every step clicked, the train moving live.

Real clock: the waits are Playwright expectations with generous timeouts (a restarted
checker waits for its crashed self's 10 s session). Set OFFSETSITE_LESSON_SHOTS=DIR to
also write screenshots at 1440x900, 390x844 and in projector mode at 1920x1080.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from .conftest import Server

pytestmark = pytest.mark.e2e

WAIT_MS = 45_000


def wait_live(page: Page) -> None:
    expect(page.locator("#live-socket")).to_have_attribute("data-ws-state", "open", timeout=10_000)


def count(page: Page, name: str) -> Any:
    return page.locator(f'#lesson-numbers dd[data-count="{name}"]')


def act(page: Page, step: int) -> None:
    expect(page.locator(".lesson-card")).to_have_attribute("data-step", str(step))
    with page.expect_navigation():
        page.click("#lesson-act")
    expect(page.locator(".messages li.success")).to_contain_text(f"Step {step}:")
    wait_live(page)


def next_step(page: Page) -> None:
    with page.expect_navigation():
        page.click("#lesson-next")


def shots(page: Page, server: Server, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, size, query in (
        ("lesson-1440x900", (1440, 900), ""),
        ("lesson-390x844", (390, 844), ""),
        ("lesson-projector-1920x1080", (1920, 1080), "&projector=1"),
        ("lesson-projector-1280x720", (1280, 720), "&projector=1"),
    ):
        page.set_viewport_size({"width": size[0], "height": size[1]})
        page.goto(f"{server.url}/lab/lesson/?step=5{query}")
        wait_live(page)
        page.screenshot(path=str(out / f"{name}.png"), full_page=name.startswith("lesson-390"))
    page.set_viewport_size({"width": 1280, "height": 800})


def test_the_lesson_runs_end_to_end(server: Server, user_page: Any) -> None:
    page: Page = user_page("otto")
    page.goto(server.url + "/")
    with page.expect_navigation():
        page.click("header.top nav a:text-is('Lesson')")
    # A clean start, confirmed.
    with page.expect_navigation():
        page.click("#lesson-restart")
    page.check("#lesson-restart-confirm")
    with page.expect_navigation():
        page.click("#lesson-restart-go")
    wait_live(page)
    seats = page.locator("#lesson-train .seats .seat")
    unnoted = page.locator('#lesson-train .seat[data-state="unnoted"]')
    expect(seats).to_have_count(0)

    act(page, 1)
    expect(seats).to_have_count(20)
    next_step(page)
    act(page, 2)
    # Ana checks 2 a second and notes every 10: seats turn yellow (checked, not noted).
    expect(unnoted.first).to_be_visible(timeout=WAIT_MS)
    next_step(page)
    act(page, 3)
    expect(seats).to_have_count(30)
    next_step(page)
    # Crash her while she holds checked seats that her notebook does not cover.
    expect(unnoted.nth(1)).to_be_visible(timeout=WAIT_MS)
    act(page, 4)
    expect(page.locator('.walker-tag[data-checker="Ana"]')).to_contain_text("crashed")
    expect(count(page, "duplicates")).to_have_text("0")
    next_step(page)
    act(page, 5)
    # From here on nothing reloads the page: the duplicates arrive over the socket.
    page.evaluate("window.__lessonNoReload = true")
    expect(page.locator("#lesson-waiting")).to_be_visible(timeout=WAIT_MS)
    expect(count(page, "duplicates")).not_to_have_text("0", timeout=WAIT_MS)
    expect(page.locator('#lesson-train .seat[data-state="twice"]').first).to_be_visible(timeout=WAIT_MS)
    assert page.evaluate("window.__lessonNoReload === true")
    shots_dir = os.environ.get("OFFSETSITE_LESSON_SHOTS")
    if shots_dir:
        shots(page, server, Path(shots_dir))
        page.goto(server.url + "/lab/lesson/?step=5")

    next_step(page)
    act(page, 6)
    expect(page.locator('.walker-tag[data-checker="Ben"]')).to_be_visible()
    expect(page.locator('#lesson-train li[data-checker="Ben"]')).to_have_count(1, timeout=WAIT_MS)
    next_step(page)
    act(page, 7)
    expect(page.locator('.walker-tag[data-checker="Hasty"]')).to_be_visible()
    next_step(page)
    # Hasty joins (the group's initial rebalance delay), then holds 5 seats already noted.
    expect(page.locator('#lesson-train .seat[data-state="fetched"]').first).to_be_visible(timeout=WAIT_MS)
    act(page, 8)
    expect(count(page, "losses")).not_to_have_text("0", timeout=WAIT_MS)
    expect(page.locator('#lesson-train .seat[data-state="skipped"]').first).to_be_visible()
    for step in (9, 10, 11, 12):
        next_step(page)
        act(page, step)
    expect(page.locator('.walker-tag[data-checker="Flo"]')).to_contain_text("running")
    expect(page.locator("#lesson-next")).to_have_count(0)


def test_projector_mode_and_followers(server: Server, user_page: Any) -> None:
    viewer: Page = user_page("vera")
    viewer.goto(server.url + "/lab/lesson/?step=2&projector=1")
    wait_live(viewer)
    expect(viewer.locator("header.top")).to_have_count(0)
    expect(viewer.locator("#lesson-act")).to_have_count(0)
    expect(viewer.locator("#lesson-train")).to_be_visible()
