"""What the lesson's train view shows, read from the engine in one go.

Per partition (compartment): its seats coloured by the ledger (``logcore.ledger.Seat``),
the checkers walking it (their position and the record in hand), and its notebook
page: the group's committed offset as the coordinator holds it (the latest
``__consumer_offsets`` record for the key group/topic/partition), when it was written,
which checker wrote it and in which generation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from logcore.checkers import CheckerView, State
from logcore.errors import GroupIdNotFound, UnknownTopicOrPartition
from logcore.java_hash import partition_for_group
from logcore.ledger import Counts, Seat
from offsetsite import engine
from offsetsite.dashboard.consumer_offsets.page import OFFSETS_TOPIC
from offsetsite.dashboard.topics.records import iso_utc

from . import lesson, service

MAX_SEATS = 120  # per compartment; a longer train shows its newest seats

SEAT_LABELS = {
    Seat.UNREAD: "not checked yet",
    Seat.FETCHED: "in a checker's hand",
    Seat.CHECKED: "checked once, noted",
    Seat.UNNOTED: "checked, not noted yet",
    Seat.TWICE: "checked twice (a duplicate)",
    Seat.SKIPPED: "skipped (a loss)",
}


@dataclass(frozen=True)
class SeatView:
    offset: int
    state: str
    label: str
    walker: str = ""  # the checker standing here (in hand, or next to fetch)


@dataclass(frozen=True)
class Walker:
    name: str
    state: str
    position: int | None  # the next seat it fetches
    in_hand: int | None  # the seat it checks right now
    policy: str


@dataclass(frozen=True)
class Notebook:
    committed: int | None
    written: str  # ISO time of the commit, "" when unknown
    writer: str  # the checker whose commit this is, "" when unknown
    generation: int | None
    offsets_partition: int  # the __consumer_offsets partition holding the group's records

    @property
    def written_clock(self) -> str:
        """The time of day of the commit (UTC), short enough for a notebook page."""
        return self.written[11:19] + " UTC" if self.written else ""


@dataclass(frozen=True)
class Compartment:
    partition: int
    log_start: int
    end: int  # high watermark: the next seat to be given out
    first_shown: int
    seats: tuple[SeatView, ...]
    walkers: tuple[Walker, ...]
    notebook: Notebook
    counts: Counts
    lag: int | None


@dataclass(frozen=True)
class Train:
    topic: str
    group: str
    compartments: tuple[Compartment, ...]
    totals: Counts
    walkers: tuple[Walker, ...]
    waiting_ms: int | None  # a crashed member's session ends in this long (None: nobody waits)
    generation: int | None
    state: str
    legend: tuple[tuple[str, str], ...] = field(default=tuple((s.value, SEAT_LABELS[s]) for s in Seat))


def build() -> Train:
    """The lesson train as it is now (empty compartments when the topic does not exist yet)."""
    group_lab = service.group_lab(lesson.GROUP)
    views = [c for c in service.checkers() if c.group == lesson.GROUP]
    with engine.locked():
        cluster = engine.embedded()
        try:
            parts = len(cluster.describe_topic(lesson.TOPIC).partitions)
        except UnknownTopicOrPartition:
            parts = 0
        try:
            desc = cluster.describe_group(lesson.GROUP)
            generation: int | None = desc.generation
            gstate = desc.state
        except GroupIdNotFound:
            desc, generation, gstate = None, None, "Dead"
        committed = {tp: om for tp, om in cluster.coordinator.fetch_offsets(lesson.GROUP).items() if om}
        offsets_parts = len(cluster.describe_topic(OFFSETS_TOPIC).partitions)
        marks = [(p, *cluster.watermarks(lesson.TOPIC, p)) for p in range(parts)]
    stale = service.stale_session_s(lesson.GROUP)
    waiting_ms = None if stale is None else round(stale * 1000)
    counts = {(r.topic, r.partition): r.counts for r in group_lab.partitions} if group_lab else {}
    walkers = tuple(
        Walker(
            v.name,
            str(v.state),
            None,
            None,
            v.policy_text,
        )
        for v in views
    )
    compartments = []
    for p, log_start, end in marks:
        tp = (lesson.TOPIC, p)
        first = max(log_start, end - MAX_SEATS)
        states = service.seats(lesson.GROUP, lesson.TOPIC, p, first, end) or [Seat.UNREAD] * (end - first)
        here: list[Walker] = []
        standing: dict[int, str] = {}
        for v in views:
            if tp not in v.assignment or v.state in (State.CRASHED, State.STOPPED):
                continue
            position = dict(v.positions).get(tp)
            in_hand = v.current_offset if v.current == tp else None
            held = [o for t, o in v.held if t == tp]
            if in_hand is None and held:
                in_hand = held[0]
            here.append(Walker(v.name, str(v.state), position, in_hand, v.policy_text))
            spot = in_hand if in_hand is not None else position
            if spot is not None:
                standing[spot] = v.name
        seats = tuple(
            SeatView(first + i, s.value, SEAT_LABELS[s], standing.get(first + i, "")) for i, s in enumerate(states)
        )
        om = committed.get(tp)
        notebook = Notebook(
            committed=om.offset if om else None,
            written=iso_utc(om.commit_timestamp) if om and om.commit_timestamp > 0 else "",
            writer=_writer(views, tp, om.offset) if om else "",
            generation=generation,
            offsets_partition=partition_for_group(lesson.GROUP, offsets_parts),
        )
        compartments.append(
            Compartment(
                p,
                log_start,
                end,
                first,
                seats,
                tuple(here),
                notebook,
                counts.get(tp, Counts()),
                end - om.offset if om else None,
            )
        )
    totals = group_lab.totals if group_lab else Counts()
    return Train(lesson.TOPIC, lesson.GROUP, tuple(compartments), totals, walkers, waiting_ms, generation, gstate)


def _writer(views: list[CheckerView], tp: tuple[str, int], offset: int) -> str:
    """The checker whose last commit for ``tp`` is ``offset`` (the notebook's handwriting)."""
    for v in views:
        if dict(v.last_commit).get(tp) == offset:
            return v.name
    return ""
