"""The overview: every topic and every consumer group, filtered, sorted and paged.

Fast with thousands of groups: one ``list_groups`` and one ``describe_groups`` of all
of them per computation (reused across viewers while the engine has not changed, see
``LagTracker.all_groups``), lag in messages for all (sorting needs it), and lag in time
and health only for the groups on the page, unless the page is sorted by lag in time.

The same query parsing and computation serve the page, its htmx swaps (filters and
sort links ask for the ``tables`` partial) and the websocket renderer, which receives
the viewer's query string as its key, so a live frame shows what the viewer filtered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.http import HttpResponse, QueryDict
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django_htmx.http import push_url

from logcore.log_manager import TopicDescription
from offsetsite.core.htmx import HtmxHttpRequest
from offsetsite.dashboard.groups.status import GroupSummary, summary_of, tracker
from offsetsite.engine import get_cluster

PAGE_SIZE = 50
GROUP_STATES = ("Stable", "Empty", "PreparingRebalance", "CompletingRebalance")
# sort key -> direction used when a header is first clicked (True: descending)
GROUP_SORTS = {"name": False, "state": False, "members": True, "lag": True, "lag_time": True}
TOPIC_SORTS = {"name": False, "partitions": True, "records": True, "size": True}


@dataclass
class OverviewQuery:
    """The viewer's filter, sort and pages, parsed from the query string; problems listed."""

    q: str = ""
    state: str = ""
    hide_internal: bool = False
    sort: str = "name"
    desc: bool = False
    page: int = 1
    tsort: str = "name"
    tdesc: bool = False
    tpage: int = 1
    problems: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, params: QueryDict) -> OverviewQuery:
        qy = cls()
        qy.q = params.get("q", "").strip()[:200]
        state = params.get("state", "")
        if state and state not in GROUP_STATES:
            qy.problems.append(
                f"Unknown group state {state!r}; allowed: {', '.join(GROUP_STATES)}. Showing all states."
            )
        else:
            qy.state = state
        qy.hide_internal = params.get("hide_internal", "") in ("1", "on", "true")
        qy.sort, qy.desc = _parse_sort(params.get("sort", ""), GROUP_SORTS, "sort", qy.problems)
        qy.tsort, qy.tdesc = _parse_sort(params.get("tsort", ""), TOPIC_SORTS, "tsort", qy.problems)
        qy.page = _parse_page(params.get("page", ""), "page", qy.problems)
        qy.tpage = _parse_page(params.get("tpage", ""), "tpage", qy.problems)
        return qy

    def params(self, **override: Any) -> dict[str, str]:
        """The query as parameters, defaults left out, with ``override`` applied."""
        values: dict[str, Any] = {
            "q": self.q,
            "state": self.state,
            "hide_internal": "1" if self.hide_internal else "",
            "sort": ("-" if self.desc else "") + self.sort if (self.sort, self.desc) != ("name", False) else "",
            "page": self.page if self.page != 1 else "",
            "tsort": ("-" if self.tdesc else "") + self.tsort if (self.tsort, self.tdesc) != ("name", False) else "",
            "tpage": self.tpage if self.tpage != 1 else "",
        }
        values.update(override)
        return {k: str(v) for k, v in values.items() if v not in ("", None)}

    def url(self, **override: Any) -> str:
        qs = urlencode(self.params(**override))
        return reverse("overview") + ("?" + qs if qs else "")

    def querystring(self) -> str:
        return urlencode(self.params())


def _parse_sort(raw: str, allowed: dict[str, bool], name: str, problems: list[str]) -> tuple[str, bool]:
    if not raw:
        return "name", False
    key = raw.removeprefix("-")
    if key not in allowed:
        problems.append(
            f"Unknown {name} {raw!r}; allowed: {', '.join(allowed)} (prefix - for descending). Sorted by name."
        )
        return "name", False
    return key, raw.startswith("-")


def _parse_page(raw: str, name: str, problems: list[str]) -> int:
    if not raw:
        return 1
    # isdecimal: isdigit() passes '²', which int() refuses; 18 digits keep int() cheap.
    if not raw.isdecimal() or len(raw) > 18 or int(raw) < 1:
        problems.append(f"{name} must be a whole number from 1; got {raw[:20]!r}. Showing page 1.")
        return 1
    return int(raw)


@dataclass
class Paged:
    number: int
    pages: int
    count: int
    start: int  # 1-based index of the first row shown, 0 when empty
    end: int


def _page(items: list[Any], number: int) -> tuple[list[Any], Paged]:
    pages = max((len(items) + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    number = min(number, pages)  # a page past the end (rows went away) shows the last
    lo = (number - 1) * PAGE_SIZE
    chunk = items[lo : lo + PAGE_SIZE]
    return chunk, Paged(number, pages, len(items), lo + 1 if chunk else 0, lo + len(chunk))


def _none_last(value: float | int | None, desc: bool) -> tuple[int, float]:
    # Groups with nothing committed have no lag: they go last whatever the direction.
    if value is None:
        return (1, 0.0)
    return (0, -value if desc else value)


def _sorted_groups(rows: list[GroupSummary], sort: str, desc: bool) -> list[GroupSummary]:
    by_name = sorted(rows, key=lambda r: r.group_id, reverse=desc and sort == "name")
    if sort == "name":
        return by_name
    if sort == "state":
        return sorted(by_name, key=lambda r: r.state, reverse=desc)
    if sort == "members":
        return sorted(by_name, key=lambda r: r.members, reverse=desc)
    if sort == "lag":
        return sorted(by_name, key=lambda r: _none_last(r.total_lag, desc))
    return sorted(by_name, key=lambda r: _none_last(r.lag_ms, desc))


def _sorted_topics(topics: list[TopicDescription], sort: str, desc: bool) -> list[TopicDescription]:
    keys = {
        "name": lambda t: t.name,
        "partitions": lambda t: len(t.partitions),
        "records": lambda t: t.records,
        "size": lambda t: t.size_bytes,
    }
    return sorted(sorted(topics, key=lambda t: t.name), key=keys[sort], reverse=desc)


def _retention(t: TopicDescription) -> dict[str, str]:
    """retention.ms and retention.bytes as the config holds them: the page humanizes them
    with the one config filter (dashboard/templatetags/config_values.py), raw on hover."""
    return {"ms": t.config.get("retention.ms", ""), "bytes": t.config.get("retention.bytes", "")}


def overview_context(qy: OverviewQuery) -> dict[str, Any]:
    """Everything the overview's tables show for this query."""
    cluster = get_cluster()
    lt = tracker()

    topics = cluster.describe_topics(include_internal=not qy.hide_internal)
    if qy.q:
        needle = qy.q.casefold()
        topics = [t for t in topics if needle in t.name.casefold()]
    topic_rows, topic_page = _page(_sorted_topics(topics, qy.tsort, qy.tdesc), qy.tpage)

    descs = lt.all_groups(cluster)
    every_group = descs  # the cards count the whole cluster, whatever the filter
    if qy.q:
        needle = qy.q.casefold()
        descs = [d for d in descs if needle in d.group_id.casefold()]
    if qy.state:
        descs = [d for d in descs if d.state == qy.state]
    by_id = {d.group_id: d for d in descs}
    # Sorting by lag in time needs it for every filtered group: one pass over their
    # partitions. Otherwise only the page's rows get it (in with_health below).
    rows = lt.with_lag_time(cluster, descs) if qy.sort == "lag_time" else [summary_of(d) for d in descs]
    rows = _sorted_groups(rows, qy.sort, qy.desc)
    page_rows, group_page = _page(rows, qy.page)
    shown = lt.with_health(cluster, [by_id[r.group_id] for r in page_rows])
    from offsetsite.dashboard.overview import cards as overview_cards  # the summary cards and the rows' sparklines

    cards = overview_cards.cards(lt, every_group, shown)

    def sort_link(key: str, current: str, desc: bool, defaults: dict[str, bool], param: str) -> dict[str, Any]:
        new_desc = not desc if key == current else defaults[key]
        value = ("-" if new_desc else "") + key
        page_param = "page" if param == "sort" else "tpage"
        return {
            "url": qy.url(**{param: value, page_param: ""}),
            "active": key == current,
            "arrow": ("▼" if desc else "▲") if key == current else "",
            "aria": ("descending" if desc else "ascending") if key == current else "none",
        }

    return {
        "qy": qy,
        "states": GROUP_STATES,
        "topics": [{"t": t, "retention": _retention(t)} for t in topic_rows],
        "topic_page": topic_page,
        "groups": shown,
        "group_page": group_page,
        "group_sort": {k: sort_link(k, qy.sort, qy.desc, GROUP_SORTS, "sort") for k in GROUP_SORTS},
        "topic_sort": {k: sort_link(k, qy.tsort, qy.tdesc, TOPIC_SORTS, "tsort") for k in TOPIC_SORTS},
        "group_prev": qy.url(page=group_page.number - 1) if group_page.number > 1 else "",
        "group_next": qy.url(page=group_page.number + 1) if group_page.number < group_page.pages else "",
        "topic_prev": qy.url(tpage=topic_page.number - 1) if topic_page.number > 1 else "",
        "topic_next": qy.url(tpage=topic_page.number + 1) if topic_page.number < topic_page.pages else "",
        "live_key": qy.querystring(),
        **cards,
    }


def overview(request: HtmxHttpRequest) -> HttpResponse:
    qy = OverviewQuery.parse(request.GET)
    context = overview_context(qy)
    if request.htmx and not request.htmx.boosted and request.htmx.target == "overview-tables":
        response = render(request, "dashboard/overview.html#tables", context)
        # The address bar gets the canonical query (no empty or default parameters),
        # the same one the page's links and live socket use.
        return push_url(response, qy.url())
    return render(request, "dashboard/overview.html", context)


def render_live(key: str, user: Any) -> str:
    """The overview's live parts for a viewer whose query string is ``key``."""
    qy = OverviewQuery.parse(QueryDict(key))
    context = overview_context(qy)
    context.update({"oob": True, "user": user})
    return render_to_string("dashboard/overview.html#live", context)
