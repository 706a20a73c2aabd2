"""Ticket checkers on the group page: the form, the buttons, the live counts, who may."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from logcore import ManualClock
from offsetsite import engine
from offsetsite.core.models import AuditEntry
from offsetsite.lab import service

from .lab_helpers import advance


def train(records: int = 30, group: str = "checkers") -> None:
    """One compartment (partition) of seats, and a group that exists (the page needs one)."""
    cluster = engine.get_cluster()
    cluster.create_topic("train", 1)
    for i in range(records):
        cluster.produce("train", f"seat {i}".encode())
    cluster.commit_offsets(group, {("train", 0): 0})


def start(client: Client, name: str = "front", policy: str = "every", **extra: Any) -> Any:
    data = {"name": name, "topic": "train", "pace": "10", "strategy": policy, "every": "10", "interval_ms": "5000"}
    data.update({k: str(v) for k, v in extra.items()})
    return client.post("/lab/groups/checkers/checkers/", data)


def control(client: Client, name: str, action: str) -> Any:
    return client.post(f"/lab/checkers/{name}/control/", {"action": action})


def totals(html: str) -> dict[str, int]:
    part = html.split('id="lab-counts"', 1)[1]
    return {
        k: int(re.search(rf'class="num count-{k}">(\d+)<', part).group(1))  # type: ignore[union-attr]
        for k in ("duplicates", "losses", "in-flight", "processed")
    }


def test_crash_and_restart_with_every_10_shows_5_duplicates(lab_clock: ManualClock, operator_client: Client) -> None:
    train()
    r = start(operator_client)
    assert r.status_code == 302 and r["Location"].endswith("/groups/checkers/#checkers")
    advance(lab_clock, 1_500)
    page = operator_client.get("/groups/checkers/").content.decode()
    assert "checking seat 15 of compartment 0" in page
    assert control(operator_client, "front", "crash").status_code == 302
    assert control(operator_client, "front", "restart").status_code == 302
    advance(lab_clock, 5_000)
    page = operator_client.get("/groups/checkers/").content.decode()
    assert "waiting for the group: the crashed member&#x27;s session ends in ~" in page
    advance(lab_clock, 10_000)
    page = operator_client.get("/groups/checkers/").content.decode()
    assert totals(page) == {"duplicates": 5, "losses": 0, "in-flight": 0, "processed": 35}
    actions = list(AuditEntry.objects.filter(action="lab.checker").values_list("details__action", flat=True))
    assert sorted(actions) == ["crash", "restart", "start"]


def test_commit_before_processing_shows_the_lost_seats(lab_clock: ManualClock, operator_client: Client) -> None:
    train()
    assert start(operator_client, policy="before").status_code == 302
    advance(lab_clock, 1_200)  # 12 checked; the third batch (10..14) was noted when fetched
    control(operator_client, "front", "crash")
    control(operator_client, "front", "restart")
    advance(lab_clock, 15_000)
    page = operator_client.get("/groups/checkers/").content.decode()
    assert totals(page) == {"duplicates": 0, "losses": 3, "in-flight": 0, "processed": 27}
    assert '<small class="lost-seats">seats 12, 13, 14</small>' in page
    assert "never checked, but the notebook says done" in page


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"pace": "0"}, "The pace must be between 0.1 and 100 records a second; got 0."),
        ({"pace": "fast"}, "Enter a number."),
        ({"every": "0"}, "N must be a whole number between 1 and 10000"),
        ({"strategy": "auto", "interval_ms": "5"}, "T must be a whole number of milliseconds between 100 and 600000"),
        ({"topic": "no-such-topic"}, "Select a valid choice. no-such-topic is not one of the available choices."),
        ({"strategy": "sometimes"}, "Select a valid choice. sometimes is not one of the available choices."),
    ],
)
def test_refused_input_shows_the_form_again_and_changes_nothing(
    lab_clock: ManualClock, operator_client: Client, fields: dict[str, str], message: str
) -> None:
    train()
    r = start(operator_client, **fields)
    assert r.status_code == 422
    page = r.content.decode()
    assert message in page.replace("&#x27;", "'")
    assert 'name="name"' in page and 'value="front"' in page  # the form again, with its values
    assert service.checkers() == []
    assert not AuditEntry.objects.exists()


def test_a_taken_name_is_refused(lab_clock: ManualClock, operator_client: Client) -> None:
    train()
    assert start(operator_client).status_code == 302
    r = start(operator_client, policy="each")
    assert r.status_code == 409
    assert "a checker named &#x27;front&#x27; exists already; choose another name" in r.content.decode()
    assert [(c.name, c.policy) for c in service.checkers()] == [("front", "every:10")]
    assert AuditEntry.objects.count() == 1


def test_a_viewer_gets_403_and_nothing_changes(
    lab_clock: ManualClock, operator_client: Client, viewer_client: Client
) -> None:
    train()
    start(operator_client)
    page = viewer_client.get("/groups/checkers/").content.decode()
    assert 'id="lab-checkers"' in page and "Start checker" not in page
    assert 'value="crash"' not in page  # no buttons for a reader
    assert start(viewer_client, name="other").status_code == 403
    assert control(viewer_client, "front", "crash").status_code == 403
    assert [(c.name, c.state) for c in service.checkers()] == [("front", "running")]
    assert AuditEntry.objects.count() == 1
    # Anonymous, outside workshop mode: the login page.
    r = control(Client(), "front", "crash")
    assert r.status_code == 302 and "/login" in r["Location"]


def test_csrf_is_required(lab_clock: ManualClock, operator: Any) -> None:
    train()
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    assert start(client).status_code == 403
    assert service.checkers() == []
    page = client.get("/groups/checkers/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    r = client.post(
        "/lab/groups/checkers/checkers/",
        {"name": "front", "topic": "train", "pace": "5", "strategy": "each", "csrfmiddlewaretoken": token},
    )
    assert r.status_code == 302
    assert client.post("/lab/checkers/front/control/", {"action": "crash"}).status_code == 403
    assert [c.state for c in service.checkers()] == ["running"]


def test_a_hostile_checker_name_is_refused_and_a_hostile_group_id_escaped(
    lab_clock: ManualClock, operator_client: Client
) -> None:
    hostile = '<img src=x onerror="alert(1)">'
    train(group=hostile)
    r = operator_client.post(
        f"/lab/groups/{hostile}/checkers/",
        {"name": "<script>alert(1)</script>", "topic": "train", "pace": "5", "strategy": "each"},
    )
    assert r.status_code == 422
    page = r.content.decode()
    assert "A checker name may hold 1 to 40 letters" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert hostile not in page and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    assert service.checkers() == []
    # A good name in the hostile group: the rows escape the group id too.
    r = operator_client.post(
        f"/lab/groups/{hostile}/checkers/", {"name": "front", "topic": "train", "pace": "5", "strategy": "each"}
    )
    assert r.status_code == 302
    page = operator_client.get(f"/groups/{hostile}/").content.decode()
    assert hostile not in page and 'data-checker="front"' in page


def test_workshop_visitors_control_only_their_own_checkers(
    lab_clock: ManualClock, operator_client: Client, settings: Any
) -> None:
    train(group="mine")
    engine.get_cluster().commit_offsets("theirs", {("train", 0): 0})
    settings.OFFSETSITE = {**settings.OFFSETSITE, "WORKSHOP": True}
    form = {"topic": "train", "pace": "5", "strategy": "each"}
    assert operator_client.post("/lab/groups/mine/checkers/", {**form, "name": "staff"}).status_code == 302
    visitor = Client()
    # The visitor consumed in "mine" first, so it is their group (offsetsite.core.workshop).
    session = visitor.session
    session["offsetsite.own_groups"] = ["mine"]
    session.save()
    assert visitor.post("/lab/groups/mine/checkers/", {**form, "name": "guest"}).status_code == 302
    assert visitor.post("/lab/groups/theirs/checkers/", {**form, "name": "g2"}).status_code == 403
    assert control(visitor, "guest", "pause").status_code == 302
    assert control(visitor, "staff", "crash").status_code == 403
    assert {c.name: str(c.state) for c in service.checkers()} == {"staff": "running", "guest": "paused"}
    page = visitor.get("/groups/mine/").content.decode()
    assert 'aria-label="resume checker guest"' in page and 'aria-label="crash checker staff"' not in page
    # The live frames: the socket's render key carries the visitor's checkers (GroupConsumer).
    from django.contrib.auth.models import AnonymousUser

    from offsetsite.dashboard.groups.views import render_live

    frame = render_live("mine\x00guest", AnonymousUser())
    assert 'aria-label="resume checker guest"' in frame and 'aria-label="crash checker staff"' not in frame
    assert 'aria-label="resume checker guest"' not in render_live("mine", AnonymousUser())
    entry = AuditEntry.objects.filter(details__checker="guest", details__action="pause").get()
    assert entry.user is None and entry.group_id == "mine"


def seat_states(html: str) -> dict[int, str]:
    return {int(o): s for o, s in re.findall(r'data-offset="(\d+)" data-seat="(\w+)"', html)}


def test_the_topic_strip_colours_seats_for_the_chosen_lab_group(
    lab_clock: ManualClock, operator_client: Client
) -> None:
    train()
    engine.get_cluster().commit_offsets("late", {("train", 0): 0})
    start(operator_client)  # every:10 in "checkers"
    advance(lab_clock, 1_500)
    control(operator_client, "front", "crash")
    control(operator_client, "front", "restart")
    advance(lab_clock, 15_000)
    page = operator_client.get("/topics/train/").content.decode()
    seats = seat_states(page)
    assert [o for o, s in sorted(seats.items()) if s == "twice"] == [10, 11, 12, 13, 14]
    assert {seats[o] for o in range(10)} == {"checked"}
    assert 'title="offset 12: a record; checkers: checked twice or more: a duplicate"' in page
    assert '<span class="visually-hidden">: checked twice or more: a duplicate</span>' in page
    assert "skipped: never checked, but the notebook says done (lost)" in page  # the legend
    # A second lab group on the topic: the viewer chooses; the first is the default.
    r = operator_client.post(
        "/lab/groups/late/checkers/", {"name": "rear", "topic": "train", "pace": "10", "strategy": "before"}
    )
    assert r.status_code == 302
    advance(lab_clock, 300)
    page = operator_client.get("/topics/train/").content.decode()
    assert '<option value="late">late</option>' in page and "twice" in seat_states(page).values()
    page = operator_client.get("/topics/train/?lab=late").content.decode()
    seats = seat_states(page)
    assert seats[0] == "checked" and seats[4] == "fetched" and seats[20] == "unread"
    assert 'ws-connect="/ws/topic/train/?lab=late"' in page
    # The live renderer reads the same choice from the socket's query string.
    from offsetsite.dashboard.topics.live import render_topic

    assert seat_states(render_topic("train?lab=late", None)) == seats
    # A group that is not a lab group on the topic: the default, not an error.
    assert "twice" in seat_states(operator_client.get("/topics/train/?lab=%3Cx%3E").content.decode()).values()
