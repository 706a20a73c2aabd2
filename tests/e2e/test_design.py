"""The design system in a real browser: phones see the numbers that matter without
scrolling sideways, dark mode follows the system and the toggle remembers a choice, the
lag chart marks a reset on its time axis."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from .conftest import Server, sign_in

pytestmark = pytest.mark.e2e

PHONE: ViewportSize = {"width": 390, "height": 844}
WAIT = 10_000  # ms: generous, for a loaded machine; the checks end as soon as they hold


def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide on a {PHONE['width']} px phone"


def inside_viewport(page: Page, selector: str, what: str) -> None:
    """Every cell lies within 0..390 px across (it may be further down: that is scrolling).

    Measured in one step inside the page: live frames replace rows at any moment, so a
    cell found by one call may be gone by the next.
    """
    expect(page.locator(selector).first).to_be_attached(timeout=WAIT)
    boxes = page.evaluate(
        """sel => [...document.querySelectorAll(sel)].map(e => {
             const r = e.getBoundingClientRect();
             return {left: r.left, right: r.right, width: r.width};
           })""",
        selector,
    )
    assert boxes, f"no {what} on the page"
    for i, box in enumerate(boxes):
        assert box["width"] > 0, f"{what} #{i} is not displayed"
        assert box["left"] >= 0 and box["right"] <= PHONE["width"], f"{what} #{i} at {box}"


@pytest.fixture
def phone(server: Server, browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    sign_in(page, server.url, "otto")
    yield page
    context.close()


def test_overview_on_a_phone_shows_lag_lag_in_time_and_health(server: Server, phone: Page) -> None:
    phone.goto(server.url + "/")
    rows = phone.locator("#groups-rows tr.group")
    expect(rows.first).to_be_visible(timeout=WAIT)
    no_sideways_scroll(phone)
    inside_viewport(phone, "#groups-rows tr.group td.lag", "lag")
    inside_viewport(phone, "#groups-rows tr.group td.lag-in-time", "lag in time")
    inside_viewport(phone, "#groups-rows tr.group td.health-cell .health", "health")
    # Each value says what it is: the column header is gone, the cell carries its label.
    expect(rows.first.locator("td.lag")).to_have_attribute("data-label", "Lag")


def test_group_page_on_a_phone_shows_each_partitions_lag(server: Server, phone: Page) -> None:
    phone.goto(server.url + "/groups/ticket-checker/")
    expect(phone.locator("#group-partitions tr.partition").first).to_be_visible(timeout=WAIT)
    no_sideways_scroll(phone)
    inside_viewport(phone, "#group-partitions tr.partition td.lag", "partition lag")
    inside_viewport(phone, "#group-partitions tr.partition td.lag-in-time", "partition lag in time")
    inside_viewport(phone, "#group-facts dd", "group facts")


def test_reset_preview_on_a_phone_shows_after_and_effect(server: Server, phone: Page) -> None:
    phone.goto(server.url + "/groups/dining-car/reset/")
    phone.check("input[name=scenario][value=shift-by]")
    phone.fill("[name=shift_by]", "-1")
    phone.get_by_role("button", name="Preview (changes nothing)").click()
    expect(phone.locator("#plan-title")).to_be_visible(timeout=WAIT)
    no_sideways_scroll(phone)
    inside_viewport(phone, "table.plan-table tbody td.after", "after")
    inside_viewport(phone, "table.plan-table tbody td.effect", "effect")


def test_topic_records_on_a_phone_keep_values_readable(server: Server, phone: Page) -> None:
    phone.goto(server.url + "/topics/train-seats/")
    value = phone.locator("#records-table table.records td.value pre.bytes").first
    expect(value).to_be_visible(timeout=WAIT)
    no_sideways_scroll(phone)
    # Live frames may replace the rows: measure in one step, whichever row is there now.
    width = phone.evaluate(
        "document.querySelector('#records-table table.records td.value pre.bytes').getBoundingClientRect().width"
    )
    assert width >= 250, f"a record value is squeezed to {width} px"


def background(page: Page) -> str:
    return str(page.evaluate("getComputedStyle(document.body).backgroundColor"))


def test_dark_mode_follows_the_system_and_the_toggle_is_remembered(server: Server, new_context: Any) -> None:
    page: Page = new_context(color_scheme="dark").new_page()
    page.goto(server.url + "/")
    assert background(page) == "rgb(14, 18, 23)"  # --bg of the dark palette (site.css)
    expect(page.locator("html")).to_have_attribute("data-theme-effective", "dark")

    page.locator("#theme-toggle").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    assert background(page) == "rgb(245, 246, 248)"  # --bg of the light palette
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    assert background(page) == "rgb(245, 246, 248)"
    assert page.evaluate("localStorage.getItem('offsetsite-theme')") == "light"

    page.locator("#theme-toggle").click()
    page.goto(server.url + "/topics/train-seats/")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    assert background(page) == "rgb(14, 18, 23)"


def test_lag_chart_marks_a_reset(server: Server, user_page: Any) -> None:
    page: Page = user_page("otto")
    page.goto(server.url + "/groups/dining-car/reset/")
    page.check("input[name=scenario][value=shift-by]")
    page.fill("[name=shift_by]", "-1")
    page.check("input[name=scope][value=all]")
    page.get_by_role("button", name="Preview (changes nothing)").click()
    page.locator("input[name=confirm]").check()
    page.get_by_role("button", name="Execute this reset").click()
    expect(page.locator("#reset-panel section.result.ok h2")).to_have_text(re.compile(r"^Executed"), timeout=WAIT)

    page.goto(server.url + "/groups/dining-car/")
    chart = page.locator("#lag-chart")
    expect(chart).to_have_attribute("data-marks-reset", re.compile(r"^[1-9]"), timeout=WAIT)
    expect(chart.locator(".lag-chart-marks li.mark-reset").first).to_contain_text("reset by otto")
