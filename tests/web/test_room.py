"""The workshop room: attendees join by name, control only their own checker; the facilitator resets."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from logcore import ManualClock
from offsetsite import engine
from offsetsite.core import site_settings
from offsetsite.core.models import AuditEntry
from offsetsite.lab import live, room, room_html, service

from .lab_helpers import advance

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock(lab_clock: ManualClock, settings: Any) -> Iterator[ManualClock]:
    """The lab's ManualClock, in workshop mode, with a room that starts empty."""
    settings.OFFSETSITE = {
        **settings.OFFSETSITE,
        "WORKSHOP": True,
        "ROOM_COUNTS_INTERVAL_S": 0,  # count at every version: exact numbers after each step
    }
    site_settings.invalidate()
    room.forget_all()
    yield lab_clock
    room.forget_all()
    site_settings.invalidate()


def join(client: Client, name: str, **extra: str) -> Any:
    data = {"name": name, "mode": "own", "strategy": "every:10", "pace": "10", **extra}
    return client.post("/lab/room/join/", data)


def checker(name: str) -> Any:
    return next((c for c in service.checkers() if c.name == name), None)


def test_an_attendee_joins_by_name_and_sees_their_checker(clock: ManualClock) -> None:
    ada = Client()
    r = join(ada, "Ada L.")
    assert r.status_code == 302 and r["Location"] == "/lab/room/"
    view = checker("Ada L.")
    assert view is not None and view.group == "room-Ada L." and view.topic == room.TOPIC
    page = ada.get("/lab/room/").content.decode()
    assert "Your checker" in page and "Ada L." in page and "view=room&amp;me=Ada+L." in page
    entry = AuditEntry.objects.get(action="lab.checker")
    assert entry.group_id == "room-Ada L." and "Ada L. joined" in entry.summary


def test_duplicate_and_bad_names_are_refused_with_what_is_allowed(clock: ManualClock) -> None:
    assert join(Client(), "ada").status_code == 302
    r = join(Client(), "ADA")
    assert r.status_code == 400
    assert "is taken in this room" in r.content.decode()
    r = join(Client(), "<script>x")
    body = r.content.decode()
    assert r.status_code == 400 and "letters, digits, spaces" in body
    assert "<script>x" not in body and "&lt;script&gt;x" in body
    assert join(Client(), "").status_code == 400
    assert join(Client(), "x" * 41).status_code == 400
    assert [c.name for c in service.checkers()] == ["ada"]


def test_anonymous_visitors_join_only_in_workshop_mode(clock: ManualClock, settings: Any, operator: User) -> None:
    settings.OFFSETSITE = {**settings.OFFSETSITE, "WORKSHOP": False}
    site_settings.invalidate()
    r = join(Client(), "ada")
    assert r.status_code == 403 and service.checkers() == []
    assert "Joining is closed" in Client().get("/lab/room/").content.decode()
    otto = Client()
    otto.force_login(operator)
    assert join(otto, "otto").status_code == 302
    assert [c.name for c in service.checkers()] == ["otto"]


def test_one_checker_a_session(clock: ManualClock) -> None:
    ada = Client()
    assert join(ada, "ada").status_code == 302
    r = join(ada, "ada again", mode="shared")
    assert r.status_code == 409 and "already joined as" in r.content.decode()
    assert [c.name for c in service.checkers()] == ["ada"]


def test_the_room_has_a_cap(clock: ManualClock, settings: Any) -> None:
    settings.OFFSETSITE = {**settings.OFFSETSITE, "ROOM_CAP": 2}
    assert join(Client(), "a").status_code == 302
    assert join(Client(), "b").status_code == 302
    r = join(Client(), "c")
    assert r.status_code == 503 and "The room is full (2 attendees)" in r.content.decode()


def test_an_attendee_controls_only_their_own_checker(clock: ManualClock) -> None:
    ada, bob = Client(), Client()
    join(ada, "ada")
    join(bob, "bob")
    r = bob.post("/lab/room/a/ada/control/", {"action": "crash"})
    assert r.status_code == 403
    assert checker("ada").state == "running"
    assert bob.post("/lab/room/a/ada/strategy/", {"strategy": "before"}).status_code == 403
    assert checker("ada").policy == "every:10"
    assert Client().post("/lab/room/a/ada/control/", {"action": "crash"}).status_code == 403
    assert ada.post("/lab/room/a/ada/control/", {"action": "pause"}).status_code == 302
    assert checker("ada").state == "paused"
    assert ada.post("/lab/room/a/ada/strategy/", {"strategy": "before"}).status_code == 302
    assert checker("ada").policy == "before"


def test_crash_and_restart_cost_duplicates_shown_live(clock: ManualClock, operator: User) -> None:
    ada = Client()
    join(ada, "ada")  # every:10 at 10 seats a second
    otto = Client()
    otto.force_login(operator)
    assert otto.post("/lab/room/facilitator/wave/", {"count": "30"}).status_code == 302
    advance(clock, 1_500)
    ada.post("/lab/room/a/ada/control/", {"action": "crash"})
    ada.post("/lab/room/a/ada/control/", {"action": "restart"})
    advance(clock, 5_000)
    frame = live.dispatch("view=room&me=ada", None)
    assert "Waiting for the group" in frame and 'id="room-me"' in frame
    advance(clock, 10_000)
    state = room.room_state()
    row = state.row("ada")
    assert row is not None
    assert (row.processed, row.duplicates, row.losses, row.in_flight, row.lag) == (35, 5, 0, 0, 0)
    assert sum(hw for _p, hw in state.high_watermarks) == 30
    rows = live.dispatch("view=facilitator", operator)
    assert re.search(r'data-attendee="ada".*?<td class="num">35</td>\s*<td class="num">5</td>', rows, re.S)
    assert "operator role" in live.dispatch("view=facilitator", None)
    assert "No live view 'nope'" in live.dispatch("view=nope", None)


def test_the_shared_summary_is_rendered_once_per_version(clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> None:
    join(Client(), "ada")
    join(Client(), "bob", mode="shared")
    calls: list[str] = []
    real_summary, real_me = room_html.summary, room_html.me_panel

    def summary(*args: Any, **kwargs: Any) -> Any:
        calls.append("summary")
        return real_summary(*args, **kwargs)

    def me_panel(*args: Any, **kwargs: Any) -> Any:
        calls.append("me")
        return real_me(*args, **kwargs)

    monkeypatch.setattr(room_html, "summary", summary)
    monkeypatch.setattr(room_html, "me_panel", me_panel)
    room.service_wake()
    a = live.dispatch("view=room&me=ada", None)
    b = live.dispatch("view=room&me=bob", None)
    assert calls.count("summary") == 1 and calls.count("me") == 2
    assert 'id="room-hw-p0"' in a and 'id="room-hw-p0"' in b
    assert 'Your checker, <span class="room-name">ada</span>' in a


def test_counting_waits_for_its_interval_and_then_wakes_the_pages(clock: ManualClock, settings: Any) -> None:
    join(Client(), "ada")
    room.produce_wave(12)
    first = room.room_state()
    settings.OFFSETSITE = {**settings.OFFSETSITE, "ROOM_COUNTS_INTERVAL_S": 3600}
    advance(clock, 1_000)
    room.produce_wave(6)
    later = room.room_state()
    # The high watermarks (and so the lag) are fresh; the ledger's counts wait.
    assert sum(hw for _p, hw in later.high_watermarks) == 18
    before, now = first.row("ada"), later.row("ada")
    assert before is not None and now is not None
    assert now == replace(before, lag=18)
    timer = room._trailing[engine.current_cluster_name()]
    assert timer.is_alive()  # the wake that shows the counts once the interval is over
    timer.cancel()


def test_a_crash_shows_at_once_whatever_the_counting_interval(clock: ManualClock, settings: Any) -> None:
    """A reload right after pressing crash showed the checker still running (counts throttled)."""
    ada = Client()
    join(ada, "ada")
    advance(clock, 1_000)
    assert room.room_state().row("ada").state == "running"  # type: ignore[union-attr]
    settings.OFFSETSITE = {**settings.OFFSETSITE, "ROOM_COUNTS_INTERVAL_S": 3600}
    r = ada.post("/lab/room/a/ada/control/", {"action": "crash"})
    assert r.status_code == 302
    assert room.room_state().row("ada").state == "crashed"  # type: ignore[union-attr]


def test_facilitator_reset_clears_everything(clock: ManualClock, operator: User, viewer: User) -> None:
    join(Client(), "ada")
    join(Client(), "bob", mode="shared")
    otto = Client()
    otto.force_login(operator)
    otto.post("/lab/room/facilitator/wave/", {"count": "12"})
    advance(clock, 2_000)
    cluster = engine.get_cluster()
    assert cluster.committed_offsets("room-ada")
    vera = Client()
    vera.force_login(viewer)
    assert vera.get("/lab/room/facilitator/").status_code == 403
    assert vera.post("/lab/room/facilitator/reset/", {"confirm": "reset"}).status_code == 403
    r = otto.post("/lab/room/facilitator/reset/", {})
    assert r.status_code == 302 and service.checkers()
    r = otto.post("/lab/room/facilitator/reset/", {"confirm": "reset"}, follow=True)
    assert "The lab was reset" in r.content.decode()
    assert service.checkers() == [] and room.attendees() == [] and service.snapshot() == []
    assert not [g for g in cluster.list_groups() if g.group_id.startswith("room-")]
    assert cluster.committed_offsets("room-ada") == {} and cluster.committed_offsets("room-shared") == {}
    assert [cluster.watermarks(room.TOPIC, p)[1] for p in range(room.PARTITIONS)] == [0] * room.PARTITIONS
    entry = AuditEntry.objects.get(action="lab.reset")
    assert entry.username == "otto" and "2 attendees" in entry.summary
    # The name is free again.
    assert join(Client(), "ada").status_code == 302


def test_every_post_needs_the_csrf_token(clock: ManualClock) -> None:
    strict = Client(enforce_csrf_checks=True)
    assert join(strict, "ada").status_code == 403
    assert service.checkers() == []
    page = strict.get("/lab/room/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None
    r = strict.post(
        "/lab/room/join/",
        {"name": "ada", "mode": "own", "strategy": "each", "pace": "2", "csrfmiddlewaretoken": token.group(1)},
    )
    assert r.status_code == 302
    assert strict.post("/lab/room/a/ada/control/", {"action": "crash"}).status_code == 403
    assert checker("ada").state == "running"
