"""The admin pages: users, roles, last-admin protection, API tokens, runtime site settings."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from offsetsite.api.models import ApiToken
from offsetsite.core import site_settings
from offsetsite.core.models import AuditEntry, SiteSettings
from offsetsite.core.roles import role_of
from offsetsite.engine import get_cluster

from .conftest import make_user

XSS = "<script>alert(1)</script>"
STRONG = "correct-horse-battery"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_settings_cache() -> Iterator[None]:
    # The runtime settings are cached per process; a rolled-back test row must not linger.
    site_settings.invalidate()
    yield
    site_settings.invalidate()


@pytest.fixture
def topic(engine_dir: Path) -> str:
    get_cluster().create_topic("orders", 1)
    return "orders"


def hw(topic: str) -> int:
    return get_cluster().describe_topic(topic).partitions[0].high_watermark


def produce_form(**overrides: Any) -> dict[str, str]:
    data = {"key": "", "value": "hello", "headers": "", "partition": "", "count": "1", "rate": "10"}
    data.update({k: str(v) for k, v in overrides.items()})
    return data


def create(client: Client, username: str, role: str, password: str = STRONG) -> Any:
    return client.post(
        "/site/users/new/", {"username": username, "password1": password, "password2": password, "role": role}
    )


def settings_form(**overrides: Any) -> dict[str, str]:
    data = {"workshop": "", "read_login": "", "burst_max_records": "", "burst_max_rate": ""}
    data.update({k: str(v) for k, v in overrides.items()})
    return data


# --- permissions --------------------------------------------------------------------------

ADMIN_GETS = ["/site/users/", "/site/settings/"]


@pytest.mark.parametrize("path", ADMIN_GETS)
def test_anonymous_goes_to_login(client: Client, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 302
    assert r["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("path", ADMIN_GETS)
def test_viewer_and_operator_get_403(viewer_client: Client, operator_client: Client, path: str) -> None:
    assert viewer_client.get(path).status_code == 403
    assert operator_client.get(path).status_code == 403


@pytest.mark.parametrize("path", ADMIN_GETS)
def test_admin_gets_the_pages(admin_client_: Client, path: str) -> None:
    r = admin_client_.get(path)
    assert r.status_code == 200
    assert 'href="/site/users/"' in r.content.decode()  # the nav link for admins


def test_nav_link_only_for_admins(viewer_client: Client, admin_client_: Client, engine_dir: Path) -> None:
    assert "Users &amp; settings" not in viewer_client.get("/").content.decode()
    assert "Users &amp; settings" in admin_client_.get("/").content.decode()


def test_operator_cannot_post_admin_changes(operator_client: Client, viewer: User) -> None:
    before = (role_of(viewer), viewer.is_active)
    assert create(operator_client, "mallory", "admin").status_code == 403
    assert operator_client.post(f"/site/users/{viewer.pk}/role/", {"role": "admin"}).status_code == 403
    assert operator_client.post(f"/site/users/{viewer.pk}/active/", {"active": "0"}).status_code == 403
    assert operator_client.post(f"/site/users/{viewer.pk}/tokens/", {"name": "x"}).status_code == 403
    assert operator_client.post("/site/settings/", settings_form(workshop="on")).status_code == 403
    viewer.refresh_from_db()
    assert (role_of(viewer), viewer.is_active) == before
    assert not User.objects.filter(username="mallory").exists()
    assert not ApiToken.objects.exists() and not SiteSettings.objects.exists()
    assert not AuditEntry.objects.exists()


def test_changes_are_post_only(admin_client_: Client, viewer: User) -> None:
    assert admin_client_.get("/site/users/new/").status_code == 405
    assert admin_client_.get(f"/site/users/{viewer.pk}/role/").status_code == 405
    assert admin_client_.get(f"/site/users/{viewer.pk}/active/").status_code == 405


# --- users --------------------------------------------------------------------------------


def test_users_list_shows_role_activity_and_tokens(admin_client_: Client, viewer: User, operator: User) -> None:
    ApiToken.issue(operator, name="ci")
    ApiToken.issue(operator, name="cron")
    User.objects.filter(pk=viewer.pk).update(is_active=False)
    html = admin_client_.get("/site/users/").content.decode()
    rows = {
        m.group(1): m.group(0)
        for m in re.finditer(r'<tr class="user-row[^"]*">\s*<td><a [^>]*>([^<]+)</a>.*?</tr>', html, re.S)
    }
    assert set(rows) == {"ada", "otto", "vera"}
    assert "operator" in rows["otto"] and '<td class="num">2</td>' in rows["otto"]
    assert "inactive" in rows["vera"] and "viewer" in rows["vera"]
    assert "never" in rows["vera"]  # last login


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_created_user_has_exactly_the_role(admin_client_: Client, topic: str, role: str) -> None:
    r = create(admin_client_, "newbie", role)
    assert r.status_code == 302
    user = User.objects.get(username="newbie")
    assert role_of(user) == role and not user.is_superuser and not user.is_staff
    entry = AuditEntry.objects.get(action="user.create")
    assert entry.username == "ada" and entry.details == {"target": "newbie", "role": role}
    assert "password" not in entry.summary.lower() and STRONG not in str(entry.details)

    c = Client()
    assert c.login(username="newbie", password=STRONG)
    # reading: everyone with a role
    assert c.get("/audit/").status_code == 200
    # producing: operators and admins
    produced = c.post("/topics/orders/produce/", produce_form())
    assert produced.status_code == (403 if role == "viewer" else 302)
    assert hw(topic) == (0 if role == "viewer" else 1)
    # administration: admins only
    assert c.get("/site/users/").status_code == (200 if role == "admin" else 403)


def test_create_user_rejects_weak_or_mismatched_passwords_and_duplicates(admin_client_: Client) -> None:
    r = create(admin_client_, "shorty", "viewer", password="abc")
    assert r.status_code == 400
    assert "too short" in r.content.decode()
    r = admin_client_.post(
        "/site/users/new/", {"username": "twice", "password1": STRONG, "password2": STRONG + "x", "role": "viewer"}
    )
    assert r.status_code == 400 and "The two password fields didn\u2019t match" in r.content.decode()
    r = create(admin_client_, "ada", "viewer")
    assert r.status_code == 400 and "already exists" in r.content.decode()
    r = create(admin_client_, "rooty", "superuser")
    assert r.status_code == 400 and "Select a valid choice" in r.content.decode()
    assert set(User.objects.values_list("username", flat=True)) == {"ada"}
    assert not AuditEntry.objects.exists()


def test_hostile_username_is_refused_on_create(admin_client_: Client) -> None:
    r = create(admin_client_, XSS, "viewer")
    assert r.status_code == 400
    html = r.content.decode()
    assert "Enter a valid username" in html
    assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # echoed back, escaped
    assert not User.objects.filter(username=XSS).exists()


def test_hostile_names_are_escaped_everywhere(admin_client_: Client, engine_dir: Path) -> None:
    # Usernames made outside these pages (createsuperuser, a remote auth backend) may hold anything.
    hostile = make_user(XSS, "viewer")
    assert XSS not in admin_client_.get("/site/users/").content.decode()
    r = admin_client_.post(f"/site/users/{hostile.pk}/tokens/", {"name": XSS})
    assert r.status_code == 200
    assert XSS not in r.content.decode() and "&lt;script&gt;" in r.content.decode()
    page = admin_client_.get(f"/site/users/{hostile.pk}/").content.decode()
    assert XSS not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    admin_client_.post(f"/site/users/{hostile.pk}/role/", {"role": "operator"})
    audit = admin_client_.get("/audit/").content.decode()
    assert XSS not in audit


def test_change_role(admin_client_: Client, viewer: User) -> None:
    r = admin_client_.post(f"/site/users/{viewer.pk}/role/", {"role": "operator"})
    assert r.status_code == 302
    viewer.refresh_from_db()
    assert role_of(viewer) == "operator"
    assert list(viewer.groups.values_list("name", flat=True)) == ["operator"]
    entry = AuditEntry.objects.get(action="user.role")
    assert entry.details == {"target": "vera", "before": "viewer", "after": "operator"}
    # a role that does not exist changes nothing
    r = admin_client_.post(f"/site/users/{viewer.pk}/role/", {"role": "root"})
    assert r.status_code == 400 and "Select a valid choice" in r.content.decode()
    viewer.refresh_from_db()
    assert role_of(viewer) == "operator"
    assert AuditEntry.objects.filter(action="user.role").count() == 1


def test_unknown_user_is_404(admin_client_: Client) -> None:
    assert admin_client_.get("/site/users/9999/").status_code == 404
    assert admin_client_.post("/site/users/9999/role/", {"role": "viewer"}).status_code == 404


def test_deactivate_and_reactivate(admin_client_: Client, operator: User, engine_dir: Path) -> None:
    _, raw = ApiToken.issue(operator)
    api = Client()
    assert api.get("/api/topics", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200
    assert admin_client_.post(f"/site/users/{operator.pk}/active/", {"active": "0"}).status_code == 302
    operator.refresh_from_db()
    assert not operator.is_active
    assert api.get("/api/topics", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401
    assert not Client().login(username="otto", password="pw-otto")
    assert admin_client_.post(f"/site/users/{operator.pk}/active/", {"active": "1"}).status_code == 302
    operator.refresh_from_db()
    assert operator.is_active
    assert list(AuditEntry.objects.order_by("id").values_list("action", flat=True)) == [
        "user.deactivate",
        "user.reactivate",
    ]
    r = admin_client_.post(f"/site/users/{operator.pk}/active/", {"active": "maybe"})
    assert r.status_code == 400 and "active must be 1" in r.content.decode()


def test_last_admin_cannot_demote_or_deactivate_themselves(admin_client_: Client, admin_user: User) -> None:
    r = admin_client_.post(f"/site/users/{admin_user.pk}/role/", {"role": "viewer"})
    assert r.status_code == 409
    assert "you are the last active admin" in r.content.decode()
    assert "Nothing was changed" in r.content.decode()
    r = admin_client_.post(f"/site/users/{admin_user.pk}/active/", {"active": "0"})
    assert r.status_code == 409
    assert "last active admin and cannot be deactivated" in r.content.decode()
    admin_user.refresh_from_db()
    assert role_of(admin_user) == "admin" and admin_user.is_active
    assert not AuditEntry.objects.exists()
    assert admin_client_.get("/site/users/").status_code == 200


def test_an_inactive_admin_does_not_count(admin_client_: Client, admin_user: User) -> None:
    other = make_user("grace", "admin")
    User.objects.filter(pk=other.pk).update(is_active=False)
    r = admin_client_.post(f"/site/users/{admin_user.pk}/role/", {"role": "operator"})
    assert r.status_code == 409
    admin_user.refresh_from_db()
    assert role_of(admin_user) == "admin"


def test_with_a_second_admin_an_admin_may_step_down(admin_client_: Client, admin_user: User) -> None:
    grace = make_user("grace", "admin")
    r = admin_client_.post(f"/site/users/{admin_user.pk}/role/", {"role": "operator"})
    assert r.status_code == 302
    admin_user.refresh_from_db()
    assert role_of(admin_user) == "operator"
    # now grace is the last one: her demotion by anyone is refused
    grace_client = Client()
    grace_client.force_login(grace)
    r = grace_client.post(f"/site/users/{grace.pk}/active/", {"active": "0"})
    assert r.status_code == 409
    grace.refresh_from_db()
    assert grace.is_active


def test_superuser_stays_admin(admin_client_: Client) -> None:
    root = User.objects.create_superuser("root", password="pw-root-long")
    r = admin_client_.post(f"/site/users/{root.pk}/role/", {"role": "viewer"})
    assert r.status_code == 409 and "superuser" in r.content.decode()
    root.refresh_from_db()
    assert role_of(root) == "admin"


def test_set_password(admin_client_: Client, viewer: User) -> None:
    r = admin_client_.post(f"/site/users/{viewer.pk}/password/", {"new_password1": "x", "new_password2": "x"})
    assert r.status_code == 400 and "too short" in r.content.decode()
    assert Client().login(username="vera", password="pw-vera")
    r = admin_client_.post(f"/site/users/{viewer.pk}/password/", {"new_password1": STRONG, "new_password2": STRONG})
    assert r.status_code == 302
    assert not Client().login(username="vera", password="pw-vera")
    assert Client().login(username="vera", password=STRONG)
    entry = AuditEntry.objects.get(action="user.password")
    assert STRONG not in entry.summary and STRONG not in str(entry.details)


def test_own_password_change_keeps_the_admin_logged_in(admin_client_: Client, admin_user: User) -> None:
    r = admin_client_.post(f"/site/users/{admin_user.pk}/password/", {"new_password1": STRONG, "new_password2": STRONG})
    assert r.status_code == 302
    assert admin_client_.get("/site/users/").status_code == 200


# --- API tokens ---------------------------------------------------------------------------


def test_token_create_shows_it_once_and_revoke_gets_401(admin_client_: Client, viewer: User, engine_dir: Path) -> None:
    r = admin_client_.post(f"/site/users/{viewer.pk}/tokens/", {"name": "nightly", "expires_days": "30"})
    assert r.status_code == 200
    assert r["Cache-Control"] == "no-store"
    raw = re.search(r'id="raw-token">([^<]+)<', r.content.decode())
    assert raw is not None
    token = raw.group(1)
    stored = ApiToken.objects.get(user=viewer)
    assert stored.name == "nightly" and stored.expires is not None
    assert token.startswith(stored.prefix) and token not in str(stored.__dict__)
    # the detail page lists it by prefix, never the whole token
    page = admin_client_.get(f"/site/users/{viewer.pk}/").content.decode()
    assert stored.prefix in page and token not in page and "nightly" in page

    api = Client()
    assert api.get("/api/topics", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    r = admin_client_.post(f"/site/users/{viewer.pk}/tokens/{stored.pk}/revoke/")
    assert r.status_code == 302
    assert api.get("/api/topics", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401
    actions = list(AuditEntry.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["token.create", "token.revoke"]
    assert all(token not in str(e.details) + e.summary for e in AuditEntry.objects.all())


def test_token_of_another_user_cannot_be_revoked_through_this_one(
    admin_client_: Client, viewer: User, operator: User
) -> None:
    token, _ = ApiToken.issue(operator)
    assert admin_client_.post(f"/site/users/{viewer.pk}/tokens/{token.pk}/revoke/").status_code == 404
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_token_expiry_is_checked(admin_client_: Client, viewer: User) -> None:
    r = admin_client_.post(f"/site/users/{viewer.pk}/tokens/", {"name": "x", "expires_days": "0"})
    assert r.status_code == 400 and "greater than or equal to 1" in r.content.decode()
    assert not ApiToken.objects.exists()


# --- CSRF ---------------------------------------------------------------------------------


def test_forged_posts_are_refused(admin_user: User, viewer: User) -> None:
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(admin_user)
    assert create(strict, "forged", "admin").status_code == 403
    assert strict.post(f"/site/users/{viewer.pk}/role/", {"role": "admin"}).status_code == 403
    assert strict.post(f"/site/users/{viewer.pk}/tokens/", {"name": "x"}).status_code == 403
    assert strict.post("/site/settings/", settings_form(workshop="on")).status_code == 403
    assert not User.objects.filter(username="forged").exists()
    viewer.refresh_from_db()
    assert role_of(viewer) == "viewer"
    assert not ApiToken.objects.exists() and not SiteSettings.objects.exists()
    # with the token from the page it works
    page = strict.get("/site/users/").content.decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert csrf is not None
    r = strict.post(f"/site/users/{viewer.pk}/role/", {"role": "operator", "csrfmiddlewaretoken": csrf.group(1)})
    assert r.status_code == 302


# --- site settings ------------------------------------------------------------------------


def test_settings_page_shows_effective_configuration(admin_client_: Client, settings: Any) -> None:
    html = admin_client_.get("/site/settings/").content.decode()
    assert "offsetsite 0.1.0" in html
    assert "SQLite" in html
    assert "none: one process, its pages woken in process" in html
    assert str(settings.OFFSETSITE["DATA_DIR"]) in html


def test_workshop_toggle_lets_anonymous_visitors_produce(
    admin_client_: Client, client: Client, topic: str, settings: Any
) -> None:
    settings.OFFSETSITE = {**settings.OFFSETSITE, "WORKSHOP": False}
    r = client.post("/topics/orders/produce/", produce_form())
    assert r.status_code == 302 and r["Location"].startswith("/login/")
    assert hw(topic) == 0

    r = admin_client_.post("/site/settings/", settings_form(workshop="on"))
    assert r.status_code == 302
    assert site_settings.workshop_mode()
    r = client.post("/topics/orders/produce/", produce_form())
    assert r.status_code == 302 and r["Location"] == "/topics/orders/"
    assert hw(topic) == 1
    entry = AuditEntry.objects.get(action="settings.change")
    assert entry.username == "ada" and "workshop: default → on" in entry.summary

    # "off" overrides an environment that says on; "default" goes back to the environment
    settings.OFFSETSITE = {**settings.OFFSETSITE, "WORKSHOP": True}
    admin_client_.post("/site/settings/", settings_form(workshop="off"))
    assert client.post("/topics/orders/produce/", produce_form()).status_code == 302
    assert hw(topic) == 1  # the redirect went to the login page
    admin_client_.post("/site/settings/", settings_form(workshop=""))
    assert site_settings.workshop_mode()


def test_read_login_toggle(admin_client_: Client, client: Client, viewer_client: Client, engine_dir: Path) -> None:
    assert client.get("/").status_code == 200
    assert admin_client_.post("/site/settings/", settings_form(read_login="on")).status_code == 302
    r = client.get("/")
    assert r.status_code == 302 and r["Location"] == "/login/?next=/"
    assert client.get("/topics/orders/").status_code == 302
    assert client.get("/groups/g/lag.json").status_code == 401
    assert client.get("/login/").status_code == 200  # the way in stays open
    assert client.get("/api/topics").status_code == 401  # the API keeps its own (token) rule
    r = client.get("/", HTTP_HX_REQUEST="true")
    assert r.status_code == 204 and r["HX-Redirect"] == "/login/?next=/"
    assert viewer_client.get("/").status_code == 200
    admin_client_.post("/site/settings/", settings_form(read_login="off"))
    assert client.get("/").status_code == 200


def test_read_login_from_the_environment(client: Client, settings: Any, engine_dir: Path) -> None:
    settings.OFFSETSITE = {**settings.OFFSETSITE, "READ_LOGIN": True}
    assert client.get("/").status_code == 302
    SiteSettings(read_login=False).save()
    assert client.get("/").status_code == 200  # the admin's choice wins over the environment


def test_burst_limits_are_capped_by_the_environment(
    admin_client_: Client, operator_client: Client, topic: str, settings: Any
) -> None:
    settings.OFFSETSITE = {**settings.OFFSETSITE, "BURST_MAX_RECORDS": 100, "BURST_MAX_RATE": 1000}
    r = admin_client_.post("/site/settings/", settings_form(burst_max_records=101))
    assert r.status_code == 400
    assert "at most 100: the environment caps it" in r.content.decode()
    assert not SiteSettings.objects.exists()
    assert site_settings.burst_limits() == (100, 1000)

    assert (
        admin_client_.post("/site/settings/", settings_form(burst_max_records=3, burst_max_rate=50)).status_code == 302
    )
    assert site_settings.burst_limits() == (3, 50)
    r = operator_client.post("/topics/orders/produce/", produce_form(count=4, rate=10))
    assert hw(topic) == 0
    assert "at most 3 records" in r.content.decode()
    # a later, lower environment cap still wins over the stored value
    settings.OFFSETSITE = {**settings.OFFSETSITE, "BURST_MAX_RECORDS": 2}
    assert site_settings.burst_limits() == (2, 50)


def test_settings_rejects_nonsense(admin_client_: Client) -> None:
    r = admin_client_.post("/site/settings/", settings_form(workshop="maybe", burst_max_rate="-5"))
    assert r.status_code == 400
    html = r.content.decode()
    assert "Select a valid choice" in html and "greater than or equal to 1" in html
    assert not SiteSettings.objects.exists() and not AuditEntry.objects.exists()


def test_saving_unchanged_settings_writes_nothing(admin_client_: Client) -> None:
    r = admin_client_.post("/site/settings/", settings_form(), follow=True)
    assert "Nothing changed." in r.content.decode()
    assert not AuditEntry.objects.exists()
