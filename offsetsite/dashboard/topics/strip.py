"""A partition drawn as a log: a strip of numbered cells, like seats in a compartment.

A partition may hold millions of offsets, so the strip is windowed: the first few
offsets after the log start, the last few before the high watermark, and a small
region around every marker (a group's committed offset, a member's position). The
stretches in between are drawn as one elided cell that says how many offsets it
stands for. Only the offsets inside windows are read, a few dozen records at most,
so drawing the strip costs the same for ten records as for ten million.

Offsets inside a window with no record are compaction's gaps: the record was
removed because a newer one has the same key. A record with a null value is a
tombstone (it deletes its key once compaction has run long enough).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

from logcore.cluster import Cluster
from logcore.errors import KafkaError

HEAD_CELLS = 4  # offsets drawn right after the log start
TAIL_CELLS = 40  # offsets drawn right before the high watermark
AROUND_MARKER = 3  # offsets drawn on each side of a marker
MERGE_GAP = 3  # windows closer than this are joined (no "… 2 offsets" cells)
MAX_MARKER_WINDOWS = 16  # beyond this many marked offsets, markers share the tail window
# The seats a group has not read yet, from the lowest committed marker up to the HW, are
# drawn one by one up to this many: a lag of 5 and a lag of 150 look different. A longer
# stretch keeps its ends (the marker's window, the tail) and folds its middle into one
# cell that says how many unread offsets it stands for.
MAX_UNREAD_CELLS = 200


@dataclass(frozen=True)
class Marker:
    """Something pointing at an offset: a group's committed offset or a member's position."""

    kind: Literal["committed", "position"]
    group_id: str
    offset: int
    member: str = ""
    partition: int | None = None  # needed from position sources; committed markers are sorted by it
    unread: int | None = None  # committed markers drawn on a strip: offsets from here to the HW

    @property
    def label(self) -> str:
        if self.kind == "committed":
            behind = f" · {self.unread:,} unread" if self.unread else ""
            return f"{self.group_id}: next record to read{behind}"
        return f"{self.member or self.group_id}: position"

    @property
    def title(self) -> str:
        if self.kind == "committed":
            return (
                f"group {self.group_id} committed offset {self.offset}: the next record it will read is {self.offset}"
            )
        return f"member {self.member} of group {self.group_id}: its next poll returns offset {self.offset}"


@dataclass(frozen=True)
class Cell:
    """One offset of the strip."""

    offset: int
    state: Literal["record", "gap", "tombstone", "hw"]
    key: str = ""  # a short, already-decoded key for the cell's tooltip
    markers: tuple[Marker, ...] = ()
    log_start: bool = False
    unread: bool = False  # at or past the lowest group's committed offset: not read by every group
    # What a lab group's ticket checkers did with this seat (logcore.ledger.Seat's
    # values), when the page colours seats for one: "" otherwise.
    seat: str = ""

    @property
    def elided(self) -> bool:
        return False

    @property
    def seat_text(self) -> str:
        return SEAT_TEXT.get(self.seat, "")


@dataclass(frozen=True)
class Elided:
    """A stretch of offsets not drawn: [start, end).

    ``unread``: the stretch lies between a group's committed offset and the HW (its
    middle was folded because the lag is long); otherwise every group read it already.
    """

    start: int
    end: int
    unread: bool = False

    @property
    def elided(self) -> bool:
        return True

    @property
    def count(self) -> int:
        return self.end - self.start


@dataclass
class Strip:
    topic: str
    partition: int
    log_start: int
    high_watermark: int
    log_end: int
    items: list[Cell | Elided] = field(default_factory=list)
    # Markers the strip cannot draw: below the log start (retention removed the
    # records the group would read next) or past the high watermark.
    outside: list[Marker] = field(default_factory=list)
    owners: list[str] = field(default_factory=list)  # "group / client id" of assigned members
    error: str = ""
    seat_group: str = ""  # the lab group whose ticket checkers colour the seats, if any
    # (group, unread offsets) of each committed marker inside the log, most behind first
    unread: list[tuple[str, int]] = field(default_factory=list)

    @property
    def records(self) -> int:
        return self.high_watermark - self.log_start

    @property
    def gaps(self) -> int:
        """Gaps among the drawn cells (the strip does not read elided stretches)."""
        return sum(1 for i in self.items if isinstance(i, Cell) and i.state == "gap")


# Who else knows members' positions (e.g. consumers run by the web process itself)
# registers a source here: topic -> markers of kind "position", each with its partition.
PositionSource = Callable[[str], Iterable[Marker]]
_position_sources: list[PositionSource] = []


def register_position_source(source: PositionSource) -> None:
    """Add a source of member positions; it must be fast and never raise for a topic."""
    if source not in _position_sources:
        _position_sources.append(source)


def position_markers(topic: str) -> list[Marker]:
    out: list[Marker] = []
    for source in list(_position_sources):
        try:
            out.extend(m for m in source(topic) if m.kind == "position")
        except Exception:  # noqa: S112 - one broken source must not break the page
            continue
    return out


@dataclass
class GroupMarks:
    """What the groups say about one topic: committed offsets and owners, by partition."""

    committed: dict[int, list[Marker]] = field(default_factory=dict)
    # partition -> "group / client id" of each member that has it assigned
    owners: dict[int, list[str]] = field(default_factory=dict)


def group_marks(cluster: Cluster, topic: str) -> GroupMarks:
    """Every group's committed offset and owning member on ``topic``, in one pass over groups."""
    marks = GroupMarks()
    for desc in cluster.describe_all_groups():
        for row in desc.offsets:
            if row.topic != topic:
                continue
            if row.committed is not None:
                marks.committed.setdefault(row.partition, []).append(
                    Marker("committed", desc.group_id, row.committed, partition=row.partition)
                )
            if row.member_id:
                marks.owners.setdefault(row.partition, []).append(f"{desc.group_id} / {row.client_id or row.member_id}")
    return marks


def windows(log_start: int, hw: int, marked: Iterable[int], unread_from: int | None = None) -> list[tuple[int, int]]:
    """The [start, end) ranges of offsets to draw, sorted, merged, within [log_start, hw).

    ``unread_from`` is the lowest committed offset: the unread seats from there to the
    HW are drawn whole when there are at most ``MAX_UNREAD_CELLS`` of them.
    """
    if hw <= log_start:
        return []
    wanted = [(log_start, log_start + HEAD_CELLS), (hw - TAIL_CELLS, hw)]
    if unread_from is not None and log_start <= unread_from < hw and hw - unread_from <= MAX_UNREAD_CELLS:
        wanted.append((unread_from - AROUND_MARKER, hw))
    inside = sorted({m for m in marked if log_start <= m <= hw})
    if len(inside) > MAX_MARKER_WINDOWS:
        # Many groups: keep the windows of the lowest and highest markers and a spread
        # between; every marker is still listed, only some regions are not drawn.
        step = len(inside) / MAX_MARKER_WINDOWS
        inside = sorted({inside[int(i * step)] for i in range(MAX_MARKER_WINDOWS)} | {inside[-1]})
    wanted.extend((m - AROUND_MARKER, m + AROUND_MARKER + 1) for m in inside)
    clipped = sorted((max(a, log_start), min(b, hw)) for a, b in wanted)
    merged: list[tuple[int, int]] = []
    for a, b in clipped:
        if a >= b:
            continue
        if merged and a <= merged[-1][1] + MERGE_GAP:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _short_key(key: bytes | None) -> str:
    if key is None:
        return ""
    text = key[:40].decode("utf-8", "replace")
    return text + ("…" if len(key) > 40 else "")


def build_strip(
    cluster: Cluster,
    topic: str,
    partition: int,
    log_start: int,
    hw: int,
    log_end: int,
    markers: Sequence[Marker] = (),
    owners: Sequence[str] = (),
    notable: Iterable[int] = (),
) -> Strip:
    """Draw one partition; reads only the offsets inside the windows.

    ``notable`` offsets get a window like a marker's without a label (a lab group's
    duplicates and losses, which a lesson wants on screen).
    """
    strip = Strip(topic, partition, log_start, hw, log_end, owners=list(owners))
    at: dict[int, list[Marker]] = {}
    for m in markers:
        if log_start <= m.offset <= hw:
            if m.kind == "committed":
                m = replace(m, unread=hw - m.offset)
                strip.unread.append((m.group_id, hw - m.offset))
            at.setdefault(m.offset, []).append(m)
        else:
            strip.outside.append(m)
    strip.unread.sort(key=lambda gu: (-gu[1], gu[0]))
    committed = [m.offset for ms in at.values() for m in ms if m.kind == "committed"]
    # Seats at or past the lowest committed offset are unread by some group; the ones
    # behind every marker are read by all and are the ones worth folding.
    unread_from = min(committed) if committed else None
    cursor = log_start
    for a, b in windows(log_start, hw, [*at, *notable], unread_from):
        if a > cursor:
            strip.items.append(Elided(cursor, a, unread_from is not None and cursor >= unread_from))
        try:
            records = cluster.read(topic, partition, a, b - a)
        except KafkaError as e:
            # The log moved under us (retention, a delete): draw what we know.
            strip.error = str(e)
            records = []
        found = {r.offset: r for r in records if r.offset < b}
        for off in range(a, b):
            r = found.get(off)
            state: Literal["record", "gap", "tombstone"]
            if r is None:
                state = "gap"
            elif r.value is None:
                state = "tombstone"
            else:
                state = "record"
            strip.items.append(
                Cell(
                    off,
                    state,
                    _short_key(r.key) if r else "",
                    tuple(at.get(off, ())),
                    off == log_start,
                    unread=unread_from is not None and off >= unread_from,
                )
            )
        cursor = b
    if hw > cursor:
        strip.items.append(Elided(cursor, hw, unread_from is not None and cursor >= unread_from))
    # The seat at the high watermark: where the next record will go, and where a
    # caught-up group's committed offset points.
    strip.items.append(Cell(hw, "hw", "", tuple(at.get(hw, ())), hw == log_start))
    return strip


# --- a lab group's seats ----------------------------------------------------------------

# What each seat state means, in the lesson's words (offsetsite.lab colours seats with
# logcore.ledger.Seat; the strip only knows the names).
SEAT_TEXT = {
    "checked": "checked once, and the notebook (committed offset) covers it",
    "unnoted": "checked once, not in the notebook yet (a crash now checks it again)",
    "twice": "checked twice or more: a duplicate",
    "skipped": "never checked, but the notebook says done: a loss",
    "fetched": "in a checker's hands, not checked yet",
    "unread": "not read by this group yet",
}


class SeatSource(Protocol):
    """Who knows what simulated consumers did with each offset (the lab of the embedded engine)."""

    def groups_on(self, topic: str) -> list[str]:
        """Groups with a history on ``topic``, the first one is the default to colour by."""
        ...

    def seats(self, group: str, topic: str, partition: int, first: int, end: int) -> list[str] | None:
        """The state of each offset of [first, end), or None when the group has no history here."""
        ...

    def notable(self, group: str, topic: str, partition: int, log_start: int, hw: int) -> list[int]:
        """A few offsets worth drawing even when no marker is near (duplicates, losses)."""
        ...


_seat_sources: list[SeatSource] = []


def register_seat_source(source: SeatSource) -> None:
    if source not in _seat_sources:
        _seat_sources.append(source)


def seat_source() -> SeatSource | None:
    return _seat_sources[0] if _seat_sources else None


def colour_seats(strip: Strip, source: SeatSource, group: str) -> None:
    """Give each drawn seat of ``strip`` its state for ``group`` (reads each run of cells once)."""
    cells = [i for i in strip.items if isinstance(i, Cell) and i.state != "hw"]
    runs: list[list[Cell]] = []
    for cell in cells:
        if runs and runs[-1][-1].offset + 1 == cell.offset:
            runs[-1].append(cell)
        else:
            runs.append([cell])
    states: dict[int, str] = {}
    for run in runs:
        found = source.seats(group, strip.topic, strip.partition, run[0].offset, run[-1].offset + 1)
        if found is None:
            return  # no history on this partition: leave it uncoloured
        states.update(zip((c.offset for c in run), found, strict=False))
    strip.items = [
        replace(i, seat=states.get(i.offset, "")) if isinstance(i, Cell) and i.offset in states else i
        for i in strip.items
    ]
    strip.seat_group = group
