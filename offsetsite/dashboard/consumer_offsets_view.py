"""``__consumer_offsets`` decoded, newest first: the notebook, page by page.

Each record of the internal topic is a commit (key: group, topic, partition; value:
the next offset to read, metadata, commit time), a group's metadata (key: group;
value: generation, protocol, leader, members) or a tombstone (a null value: the
offset or the group was deleted). Compaction later keeps only the newest record per
key, so older pages thin out while one watches.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field, replace
from typing import Literal

from logcore import offsets_codec as codec
from logcore.cluster import Cluster
from logcore.errors import KafkaError
from logcore.records import Record

from .records_view import iso_utc

OFFSETS_TOPIC = "__consumer_offsets"
DEFAULT_PAGE = 50
MAX_PAGE = 500
# Reading backwards through compaction gaps: at most this many chunks per page, so a
# partition emptied by compaction cannot keep a request busy.
MAX_CHUNKS = 20

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


def newest_below(cluster: Cluster, partition: int, before: int, count: int) -> tuple[list[Record], int]:
    """Up to ``count`` records with offsets < ``before``, newest first, reading backwards.

    Also returns the lowest offset looked at: everything from there up to ``before``
    was read (compaction gaps included), so a next page continues below it.
    """
    log_start, hw = cluster.watermarks(OFFSETS_TOPIC, partition)
    upper = min(before, hw)
    found: list[Record] = []
    for _ in range(MAX_CHUNKS):
        if upper <= log_start or len(found) >= count:
            break
        start = max(log_start, upper - (count - len(found)))
        try:
            chunk = cluster.read(OFFSETS_TOPIC, partition, start, upper - start)
        except KafkaError:
            break
        found.extend(reversed([r for r in chunk if r.offset < upper]))
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
    cluster: Cluster, partitions: list[int], cursor: Cursor | None = None, size: int = DEFAULT_PAGE
) -> OffsetsPage:
    """A page of the newest records across ``partitions`` (one partition for a filter).

    Partitions are separate logs, so "newest first" across them merges by record
    timestamp; the cursor remembers, per partition, where the page stopped.
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
    for p, b in bounds.items():
        candidates[p], reached[p] = newest_below(cluster, p, b, size)
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
