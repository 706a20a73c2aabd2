"""Deleting committed offsets and whole groups through the web."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.contrib.auth.models import User
from django.test import Client

from logcore.errors import GroupIdNotFound
from offsetsite.core.models import AuditEntry
from offsetsite.engine import get_cluster

from .actions_helpers import live_member, offsets, seed_log

ORIGINAL = {("orders", 0): 10, ("orders", 1): 5}


@pytest.fixture
def log(engine_dir: Path) -> None:
    seed_log()


def text(response: Any) -> str:
    return " ".join(response.content.decode().split())


# --- delete offsets ------------------------------------------------------------------


def test_page_lists_the_committed_offsets(operator_client: Client, log: None) -> None:
    html = text(operator_client.get("/groups/billing/delete-offsets/"))
    assert 'value="orders:0"' in html and "orders partition 1 (committed 5)" in html


def test_delete_offsets_of_chosen_partitions(operator_client: Client, log: None) -> None:
    r = operator_client.post("/groups/billing/delete-offsets/", {"partitions": ["orders:0"], "confirm": "on"})
    assert r.status_code == 200, r.content.decode()
    assert offsets() == {("orders", 1): 5}
    assert "Deleted" in text(r)
    entry = AuditEntry.objects.get(action="offsets.delete")
    assert entry.offsets == [{"topic": "orders", "partition": 0, "before": 10, "after": None}]


def test_delete_offsets_needs_confirmation_and_a_choice(operator_client: Client, log: None) -> None:
    r = operator_client.post("/groups/billing/delete-offsets/", {"partitions": ["orders:0"]})
    assert r.status_code == 422 and "Tick the confirmation" in r.content.decode()
    r = operator_client.post("/groups/billing/delete-offsets/", {"confirm": "on"})
    assert r.status_code == 422 and "Choose at least one partition" in r.content.decode()
    r = operator_client.post("/groups/billing/delete-offsets/", {"partitions": ["orders:9"], "confirm": "on"})
    assert r.status_code == 422 and "Select a valid choice" in r.content.decode()
    assert offsets() == ORIGINAL
    assert not AuditEntry.objects.exists()


def test_delete_offsets_of_a_subscribed_topic_of_an_active_group_is_refused(operator_client: Client, log: None) -> None:
    with live_member():
        r = operator_client.post("/groups/billing/delete-offsets/", {"partitions": ["orders:0"], "confirm": "on"})
        assert r.status_code == 409
        html = text(r)
        assert "Refused: nothing changed" in html
        assert "is Stable and subscribed to orders; stop its consumers before deleting those offsets" in html
        assert offsets() == ORIGINAL
    assert not AuditEntry.objects.exists()


# --- delete group --------------------------------------------------------------------


def test_delete_group_needs_the_exact_group_id(operator_client: Client, log: None) -> None:
    for typed in ("", "Billing", "billing "):
        r = operator_client.post("/groups/billing/delete/", {"confirm_group_id": typed})
        assert r.status_code == 422
        assert "does not match the group id exactly; nothing was deleted" in r.content.decode()
    assert offsets() == ORIGINAL


def test_delete_an_empty_group(operator_client: Client, log: None) -> None:
    r = operator_client.post("/groups/billing/delete/", {"confirm_group_id": "billing"})
    assert r.status_code == 200, r.content.decode()
    assert "deleted" in text(r)
    with pytest.raises(GroupIdNotFound):
        get_cluster().describe_group("billing")
    assert offsets() == {}
    entry = AuditEntry.objects.get(action="group.delete")
    assert entry.offsets == [
        {"topic": "orders", "partition": 0, "before": 10, "after": None},
        {"topic": "orders", "partition": 1, "before": 5, "after": None},
    ]


def test_delete_an_unknown_group_says_so(operator_client: Client, log: None) -> None:
    r = operator_client.post("/groups/nosuch/delete/", {"confirm_group_id": "nosuch"})
    assert r.status_code == 409
    assert "Consumer group &#x27;nosuch&#x27; does not exist." in r.content.decode()


def test_delete_an_active_group_is_refused(operator_client: Client, log: None) -> None:
    with live_member():
        r = operator_client.post("/groups/billing/delete/", {"confirm_group_id": "billing"})
        assert r.status_code == 409
        assert "only an Empty group can be deleted" in text(r)
        assert get_cluster().describe_group("billing").state == "Stable"
        assert offsets() == ORIGINAL
    assert not AuditEntry.objects.exists()


# --- who may ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "data"),
    [
        ("/groups/billing/delete/", {"confirm_group_id": "billing"}),
        ("/groups/billing/delete-offsets/", {"partitions": ["orders:0"], "confirm": "on"}),
    ],
)
def test_permissions(
    client: Client, viewer_client: Client, log: None, settings: Any, url: str, data: dict[str, Any]
) -> None:
    assert viewer_client.get(url).status_code == 403
    assert viewer_client.post(url, data).status_code == 403
    r = client.post(url, data)
    assert r.status_code == 302 and "/login" in r["Location"]
    settings.OFFSETSITE = {**settings.OFFSETSITE, "WORKSHOP": True}
    assert client.post(url, data).status_code == 302  # workshop visitors never delete
    assert offsets() == ORIGINAL


@pytest.mark.parametrize(
    ("url", "data"),
    [
        ("/groups/billing/delete/", {"confirm_group_id": "billing"}),
        ("/groups/billing/delete-offsets/", {"partitions": ["orders:0"], "confirm": "on"}),
    ],
)
def test_csrf(operator: User, log: None, url: str, data: dict[str, Any]) -> None:
    c = Client(enforce_csrf_checks=True)
    c.force_login(operator)
    assert c.post(url, data).status_code == 403
    assert offsets() == ORIGINAL


def test_group_ids_are_escaped(operator_client: Client, log: None) -> None:
    gid = "<svg onload=alert(1)>"
    get_cluster().commit_offsets(gid, {("orders", 0): 1})
    for path in ("delete", "delete-offsets"):
        html = operator_client.get(f"/groups/{quote(gid)}/{path}/").content.decode()
        assert "<svg onload" not in html and "&lt;svg onload=alert(1)&gt;" in html
    r = operator_client.post(f"/groups/{quote(gid)}/delete/", {"confirm_group_id": gid})
    assert r.status_code == 200
    assert "<svg onload" not in r.content.decode()
    assert offsets(gid) == {}


def test_htmx_gets_the_panel(operator_client: Client, log: None) -> None:
    r = operator_client.post("/groups/billing/delete/", {"confirm_group_id": "x"}, HTTP_HX_REQUEST="true")
    assert r.status_code == 422
    assert r.content.decode().lstrip().startswith('<div id="delete-group-panel"')
