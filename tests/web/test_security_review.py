"""Adversarial review of the web layer: every URL, CSRF, hostile payloads, websockets, limits,
redirects, headers and workshop mode, each tried for real (test client, WebsocketCommunicator).

The URL walk enumerates ``django.urls.get_resolver()`` at collection time, so a view added
later without a login and role check fails ``test_every_url_refuses_the_unprivileged``
until it is protected or listed as an explicit exception here.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from logcore.admin import Scenario, Scope, execute_reset, plan_reset
from logcore.checkers import CheckerSpec
from offsetsite import engine
from offsetsite.api.models import ApiToken
from offsetsite.core.models import AuditEntry, SiteSettings
from offsetsite.dashboard.groups.reset import fingerprint, targets_fingerprint
from offsetsite.dashboard.topics import bursts
from offsetsite.engine import get_cluster, restore_points
from offsetsite.lab import room
from offsetsite.lab import service as lab_service

from .conftest import login, make_user

OFFSETS = "__consumer_offsets"


# --- the URL map -----------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    route: str  # the pattern as written, prefixes joined
    name: str  # the URL name ("" when it has none)
    kwargs: tuple[str, ...]  # the path parameters


def _walk(patterns: list[Any], prefix: str = "") -> Iterator[Route]:
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield Route(
                prefix + str(p.pattern), p.name or "", tuple(p.pattern.converters) or tuple(p.pattern.regex.groupindex)
            )


ROUTES = list(_walk(get_resolver().url_patterns))

# Explicit exceptions. The API authenticates bearer tokens and refuses session cookies
# (test_api_refuses_cookie_sessions); /metrics has its own access rule (test_metrics.py).
EXEMPT = {"login", "logout", "metrics"}
# Pages that only read: open to anonymous visitors (unless reads need a login).
READ_ONLY = {
    "overview",
    "topic",
    "topic_records",
    "produce_burst",
    "consumer_offsets",
    "group",
    "audit",
    "audit_csv",
    "group_lag",
    "lesson",
    "lab_room",
    "topic_settings",
    "topic_search",
    "topic_search_status",
    "topic_merged",
    "live_parts",  # a page's live parts, as its socket would get them (offsetsite/live/owner.py)
}
# Reads that go by POST (with the CSRF token): a record search starts a bounded job of
# reads and can be cancelled; open to whoever may read, changing nothing in the cluster.
READ_POSTS = {"topic_search_start", "topic_search_cancel"}
# Read-only, but for admins only (they list users and tokens).
ADMIN_READ = {"site_users", "site_user"}
# Read-only, but for operators only (the room's facilitator: every attendee's checker).
OPERATOR_READ = {"lab_room_facilitator"}


def _exempt(r: Route) -> bool:
    return r.name in EXEMPT or r.route.startswith("api/")


CHANGING = [r for r in ROUTES if not _exempt(r) and r.name not in READ_ONLY | ADMIN_READ | OPERATOR_READ | READ_POSTS]
READING = [r for r in ROUTES if r.name in READ_ONLY]


def test_the_walk_sees_the_whole_contract() -> None:
    names = {r.name for r in ROUTES}
    for expected in ("produce", "topic_delete", "group_reset", "group_undo", "group_delete", "site_settings"):
        assert expected in names
    assert {r.name for r in CHANGING} >= {"produce", "consume", "group_commit", "site_token_create"}


# --- the world the attacks run against -----------------------------------------------------


@dataclass
class World:
    target: User  # a viewer the admin pages would change
    token: ApiToken
    post: dict[str, dict[str, str]]  # name -> form data that WOULD change state if accepted
    kwargs: dict[str, Any]


def _reset_form(group: str) -> dict[str, str]:
    """An execute-step reset form with a valid fingerprint: accepted, it moves offsets."""
    cluster = get_cluster()
    plan = plan_reset(cluster, group, Scenario("to-latest"), Scope(all_topics=True), now_ms=int(time.time() * 1000))
    key = ("all", ())
    moving = sum(1 for r in plan.rows if r.before != r.after)
    assert moving
    return {
        "scenario": "to-latest",
        "scope": "all",
        "action": "execute",
        "fingerprint": fingerprint(plan, key),
        "targets": targets_fingerprint(plan),
        "confirm": str(moving),
    }


@pytest.fixture
def world(engine_dir: Path, admin_user: User) -> World:
    cluster = get_cluster()
    engine.embedded().coordinator.initial_rebalance_delay_ms = 0
    cluster.create_topic("t1", 2)
    for i in range(6):
        cluster.produce("t1", b"v%d" % i, partition=i % 2)
    # g1 is someone else's group: offsets committed, a reset executed (so Undo has a point).
    cluster.commit_offsets("g1", {("t1", 0): 3, ("t1", 1): 3})
    with engine.locked():
        plan = plan_reset(cluster, "g1", Scenario("to-earliest"), Scope(all_topics=True), now_ms=0)
        execute_reset(cluster, plan, restore_points())
    target = make_user("tess", "viewer")
    token, _ = ApiToken.issue(target, name="tess-token")
    post = {
        "topic_create": {"name": "made-by-attacker", "partitions": "1", "config": ""},
        "topic_delete": {"confirm": "t1"},
        "produce": {"key": "", "value": "x", "headers": "", "partition": "", "count": "1", "rate": "10"},
        "consume": {
            "group_id": "g-new",
            "client_id": "intruder",
            "topics": "t1",
            "max_records": "2",
            "auto_offset_reset": "earliest",
            "commit": "yes",
        },
        "group_consume": {
            "client_id": "intruder",
            "topics": "t1",
            "max_records": "2",
            "auto_offset_reset": "earliest",
            "commit": "yes",
        },
        "group_commit": {"topic": "t1", "partition": "0", "offset": "2", "metadata": ""},
        "group_reset": _reset_form("g1"),
        "group_undo": {},
        "group_delete_offsets": {"partitions": "t1:0", "confirm": "on"},
        "group_delete": {"confirm_group_id": "g1"},
        "site_user_create": {
            "username": "mallory",
            "password1": "Mallory-pw-1234",
            "password2": "Mallory-pw-1234",
            "role": "admin",
        },
        "site_user_role": {"role": "admin"},
        "site_user_active": {"active": "0"},
        "site_user_password": {"new_password1": "Xx-new-pw-987", "new_password2": "Xx-new-pw-987"},
        "site_token_create": {"name": "stolen", "expires_days": ""},
        "site_token_revoke": {},
        "site_settings": {"workshop": "on", "read_login": "on", "burst_max_records": "5", "burst_max_rate": "5"},
        "lab_checker_start": {"name": "intruder", "topic": "t1", "pace": "5", "strategy": "each"},
        "lab_checker_control": {"action": "crash"},
        "lesson_step": {"step": "1"},
        "lesson_restart": {"confirm": "yes"},
        "lab_room_join": {"name": "intruder", "mode": "own", "strategy": "each", "pace": "2"},
        "lab_room_control": {"action": "crash"},
        "lab_room_strategy": {"strategy": "before"},
        "lab_room_reset": {"confirm": "reset"},
        "topic_config_set": {"name": "retention.ms", "value": "1000"},
        "topic_partitions_add": {"total": "3"},
    }
    # A ticket checker someone else started (in a group of its own: a member in g1 would
    # make g1 active, and the reset and delete controls above refuse active groups).
    lab_service.start_checker(CheckerSpec("victim", "g-lab", "t1"))
    # An attendee of the workshop room someone else's browser joined as.
    room.join("room-victim", shared=False, strategy="each")
    kwargs = {
        "topic": "t1",
        "group": "g1",
        "user_id": target.pk,
        "token_id": token.pk,
        "burst_id": "000000000000",
        "partition": 0,
        "name": "victim",
        "attendee": "room-victim",
        "number": 1,
        "job_id": "no-such-search",
        "kind": "topic",
    }
    return World(target, token, post, kwargs)


def url_of(r: Route, w: World) -> str:
    missing = [k for k in r.kwargs if k not in w.kwargs]
    assert not missing, f"{r.route}: add a test value for path parameter(s) {missing} in world()"
    return reverse(r.name, kwargs={k: w.kwargs[k] for k in r.kwargs})


def snapshot() -> dict[str, Any]:
    """Everything a state-changing page could change: the engine and the database."""
    cluster = get_cluster()
    groups = {}
    for g in cluster.list_groups():
        offsets = sorted((tp, om.offset, om.metadata) for tp, om in cluster.committed_offsets(g.group_id).items())
        point = restore_points().latest(g.group_id)
        groups[g.group_id] = (g.member_count, offsets, repr(point))
    return {
        "topics": {
            t.name: tuple(p.high_watermark for p in t.partitions)
            for t in cluster.describe_topics(include_internal=False)
        },
        "groups": groups,
        "audit": AuditEntry.objects.count(),
        "users": sorted(User.objects.values_list("username", "is_active", "password", "is_superuser")),
        "roles": sorted(User.groups.through.objects.values_list("user_id", "group_id")),
        "tokens": sorted(ApiToken.objects.values_list("id", "key_hash", "name")),
        "settings": list(SiteSettings.objects.values("workshop", "read_login", "burst_max_records", "burst_max_rate")),
        "bursts": len(bursts._bursts),
        "lab": [(c.name, str(c.state)) for c in lab_service.checkers()],
    }


def refused(response: Any) -> bool:
    """A refusal: the login page, 403, or 405 (wrong method)."""
    if response.status_code in (403, 405):
        return True
    return bool(response.status_code == 302 and response["Location"].startswith(reverse("login")))


def privileged(r: Route, operator: User, admin_user: User) -> Client:
    return login(admin_user if r.route.startswith("site/") else operator)


# --- 1. every URL: the unprivileged change nothing -------------------------------------------


@pytest.mark.parametrize("route", CHANGING, ids=lambda r: r.name or r.route)
def test_every_url_refuses_the_unprivileged(
    route: Route, world: World, viewer: User, operator: User, admin_user: User
) -> None:
    url = url_of(route, world)
    data = world.post.get(route.name, {})
    before = snapshot()
    anonymous = Client()
    r = anonymous.get(url)
    assert refused(r), f"anonymous GET {url}: {r.status_code}"
    r = anonymous.post(url, data)
    assert refused(r), f"anonymous POST {url}: {r.status_code}"
    assert snapshot() == before, f"anonymous POST {url} changed something"
    r = login(viewer).post(url, data)
    assert refused(r), f"viewer POST {url}: {r.status_code}"
    assert snapshot() == before, f"viewer POST {url} changed something"
    if route.route.startswith("site/"):
        r = login(operator).post(url, data)
        assert refused(r), f"operator POST {url}: {r.status_code}"
        assert snapshot() == before, f"operator POST {url} changed something"
    # The control: the same request from the right role does change something, so the
    # data above is a real attempt (an unprotected view would have accepted it).
    r = privileged(route, operator, admin_user).post(url, data)
    assert r.status_code in (200, 302), f"privileged POST {url}: {r.status_code} {r.content[:500]!r}"
    bursts_done()
    assert snapshot() != before, f"the control POST to {url} changed nothing: fix its form data in world()"


def bursts_done() -> None:
    for b in list(bursts._bursts.values()):
        b.join(timeout=10)


@pytest.mark.parametrize("route", READING, ids=lambda r: r.name)
def test_read_only_pages_change_nothing(route: Route, world: World, viewer: User) -> None:
    url = url_of(route, world)
    before = snapshot()
    r = Client().get(url)
    if route.name in ("audit", "audit_csv"):
        assert refused(r), "the audit log names people: it needs the viewer role"
        r = login(viewer).get(url)
    assert r.status_code in (200, 404), f"GET {url}: {r.status_code}"
    for client in (Client(), login(viewer)):
        r = client.post(url, {"confirm": "t1", "value": "x"})
        assert r.status_code in (200, 302, 403, 404, 405)
    assert snapshot() == before


@pytest.mark.parametrize("name", sorted(OPERATOR_READ))
def test_operator_pages_refuse_the_others(name: str, world: World, viewer: User, operator: User) -> None:
    route = next(r for r in ROUTES if r.name == name)
    url = url_of(route, world)
    before = snapshot()
    assert refused(Client().get(url))
    assert login(viewer).get(url).status_code == 403
    assert login(operator).get(url).status_code == 200
    assert refused(login(operator).post(url, {"confirm": "reset"}))
    assert snapshot() == before


@pytest.mark.parametrize("name", sorted(ADMIN_READ))
def test_admin_pages_refuse_non_admins(name: str, world: World, viewer: User, operator: User) -> None:
    route = next(r for r in ROUTES if r.name == name)
    url = url_of(route, world)
    assert refused(Client().get(url))
    assert login(viewer).get(url).status_code == 403
    assert login(operator).get(url).status_code == 403


# --- 2. CSRF --------------------------------------------------------------------------------


def csrf_client(user: User) -> Client:
    c = Client(enforce_csrf_checks=True)
    c.force_login(user)
    return c


@pytest.mark.parametrize("route", CHANGING, ids=lambda r: r.name or r.route)
def test_forms_refuse_a_post_without_the_csrf_token(
    route: Route, world: World, operator: User, admin_user: User
) -> None:
    url = url_of(route, world)
    user = admin_user if route.route.startswith("site/") else operator
    before = snapshot()
    r = csrf_client(user).post(url, world.post.get(route.name, {}))
    assert r.status_code == 403, f"POST {url} without a CSRF token: {r.status_code}"
    assert b"CSRF" in r.content
    assert snapshot() == before


@pytest.mark.parametrize("name", sorted(READ_POSTS))
def test_read_posts_change_nothing_and_need_the_csrf_token(name: str, world: World, viewer: User) -> None:
    route = next(r for r in ROUTES if r.name == name)
    url = url_of(route, world)
    before = snapshot()
    assert Client().get(url).status_code == 405
    assert csrf_client(viewer).post(url, {"q": "v1"}).status_code == 403
    for client in (Client(), login(viewer)):
        assert client.post(url, {"q": "v1"}).status_code in (200, 302, 404)
    assert snapshot() == before


def test_the_htmx_csrf_header_is_accepted(world: World, operator: User) -> None:
    """The pages send the token as X-CSRFToken (base.html hx-headers): that path works."""
    c = csrf_client(operator)
    page = c.get("/topics/t1/produce/")
    token = c.cookies[django_settings.CSRF_COOKIE_NAME].value
    assert page.status_code == 200
    before = get_cluster().describe_topic("t1").records
    r = c.post("/topics/t1/produce/", world.post["produce"], HTTP_X_CSRFTOKEN=token, HTTP_HX_REQUEST="true")
    assert r.status_code == 200
    assert get_cluster().describe_topic("t1").records == before + 1


def test_login_form_needs_the_csrf_token(world: World) -> None:
    r = Client(enforce_csrf_checks=True).post("/login/", {"username": "ada", "password": "pw-ada"})
    assert r.status_code == 403


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/topics", {"name": "via-cookie", "partitions": 1}),
        ("post", "/api/topics/t1/records", {"value": "x"}),
        ("post", "/api/groups/g1/offsets", {"offsets": [{"topic": "t1", "partition": 0, "offset": 5}]}),
        ("delete", "/api/groups/g1", None),
        ("delete", "/api/topics/t1", None),
        ("post", "/api/groups/g1/reset", {"scenario": "to-latest", "scope": "all", "execute": True}),
    ],
)
def test_api_refuses_cookie_sessions(
    world: World, admin_user: User, method: str, path: str, body: dict[str, Any] | None
) -> None:
    """A logged-in browser's cookie is no API credential: a forged cross-site request gets 401."""
    before = snapshot()
    c = login(admin_user)
    r = getattr(c, method)(path, json.dumps(body) if body else "", content_type="application/json")
    assert r.status_code == 401
    assert r["Content-Type"] == "application/json"
    assert snapshot() == before


# --- 8. workshop mode -------------------------------------------------------------------------


@pytest.fixture
def workshop(settings: Any) -> None:
    settings.OFFSETSITE = {**settings.OFFSETSITE, "WORKSHOP": True}


# Producing and joining the room are what workshop mode opens to anonymous visitors
# (joining starts their own checker only: tests/web/test_room.py).
@pytest.mark.parametrize(
    "route", [r for r in CHANGING if r.name not in ("produce", "lab_room_join")], ids=lambda r: r.name or r.route
)
def test_workshop_visitors_change_nothing_of_others(route: Route, world: World, workshop: None) -> None:
    """Anonymous in workshop mode: only producing, and groups of their own (g1 is not)."""
    url = url_of(route, world)
    data = dict(world.post.get(route.name, {}))
    if route.name == "consume":
        data["group_id"] = "g1"  # naming someone else's group in the start form
    before = snapshot()
    visitor = Client()
    r = visitor.post(url, data)
    assert refused(r), f"workshop visitor POST {url}: {r.status_code}"
    assert snapshot() == before


def test_workshop_visitor_keeps_to_their_own_group(world: World, workshop: None) -> None:
    alice, bob = Client(), Client()
    data = {**world.post["consume"], "group_id": "alices"}
    r = alice.post("/consume/", data)
    assert r.status_code == 200, r.content[:500]
    mine = get_cluster().committed_offsets("alices")
    assert mine
    # Alice may commit in her group; Bob may not, nor consume in it.
    assert alice.post("/groups/alices/commit/", {**world.post["group_commit"], "offset": "1"}).status_code == 200
    before = snapshot()
    assert bob.post("/groups/alices/commit/", world.post["group_commit"]).status_code == 403
    assert bob.post("/groups/alices/consume/", world.post["group_consume"]).status_code == 403
    assert bob.post("/consume/", data).status_code == 403
    # Not even Alice resets, undoes or deletes, her own group included.
    for path, form in (
        ("/groups/alices/reset/", _reset_form("alices")),
        ("/groups/alices/undo/", {}),
        ("/groups/alices/delete-offsets/", {"partitions": "t1:0", "confirm": "on"}),
        ("/groups/alices/delete/", {"confirm_group_id": "alices"}),
        ("/topics/t1/delete/", {"confirm": "t1"}),
    ):
        assert refused(alice.post(path, form)), path
    assert snapshot() == before


@pytest.mark.parametrize("who", ["workshop", "operator", "admin"])
def test_nobody_produces_into_consumer_offsets_from_the_web(
    world: World, settings: Any, operator: User, admin_user: User, who: str
) -> None:
    settings.OFFSETSITE = {**settings.OFFSETSITE, "WORKSHOP": True}
    client = {"workshop": Client(), "operator": login(operator), "admin": login(admin_user)}[who]
    hw = [p.high_watermark for p in get_cluster().describe_topic(OFFSETS).partitions]
    data = {**world.post["produce"], "partition": "0"}
    htmx: list[dict[str, Any]] = [{}, {"HTTP_HX_REQUEST": "true"}]
    for extra in htmx:
        r = client.post(f"/topics/{OFFSETS}/produce/", data, **extra)
        assert r.status_code == 403
    r = client.post(f"/topics/{OFFSETS}/produce/", {**data, "count": "50", "rate": "100"})
    assert r.status_code == 403
    bursts_done()
    assert [p.high_watermark for p in get_cluster().describe_topic(OFFSETS).partitions] == hw
    # Reading it is fine.
    assert client.get(f"/topics/{OFFSETS}/").status_code == 200
    assert client.get("/consumer-offsets/").status_code == 200


def api_client(user: User) -> tuple[Client, dict[str, Any]]:
    _, raw = ApiToken.issue(user, name="review")
    return Client(), {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def test_nobody_produces_into_consumer_offsets_through_the_api(world: World, admin_user: User) -> None:
    c, auth = api_client(admin_user)
    hw = [p.high_watermark for p in get_cluster().describe_topic(OFFSETS).partitions]
    for body in (
        {"key": "k", "value": "x", "partition": 0},
        {"records": [{"key": "k", "value": "x"}, {"key": "k", "value": {"base64": "eQ=="}, "partition": 1}]},
    ):
        r = c.post(f"/api/topics/{OFFSETS}/records", json.dumps(body), content_type="application/json", **auth)
        assert r.status_code in (400, 403), r.content
        assert r.json()["error"]["code"] in ("INVALID_TOPIC_EXCEPTION", "FORBIDDEN"), r.content
        assert "internal" in r.json()["error"]["message"]
    assert [p.high_watermark for p in get_cluster().describe_topic(OFFSETS).partitions] == hw
    assert not AuditEntry.objects.filter(topic=OFFSETS).exists()
    # Reading it is fine.
    r = c.get(f"/api/topics/{OFFSETS}/partitions/0/records", **auth)
    assert r.status_code == 200
    r = c.delete(f"/api/topics/{OFFSETS}", **auth)
    assert r.status_code == 400 and OFFSETS in get_cluster().list_topics()


# --- 3. hostile payloads in every name and byte a visitor can choose ---------------------------

SCRIPT = '"><script>window.__x=1</script>'
IMG = "<img src=x onerror=alert(1)>"
EVIL = f"{SCRIPT}{IMG}{{{{7*7}}}}\u2028'"
# Group ids travel in page paths, where "/" cannot: the same payload without "</script>".
EVIL_GID = EVIL.replace("</script>", "")
JS_URL = "javascript:alert(1)"
URL_ATTRS = {"href", "src", "action", "formaction", "ws-connect", "hx-get", "hx-post", "data-lag-url", "xlink:href"}


class _Hostile(HTMLParser):
    """Collects what a browser would run: script elements with inline code, on* handlers,
    javascript: URLs in attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}={value!r}>")
            if name in URL_ATTRS and (value or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}={value!r}>")
        if tag == "script":
            self._inline_script = not any(n == "src" for n, _ in attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._inline_script = False

    def handle_data(self, data: str) -> None:
        if self._inline_script and data.strip():
            self.problems.append(f"inline script: {data[:80]!r}")


def hostile(html: str) -> list[str]:
    parser = _Hostile()
    parser.feed(html)
    parser.close()
    return parser.problems


def test_the_checker_catches_what_autoescape_would_stop() -> None:
    assert hostile(f"<p>{EVIL}</p>")
    assert hostile(f'<a href="{JS_URL}">x</a>')
    from django.utils.html import escape

    assert not hostile(f"<p>{escape(EVIL)}</p>")


@pytest.fixture
def hostile_world(engine_dir: Path, admin_user: User) -> Iterator[dict[str, Any]]:
    """Every free-text field the site shows, holding the payloads."""
    from logcore.consumer import Consumer
    from offsetsite.core import audit
    from offsetsite.live.models import GroupEvent

    cluster = get_cluster()
    engine.embedded().coordinator.initial_rebalance_delay_ms = 0
    cluster.create_topic("xss", 1)
    for value in (EVIL, json.dumps({"a": EVIL, "b": JS_URL})):
        cluster.produce("xss", value.encode(), key=EVIL.encode(), headers=((EVIL, EVIL.encode()),), partition=0)
    cluster.produce("xss", b"\xff\xfe<script>window.__x=1</script>", key=b"\x00<img src=x onerror=alert(1)>")
    for gid in (EVIL_GID, EVIL, JS_URL):
        from logcore.groups import OffsetAndMetadata

        cluster.commit_offsets(gid, {("xss", 0): OffsetAndMetadata(1, EVIL)})
    evil_user = User.objects.create_user(username=EVIL[:150], password="pw-evil-123")
    ApiToken.issue(evil_user, name=EVIL[:100])
    from django.utils import timezone

    GroupEvent.objects.create(group_id=EVIL_GID, at=timezone.now(), kind="commit", summary=EVIL)
    audit.log(
        audit.Actor(None, audit.Source.WEB),
        audit.Action.RECORDS_PRODUCE,
        cluster=EVIL[:100],
        topic="xss",
        group_id=EVIL_GID,
        summary=EVIL,
        details={"note": EVIL},
    )
    with engine.locked():
        member = Consumer(engine.embedded(), "hosts", client_id=EVIL, client_host=EVIL, enable_auto_commit=False)
        member.subscribe(["xss"])
    for _ in range(200):
        with engine.locked():
            member.poll(0)
            if member._joined and not member._needs_join and not member._awaiting_sync:
                break
        time.sleep(0.005)
    with engine.locked():
        member.commit({("xss", 0): OffsetAndMetadata(2, EVIL)})
    try:
        yield {"user": evil_user}
    finally:
        with engine.locked():
            member.close(autocommit=False)


def _g(gid: str, suffix: str = "") -> str:
    return f"/groups/{quote(gid, safe='')}/{suffix}"


def hostile_pages(evil_user_id: int) -> list[str]:
    pages = [
        "/",
        "/?q=" + quote(EVIL),
        "/?state=" + quote(EVIL) + "&sort=" + quote(EVIL),
        "/topics/xss/",
        "/topics/xss/?p=" + quote(EVIL) + "&size=" + quote(EVIL) + "&time=" + quote(EVIL),
        "/topics/xss/records/?offset=0",
        "/consumer-offsets/",
        "/consumer-offsets/?p=" + quote(EVIL) + "&before=" + quote(EVIL),
        "/audit/",
        "/audit/?group=" + quote(EVIL[:30]) + "&action=" + quote(EVIL),
        "/site/users/",
        f"/site/users/{evil_user_id}/",
        _g("hosts"),
        _g("no-such-" + EVIL_GID),
    ]
    for mode in ("text", "json", "hex", "base64"):
        pages.append(f"/topics/xss/?offset=0&view={mode}")
    for gid in (EVIL_GID, EVIL, JS_URL):
        pages += [_g(gid), *(_g(gid, s) for s in ("consume/", "commit/", "reset/", "delete-offsets/", "delete/"))]
    return pages


def test_pages_escape_every_payload(hostile_world: dict[str, Any], admin_user: User) -> None:
    client = login(admin_user)
    shown = 0
    for url in hostile_pages(hostile_world["user"].pk):
        r = client.get(url)
        assert r.status_code in (200, 404), f"{url}: {r.status_code}"
        html = r.content.decode()
        assert not hostile(html), f"{url}: {hostile(html)}"
        assert "window.__x=1</script>" not in html.replace("&lt;/script&gt;", "")
        shown += "&lt;script&gt;window.__x=1&lt;/script&gt;" in html
    assert shown >= 15, "the payloads should appear (escaped) on most pages"


def test_htmx_fragments_escape_every_payload(hostile_world: dict[str, Any], admin_user: User) -> None:
    client = login(admin_user)
    for url in ("/topics/xss/records/?offset=0", "/?q=" + quote(EVIL), _g(EVIL_GID, "commit/"), _g(EVIL_GID, "reset/")):
        r = client.get(url, HTTP_HX_REQUEST="true")
        assert r.status_code == 200
        assert not hostile(r.content.decode()), url
    # A refused form echoes its input.
    bad = {"topic": EVIL, "partition": EVIL, "offset": EVIL, "metadata": EVIL}
    r = client.post(_g(EVIL_GID, "commit/"), bad, HTTP_HX_REQUEST="true")
    assert r.status_code == 422 and not hostile(r.content.decode())
    r = client.post("/consume/", {"group_id": EVIL + "\n", "client_id": EVIL, "topics": EVIL, "max_records": EVIL})
    assert r.status_code == 422 and not hostile(r.content.decode())
    r = client.post("/topics/new/", {"name": EVIL, "partitions": "1", "config": EVIL})
    assert r.status_code == 400 and not hostile(r.content.decode())


def test_live_frames_escape_every_payload(hostile_world: dict[str, Any], admin_user: User) -> None:
    from django.contrib.auth.models import AnonymousUser

    from offsetsite.live import registry
    from offsetsite.live.renders import render_html

    for user in (AnonymousUser(), admin_user):
        for kind, key in (
            ("overview", ""),
            ("overview", "q=" + quote(EVIL) + "&sort=" + quote(EVIL)),
            ("topic", "xss"),
            ("group", EVIL_GID),
            ("group", "hosts"),
            ("group", "gone-" + EVIL),
            ("consumer_offsets", ""),
        ):
            assert registry.get(kind) is not None, f"no renderer for {kind}"
            html = render_html(kind, key, user)
            assert html, (kind, key)
            assert not hostile(html), f"{kind} {key!r}: {hostile(html)}"


def test_live_socket_tag_escapes_its_key(hostile_world: dict[str, Any]) -> None:
    from django.template import Context, Template

    html = Template("{% load live %}{% live_socket kind key %}{% lag_chart key %}{% group_timeline key %}").render(
        Context({"kind": "group", "key": EVIL_GID})
    )
    assert not hostile(html)
    assert "&lt;script&gt;" in html


def test_json_endpoints_are_json(hostile_world: dict[str, Any], admin_user: User) -> None:
    client = login(admin_user)
    api, auth = api_client(admin_user)
    for c, url, extra in (
        (client, _g(EVIL_GID, "lag.json"), {}),
        (client, _g(EVIL_GID, "lag.json") + "?range=" + quote(EVIL), {}),
        (api, "/api/groups", auth),
        (api, "/api/group?id=" + quote(EVIL), auth),
        (api, "/api/group/offsets?id=" + quote(EVIL_GID), auth),
        (api, "/api/topics/xss/partitions/0/records?offset=0", auth),
        (api, "/api/audit", auth),
        (api, "/api/nothing/" + quote(EVIL), auth),
    ):
        r = c.get(url, **extra)
        assert r["Content-Type"] == "application/json", url
        assert r["X-Content-Type-Options"] == "nosniff"
        body = r.content.decode()
        json.loads(body)
        # application/json with nosniff is never rendered as HTML; U+2028 goes out escaped.
        assert "\u2028" not in body, url
    r = api.get("/api/group?id=" + quote(EVIL), **auth)
    assert r.json()["group_id"] == EVIL


def test_audit_csv_neutralises_formulas(hostile_world: dict[str, Any], admin_user: User) -> None:
    from offsetsite.core import audit

    audit.log(
        audit.Actor(None, audit.Source.WEB),
        audit.Action.RECORDS_PRODUCE,
        cluster="local",
        topic="xss",
        summary='=HYPERLINK("http://evil")',
    )
    r = login(admin_user).get("/audit.csv")
    body = b"".join(r.streaming_content).decode()  # type: ignore[attr-defined]
    assert "'=HYPERLINK" in body
    assert r["Content-Type"].startswith("text/csv")


# --- 4. websockets ------------------------------------------------------------------------------

ORIGIN = (b"origin", b"http://localhost")
HOST = (b"host", b"localhost")


def _session_cookie(user: User) -> tuple[Client, bytes]:
    client = login(user)
    cookie = f"{django_settings.SESSION_COOKIE_NAME}={client.cookies[django_settings.SESSION_COOKIE_NAME].value}"
    return client, cookie.encode()


async def _open(path: str, headers: list[tuple[bytes, bytes]]) -> Any:
    from channels.testing import WebsocketCommunicator

    from offsetsite.asgi import application

    comm = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await comm.connect()
    return comm, connected


ws = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


@pytest.mark.parametrize(
    "origin",
    [b"http://evil.example", b"null", b"http://localhost.evil.example", b"file://", b"http://127.0.0.1.nip.io"],
)
@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_websockets_refuse_foreign_origins(engine_dir: Path, origin: bytes) -> None:
    for path in ("/ws/overview/", "/ws/topic/t1/", "/ws/group/g1/", "/ws/consumer-offsets/"):
        comm, connected = await _open(path, [(b"origin", origin), HOST])
        assert not connected, (path, origin)
        await comm.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_websockets_refuse_a_missing_origin(engine_dir: Path) -> None:
    # Browsers always send Origin on a websocket; a script without one is refused too.
    comm, connected = await _open("/ws/group/g1/", [])
    assert not connected
    await comm.disconnect()


async def _closed_with(comm: Any, code: int) -> None:
    out = await comm.receive_output(timeout=5)
    while out["type"] == "websocket.send":
        out = await comm.receive_output(timeout=5)
    assert out == {"type": "websocket.close", "code": code}


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_read_login_refuses_anonymous_and_logged_out_sockets(
    engine_dir: Path, settings: Any, operator: User
) -> None:
    from asgiref.sync import sync_to_async

    settings.OFFSETSITE = {**settings.OFFSETSITE, "READ_LOGIN": True}
    for path in ("/ws/overview/", "/ws/topic/t1/", "/ws/group/g1/", "/ws/consumer-offsets/"):
        comm, connected = await _open(path, [ORIGIN, HOST])
        assert connected
        await _closed_with(comm, 4401)
        await comm.disconnect()
    # A session that logged out is anonymous: its cookie opens nothing.
    client, cookie = await sync_to_async(_session_cookie)(operator)
    await sync_to_async(client.post)("/logout/")
    comm, connected = await _open("/ws/topic/t1/", [ORIGIN, HOST, (b"cookie", cookie)])
    assert connected
    await _closed_with(comm, 4401)
    await comm.disconnect()


@pytest.mark.parametrize("how", ["logout", "deactivate", "password"])
@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_an_open_socket_closes_when_its_session_ends(
    engine_dir: Path, settings: Any, monkeypatch: pytest.MonkeyPatch, operator: User, how: str
) -> None:
    """With reads behind a login, a socket opened while logged in stops once the login ends."""
    from asgiref.sync import sync_to_async

    from offsetsite.live import consumers

    monkeypatch.setattr(consumers, "SESSION_CHECK_S", 0.1)
    settings.OFFSETSITE = {**settings.OFFSETSITE, "READ_LOGIN": True}
    client, cookie = await sync_to_async(_session_cookie)(operator)
    comm, connected = await _open("/ws/overview/", [ORIGIN, HOST, (b"cookie", cookie)])
    assert connected
    first = await comm.receive_output(timeout=5)
    assert first["type"] == "websocket.send"

    def end() -> None:
        if how == "logout":
            client.post("/logout/")
        elif how == "deactivate":
            User.objects.filter(pk=operator.pk).update(is_active=False)
        else:
            operator.set_password("another-pw-123")
            operator.save()

    await sync_to_async(end)()
    await _closed_with(comm, 4401)
    await comm.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_socket_stays_open_while_its_session_lasts(
    engine_dir: Path, settings: Any, monkeypatch: pytest.MonkeyPatch, operator: User
) -> None:
    from asgiref.sync import sync_to_async

    from offsetsite.live import consumers

    monkeypatch.setattr(consumers, "SESSION_CHECK_S", 0.1)
    settings.OFFSETSITE = {**settings.OFFSETSITE, "READ_LOGIN": True}
    _, cookie = await sync_to_async(_session_cookie)(operator)
    comm, connected = await _open("/ws/overview/", [ORIGIN, HOST, (b"cookie", cookie)])
    assert connected
    assert (await comm.receive_output(timeout=5))["type"] == "websocket.send"
    assert await comm.receive_nothing(timeout=0.6)
    await comm.disconnect()


ODD_IDS = [
    "g" * 60,
    "g" * 61,
    "g" * 5000,
    "grüppe-日本語",
    "a.b.c",
    "..",
    ".",
    "n.x",
    "h." + "0" * 40,
    "with space",
    "emoji-\U0001f682",
    "\ud800-lone-surrogate",
    EVIL_GID,
]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_group_sockets_for_odd_ids_connect(engine_dir: Path) -> None:
    for gid in ["g" * 300, "grüppe-日本語", "a.b.c", "with space", EVIL_GID]:
        comm, connected = await _open("/ws/group/" + gid + "/", [ORIGIN, HOST])
        assert connected, gid
        frame = await comm.receive_from(timeout=5)
        assert 'id="live-version"' in frame
        assert not hostile(frame), gid
        await comm.disconnect()


# --- 5. limits ----------------------------------------------------------------------------------


def test_a_burst_above_the_caps_is_refused(world: World, operator: User, settings: Any) -> None:
    settings.OFFSETSITE = {**settings.OFFSETSITE, "BURST_MAX_RECORDS": 100, "BURST_MAX_RATE": 50}
    SiteSettings.objects.update_or_create(pk=SiteSettings.SINGLETON_PK, defaults={"burst_max_records": 1_000_000})
    c = login(operator)
    before = snapshot()
    for count, rate in (("101", "10"), ("10", "51"), ("1000000000000", "10"), ("10", "99999999999")):
        r = c.post("/topics/t1/produce/", {**world.post["produce"], "count": count, "rate": rate})
        assert r.status_code == 400, (count, rate)
        assert b"at most" in r.content
    assert snapshot() == before
    # The API: a list longer than the records cap is refused whole.
    api, auth = api_client(operator)
    body = {"records": [{"value": "x"}] * 101}
    r = api.post("/api/topics/t1/records", json.dumps(body), content_type="application/json", **auth)
    assert r.status_code == 400 and "at most 100" in r.json()["error"]["message"]
    assert snapshot()["topics"] == before["topics"]


def test_running_bursts_are_limited(world: World, settings: Any) -> None:
    """Every burst is a thread: a workshop visitor may not start them without end."""
    settings.OFFSETSITE = {**settings.OFFSETSITE, "WORKSHOP": True}
    visitor = Client()
    started = 0
    try:
        for _ in range(bursts.MAX_RUNNING + 3):
            r = visitor.post("/topics/t1/produce/", {**world.post["produce"], "count": "10000", "rate": "1"})
            if r.status_code == 302:
                started += 1
            else:
                assert r.status_code == 400 and b"bursts are running" in r.content
        assert started == bursts.MAX_RUNNING
        assert len(bursts.running()) == bursts.MAX_RUNNING
    finally:
        for b in bursts.running():
            b.stop()
        bursts_done()


def test_huge_form_fields_get_a_clear_400(world: World, operator: User) -> None:
    before = snapshot()
    c = login(operator)
    big = "x" * (10 * 1024 * 1024)
    for path, data in (
        ("/topics/t1/produce/", {**world.post["produce"], "value": big}),
        ("/groups/g1/commit/", {**world.post["group_commit"], "metadata": big}),
        ("/login/", {"username": big, "password": "x"}),
    ):
        r = c.post(path, data)
        assert r.status_code == 400, path
        assert b"too large" in r.content, r.content[:300]
        r = c.post(path, data, HTTP_HX_REQUEST="true")
        assert r.status_code == 400
    assert snapshot() == before
    # Just under the form's own limit: the field's message, not the request's.
    r = c.post("/topics/t1/produce/", {**world.post["produce"], "value": "y" * 1_000_001})
    assert r.status_code == 400 and b"at most 1000000 characters" in r.content


def test_page_sizes_and_counts_are_capped(world: World, operator: User) -> None:
    cluster = get_cluster()
    for i in range(600):
        cluster.produce("t1", b"r%d" % i, partition=0)
    c = login(operator)
    r = c.get("/topics/t1/?p=0&offset=0&size=100000")
    assert r.status_code == 200
    assert "A page holds 1 to 500 records" in r.content.decode()
    assert len(r.context["page"].rows) <= 500
    odd = ("\u00b2", "\u0663", "1e3", " 7 ", "0x10")  # a superscript two passes str.isdigit but not int()
    for q in (
        "size=-5",
        "offset=-1",
        "offset=" + "9" * 5000,
        "offset=" + "9" * 100,
        "p=99999999999999999999",
        *(f"{k}={quote(v)}" for k in ("p", "size", "offset", "time") for v in (*odd, "9" * 5000)),
    ):
        assert c.get("/topics/t1/?" + q).status_code == 200, q
        assert c.get("/topics/t1/records/?" + q).status_code == 200, q
    for q in (
        "size=100000",
        "size=0",
        "p=-1",
        "before=" + "9" * 5000,
        "before=0:" + "9" * 100,
        *(f"{k}={quote(v)}" for k in ("p", "size", "before") for v in odd),
    ):
        assert c.get("/consumer-offsets/?" + q).status_code == 200, q
    for q in (
        "page=" + "9" * 5000,
        "page=-1",
        "tpage=99999999999",
        "sort=" + "x" * 10000,
        *(f"{k}={quote(v)}" for k in ("page", "tpage") for v in odd),
    ):
        assert c.get("/?" + q).status_code == 200, q
    for v in ("9" * 5000, *odd):
        assert c.get("/audit/?page=" + quote(v)).status_code == 200, v
    # Consume N: at most 500.
    before = snapshot()
    for v in (*odd, "9" * 5000):
        r = c.post("/topics/t1/produce/", {**world.post["produce"], "partition": v, "count": v, "rate": v})
        assert r.status_code == 400, v
    r = c.post("/consume/", {**world.post["consume"], "max_records": "501"})
    assert r.status_code == 422 and b"500" in r.content
    assert snapshot() == before
    # The API reads at most 1000 records.
    api, auth = api_client(operator)
    r = api.get("/api/topics/t1/partitions/0/records?offset=0&limit=1001", **auth)
    assert r.status_code == 400
    r = api.get("/api/topics/t1/partitions/0/records?offset=" + "9" * 100, **auth)
    assert r.status_code in (200, 400)


def test_api_body_limit(world: World, operator: User) -> None:
    api, auth = api_client(operator)
    before = snapshot()
    body = json.dumps({"records": [{"key": "k", "value": "v" * 1000}] * 3000})
    assert len(body) > 2 * 1024 * 1024
    r = api.post("/api/topics/t1/records", body, content_type="application/json", **auth)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert snapshot() == before


# --- 6. open redirects -----------------------------------------------------------------------

FOREIGN_NEXT = [
    "//evil.example/",
    "https://evil.example/",
    "/\\evil.example",
    "\\\\evil.example",
    "javascript:alert(1)",
    "http:evil.example",
    "https:/evil.example",
    " //evil.example",
    "///evil.example",
]
# Local, however odd it looks: a browser reads it as this site's path "/%2F/evil.example".
LOCAL_LOOKING = "/%2F/evil.example"


@pytest.mark.parametrize("target", FOREIGN_NEXT)
def test_login_never_redirects_off_site(target: str, admin_user: User) -> None:
    c = Client()
    page = c.get("/login/?next=" + quote(target))
    assert page.status_code == 200
    assert f'value="{target}"' not in page.content.decode()
    r = c.post("/login/", {"username": "ada", "password": "pw-ada", "next": target})
    assert r.status_code == 302 and r["Location"] == "/", r["Location"]
    assert r.status_code == 302
    location = r["Location"]
    assert location.startswith("/") and not location.startswith(("//", "/\\")), location
    r = c.post("/logout/", {"next": target})
    assert r.status_code == 302
    assert r["Location"].startswith("/") and not r["Location"].startswith(("//", "/\\"))


def test_login_follows_a_local_next(admin_user: User) -> None:
    r = Client().post("/login/", {"username": "ada", "password": "pw-ada", "next": "/audit/?user=ada"})
    assert r["Location"] == "/audit/?user=ada"


def test_login_follows_an_odd_but_local_next(admin_user: User) -> None:
    r = Client().post("/login/", {"username": "ada", "password": "pw-ada", "next": LOCAL_LOOKING})
    assert r["Location"] == LOCAL_LOOKING


def test_login_redirects_carry_the_path_not_the_host(engine_dir: Path, db: None) -> None:
    r = Client().get("/topics/new/?x=1", HTTP_HOST="localhost")
    assert r.status_code == 302
    assert r["Location"].startswith("/login/?next=")


def test_no_view_redirects_to_user_input(world: World, operator: User, viewer: User) -> None:
    """Every redirect a page answers goes to this site, whatever the query or form says."""
    c = login(operator)
    hostile = {"next": "//evil.example/", "return": "https://evil.example", "url": "https://evil.example"}
    responses = [
        c.post("/topics/t1/produce/?next=//evil.example/", {**world.post["produce"], **hostile}),
        c.post("/topics/new/?next=//evil.example/", {**world.post["topic_create"], **hostile}),
        login(viewer).get("/site/users/?next=//evil.example/"),
        Client().get("/consume/?next=//evil.example/"),
    ]
    for r in responses:
        if r.status_code == 302:
            assert r["Location"].startswith("/") and not r["Location"].startswith("//"), r["Location"]


# --- 7. headers and deployment -----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/topics/t1/", "/login/", "/consumer-offsets/", "/groups/g1/"])
def test_security_headers(world: World, path: str) -> None:
    r = Client().get(path)
    assert r.status_code == 200
    assert r["X-Frame-Options"] == "DENY"
    assert r["X-Content-Type-Options"] == "nosniff"
    assert r["Referrer-Policy"] == "same-origin"
    assert r["Cross-Origin-Opener-Policy"] == "same-origin"
    csp = r["Content-Security-Policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"):
        assert directive in csp
    assert "unsafe-eval" not in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]


def test_api_and_error_responses_carry_the_headers(world: World) -> None:
    for r in (Client().get("/api/topics"), Client().get("/topics/nope/"), Client().get("/metrics")):
        assert r["X-Frame-Options"] == "DENY"
        assert r["X-Content-Type-Options"] == "nosniff"


def test_cookies(admin_user: User) -> None:
    c = Client()
    c.get("/login/")
    csrf = c.cookies[django_settings.CSRF_COOKIE_NAME]
    assert csrf["samesite"] == "Lax"
    r = c.post("/login/", {"username": "ada", "password": "pw-ada", "csrfmiddlewaretoken": csrf.value})
    assert r.status_code == 302
    session = c.cookies[django_settings.SESSION_COOKIE_NAME]
    assert session["httponly"] is True
    assert session["samesite"] == "Lax"


def _settings_with(env: dict[str, str]) -> dict[str, Any]:
    """Import the settings module afresh under ``env`` and return its upper-case names."""
    import subprocess
    import sys

    code = (
        "import json, offsetsite.settings as s; "
        "print(json.dumps({k: getattr(s, k) for k in dir(s) if k.isupper()}, default=str))"
    )
    import os

    out = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def test_https_deployment_settings() -> None:
    plain = _settings_with({})
    assert plain["SESSION_COOKIE_SECURE"] is False and plain["SECURE_SSL_REDIRECT"] is False
    tls = _settings_with({"OFFSETSITE_HTTPS": "1"})
    assert tls["SESSION_COOKIE_SECURE"] is True
    assert tls["CSRF_COOKIE_SECURE"] is True
    assert tls["SECURE_SSL_REDIRECT"] is True
    assert tls["SECURE_HSTS_SECONDS"] > 0
    assert tls["SECURE_PROXY_SSL_HEADER"] is None  # trusting a proxy header is its own switch
    proxied = _settings_with({"OFFSETSITE_HTTPS": "1", "OFFSETSITE_BEHIND_PROXY": "1", "OFFSETSITE_HSTS_SECONDS": "60"})
    assert proxied["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert proxied["SECURE_HSTS_SECONDS"] == 60


@pytest.mark.slow
def test_check_deploy_is_clean_behind_tls(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "OFFSETSITE_HTTPS": "1",
        "OFFSETSITE_HSTS_SUBDOMAINS": "1",
        "OFFSETSITE_HSTS_PRELOAD": "1",
        "OFFSETSITE_SECRET_KEY": "k" * 60 + "-a-long-random-enough-secret-key-for-the-check",
        "OFFSETSITE_VAR": str(tmp_path),
    }
    manage = Path(__file__).resolve().parents[2] / "manage.py"
    out = subprocess.run(
        [sys.executable, str(manage), "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no issues" in out.stdout
    # Without the two opt-ins, only their two warnings remain.
    env.pop("OFFSETSITE_HSTS_SUBDOMAINS")
    env.pop("OFFSETSITE_HSTS_PRELOAD")
    out = subprocess.run([sys.executable, str(manage), "check", "--deploy"], env=env, capture_output=True, text=True)
    found = set(re.findall(r"security\.W\d+", out.stdout + out.stderr))
    assert found == {"security.W005", "security.W021"}, out.stdout + out.stderr


# --- audit rows for names longer than their columns ---------------------------------------------


def test_long_group_ids_fit_the_audit_log(world: World, operator: User) -> None:
    """The API takes group ids up to 1000 characters; the audit column holds 255. PostgreSQL
    would refuse the row after the commit was made (a 500 for a change that happened)."""
    from offsetsite.api.params import MAX_GROUP_ID

    gid = "g" * MAX_GROUP_ID
    api, auth = api_client(operator)
    body = {"offsets": [{"topic": "t1", "partition": 0, "offset": 1}]}
    r = api.post("/api/group/offsets?id=" + gid, json.dumps(body), content_type="application/json", **auth)
    assert r.status_code == 200
    entry = AuditEntry.objects.get(action="offsets.commit")
    limit = AuditEntry._meta.get_field("group_id").max_length
    assert limit is not None and len(entry.group_id) <= limit
    assert entry.details["group_id"] == gid  # the whole id is kept in the details
