"""Offset reset through the web: preview, confirm, execute, undo, and every refusal."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from offsetsite.core.models import AuditEntry
from offsetsite.engine import get_cluster

from .actions_helpers import T0, live_member, offsets, seed_log

URL = "/groups/billing/reset/"


@pytest.fixture
def log(engine_dir: Path) -> None:
    seed_log()


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


def preview(client: Client, **fields: Any) -> Any:
    data = {"scope": "all", "action": "preview", **fields}
    return client.post(URL, data)


def rows_of(response: Any) -> dict[tuple[str, int], tuple[int | None, int, int, int]]:
    return {
        (r.row.topic, r.row.partition): (r.row.before, r.row.after, r.row.reread, r.row.skipped)
        for r in response.context["rows"]
    }


SCENARIOS: list[tuple[dict[str, Any], dict[int, tuple[int, int, int, int]]]] = [
    ({"scenario": "to-earliest"}, {0: (10, 0, 10, 0), 1: (5, 0, 5, 0)}),
    ({"scenario": "to-latest"}, {0: (10, 20, 0, 10), 1: (5, 20, 0, 15)}),
    ({"scenario": "to-current"}, {0: (10, 10, 0, 0), 1: (5, 5, 0, 0)}),
    ({"scenario": "to-offset", "to_offset": "4"}, {0: (10, 4, 6, 0), 1: (5, 4, 1, 0)}),
    ({"scenario": "shift-by", "shift_by": "-3"}, {0: (10, 7, 3, 0), 1: (5, 2, 3, 0)}),
    ({"scenario": "shift-by", "shift_by": "+4"}, {0: (10, 14, 0, 4), 1: (5, 9, 0, 4)}),
    ({"scenario": "to-datetime", "to_datetime": iso(T0 + 12_000)}, {0: (10, 12, 0, 2), 1: (5, 12, 0, 7)}),
    ({"scenario": "to-datetime", "to_datetime": iso(T0 + 12_000) + "+00:00"}, {0: (10, 12, 0, 2), 1: (5, 12, 0, 7)}),
    # Back to 5.5 s after the first record, measured from now: record 6.
    (
        {"scenario": "by-duration", "by_duration": lambda: f"PT{(time.time() * 1000 - T0 - 5_500) / 1000:.3f}S"},
        {0: (10, 6, 4, 0), 1: (5, 6, 0, 1)},
    ),
    ({"scenario": "from-file", "offsets_text": "orders,0,3\norders,1,4\n"}, {0: (10, 3, 7, 0), 1: (5, 4, 1, 0)}),
]


@pytest.mark.parametrize(
    ("fields", "expected"), SCENARIOS, ids=[f["scenario"] + str(i) for i, (f, _) in enumerate(SCENARIOS)]
)
def test_preview_numbers_for_each_scenario(
    operator_client: Client, log: None, fields: dict[str, Any], expected: dict[int, tuple[int, int, int, int]]
) -> None:
    r = preview(operator_client, **{k: v() if callable(v) else v for k, v in fields.items()})
    assert r.status_code == 200, r.content.decode()
    assert rows_of(r) == {("orders", p): v for p, v in expected.items()}
    assert "Preview: nothing has changed yet" in r.content.decode()
    assert offsets() == {("orders", 0): 10, ("orders", 1): 5}  # a preview changes nothing
    assert not AuditEntry.objects.exists()


def text(response: Any) -> str:
    return " ".join(response.content.decode().split())


def test_preview_explains_impact_in_words_and_time(operator_client: Client, log: None) -> None:
    r = preview(operator_client, scenario="to-offset", to_offset="4")
    html = text(r)
    assert "reads 6 record(s) again" in html
    assert "back 6 s" in html  # offset 10 was written 6 s after offset 4
    assert datetime.fromtimestamp((T0 + 4000) / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S") in html
    assert "2 of 2 partitions move: 7 records to read again, 0 to skip" in html
    assert "I understand 2 partitions move" in html
    r = preview(operator_client, scenario="to-latest")
    assert "skips 15 record(s) it has not read" in r.content.decode()
    # At the high watermark there is no record, hence no time: the plan says why.
    assert "(high watermark: no record yet)" in r.content.decode()


def test_scopes_topics_and_partitions(operator_client: Client, log: None) -> None:
    get_cluster().create_topic("payments", 3)
    r = preview(operator_client, scenario="to-earliest", scope="partitions", partitions="orders:1")
    assert list(rows_of(r)) == [("orders", 1)]
    r = preview(operator_client, scenario="to-earliest", scope="topics", topics=["payments"])
    assert list(rows_of(r)) == [("payments", 0), ("payments", 1), ("payments", 2)]
    assert all(row.row.before is None for row in r.context["rows"])
    assert "no committed offset yet; the group will start at 0" in r.content.decode()


def test_clamping_warning_shown(operator_client: Client, log: None) -> None:
    r = preview(operator_client, scenario="to-offset", to_offset="100")
    html = r.content.decode()
    assert rows_of(r)[("orders", 0)][1] == 20
    assert "offset 100 is past the high watermark 20; reset to 20 instead" in html


def execute(client: Client, fields: dict[str, Any], fingerprint: str, confirm: str | None, targets: str = "") -> Any:
    data: dict[str, Any] = {
        "scope": "all",
        "action": "execute",
        "fingerprint": fingerprint,
        "targets": targets,
        **fields,
    }
    if confirm is not None:
        data["confirm"] = confirm
    return client.post(URL, data)


def test_execute_with_matching_fingerprint_changes_offsets_and_audits(operator_client: Client, log: None) -> None:
    fields = {"scenario": "to-offset", "to_offset": "4"}
    p = preview(operator_client, **fields)
    r = execute(
        operator_client,
        fields,
        p.context["plan_fingerprint"],
        str(p.context["moving"]),
        p.context["targets_fingerprint"],
    )
    assert r.status_code == 200, r.content.decode()
    assert offsets() == {("orders", 0): 4, ("orders", 1): 4}
    html = r.content.decode()
    assert "Executed: 2 partitions moved" in html
    assert "Undo the last reset" in html
    entry = AuditEntry.objects.get(action="offsets.reset")
    assert entry.group_id == "billing" and entry.username == "otto"
    assert entry.offsets == [
        {"topic": "orders", "partition": 0, "before": 10, "after": 4},
        {"topic": "orders", "partition": 1, "before": 5, "after": 4},
    ]


def test_execute_needs_the_confirmation(operator_client: Client, log: None) -> None:
    fields = {"scenario": "to-earliest"}
    p = preview(operator_client, **fields)
    r = execute(operator_client, fields, p.context["plan_fingerprint"], None, p.context["targets_fingerprint"])
    assert r.status_code == 422
    assert "I understand 2 partition(s) move" in r.content.decode()
    # Confirming a different number than what would move is no confirmation either.
    r = execute(operator_client, fields, p.context["plan_fingerprint"], "1", p.context["targets_fingerprint"])
    assert r.status_code == 422
    assert offsets() == {("orders", 0): 10, ("orders", 1): 5}
    assert not AuditEntry.objects.exists()


def test_stale_fingerprint_is_refused(operator_client: Client, log: None) -> None:
    fields = {"scenario": "to-earliest"}
    p = preview(operator_client, **fields)
    get_cluster().commit_offsets("billing", {("orders", 0): 12})  # a consumer moved on meanwhile
    r = execute(operator_client, fields, p.context["plan_fingerprint"], "2", p.context["targets_fingerprint"])
    assert r.status_code == 409
    assert "changed since the preview" in r.content.decode()
    assert offsets() == {("orders", 0): 12, ("orders", 1): 5}
    # The page shows the new plan, whose fingerprint now executes.
    r = execute(operator_client, fields, r.context["plan_fingerprint"], "2", r.context["targets_fingerprint"])
    assert r.status_code == 200
    assert offsets() == {("orders", 0): 0, ("orders", 1): 0}


def test_fixed_targets_that_moved_since_the_preview_are_refused(operator_client: Client, log: None) -> None:
    fields = {"scenario": "to-offset", "to_offset": "100"}  # clamped to the high watermark, 20
    p = preview(operator_client, **fields)
    get_cluster().produce("orders", b"late", partition=0)  # the clamp now lands on 21
    r = execute(operator_client, fields, p.context["plan_fingerprint"], "2", p.context["targets_fingerprint"])
    assert r.status_code == 409
    assert "the new offsets differ from the preview" in text(r)
    assert offsets() == {("orders", 0): 10, ("orders", 1): 5}


def test_to_latest_follows_the_log_and_says_so(operator_client: Client, log: None) -> None:
    fields = {"scenario": "to-latest"}
    p = preview(operator_client, **fields)
    get_cluster().produce("orders", b"late", partition=0)
    r = execute(operator_client, fields, p.context["plan_fingerprint"], "2", p.context["targets_fingerprint"])
    assert r.status_code == 200, r.content.decode()
    assert "targets were computed again at execution" in text(r)
    assert offsets() == {("orders", 0): 21, ("orders", 1): 20}


def test_execute_without_preview_or_with_other_inputs_is_refused(operator_client: Client, log: None) -> None:
    r = execute(operator_client, {"scenario": "to-earliest"}, "", "2")
    assert r.status_code == 409 and "Preview first" in r.content.decode()
    p = preview(operator_client, scenario="to-offset", to_offset="4")
    # Same fingerprint, other target: not what was previewed.
    r = execute(
        operator_client,
        {"scenario": "to-offset", "to_offset": "0"},
        p.context["plan_fingerprint"],
        "2",
        p.context["targets_fingerprint"],
    )
    assert r.status_code == 409
    assert offsets() == {("orders", 0): 10, ("orders", 1): 5}
    assert not AuditEntry.objects.exists()


def test_active_group_is_refused_with_the_reason(operator_client: Client, log: None) -> None:
    with live_member():
        r = preview(operator_client, scenario="to-earliest")
        html = r.content.decode()
        assert r.status_code == 409
        assert (
            "Assignments can only be reset if the group &#x27;billing&#x27; is inactive, but the current state is Stable."
            in html
        )
        assert "nothing changed" in html
        assert "Execute this reset" not in html
        # Even a fingerprint of this very plan does not get through.
        r = execute(
            operator_client,
            {"scenario": "to-earliest"},
            r.context["plan_fingerprint"],
            "2",
            r.context["targets_fingerprint"],
        )
        assert r.status_code == 409
        assert "is inactive, but the current state is Stable" in r.content.decode()
        assert offsets() == {("orders", 0): 10, ("orders", 1): 5}
    assert not AuditEntry.objects.exists()


BAD_INPUTS = [
    ({"scenario": "to-offset", "to_offset": "ten"}, "--to-offset N needs a whole number"),
    ({"scenario": "to-offset", "to_offset": "-1"}, "--to-offset N needs a whole number of 0 or more"),
    ({"scenario": "shift-by", "shift_by": "1.5"}, "--shift-by N needs a whole number"),
    ({"scenario": "to-datetime", "to_datetime": "2024-13-40T00:00:00"}, "Error parsing timestamp"),
    ({"scenario": "to-datetime", "to_datetime": "2024-13-40"}, "expected yyyy-MM-ddTHH:mm:ss.SSS"),
    ({"scenario": "by-duration", "by_duration": "1 hour"}, "expected PnDTnHnMnS"),
    ({"scenario": "from-file", "offsets_text": "orders,zero,3"}, "partition and offset must be numbers"),
    ({"scenario": "from-file", "offsets_text": ""}, "Upload a CSV file or paste lines topic,partition,offset"),
    ({"scenario": "to-earliest", "scope": "partitions", "partitions": "nosuch:0"}, "nosuch"),
    (
        {"scenario": "to-earliest", "scope": "partitions", "partitions": "orders:5"},
        "Partition 5 of topic &#x27;orders&#x27; does not exist: valid partitions are 0 to 1",
    ),
    ({"scenario": "to-earliest", "scope": "partitions", "partitions": "orders:x"}, "is not topic or topic:partitions"),
    ({"scenario": "to-earliest", "scope": "topics"}, "Choose at least one topic"),
    ({"scope": "all"}, "Choose a scenario"),
]


@pytest.mark.parametrize(("fields", "message"), BAD_INPUTS)
def test_bad_inputs_name_the_rule_and_change_nothing(
    operator_client: Client, log: None, fields: dict[str, str], message: str
) -> None:
    for action in ("preview", "execute"):
        r = operator_client.post(URL, {"scope": "all", "action": action, "fingerprint": "x", "confirm": "2", **fields})
        assert r.status_code == 422, r.content.decode()
        assert message in r.content.decode()
    assert offsets() == {("orders", 0): 10, ("orders", 1): 5}
    assert not AuditEntry.objects.exists()


def test_unknown_topic_message(operator_client: Client, log: None) -> None:
    r = preview(operator_client, scenario="to-earliest", scope="partitions", partitions="nosuch")
    assert r.status_code == 422
    assert "Cannot plan this reset: nothing changed" in r.content.decode()


def test_shift_by_with_nothing_committed_is_refused(operator_client: Client, log: None) -> None:
    r = operator_client.post(
        "/groups/fresh/reset/",
        {"scenario": "shift-by", "shift_by": "-2", "scope": "topics", "topics": ["orders"], "action": "preview"},
    )
    assert r.status_code == 422
    assert "the group has no committed offset there" in r.content.decode()
    assert offsets("fresh") == {}


def test_values_are_kept_after_an_error(operator_client: Client, log: None) -> None:
    r = preview(
        operator_client, scenario="to-datetime", to_datetime="2024-13-40", scope="partitions", partitions="orders:1"
    )
    html = r.content.decode()
    assert 'value="2024-13-40"' in html and 'value="orders:1"' in html


def test_from_file_upload_is_carried_into_step_two(operator_client: Client, log: None) -> None:
    upload = SimpleUploadedFile("plan.csv", b"orders,0,2\norders,1,3\n", content_type="text/csv")
    p = operator_client.post(
        URL, {"scenario": "from-file", "offsets_file": upload, "scope": "all", "action": "preview"}
    )
    assert p.status_code == 200, p.content.decode()
    assert "orders,0,2\norders,1,3" in p.content.decode()  # now in the textarea
    r = execute(
        operator_client,
        {"scenario": "from-file", "offsets_text": "orders,0,2\norders,1,3\n"},
        p.context["plan_fingerprint"],
        "2",
        p.context["targets_fingerprint"],
    )
    assert r.status_code == 200, r.content.decode()
    assert offsets() == {("orders", 0): 2, ("orders", 1): 3}


def test_export_plan_as_csv(operator_client: Client, log: None) -> None:
    r = operator_client.post(URL, {"scenario": "shift-by", "shift_by": "-1", "scope": "all", "action": "export"})
    assert r.status_code == 200
    assert r["Content-Type"].startswith("text/csv")
    assert "attachment" in r["Content-Disposition"]
    assert r.content.decode() == "orders,0,9\norders,1,4\n"
    assert offsets() == {("orders", 0): 10, ("orders", 1): 5}
    # What was exported reads back as a from-file plan with the same targets.
    p = preview(operator_client, scenario="from-file", offsets_text=r.content.decode())
    assert {k: v[1] for k, v in rows_of(p).items()} == {("orders", 0): 9, ("orders", 1): 4}


def do_reset(client: Client, **fields: str) -> None:
    p = preview(client, **fields)
    r = execute(
        client, fields, p.context["plan_fingerprint"], str(p.context["moving"]), p.context["targets_fingerprint"]
    )
    assert r.status_code == 200, r.content.decode()


def test_undo_restores_the_offsets_before(operator_client: Client, log: None) -> None:
    do_reset(operator_client, scenario="to-latest")
    assert offsets() == {("orders", 0): 20, ("orders", 1): 20}
    page = text(operator_client.get(URL))
    assert "Undo the last reset (to-latest, 2 partitions)" in page
    assert "<code>orders</code> partition 0: 10" in page
    r = operator_client.post("/groups/billing/undo/")
    assert r.status_code == 200, r.content.decode()
    assert "Undone" in r.content.decode()
    assert "Undo the last reset" not in r.content.decode()  # only one reset to undo
    assert offsets() == {("orders", 0): 10, ("orders", 1): 5}
    entry = AuditEntry.objects.get(action="offsets.undo")
    assert entry.offsets == [
        {"topic": "orders", "partition": 0, "before": 20, "after": 10},
        {"topic": "orders", "partition": 1, "before": 20, "after": 5},
    ]
    # Nothing left to undo: refused, unchanged.
    r = operator_client.post("/groups/billing/undo/")
    assert r.status_code == 409
    assert "has no reset to undo" in r.content.decode()
    assert offsets() == {("orders", 0): 10, ("orders", 1): 5}


def test_undo_forgets_offsets_that_did_not_exist(operator_client: Client, log: None) -> None:
    get_cluster().create_topic("payments", 1)
    do_reset(operator_client, scenario="to-earliest", scope="topics", topics="payments")
    assert offsets()[("payments", 0)] == 0
    operator_client.post("/groups/billing/undo/")
    assert ("payments", 0) not in offsets()


def test_undo_refused_while_active(operator_client: Client, log: None) -> None:
    do_reset(operator_client, scenario="to-earliest")
    with live_member():
        r = operator_client.post("/groups/billing/undo/")
        assert r.status_code == 409
        assert "the current state is Stable" in r.content.decode()
        assert offsets() == {("orders", 0): 0, ("orders", 1): 0}
    assert not AuditEntry.objects.filter(action="offsets.undo").exists()


def test_undo_is_post_only(operator_client: Client, log: None) -> None:
    do_reset(operator_client, scenario="to-earliest")
    assert operator_client.get("/groups/billing/undo/").status_code == 405
    assert offsets() == {("orders", 0): 0, ("orders", 1): 0}


def test_permissions(client: Client, viewer_client: Client, log: None) -> None:
    data = {"scenario": "to-earliest", "scope": "all", "action": "preview"}
    assert viewer_client.get(URL).status_code == 403
    assert viewer_client.post(URL, data).status_code == 403
    assert viewer_client.post("/groups/billing/undo/").status_code == 403
    r = client.post(URL, data)
    assert r.status_code == 302 and "/login" in r["Location"]
    assert client.get(URL).status_code == 302


def test_workshop_visitors_cannot_reset(client: Client, db: None, log: None, settings: Any) -> None:
    settings.OFFSETSITE = {**settings.OFFSETSITE, "WORKSHOP": True}
    # Even in a group the visitor started themselves.
    r = client.post(
        "/consume/",
        {
            "group_id": "mine",
            "client_id": "me",
            "topics": ["orders"],
            "max_records": "1",
            "auto_offset_reset": "earliest",
            "commit": "yes",
        },
    )
    assert r.status_code == 200
    before = offsets("mine")
    r = client.post("/groups/mine/reset/", {"scenario": "to-latest", "scope": "all", "action": "preview"})
    assert r.status_code == 302
    assert client.post("/groups/mine/undo/").status_code == 302
    assert offsets("mine") == before


def test_forged_request_without_csrf_token_is_refused(operator: User, log: None) -> None:
    c = Client(enforce_csrf_checks=True)
    c.force_login(operator)
    r = c.post(
        URL, {"scenario": "to-earliest", "scope": "all", "action": "execute", "fingerprint": "x", "confirm": "2"}
    )
    assert r.status_code == 403
    assert c.post("/groups/billing/undo/").status_code == 403
    assert offsets() == {("orders", 0): 10, ("orders", 1): 5}


def test_page_has_csrf_token_and_htmx_partial(operator_client: Client, log: None) -> None:
    html = operator_client.get(URL).content.decode()
    assert "csrfmiddlewaretoken" in html and 'hx-post="/groups/billing/reset/"' in html
    r = operator_client.post(
        URL, {"scenario": "to-earliest", "scope": "all", "action": "preview"}, HTTP_HX_REQUEST="true"
    )
    body = r.content.decode()
    assert body.lstrip().startswith('<div id="reset-panel"') and "<html" not in body
    assert "csrfmiddlewaretoken" in body


def test_group_ids_are_escaped(operator_client: Client, log: None) -> None:
    gid = "<img src=x onerror=alert(1)>"
    get_cluster().commit_offsets(gid, {("orders", 0): 3})
    from urllib.parse import quote

    url = f"/groups/{quote(gid)}/reset/"
    for r in (
        operator_client.get(url),
        operator_client.post(url, {"scenario": "to-earliest", "scope": "all", "action": "preview"}),
    ):
        html = r.content.decode()
        assert r.status_code == 200
        assert "<img src=x" not in html
        assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_from_file_with_a_group_column_applies_only_this_groups_rows(operator_client: Client, log: None) -> None:
    """Regression: the group column was dropped, so another group's rows applied here."""
    text = "billing,orders,0,3\nbilling,orders,1,4\nother,orders,1,0\n"
    r = preview(operator_client, scenario="from-file", offsets_text=text)
    assert r.status_code == 200, r.content.decode()[:500]
    assert {tp: after for tp, (_b, after, _r, _s) in rows_of(r).items()} == {("orders", 0): 3, ("orders", 1): 4}
    r = preview(operator_client, scenario="from-file", offsets_text="other,orders,0,1\n")
    assert "No reset plan for group billing found." in r.content.decode()
    assert offsets() == {("orders", 0): 10, ("orders", 1): 5}
