"""``__consumer_offsets`` decoded, newest first: the notebook, page by page.

Each record of the internal topic is a commit (key: group, topic, partition; value:
the next offset to read, metadata, commit time), a group's metadata (key: group;
value: generation, protocol, leader, members) or a tombstone (a null value: the
offset or the group was deleted). Compaction later keeps only the newest record per
key, so older pages thin out while one watches.

Two ways to narrow the firehose, both in the query string so a URL can be shared:

* ``group=G``: only the records of group G. Kafka keeps all of a group's records in one
  partition, ``abs(hash(G)) % partitions`` (the coordinator's partition; see Kafka's
  ``GroupCoordinator.partitionFor``), so only that partition is read.
* ``view=latest``: the current committed entry of each (group, topic, partition): the
  newest commit per key, without the ones a tombstone deleted, which is what log
  compaction keeps of the topic (Kafka's documentation, "Log Compaction").
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

from logcore import offsets_codec as codec
from logcore.cluster import Cluster
from logcore.errors import KafkaError
from logcore.records import Record
from offsetsite.dashboard.topics.records import iso_utc

OFFSETS_TOPIC = "__consumer_offsets"
DEFAULT_PAGE = 50
MAX_PAGE = 500
# Reading backwards through compaction gaps: at most this many chunks per page, so a
# partition emptied by compaction cannot keep a request busy.
MAX_CHUNKS = 20
# With a group filter most records read are another group's: read bigger chunks.
FILTERED_CHUNK = 1000
# The latest view reads whole partitions (what compaction would keep needs every record
# since the log start), in chunks of this many records, and shows at most MAX_LATEST rows.
LATEST_CHUNK = 5000
MAX_LATEST = 2000

RowKind = Literal["commit", "group", "commit-tombstone", "group-tombstone", "undecodable"]


@dataclass(frozen=True)
class OffsetsRow:
    """One decoded record of ``__consumer_offsets``."""

    partition: int  # of __consumer_offsets
    offset: int
    timestamp: int
    kind: RowKind
    group: str = ""
    topic: str = ""
    topic_partition: int | None = None
    committed: int | None = None  # the next record the group will read
    metadata: str = ""
    commit_timestamp: int | None = None
    leader_epoch: int | None = None
    generation: int | None = None
    protocol_type: str = ""
    protocol: str | None = None
    leader: str | None = None
    members: tuple[str, ...] = ()
    error: str = ""

    @property
    def iso(self) -> str:
        return iso_utc(self.timestamp)

    @property
    def commit_iso(self) -> str:
        return iso_utc(self.commit_timestamp) if self.commit_timestamp not in (None, -1) else ""

    @property
    def tombstone(self) -> bool:
        return self.kind.endswith("tombstone")


def decode_record(partition: int, record: Record) -> OffsetsRow:
    """Decode one record; a record logcore cannot read is shown as undecodable, not dropped."""
    base = OffsetsRow(partition, record.offset, record.timestamp, "undecodable")
    if record.key is None:
        return replace(base, error="no key")
    try:
        key = codec.decode_key(record.key)
    except codec.SchemaError as e:
        return replace(base, error=str(e))
    if isinstance(key, codec.OffsetCommitKey):
        base = replace(base, group=key.group, topic=key.topic, topic_partition=key.partition)
        if record.value is None:
            return replace(base, kind="commit-tombstone")
        try:
            v = codec.decode_offset_value(record.value)
        except codec.SchemaError as e:
            return replace(base, error=str(e))
        return replace(
            base,
            kind="commit",
            committed=v.offset,
            metadata=v.metadata,
            commit_timestamp=v.commit_timestamp,
            leader_epoch=v.leader_epoch,
        )
    base = replace(base, group=key.group)
    if record.value is None:
        return replace(base, kind="group-tombstone")
    try:
        g = codec.decode_group_value(record.value)
    except codec.SchemaError as e:
        return replace(base, error=str(e))
    return replace(
        base,
        kind="group",
        generation=g.generation,
        protocol_type=g.protocol_type,
        protocol=g.protocol,
        leader=g.leader,
        members=tuple(f"{m.member_id} ({m.client_id}@{m.client_host})" for m in g.members),
    )


def record_group(record: Record) -> str | None:
    """The group a record of ``__consumer_offsets`` belongs to (None: undecodable key)."""
    if record.key is None:
        return None
    try:
        return codec.decode_key(record.key).group
    except codec.SchemaError:
        return None


def newest_below(
    cluster: Cluster, partition: int, before: int, count: int, keep: Callable[[Record], bool] | None = None
) -> tuple[list[Record], int]:
    """Up to ``count`` records with offsets < ``before``, newest first, reading backwards.

    Also returns the lowest offset looked at: everything from there up to ``before``
    was read (compaction gaps included), so a next page continues below it. ``keep``
    filters the records (a group's only); skipped records still count as read.
    """
    log_start, hw = cluster.watermarks(OFFSETS_TOPIC, partition)
    upper = min(before, hw)
    found: list[Record] = []
    for _ in range(MAX_CHUNKS):
        if upper <= log_start or len(found) >= count:
            break
        want = count - len(found)
        start = max(log_start, upper - (max(want, FILTERED_CHUNK) if keep else want))
        try:
            chunk = cluster.read(OFFSETS_TOPIC, partition, start, upper - start)
        except KafkaError:
            break
        found.extend(reversed([r for r in chunk if r.offset < upper and (keep is None or keep(r))]))
        upper = start
    if len(found) > count:
        return found[:count], found[count - 1].offset
    return found, upper


Cursor = dict[int, int]  # partition -> read only offsets below this


def parse_cursor(text: str, partitions: int) -> Cursor:
    """``"0:120,3:77"`` -> {0: 120, 3: 77}; raises ValueError saying what is allowed."""
    out: Cursor = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        p_text, sep, o_text = part.partition(":")
        if not sep or not p_text.isdigit() or not o_text.isdigit():
            raise ValueError(f"page position {part!r} is not partition:offset (two whole numbers)")
        p = int(p_text)
        if p >= partitions:
            raise ValueError(f"partition {p} does not exist: {OFFSETS_TOPIC} has partitions 0 to {partitions - 1}")
        out[p] = int(o_text)
    return out


def format_cursor(cursor: Cursor) -> str:
    return ",".join(f"{p}:{o}" for p, o in sorted(cursor.items()))


@dataclass
class OffsetsPage:
    rows: list[OffsetsRow] = field(default_factory=list)
    older: str | None = None  # cursor of the next (older) page
    newest: bool = True  # this page starts at the newest records


def offsets_page(
    cluster: Cluster,
    partitions: list[int],
    cursor: Cursor | None = None,
    size: int = DEFAULT_PAGE,
    group: str | None = None,
) -> OffsetsPage:
    """A page of the newest records across ``partitions`` (one partition for a filter).

    Partitions are separate logs, so "newest first" across them merges by record
    timestamp; the cursor remembers, per partition, where the page stopped. ``group``
    keeps only that group's records (pass its partition only: it has no others).
    """
    size = max(1, min(size, MAX_PAGE))
    bounds: Cursor = {}
    for p in partitions:
        log_start, hw = cluster.watermarks(OFFSETS_TOPIC, p)
        # A partition missing from a cursor was read to its log start on earlier pages.
        bound = min(cursor.get(p, log_start), hw) if cursor else hw
        if bound > log_start:
            bounds[p] = bound
    candidates: dict[int, list[Record]] = {}
    reached: dict[int, int] = {}
    keep = None if group is None else (lambda r: record_group(r) == group)
    for p, b in bounds.items():
        candidates[p], reached[p] = newest_below(cluster, p, b, size, keep)
    # Each partition's records come newest offset first; the merge looks only at
    # the head of each, so a partition's own order is kept even where producers'
    # timestamps are not monotonic, and the cursor below stays exact.
    merged = heapq.merge(
        *([(-r.timestamp, p, -r.offset, r) for r in recs] for p, recs in candidates.items()),
        key=lambda t: (t[0], t[1], t[2]),
    )
    taken: list[tuple[int, Record]] = []
    for _, p, _, r in merged:
        if len(taken) >= size:
            break
        taken.append((p, r))
    used: dict[int, int] = {}
    for p, _ in taken:
        used[p] = used.get(p, 0) + 1
    next_bounds: Cursor = {}
    for p, recs in candidates.items():
        n = used.get(p, 0)
        # All of a partition's candidates shown: continue below what was scanned;
        # else continue right below the oldest record shown from it.
        next_bounds[p] = reached[p] if n == len(recs) else recs[n - 1].offset if n else bounds[p]
    page = OffsetsPage(rows=[decode_record(p, r) for p, r in taken], newest=not cursor)
    remaining = {p: o for p, o in next_bounds.items() if o > cluster.watermarks(OFFSETS_TOPIC, p)[0]}
    if remaining and remaining != bounds:
        page.older = format_cursor(remaining)
    return page


@dataclass
class LatestEntries:
    """The current committed entry of each (group, topic, partition): what compaction keeps."""

    rows: list[OffsetsRow] = field(default_factory=list)
    total: int = 0  # entries found; only the first MAX_LATEST are in rows
    scanned: int = 0  # records read to find them


def latest_entries(cluster: Cluster, partitions: list[int], group: str | None = None) -> LatestEntries:
    """The newest commit per (group, topic, partition) in ``partitions``, sorted by those keys.

    A commit tombstone deletes its key (the offset was deleted), as compaction will;
    group metadata records are not offsets and are left out. Reads every record from
    each partition's log start: the answer is a fold over the whole log.
    """
    latest: dict[tuple[str, str, int], OffsetsRow] = {}
    scanned = 0
    for p in partitions:
        log_start, hw = cluster.watermarks(OFFSETS_TOPIC, p)
        at = log_start
        while at < hw:
            try:
                chunk = cluster.read(OFFSETS_TOPIC, p, at, min(LATEST_CHUNK, hw - at))
            except KafkaError:
                break  # retention moved the log start: show what was read
            if not chunk:
                break
            for r in chunk:
                scanned += 1
                if group is not None and record_group(r) != group:
                    continue
                row = decode_record(p, r)
                if row.kind not in ("commit", "commit-tombstone") or row.topic_partition is None:
                    continue
                key = (row.group, row.topic, row.topic_partition)
                if row.kind == "commit":
                    latest[key] = row
                else:
                    latest.pop(key, None)
            at = chunk[-1].offset + 1
    ordered = [latest[k] for k in sorted(latest)]
    return LatestEntries(ordered[:MAX_LATEST], len(ordered), scanned)
