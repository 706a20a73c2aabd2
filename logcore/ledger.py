"""What simulated consumers really processed, and what that means next to the commits.

Kafka keeps one number per group and partition: the committed offset, the next record
the group will read. It does not know what a consumer *did* with the records before
that number. A workshop needs exactly that difference on screen, so the ticket
checkers (``logcore.checkers``) write every record they process to a ``Ledger``, and
the ledger, read beside the committed offsets and the high watermark, counts:

- **duplicates**: records processed twice or more (a crash after processing, before the
  commit: at-least-once delivery, Kafka's documented default for manual commits after
  processing and for ``enable.auto.commit``);
- **losses**: records behind the committed offset that nobody processed (the commit ran
  ahead of the work: at-most-once, commit before processing);
- **in flight**: records a consumer holds and has not processed yet, or processed and
  not committed yet: what a crash now would lose or repeat.

Kafka's consumer documentation ("Offsets and Consumer Position", KafkaConsumer
javadoc) describes both failure modes; the ledger makes them countable.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

from .groups import TopicPartition

# A seat's history keeps who checked it, at most this many times: enough to show
# "checked by rear, then again by front" without growing on a stuck loop.
MAX_VISITS_KEPT = 8


class Seat(enum.StrEnum):
    """One offset of a partition, as the lesson colours it."""

    UNREAD = "unread"  # nobody fetched it yet
    FETCHED = "fetched"  # in a checker's hands, not processed yet
    CHECKED = "checked"  # processed once, and the commit covers it
    UNNOTED = "unnoted"  # processed once, the commit does not cover it yet
    TWICE = "twice"  # processed two times or more: a duplicate
    SKIPPED = "skipped"  # behind the committed offset, never processed: a loss


@dataclass(frozen=True)
class Visit:
    checker: str
    at_ms: int


@dataclass
class PartitionLedger:
    """Processing counts of one group's partition."""

    # The first offset any checker of the group fetched here: losses are counted from it,
    # since records before it were never this lab's to process.
    origin: int | None = None
    visits: dict[int, list[Visit]] = field(default_factory=dict)
    times: dict[int, int] = field(default_factory=dict)

    def note_fetch(self, offset: int) -> None:
        if self.origin is None or offset < self.origin:
            self.origin = offset

    def note_processed(self, offset: int, checker: str, at_ms: int) -> None:
        self.note_fetch(offset)
        self.times[offset] = self.times.get(offset, 0) + 1
        kept = self.visits.setdefault(offset, [])
        if len(kept) < MAX_VISITS_KEPT:
            kept.append(Visit(checker, at_ms))


@dataclass(frozen=True)
class Counts:
    """The lesson's numbers for one group's partition (or a sum of them)."""

    processed: int = 0  # processings in all (a record checked twice counts 2)
    duplicates: int = 0  # records processed two times or more
    extra: int = 0  # processings beyond the first: the wasted work
    losses: int = 0  # records behind the committed offset never processed
    in_flight: int = 0  # held and unprocessed, or processed and not committed yet

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.processed + other.processed,
            self.duplicates + other.duplicates,
            self.extra + other.extra,
            self.losses + other.losses,
            self.in_flight + other.in_flight,
        )


class Ledger:
    """Per group and partition: which offsets were processed, how many times, by whom."""

    def __init__(self) -> None:
        self._parts: dict[tuple[str, str, int], PartitionLedger] = {}

    def part(self, group: str, tp: TopicPartition) -> PartitionLedger:
        key = (group, tp[0], tp[1])
        found = self._parts.get(key)
        if found is None:
            found = self._parts[key] = PartitionLedger()
        return found

    def get(self, group: str, tp: TopicPartition) -> PartitionLedger | None:
        return self._parts.get((group, tp[0], tp[1]))

    def partitions(self, group: str | None = None) -> list[tuple[str, TopicPartition]]:
        return sorted((g, (t, p)) for (g, t, p) in self._parts if group is None or g == group)

    def groups(self) -> list[str]:
        return sorted({g for (g, _, _) in self._parts})

    def clear(self, group: str | None = None) -> None:
        if group is None:
            self._parts.clear()
        else:
            for key in [k for k in self._parts if k[0] == group]:
                del self._parts[key]

    def counts(
        self, group: str, tp: TopicPartition, committed: int | None, fetched: Iterable[int] = (), log_start: int = 0
    ) -> Counts:
        """The numbers for one partition, given its committed offset (None: nothing committed).

        ``fetched`` are offsets a running checker holds but has not processed; losses
        only count offsets still in the log (``log_start`` on), since retention may
        have removed older ones for reasons that are not the consumer's.
        """
        part = self._parts.get((group, tp[0], tp[1]))
        held = set(fetched)
        if part is None:
            return Counts(in_flight=len(held))
        processed = sum(part.times.values())
        dup = sum(1 for n in part.times.values() if n >= 2)
        extra = sum(n - 1 for n in part.times.values() if n >= 2)
        losses = 0
        # In flight: held and not processed yet (whatever the commit says: with commit
        # before processing these are noted already, and a crash now loses them), or
        # processed and not covered by the commit yet (a crash now repeats them).
        in_flight = set(held)
        if committed is not None:
            if part.origin is not None:
                start = max(part.origin, log_start)
                losses = sum(1 for o in range(start, committed) if o not in part.times and o not in held)
            in_flight.update(o for o in part.times if o >= committed)
        else:
            in_flight.update(part.times)
        return Counts(processed, dup, extra, losses, len(in_flight))

    def seats(
        self,
        group: str,
        tp: TopicPartition,
        first: int,
        end: int,
        committed: int | None,
        fetched: Iterable[int] = (),
    ) -> list[Seat]:
        """The state of offsets [first, end), for a seat strip."""
        part = self._parts.get((group, tp[0], tp[1]))
        held = set(fetched)
        out: list[Seat] = []
        origin = part.origin if part is not None and part.origin is not None else None
        times = part.times if part is not None else {}
        for o in range(first, end):
            n = times.get(o, 0)
            if n >= 2:
                out.append(Seat.TWICE)
            elif n == 1:
                out.append(Seat.CHECKED if committed is not None and o < committed else Seat.UNNOTED)
            elif o in held:
                out.append(Seat.FETCHED)
            elif committed is not None and origin is not None and origin <= o < committed:
                out.append(Seat.SKIPPED)
            else:
                out.append(Seat.UNREAD)
        return out
