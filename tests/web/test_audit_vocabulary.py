"""One action name per change, whichever way in: the web page and the API log the same name.

Regression: the page logged ``reset_offsets``, ``undo_reset``, ``commit_offsets``, ... while
the API logged ``group.reset``, ``group.undo``, ``offsets.commit``, ... for the same change.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from offsetsite.api.models import ApiToken
from offsetsite.core.models import AuditEntry

from .actions_helpers import seed_log


@pytest.fixture
def log(engine_dir: Path) -> None:
    seed_log()


@pytest.fixture
def api(operator: User, log: None) -> Callable[..., Any]:
    token = ApiToken.issue(operator, "vocabulary")[1]
    client = Client()

    def call(method: str, path: str, body: Any = None) -> Any:
        kwargs: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        r = getattr(client, method.lower())("/api/" + path, **kwargs)
        assert r.status_code < 300, r.content.decode()
        return r.json()

    return call


def last() -> AuditEntry:
    entry = AuditEntry.objects.order_by("-id").first()
    assert entry is not None
    return entry


def web_reset(client: Client, **fields: str) -> Any:
    data = {"scope": "all", "action": "preview", **fields}
    p = client.post("/groups/billing/reset/", data)
    assert p.status_code == 200, p.content.decode()
    r = client.post(
        "/groups/billing/reset/",
        {
            **data,
            "action": "execute",
            "fingerprint": p.context["plan_fingerprint"],
            "targets": p.context["targets_fingerprint"],
            "confirm": str(p.context["moving"]),
        },
    )
    assert r.status_code == 200, r.content.decode()
    return r


def test_page_and_api_log_the_same_action_for_the_same_change(
    operator_client: Client, api: Callable[..., Any], log: None
) -> None:
    pairs: list[tuple[str, str, str]] = []  # (change, web action, api action)

    def both(change: str, web: Callable[[], Any], via_api: Callable[[], Any]) -> None:
        web()
        web_entry = last()
        assert web_entry.source == "web"
        via_api()
        api_entry = last()
        assert api_entry.source == "api" and api_entry.id != web_entry.id
        pairs.append((change, web_entry.action, api_entry.action))

    both(
        "commit",
        lambda: operator_client.post("/groups/billing/commit/", {"topic": "orders", "partition": "0", "offset": "7"}),
        lambda: api("POST", "groups/billing/offsets", {"offsets": [{"topic": "orders", "partition": 0, "offset": 8}]}),
    )
    both(
        "reset",
        lambda: web_reset(operator_client, scenario="to-offset", to_offset="3"),
        lambda: api(
            "POST", "groups/billing/reset", {"scenario": "to-offset", "value": 2, "scope": "all", "execute": True}
        ),
    )
    both(
        "undo",
        lambda: operator_client.post("/groups/billing/undo/"),
        lambda: api("POST", "groups/billing/reset/undo"),
    )
    both(
        "delete offsets",
        lambda: operator_client.post("/groups/billing/delete-offsets/", {"partitions": ["orders:0"], "confirm": "on"}),
        lambda: api("POST", "groups/billing/offsets/delete", {"partitions": [{"topic": "orders", "partition": 1}]}),
    )
    api("POST", "groups/other/offsets", {"offsets": [{"topic": "orders", "partition": 0, "offset": 1}]})
    api("POST", "groups/billing/offsets", {"offsets": [{"topic": "orders", "partition": 0, "offset": 1}]})
    both(
        "delete group",
        lambda: operator_client.post("/groups/billing/delete/", {"confirm_group_id": "billing"}),
        lambda: api("DELETE", "groups/other"),
    )
    both(
        "create topic",
        lambda: operator_client.post("/topics/new/", {"name": "t-web", "partitions": "1"}),
        lambda: api("POST", "topics", {"name": "t-api", "partitions": 1}),
    )
    both(
        "produce",
        lambda: operator_client.post(
            "/topics/t-web/produce/",
            {"key": "", "value": "v", "headers": "", "partition": "", "count": "1", "rate": "10"},
        ),
        lambda: api("POST", "topics/t-api/records", {"value": "v"}),
    )
    both(
        "delete topic",
        lambda: operator_client.post("/topics/t-web/delete/", {"confirm": "t-web"}),
        lambda: api("DELETE", "topics/t-api"),
    )
    assert [(change, w) for change, w, _ in pairs] == [(change, a) for change, _, a in pairs]
    assert [w for _, w, _ in pairs] == [
        "offsets.commit",
        "offsets.reset",
        "offsets.undo",
        "offsets.delete",
        "group.delete",
        "topic.create",
        "records.produce",
        "topic.delete",
    ]
