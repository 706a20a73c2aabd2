"""What the topic page shows, built from the cluster without any HTTP.

The page view and the live renderer both build their context here, so a partition
strip or a tail page pushed over the websocket is exactly what a reload would show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from logcore.cluster import Cluster
from logcore.errors import KafkaError
from logcore.log_manager import PartitionInfo, TopicDescription
from offsetsite.dashboard.topics.records import RecordRow, ViewMode, record_row
from offsetsite.dashboard.topics.strip import (
    Marker,
    Strip,
    build_strip,
    colour_seats,
    group_marks,
    position_markers,
    seat_source,
)

DEFAULT_PAGE = 50
MAX_PAGE = 500
# The live renderer pushes the tail page of each partition; past this many
# partitions tails stop being live (the page says so) to keep frames small.
LIVE_TAIL_PARTITIONS = 8


def strips_for(cluster: Cluster, topic: TopicDescription, lab_group: str = "") -> list[Strip]:
    """Every partition of ``topic`` as a strip, with every group's committed offset on it.

    With ``lab_group``, the seats are coloured by what that group's ticket checkers did
    (offsetsite.lab), and its duplicates and losses get windows of their own.
    """
    marks = group_marks(cluster, topic.name)
    positions = position_markers(topic.name)
    source = seat_source() if lab_group else None
    out = []
    for p in topic.partitions:
        markers = [*marks.committed.get(p.partition, ()), *(m for m in positions if _on(m, p))]
        notable: list[int] = []
        if source is not None:
            notable = source.notable(lab_group, topic.name, p.partition, p.log_start_offset, p.high_watermark)
        strip = build_strip(
            cluster,
            topic.name,
            p.partition,
            p.log_start_offset,
            p.high_watermark,
            p.log_end_offset,
            markers,
            marks.owners.get(p.partition, ()),
            notable,
        )
        if source is not None:
            colour_seats(strip, source, lab_group)
        out.append(strip)
    return out


def lab_choice(topic: str, asked: str = "") -> tuple[list[str], str]:
    """The lab groups with a history on ``topic``, and the one that colours the seats.

    The viewer's choice (``?lab=G``) when it is one of them, else the first; ("", none)
    when no ticket checker ever read the topic (or the cluster has no lab).
    """
    source = seat_source()
    groups = source.groups_on(topic) if source is not None else []
    if not groups:
        return [], ""
    return groups, asked if asked in groups else groups[0]


def _on(marker: Marker, p: PartitionInfo) -> bool:
    return marker.partition == p.partition


@dataclass
class RecordsPage:
    """One page of the record table: ``size`` records of one partition from ``offset``."""

    topic: str
    partition: int
    size: int
    mode: ViewMode
    log_start: int
    high_watermark: int
    offset: int  # the first offset asked for
    tail: bool  # the page ends at the high watermark because the viewer asked for the tail
    rows: list[RecordRow] = field(default_factory=list)
    error: str = ""
    notice: str = ""  # about the page itself (empty partition, compaction): replaced live with the rows
    query_notice: str = ""  # about what the viewer asked for (a time jump): stays until the next request
    live_ok: bool = True  # False when the topic has more partitions than tails pushed live

    @property
    def prev_offset(self) -> int | None:
        if self.error or self.offset <= self.log_start:
            return None
        return max(self.log_start, self.offset - self.size)

    @property
    def next_offset(self) -> int | None:
        if self.error or not self.rows:
            return None
        nxt = self.rows[-1].offset + 1
        return nxt if nxt < self.high_watermark else None

    @property
    def live(self) -> bool:
        """Live updates push the tail of each partition in the default view only."""
        return self.tail and not self.error and self.live_ok and self.mode == "auto" and self.size == DEFAULT_PAGE

    @property
    def tbody_id(self) -> str:
        """Stable id of the rows: the tail's is swapped by live updates, others never."""
        return f"records-tail-p{self.partition}" if self.live else "records-page"

    @property
    def caption_id(self) -> str:
        """Stable id of the range and notice above the rows, swapped live with them."""
        return f"records-caption-p{self.partition}" if self.live else "records-caption"


def valid_range_text(log_start: int, hw: int) -> str:
    if hw <= log_start:
        return f"the partition is empty: log start = high watermark = {hw}, no record can be read yet"
    return f"valid offsets are [{log_start}, {hw}): from the log start {log_start} up to the high watermark {hw}"


def records_page(
    cluster: Cluster,
    topic: str,
    partition: int,
    offset: int | None,
    size: int = DEFAULT_PAGE,
    mode: ViewMode = "auto",
) -> RecordsPage:
    """Read one page: only ``size`` records, whatever the partition holds.

    ``offset`` None means the tail: the last ``size`` offsets before the high watermark.
    """
    size = max(1, min(size, MAX_PAGE))
    log_start, hw = cluster.watermarks(topic, partition)
    tail = offset is None
    start = max(log_start, hw - size) if offset is None else offset
    page = RecordsPage(topic, partition, size, mode, log_start, hw, start, tail)
    if hw <= log_start:
        page.notice = f"Partition {partition} holds no records: {valid_range_text(log_start, hw)}."
        return page
    if not log_start <= start < hw:
        page.error = f"Offset {start} is out of range for partition {partition}: {valid_range_text(log_start, hw)}."
        return page
    try:
        records = cluster.read(topic, partition, start, size)
    except KafkaError as e:  # retention moved the log start between the two calls
        page.error = str(e)
        return page
    page.rows = [record_row(r, mode) for r in records]
    if records and records[0].offset > start:
        page.notice = (
            f"No record at offset {start} (compaction removed it); the page starts at the next one, "
            f"{records[0].offset}."
        )
    return page


def topic_context(cluster: Cluster, name: str, lab: str = "") -> dict[str, Any]:
    """The live parts' context: the topic, its strips and summary numbers.

    ``lab`` is the lab group the viewer chose to colour the seats by (``?lab=``).
    """
    topic = cluster.describe_topic(name)
    lab_groups, lab_group = lab_choice(name, lab)
    return {
        "topic": topic,
        "strips": strips_for(cluster, topic, lab_group),
        "live_tails": len(topic.partitions) <= LIVE_TAIL_PARTITIONS,
        "lab_groups": lab_groups,
        "lab_group": lab_group,
    }
