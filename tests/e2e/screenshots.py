"""Screenshots of the main pages for docs/dashboard.md: ``python -m tests.e2e.screenshots``.

Starts its own server on a fresh temporary directory with the demo seed (as the e2e
tests do), drives Debian's Chromium as the operator ``otto``, and writes
docs/screenshots/<name>.png: the desktop at 1440x900, a phone at 390x844 (``*-phone``)
and the dark theme (``*-dark``). The lag chart needs samples: the server samples every
group's lag every few seconds, so the script produces a few records between samples to
give the chart a slope, and waits until the chart has at least MIN_SAMPLES points.

Options: ``--out DIR`` (default docs/screenshots).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright

from .conftest import CHROMIUM, REPO, Server, running_server, sign_in

MIN_SAMPLES = 8
SAMPLE_WAIT_S = 70.0
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
DESKTOP: ViewportSize = {"width": 1440, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}


def _lag_points(server: Server, group: str) -> int:
    with urllib.request.urlopen(f"{server.url}/groups/{group}/lag.json", timeout=5) as r:
        data = json.load(r)
    return len(data.get("series", {}).get("t", []))


def _produce(page: Page, server: Server, topic: str, partition: int, n: int, note: str) -> None:
    """n records through the produce form, as a person would."""
    page.goto(f"{server.url}/topics/{topic}/produce/")
    form = page.locator("form.produce-form")
    form.locator("[name=key]").fill(f"TK-3{partition}00")
    form.locator("[name=value]").fill(json.dumps({"event": note, "n": "{n}"}))
    form.locator("[name=partition]").select_option(str(partition))
    form.locator("[name=count]").fill(str(n))
    form.locator("[name=rate]").fill("50")
    form.locator("button[type=submit]").click()
    expect(page.locator("#produce-result")).not_to_be_empty()


def _wait_live(page: Page) -> None:
    expect(page.locator("#live-socket")).to_have_attribute("data-ws-state", "open", timeout=5000)


def _grow_lag(page: Page, server: Server, group: str) -> None:
    """Produce between lag samples until the group's chart has MIN_SAMPLES points."""
    deadline = time.monotonic() + SAMPLE_WAIT_S
    round_ = 0
    while _lag_points(server, group) < MIN_SAMPLES:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the lag chart of {group} has fewer than {MIN_SAMPLES} samples")
        _produce(page, server, "train-seats", round_ % 3, 4 + 3 * round_, "boarded")
        round_ += 1
        time.sleep(2.5)  # the sampler takes one sample every 5 s: wait for the next one


def take(server: Server, out: Path, browser: Browser | None = None) -> list[Path]:
    """Write the screenshots into out; with no browser given, launch Chromium here."""
    if browser is None:
        with sync_playwright() as pw:
            own = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
            try:
                return take(server, out, own)
            finally:
                own.close()
    out.mkdir(parents=True, exist_ok=True)
    shots: list[Path] = []
    context = browser.new_context(viewport=DESKTOP, device_scale_factor=1, color_scheme="light")
    page = context.new_page()
    sign_in(page, server.url, "otto")

    def shot(name: str) -> None:
        path = out / f"{name}.png"
        page.screenshot(path=str(path))
        shots.append(path)

    _grow_lag(page, server, "ticket-checker")

    page.goto(server.url + "/")
    _wait_live(page)
    shot("overview")

    page.goto(server.url + "/topics/train-seats/")
    _wait_live(page)
    shot("topic")
    page.evaluate("document.getElementById('records').scrollIntoView({block: 'start'})")
    shot("topic-records")

    page.goto(server.url + "/groups/ticket-checker/")
    _wait_live(page)
    shot("group")
    # uPlot draws into a canvas once the samples arrived.
    expect(page.locator("#lag-chart canvas").first).to_be_visible(timeout=10_000)
    page.evaluate("document.getElementById('lag-chart').scrollIntoView({block: 'start'})")
    page.wait_for_timeout(300)  # let the chart redraw at its final width
    shot("group-lag-chart")

    page.goto(server.url + "/groups/dining-car/reset/")
    page.check("input[name=scenario][value=shift-by]")
    page.fill("[name=shift_by]", "-2")
    page.get_by_role("button", name="Preview (changes nothing)").click()
    expect(page.locator("#plan-title")).to_be_visible()
    page.evaluate("document.getElementById('plan-title').scrollIntoView({block: 'start'})")
    shot("reset-preview")

    page.goto(server.url + "/consumer-offsets/")
    _wait_live(page)
    shot("consumer-offsets")

    page.goto(server.url + "/audit/")
    shot("audit")
    context.close()

    # The same pages on a phone and in the dark theme (prefers-color-scheme: dark).
    for suffix, viewport, scheme in (("phone", PHONE, "light"), ("dark", DESKTOP, "dark")):
        context = browser.new_context(viewport=viewport, device_scale_factor=1, color_scheme=scheme)
        page = context.new_page()
        sign_in(page, server.url, "otto")

        def shot_as(name: str, page: Page = page, suffix: str = suffix) -> None:
            path = out / f"{name}-{suffix}.png"
            page.screenshot(path=str(path))
            shots.append(path)

        page.goto(server.url + "/")
        _wait_live(page)
        shot_as("overview")
        page.goto(server.url + "/groups/ticket-checker/")
        _wait_live(page)
        expect(page.locator("#lag-chart canvas").first).to_be_attached(timeout=10_000)
        if suffix == "phone":
            shot_as("group")
            page.evaluate("document.getElementById('group-partitions').scrollIntoView({block: 'start'})")
            shot_as("group-partitions")
        else:
            page.evaluate("document.getElementById('lag-chart').scrollIntoView({block: 'start'})")
            page.wait_for_timeout(300)  # let the chart redraw at its final width
            shot_as("group-lag-chart")
        page.goto(server.url + "/topics/train-seats/")
        _wait_live(page)
        page.evaluate("document.getElementById('records').scrollIntoView({block: 'start'})")
        shot_as("topic-records")
        page.goto(server.url + "/groups/dining-car/reset/")
        page.check("input[name=scenario][value=shift-by]")
        page.fill("[name=shift_by]", "-2")
        page.get_by_role("button", name="Preview (changes nothing)").click()
        expect(page.locator("#plan-title")).to_be_visible()
        page.evaluate("document.getElementById('plan-title').scrollIntoView({block: 'start'})")
        shot_as("reset-preview")
        page.goto(server.url + "/lab/lesson/")
        shot_as("lesson")
        context.close()
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"No Chromium at {CHROMIUM}: apt-get install chromium (or set OFFSETSITE_CHROMIUM)", file=sys.stderr)
        return 1
    with (
        tempfile.TemporaryDirectory(prefix="offsetsite-shots-") as tmp,
        running_server(Path(tmp), traffic=True) as server,
    ):
        for path in take(server, args.out):
            print(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
