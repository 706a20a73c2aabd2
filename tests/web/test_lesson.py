"""The guided lesson (/lab/lesson/): each step really acts on the engine, with exact numbers.

Time is a ManualClock (as in test_lab_service.py): a test moves it and steps the lab,
nothing sleeps.
"""

from __future__ import annotations

import re
from typing import Any

from django.test import Client

from logcore import ManualClock
from offsetsite import engine
from offsetsite.core.audit import Action
from offsetsite.core.models import AuditEntry
from offsetsite.lab import lesson, service
from offsetsite.live import registry

from .lab_helpers import advance

URL = "/lab/lesson/"


def act(client: Client, number: int) -> None:
    r = client.post(f"{URL}steps/{number}/", {"step": number})
    assert r.status_code == 302, r.content[:500]
    assert r["Location"] == f"{URL}?step={number}"


def totals() -> tuple[int, int, int, int]:
    lab = service.group_lab(lesson.GROUP)
    assert lab is not None
    t = lab.totals
    return t.processed, t.duplicates, t.losses, t.in_flight


def test_every_step_does_what_it_says(lab_clock: ManualClock, operator_client: Client) -> None:
    cluster = engine.get_cluster()
    act(operator_client, 1)  # 20 passengers, 10 per compartment
    assert [cluster.watermarks(lesson.TOPIC, p)[1] for p in (0, 1)] == [10, 10]
    act(operator_client, 2)  # Ana: 2 a second, a note every 10
    advance(lab_clock, 7_500)
    # 15 checked, 10 noted: in flight are the 5 checked and not noted and the 5 in hand
    assert totals() == (15, 0, 0, 10)
    act(operator_client, 3)  # 10 more passengers
    assert [cluster.watermarks(lesson.TOPIC, p)[1] for p in (0, 1)] == [15, 15]
    act(operator_client, 4)  # crash Ana: the 5 unnoted seats are in flight
    assert totals()[:3] == (15, 0, 0)
    act(operator_client, 5)  # bring Ana back: she waits for her crashed self's session
    advance(lab_clock, 5_000)
    assert totals()[:2] == (15, 0)
    page = operator_client.get(URL + "?step=5").content.decode()
    assert "waiting for the group" in page
    advance(lab_clock, 10_000)
    processed, duplicates, losses, _ = totals()
    assert (duplicates, losses) == (5, 0)  # exactly the seats she checked after her last note
    assert processed > 15
    act(operator_client, 6)  # Ben joins: the compartments split at Ana's next heartbeat
    advance(lab_clock, 5_000)
    views = {v.name: v for v in service.checkers()}
    assert set(views) == {"Ana", "Ben"}
    assert sorted(p for v in views.values() for _, p in v.assignment) == [0, 1]
    assert all(len(v.assignment) == 1 for v in views.values())
    act(operator_client, 7)  # Ana and Ben leave; Hasty notes before checking
    assert [v.name for v in service.checkers()] == ["Hasty"]
    advance(lab_clock, 1_200)  # he holds a batch of 5, already noted, and checked 2 of them
    before = totals()
    act(operator_client, 8)  # crash Hasty: what he held is behind his note, lost
    after = totals()
    assert after[2] - before[2] == 3
    act(operator_client, 9)  # restart Hasty: he resumes at his note, the losses stay
    advance(lab_clock, 11_000)
    assert totals()[2] == after[2]
    act(operator_client, 10)  # everyone leaves; one passenger boards compartment 0
    assert service.checkers() == []
    end0 = cluster.watermarks(lesson.TOPIC, 0)[1]
    act(operator_client, 11)  # Flo notes after each ticket
    advance(lab_clock, 60_000)
    desc = cluster.describe_group(lesson.GROUP)
    assert {o.partition: o.committed for o in desc.offsets}[0] == end0
    dup_before = totals()[1]
    act(operator_client, 12)  # a break, one more passenger, back at the next seat
    advance(lab_clock, 15_000)
    desc = cluster.describe_group(lesson.GROUP)
    assert {o.partition: o.committed for o in desc.offsets}[0] == end0 + 1
    assert totals()[1] == dup_before  # nobody checked twice

    actions = list(AuditEntry.objects.values_list("action", flat=True))
    assert actions.count(Action.RECORDS_PRODUCE.value) == 6  # steps 1, 3, 6, 7, 10 and 12 board passengers
    assert Action.LAB_CHECKER.value in actions


def test_a_step_out_of_order_says_why(lab_clock: ManualClock, operator_client: Client) -> None:
    r = operator_client.post(f"{URL}steps/4/", {"step": 4}, follow=True)
    assert "Step 4 did not run: checker Ana is not in the lesson yet" in r.content.decode()
    assert not AuditEntry.objects.exists()


def test_restart_puts_everything_back(lab_clock: ManualClock, operator_client: Client) -> None:
    for n in (1, 2):
        act(operator_client, n)
    advance(lab_clock, 6_000)
    act(operator_client, 4)  # a crashed member lingers in the group
    assert operator_client.get(URL + "restart/").status_code == 200
    r = operator_client.post(URL + "restart/", {})
    assert r.status_code == 400 and "Tick the box" in r.content.decode()
    r = operator_client.post(URL + "restart/", {"confirm": "yes"})
    assert r.status_code == 302 and r["Location"] == URL + "?step=1"
    cluster = engine.get_cluster()
    assert [cluster.watermarks(lesson.TOPIC, p) for p in (0, 1)] == [(0, 0), (0, 0)]
    assert lesson.GROUP not in cluster.group_ids()
    assert service.checkers() == [] and service.group_lab(lesson.GROUP) is None
    assert AuditEntry.objects.filter(action=Action.LAB_RESET.value).count() == 1
    # And the lesson runs again from the start.
    act(operator_client, 1)
    act(operator_client, 2)
    advance(lab_clock, 2_000)
    assert totals()[:3] == (4, 0, 0)


def test_who_may_act(lab_clock: ManualClock, viewer_client: Client, client: Client, settings: Any) -> None:
    page = viewer_client.get(URL).content.decode()
    assert 'id="lesson-train"' in page and 'id="lesson-act"' not in page and "lesson-restart" not in page
    assert viewer_client.post(f"{URL}steps/1/", {"step": 1}).status_code == 403
    assert viewer_client.post(URL + "restart/", {"confirm": "yes"}).status_code == 403
    settings.OFFSETSITE = {**settings.OFFSETSITE, "WORKSHOP": True}
    page = client.get(URL).content.decode()
    assert 'id="lesson-train"' in page and 'id="lesson-act"' not in page
    r = client.post(f"{URL}steps/1/", {"step": 1})
    assert r.status_code == 302 and "/login" in r["Location"]
    assert engine.get_cluster().list_topics(include_internal=False).count(lesson.TOPIC) == 0


def test_posts_need_csrf(lab_clock: ManualClock, operator: Any) -> None:
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(operator)
    page = strict.get(URL).content.decode()
    assert 'name="csrfmiddlewaretoken"' in page
    assert strict.post(f"{URL}steps/1/", {"step": 1}).status_code == 403
    assert strict.post(URL + "restart/", {"confirm": "yes"}).status_code == 403
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None
    r = strict.post(f"{URL}steps/1/", {"step": 1, "csrfmiddlewaretoken": token.group(1)})
    assert r.status_code == 302


def test_projector_mode_has_no_nav(lab_clock: ManualClock, operator_client: Client) -> None:
    page = operator_client.get(URL + "?step=3&projector=1").content.decode()
    assert 'class="top"' not in page and "<nav>" not in page and "Audit log" not in page
    assert "projector" in page and 'id="lesson-act"' in page and 'name="projector" value="1"' in page
    normal = operator_client.get(URL).content.decode()
    assert 'href="/lab/lesson/"' in normal  # the top nav links the lesson


def test_bad_input_says_what_is_allowed(lab_clock: ManualClock, operator_client: Client) -> None:
    r = operator_client.get(URL + "?step=99")
    assert r.status_code == 400 and "steps 1 to 12" in r.content.decode()
    r = operator_client.get(URL + "?projector=yes")
    assert r.status_code == 400 and "projector=1" in r.content.decode()
    assert operator_client.post(f"{URL}steps/13/", {"step": 13}).status_code == 400


def test_live_frame_shows_the_train(lab_clock: ManualClock, operator_client: Client) -> None:
    act(operator_client, 1)
    html = registry.render("lab", "view=lesson&step=1", None)
    assert 'id="lesson-train" class="train" hx-swap-oob="true"' in html
    assert html.count('data-state="unread"') == 20 + 2 * 0
    assert 'id="lesson-numbers"' in html
    act(operator_client, 2)
    advance(lab_clock, 1_000)
    html = registry.render("lab", "view=lesson&step=2", None)
    assert 'data-checker="Ana"' in html and 'data-state="fetched"' in html
    # The notebook page links to the group's latest entries in __consumer_offsets.
    link = re.search(r'href="(/consumer-offsets/\?group=lesson-checkers&amp;view=latest)"', html)
    assert link is not None
    advance(lab_clock, 5_000)  # Ana's first note (every 10 seats)
    notebook = operator_client.get(link.group(1).replace("&amp;", "&"))
    assert notebook.status_code == 200 and "lesson-checkers" in notebook.content.decode()


def test_no_lesson_on_a_kafka_cluster(lab_clock: ManualClock, operator_client: Client) -> None:
    with engine.using("prod"):
        assert registry.render("lab", "view=lesson&step=1", None) == ""
