"""The audit log page and its CSV export: roles, filters, paging, escaping."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.test import Client

from offsetsite.core import audit
from offsetsite.core.audit import Action, Actor, Source
from offsetsite.core.models import AuditEntry
from offsetsite.dashboard.audit.views import escape_cell


@pytest.fixture
def entries(operator: Any, admin_user: Any) -> list[AuditEntry]:
    made = [
        audit.log(
            Actor(operator, Source.WEB),
            Action.OFFSETS_RESET,
            cluster="local",
            group_id="billing",
            topic="orders",
            summary="to earliest",
            offsets=[{"topic": "orders", "partition": 0, "before": 10, "after": 0}],
        ),
        audit.log(
            Actor(admin_user, Source.WEB),
            Action.GROUP_DELETE,
            cluster="prod-eu",
            group_id="old-group",
            summary="deleted",
        ),
        audit.log(
            Actor(operator, Source.API), Action.RECORDS_PRODUCE, cluster="local", topic="payments", summary="5 records"
        ),
        audit.log(
            Actor(None, Source.CLI),
            Action.OFFSETS_COMMIT,
            cluster="local",
            group_id="billing",
            topic="orders",
            summary='=HYPERLINK("http://x")',
        ),
    ]
    return made


def rows(html: str) -> int:
    return html.count('<tr class="audit-entry">')


def test_anonymous_is_sent_to_login(client: Client, db: Any) -> None:
    for url in ("/audit/", "/audit.csv"):
        response = client.get(url)
        assert response.status_code == 302
        assert "/login" in response["Location"]


def test_user_without_role_is_refused(db: Any) -> None:
    from django.contrib.auth.models import User

    c = Client()
    c.force_login(User.objects.create_user("nobody", password="pw-nobody"))
    assert c.get("/audit/").status_code == 403
    assert c.get("/audit.csv").status_code == 403


def test_viewer_sees_newest_first(viewer_client: Client, entries: list[AuditEntry]) -> None:
    html = viewer_client.get("/audit/").content.decode()
    assert rows(html) == 4
    # newest (the cli commit) first, the reset last
    assert html.index("HYPERLINK") < html.index("5 records") < html.index("to earliest")
    assert "orders-0: 10 → 0" in html
    assert "anonymous" in html  # the cli entry has no user
    assert "<td>prod-eu</td>" in html and html.count("<td>local</td>") == 3  # the cluster column
    assert '<option value="prod-eu">prod-eu</option>' in html  # and its filter


def test_filters(viewer_client: Client, entries: list[AuditEntry]) -> None:
    assert rows(viewer_client.get("/audit/?action=offsets.reset").content.decode()) == 1
    # an old name (the page wrote reset_offsets, the API group.reset) finds the same entries
    assert rows(viewer_client.get("/audit/?action=reset_offsets").content.decode()) == 1
    assert rows(viewer_client.get("/audit/?cluster=prod-eu").content.decode()) == 1
    assert rows(viewer_client.get("/audit/?cluster=local").content.decode()) == 3
    assert rows(viewer_client.get("/audit/?group=BILL").content.decode()) == 2
    assert rows(viewer_client.get("/audit/?topic=pay").content.decode()) == 1
    assert rows(viewer_client.get("/audit/?user=ada").content.decode()) == 1
    assert rows(viewer_client.get("/audit/?group=billing&action=offsets.commit").content.decode()) == 1
    html = viewer_client.get("/audit/?group=nothing").content.decode()
    assert rows(html) == 0 and "No entries match this filter" in html


def test_paging(viewer_client: Client, db: Any) -> None:
    AuditEntry.objects.bulk_create(AuditEntry(action="records.produce", summary=f"n{i}") for i in range(120))
    html = viewer_client.get("/audit/").content.decode()
    assert rows(html) == 50 and "Entries 1\u201350 of 120" in html
    assert rows(viewer_client.get("/audit/?page=3").content.decode()) == 20
    html = viewer_client.get("/audit/?page=x").content.decode()
    assert "page must be a whole number" in html and rows(html) == 50
    html = viewer_client.get("/audit/?action=records.produce&page=2").content.decode()
    assert 'href="?action=records.produce&amp;page=3"' in html


def test_csv_export_follows_the_filter_and_escapes_formulas(viewer_client: Client, entries: list[AuditEntry]) -> None:
    response = viewer_client.get("/audit.csv?group=billing")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == [
        "at",
        "user",
        "source",
        "action",
        "cluster",
        "topic",
        "group_id",
        "summary",
        "offsets",
        "details",
    ]
    assert [r[3] for r in table[1:]] == ["offsets.commit", "offsets.reset"]
    commit, reset = table[1], table[2]
    assert commit[7] == '\'=HYPERLINK("http://x")'
    assert commit[2] == "cli"
    assert reset[1] == "otto" and reset[4] == "local"
    assert '"before": 10' in reset[8]
    filtered = viewer_client.get("/audit.csv?cluster=prod-eu")
    only = list(csv.reader(io.StringIO(b"".join(filtered.streaming_content).decode())))  # type: ignore[attr-defined]
    assert [r[4] for r in only[1:]] == ["prod-eu"]


def test_csv_escape_cell() -> None:
    for bad in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert escape_cell(bad) == "'" + bad
    assert escape_cell("plain") == "plain"
    assert escape_cell("") == ""


def test_markup_in_entries_is_escaped(viewer_client: Client, db: Any) -> None:
    AuditEntry.objects.create(
        action="offsets.commit",
        group_id="<script>x</script>",
        summary="<b>hi</b>",
        offsets=[{"topic": "<i>t</i>", "partition": 0, "before": 1, "after": 2}],
    )
    html = viewer_client.get("/audit/").content.decode()
    assert "<script>x" not in html and "<b>hi" not in html and "<i>t" not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    html = viewer_client.get("/audit/", {"group": '"><script>'}).content.decode()
    assert '"><script>' not in html
