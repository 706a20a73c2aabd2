"""The workshop room in a browser: two attendees in the shared group, the facilitator sees a crash live.

Screenshots of the room and the facilitator's page at 1440x900 and 390x844 go to
``$OFFSETSITE_ROOM_SHOTS`` (default /tmp/room-shots/) for a person to look at.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from .conftest import Server, running_server, sign_in

pytestmark = pytest.mark.e2e

SHOTS = Path(os.environ.get("OFFSETSITE_ROOM_SHOTS", "/tmp/room-shots"))
WAIT_MS = 20_000
SIZES = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(scope="module")
def room_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server in workshop mode (anonymous attendees join), without the demo."""
    env = {"OFFSETSITE_WORKSHOP": "1", "OFFSETSITE_INITIAL_REBALANCE_DELAY_MS": "0"}
    with running_server(tmp_path_factory.mktemp("e2e-room-var"), demo=False, extra_env=env) as s:
        yield s


def _page(new_context: Any, size: str) -> Any:
    page = new_context().new_page()
    page.set_viewport_size(SIZES[size])
    return page


def _join(page: Any, url: str, name: str) -> None:
    page.goto(url + "/lab/room/")
    page.fill("#room-name", name)
    page.check("input[name=mode][value=shared]")
    page.select_option("#room-join-strategy", "every:10")
    with page.expect_navigation():
        page.click(".room-join button[type=submit]")
    expect(page.locator("#room-me h2")).to_contain_text(name, timeout=WAIT_MS)
    expect(page.locator("#live-socket")).to_have_attribute("data-ws-state", "open", timeout=WAIT_MS)


def test_two_attendees_share_a_group_and_the_facilitator_sees_a_crash(room_server: Server, new_context: Any) -> None:
    url = room_server.url
    ada = _page(new_context, "desktop")
    bob = _page(new_context, "phone")
    ada.goto(url + "/lab/room/")
    ada.fill("#room-name", "Ada <b>")
    ada.evaluate("document.querySelector('#room-name').removeAttribute('pattern')")
    with ada.expect_navigation():
        ada.click(".room-join button[type=submit]")
    expect(ada.locator("p.messages[role=alert]")).to_contain_text("'Ada <b>' is not allowed")
    _join(ada, url, "Ada")
    _join(bob, url, "Bob")
    expect(ada.locator("#room-me")).to_have_attribute("data-state", "running")
    facilitator = _page(new_context, "desktop")
    sign_in(facilitator, url, "otto")
    facilitator.goto(url + "/lab/room/facilitator/")
    rows = facilitator.locator("#room-rows tr[data-attendee]")
    expect(rows).to_have_count(2, timeout=WAIT_MS)
    expect(facilitator.locator('#room-rows tr[data-attendee="Ada"] .tag')).to_have_text("shared")
    facilitator.fill("#wave-count", "60")
    with facilitator.expect_navigation():
        facilitator.click("text=Send a wave to room-train")
    expect(facilitator.locator("#live-socket")).to_have_attribute("data-ws-state", "open", timeout=WAIT_MS)
    # Both checkers of the shared group get partitions and check seats.
    expect(ada.locator("#room-summary")).to_contain_text("Bob", timeout=WAIT_MS)
    bob.click("button[name=action][value=crash]")
    expect(bob.locator("#room-me")).to_have_attribute("data-state", "crashed", timeout=WAIT_MS)
    # The facilitator's page was not reloaded: the crash arrives over the socket.
    expect(facilitator.locator('#room-rows tr[data-attendee="Bob"]')).to_have_class("state-crashed", timeout=WAIT_MS)
    expect(facilitator.locator('#room-rows tr[data-attendee="Ada"]')).to_have_class("state-running")
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name, size in SIZES.items():
        for who, page in (("attendee", ada), ("facilitator", facilitator)):
            page.set_viewport_size(size)
            page.screenshot(path=str(SHOTS / f"room-{who}-{name}.png"), full_page=True)
    bob.screenshot(path=str(SHOTS / "room-attendee-crashed-phone.png"), full_page=True)
    join_page = _page(new_context, "phone")
    join_page.goto(url + "/lab/room/")
    join_page.screenshot(path=str(SHOTS / "room-join-phone.png"), full_page=True)
