"""Search a topic's records by key, value or header text; and its records merged by time.

What Kafka UIs offer as "search messages" (kafka-ui's filters, Redpanda Console's
message search, AKHQ's search): a case-insensitive text match over every partition.
Kafka has no server-side search (a Fetch returns records by offset, KIP-1's record
format has no index on content), so the search reads: it is bounded (at most
``max_scan`` records read, at most ``max_results`` hits), shows its progress, can be
cancelled, and reads in chunks of ``CHUNK`` records through ``Cluster.read`` so the
embedded engine's lock is held for one chunk at a time, never for the whole search.

A search is a background job (one thread each, at most ``MAX_RUNNING`` at once) that
the page polls with htmx. It reads every partition newest first, round-robin, so the
first hits are the most recent ones whichever partition holds them. Settings
(``settings.OFFSETSITE``): ``SEARCH_RUNNER`` (default True; tests drive ``step()``
themselves), ``SEARCH_CHUNK_PAUSE_S`` (a pause between chunks, default 0, or the
``OFFSETSITE_SEARCH_CHUNK_PAUSE_S`` environment variable: the browser test slows a
search down to cancel it).

The merged view is every partition's records interleaved by timestamp, newest first,
paged with a cursor of one offset per partition (what each partition shows next).
"""

from __future__ import annotations

import os
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Literal

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from logcore.cluster import Cluster
from logcore.errors import KafkaError
from logcore.records import Record
from offsetsite import engine
from offsetsite.dashboard.topics.records import iso_utc, record_row
from offsetsite.dashboard.topics.views import _describe
from offsetsite.engine import current_cluster_name, get_cluster, using

DEFAULT_MAX_SCAN = 100_000
LIMIT_MAX_SCAN = 1_000_000
DEFAULT_MAX_RESULTS = 100
LIMIT_MAX_RESULTS = 1_000
CHUNK = 500  # records per Cluster.read: one engine-lock hold
MAX_RUNNING = 4  # searches running at once in this process
KEEP_JOBS = 50  # finished searches kept for their pages
MAX_NEEDLE = 200
SNIPPET = 40  # characters shown either side of a match
FIELDS = ("key", "value", "headers")
MERGED_PAGE = 50

State = Literal["running", "done", "cancelled", "failed"]


@dataclass(frozen=True)
class Hit:
    """One matching record: where the match is and the text around it, to highlight."""

    partition: int
    offset: int
    timestamp: int
    where: str  # "key", "value" or "header <name>"
    before: str
    match: str
    after: str
    key_preview: str
    value_preview: str

    @property
    def iso(self) -> str:
        return iso_utc(self.timestamp)


def _text(data: bytes | None) -> str:
    return "" if data is None else data.decode("utf-8", errors="replace")


def _preview(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[:n] + "…"


def _find(text: str, folded_needle: str) -> tuple[str, str, str] | None:
    """(before, match, after) around the first case-insensitive match, cut to SNIPPET."""
    # casefold can change lengths (ß -> ss); lower() keeps indexes aligned for ASCII and most text.
    at = text.lower().find(folded_needle)
    if at < 0:
        return None
    end = at + len(folded_needle)
    before = text[max(at - SNIPPET, 0) : at]
    after = text[end : end + SNIPPET]
    return ("…" if at > SNIPPET else "") + before, text[at:end], after + ("…" if end + SNIPPET < len(text) else "")


def match_record(record: Record, needle: str, fields: tuple[str, ...], partition: int = 0) -> Hit | None:
    """The record as a Hit when ``needle`` occurs (any case) in one of ``fields``."""
    folded = needle.lower()
    key, value = _text(record.key), _text(record.value)
    places: list[tuple[str, str]] = []
    if "key" in fields:
        places.append(("key", key))
    if "value" in fields:
        places.append(("value", value))
    if "headers" in fields:
        for name, raw in record.headers:
            places.append((f"header {name}", f"{name}: {_text(raw)}"))
    for where, text in places:
        found = _find(text, folded)
        if found is not None:
            return Hit(partition, record.offset, record.timestamp, where, *found, _preview(key), _preview(value))
    return None


@dataclass
class _Cursor:
    partition: int
    low: int  # log start when the search began
    end: int  # next chunk ends here (exclusive); the partition is done when end <= low


@dataclass
class SearchJob:
    """One search of one topic; ``step()`` reads one chunk. Thread-safe for its readers."""

    topic: str
    needle: str
    fields: tuple[str, ...]
    max_scan: int
    max_results: int
    cluster_name: str
    id: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    state: State = "running"
    scanned: int = 0
    total: int = 0  # records in the partitions when the search began (capped at max_scan)
    hits: list[Hit] = field(default_factory=list)
    error: str = ""
    stop_reason: str = ""
    _cursors: list[_Cursor] = field(default_factory=list)
    _next: int = 0
    _cancel: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def plan(self, cluster: Cluster) -> None:
        desc = cluster.describe_topic(self.topic)
        self._cursors = [
            _Cursor(p.partition, p.log_start_offset, p.high_watermark)
            for p in desc.partitions
            if p.high_watermark > p.log_start_offset
        ]
        self.total = min(sum(c.end - c.low for c in self._cursors), self.max_scan)
        if not self._cursors:
            self._finish("done", "the topic has no records")

    def cancel(self) -> None:
        self._cancel.set()
        with self._lock:
            if self.state == "running":
                self._finish("cancelled", "cancelled")

    def _finish(self, state: State, reason: str) -> None:
        self.state, self.stop_reason = state, reason

    @property
    def percent(self) -> int:
        return 100 if not self.total else min(100, self.scanned * 100 // self.total)

    def step(self, cluster: Cluster) -> bool:
        """Read and match one chunk of one partition; False once the search is over."""
        if self._cancel.is_set() or self.state != "running":
            return False
        live = [c for c in self._cursors if c.end > c.low]
        if not live:
            with self._lock:
                self._finish("done", "every record was read")
            return False
        cur = live[self._next % len(live)]
        self._next += 1
        size = min(CHUNK, cur.end - cur.low, self.max_scan - self.scanned)
        start = cur.end - size
        try:
            records = cluster.read(self.topic, cur.partition, start, size)
        except KafkaError as e:
            with self._lock:
                self.error = f"{type(e).__name__}: {e}"
                self._finish("failed", "the cluster refused a read")
            return False
        records = [r for r in records if r.offset < cur.end]
        found = []
        for r in sorted(records, key=lambda r: -r.offset):  # newest first within the chunk
            hit = match_record(r, self.needle, self.fields, cur.partition)
            if hit is not None:
                found.append(hit)
        with self._lock:
            if self.state != "running":
                return False
            # A compacted or retention-trimmed range reads fewer records than offsets: the
            # cursor moves by offsets so the search always ends.
            cur.end = start if start > cur.low else cur.low
            self.scanned += size
            room = self.max_results - len(self.hits)
            self.hits.extend(found[:room])
            if len(self.hits) >= self.max_results:
                self._finish("done", f"stopped at {self.max_results} results")
            elif self.scanned >= self.max_scan:
                self._finish("done", f"stopped after reading {self.max_scan:,} records")
            elif all(c.end <= c.low for c in self._cursors):
                self._finish("done", "every record was read")
            return self.state == "running"

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "job": self,
                "state": self.state,
                "scanned": self.scanned,
                "total": self.total,
                "percent": self.percent,
                "hits": sorted(self.hits, key=lambda h: (-h.timestamp, h.partition, -h.offset)),
                "error": self.error,
                "stop_reason": self.stop_reason,
            }


_jobs: OrderedDict[str, SearchJob] = OrderedDict()
_jobs_lock = threading.Lock()


def _running() -> int:
    return sum(1 for j in _jobs.values() if j.state == "running")


def _remember(job: SearchJob) -> None:
    with _jobs_lock:
        _jobs[job.id] = job
        while len(_jobs) > KEEP_JOBS:
            oldest = next((k for k, j in _jobs.items() if j.state != "running"), None)
            if oldest is None:
                break
            del _jobs[oldest]


def get_job(job_id: str, topic: str) -> SearchJob:
    with _jobs_lock:
        job = _jobs.get(job_id)
    if job is None and engine.is_embedded() and not engine.is_owner():
        # serve --workers N: the start was a POST, forwarded to worker 0, so the job
        # runs there; its progress is asked there too (core/forward.py).
        raise engine.EngineElsewhere("this search runs in the engine's own process (worker 0)")
    if job is None or job.topic != topic:
        raise Http404("No such search: it finished long ago or the server restarted. Start it again.")
    return job


def _pause_s() -> float:
    raw = settings.OFFSETSITE.get("SEARCH_CHUNK_PAUSE_S", os.environ.get("OFFSETSITE_SEARCH_CHUNK_PAUSE_S", "0"))
    return max(float(str(raw)), 0.0)


def _run(job: SearchJob) -> None:
    pause = _pause_s()
    with using(job.cluster_name):
        cluster = get_cluster(job.cluster_name)
        while job.step(cluster):
            if pause and job._cancel.wait(pause):
                break


def start(job: SearchJob, cluster: Cluster) -> None:
    """Plan the job and, unless tests drive it, run it in a thread of its own."""
    job.plan(cluster)
    _remember(job)
    if job.state == "running" and settings.OFFSETSITE.get("SEARCH_RUNNER", True):
        threading.Thread(target=_run, args=(job,), name=f"record-search-{job.id}", daemon=True).start()


@dataclass
class SearchQuery:
    needle: str = ""
    fields: tuple[str, ...] = FIELDS
    max_scan: int = DEFAULT_MAX_SCAN
    max_results: int = DEFAULT_MAX_RESULTS
    problems: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, params: Any) -> SearchQuery:
        qy = cls()
        qy.needle = str(params.get("q", "")).strip()
        if not qy.needle:
            qy.problems.append("Type the text to search for (it is matched in any case).")
        elif len(qy.needle) > MAX_NEEDLE:
            qy.problems.append(f"The search text is {len(qy.needle)} characters long; at most {MAX_NEEDLE}.")
        chosen = tuple(f for f in FIELDS if f in params.getlist("in"))
        if params.getlist("in") and not chosen:
            qy.problems.append(f"Search in must be some of: {', '.join(FIELDS)}.")
        qy.fields = chosen or FIELDS
        qy.max_scan = _bounded(params.get("max_scan", ""), DEFAULT_MAX_SCAN, LIMIT_MAX_SCAN, "max_scan", qy.problems)
        qy.max_results = _bounded(
            params.get("max_results", ""), DEFAULT_MAX_RESULTS, LIMIT_MAX_RESULTS, "max_results", qy.problems
        )
        return qy


def _bounded(raw: str, default: int, limit: int, name: str, problems: list[str]) -> int:
    raw = str(raw).strip().replace(",", "").replace("_", "")
    if not raw:
        return default
    if not raw.isdecimal() or len(raw) > 12 or not 1 <= int(raw) <= limit:
        problems.append(f"{name} must be a whole number from 1 to {limit:,}; got {raw[:20]!r}.")
        return default
    return int(raw)


# --- views ------------------------------------------------------------------------


@require_GET
def search_page(request: HttpRequest, topic: str) -> HttpResponse:
    desc = _describe(topic)
    return render(
        request,
        "dashboard/record_search.html",
        {"topic": desc, "qy": SearchQuery(), "fields": FIELDS, "limit_scan": LIMIT_MAX_SCAN},
    )


@require_POST
def search_start(request: HttpRequest, topic: str) -> HttpResponse:
    """Start a search (POST, CSRF: it makes the server work); answers the job's progress."""
    desc = _describe(topic)
    qy = SearchQuery.parse(request.POST)
    ctx: dict[str, Any] = {"topic": desc, "qy": qy}
    if qy.problems:
        return render(request, "dashboard/record_search.html#job", {**ctx, "problems": qy.problems}, status=400)
    with _jobs_lock:
        busy = _running() >= MAX_RUNNING
    if busy:
        problem = f"{MAX_RUNNING} searches are running on this server; wait for one to end or cancel one."
        return render(request, "dashboard/record_search.html#job", {**ctx, "problems": [problem]}, status=429)
    job = SearchJob(topic, qy.needle, qy.fields, qy.max_scan, qy.max_results, current_cluster_name())
    try:
        start(job, get_cluster())
    except KafkaError as e:
        return render(request, "dashboard/record_search.html#job", {**ctx, "problems": [f"{type(e).__name__}: {e}"]})
    return render(request, "dashboard/record_search.html#job", {**ctx, **job.snapshot()})


@require_GET
def search_status(request: HttpRequest, topic: str, job_id: str) -> HttpResponse:
    job = get_job(job_id, topic)
    return render(request, "dashboard/record_search.html#job", {"topic": _describe(topic), **job.snapshot()})


@require_POST
def search_cancel(request: HttpRequest, topic: str, job_id: str) -> HttpResponse:
    job = get_job(job_id, topic)
    job.cancel()
    return render(request, "dashboard/record_search.html#job", {"topic": _describe(topic), **job.snapshot()})


# --- merged by timestamp ------------------------------------------------------------


def parse_cursor(raw: str, partitions: int) -> dict[int, int] | None:
    """``"0:120,1:98"`` -> {0: 120, 1: 98} (each partition's next offset, exclusive); None if malformed."""
    out: dict[int, int] = {}
    for part in filter(None, raw.split(",")):
        p, _, o = part.partition(":")
        if not (p.isdecimal() and o.isdecimal()) or len(p) > 6 or len(o) > 19 or int(p) >= partitions:
            return None
        out[int(p)] = int(o)
    return out


@dataclass
class MergedPage:
    rows: list[tuple[int, Any]]  # (partition, RecordRow)
    next_cursor: str  # "" when nothing older is left
    problem: str = ""


def merged_records(cluster: Cluster, topic: str, cursor: dict[int, int] | None, size: int = MERGED_PAGE) -> MergedPage:
    """The ``size`` newest records across partitions below ``cursor`` (all when None), newest first.

    Reads at most ``size`` records per partition (the page can hold no more from one),
    so a page costs one bounded read per partition whatever the topic's size. Ties on
    the timestamp go by partition then offset, descending, so the order is stable.
    """
    desc = cluster.describe_topic(topic)
    ends: dict[int, tuple[int, int]] = {}
    candidates: list[tuple[int, Record]] = []
    for p in desc.partitions:
        end = p.high_watermark if cursor is None else min(cursor.get(p.partition, p.high_watermark), p.high_watermark)
        ends[p.partition] = (p.log_start_offset, end)
        start = max(end - size, p.log_start_offset)
        if end <= start:
            continue
        for r in cluster.read(topic, p.partition, start, end - start):
            if r.offset < end:
                candidates.append((p.partition, r))
    candidates.sort(key=lambda pr: (pr[1].timestamp, pr[0], pr[1].offset), reverse=True)
    shown = candidates[:size]
    next_end = {part: end for part, (_, end) in ends.items()}
    for part, r in shown:
        next_end[part] = min(next_end[part], r.offset)
    more = any(next_end[part] > ends[part][0] for part in ends)
    cursor_text = ",".join(f"{part}:{o}" for part, o in sorted(next_end.items())) if more and shown else ""
    return MergedPage([(part, record_row(r)) for part, r in shown], cursor_text)


@require_GET
def merged_page(request: HttpRequest, topic: str) -> HttpResponse:
    desc = _describe(topic)
    raw = request.GET.get("before", "")
    cursor = parse_cursor(raw, len(desc.partitions)) if raw else None
    problem = ""
    if raw and cursor is None:
        problem = (
            f"The page position {raw[:40]!r} is not one this page made (partition:offset pairs, "
            f"partitions 0 to {len(desc.partitions) - 1}). Showing the newest records."
        )
    try:
        page = merged_records(get_cluster(), topic, cursor)
    except KafkaError as e:
        page = MergedPage([], "", f"{type(e).__name__}: {e}")
    page.problem = page.problem or problem
    next_url = reverse("topic_merged", args=[topic]) + "?" + urlencode({"before": page.next_cursor})
    ctx = {"topic": desc, "page": page, "next_url": next_url if page.next_cursor else "", "first": not raw}
    htmx = getattr(request, "htmx", None)
    template = (
        "dashboard/record_merged.html#rows" if htmx and htmx.target == "merged-rows" else "dashboard/record_merged.html"
    )
    return render(request, template, ctx)
