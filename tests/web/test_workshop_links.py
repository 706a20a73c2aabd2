"""An anonymous workshop visitor sees no link they cannot use.

Every same-site link on the pages a visitor reaches is followed as that visitor: none
may answer 403 or send them to the login page.
"""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path
from typing import Any

from django.test import Client

from offsetsite.engine import get_cluster

from .actions_helpers import seed_log

HREF = re.compile(r'href="([^"#]*)')
# Links that leave the site's pages or log in on purpose.
SKIP = ("/static/", "/login/", "/logout/", "/ws/", "mailto:", "http://", "https://")


def _links(html: str) -> set[str]:
    return {unescape(h) for h in HREF.findall(html) if h.startswith("/") and not h.startswith(SKIP)}


def test_workshop_visitors_are_offered_only_what_they_may_use(engine_dir: Path, db: Any, settings: Any) -> None:
    settings.OFFSETSITE = {**settings.OFFSETSITE, "WORKSHOP": True}
    seed_log()
    visitor = Client()
    # The visitor starts a group of their own, as the workshop invites them to.
    r = visitor.post(
        "/consume/",
        {
            "group_id": "mine",
            "client_id": "me",
            "topics": [get_cluster().list_topics(include_internal=False)[0]],
            "max_records": "2",
            "auto_offset_reset": "earliest",
            "commit": "yes",
        },
    )
    assert r.status_code == 200, r.content.decode()[:500]
    start = ["/", "/groups/mine/", "/groups/mine/consume/", "/groups/mine/commit/", "/groups/billing/"]
    seen: dict[str, int] = {}
    for page in start:
        html = visitor.get(page).content.decode()
        for link in _links(html):
            if link in seen:
                continue
            response = visitor.get(link)
            seen[link] = response.status_code
            location = response.get("Location", "")
            assert response.status_code != 403, f"{page} links to {link}, which refuses the visitor"
            assert "/login/" not in location, f"{page} links to {link}, which asks the visitor to log in"
    assert len(seen) > 5  # the walk did follow links
