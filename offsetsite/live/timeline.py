"""The group timeline's intake: events in, timeline entries out. Pure Python, no Django.

The bridge feeds every group event here from whatever thread made the change (often
under the engine lock), so ``add`` is O(size of the event) and never touches the
database. The sampler thread drains the buffer and writes the rows.

Commits are folded: a group committing a thousand times a second gets one "commit"
entry per window (5 s by default) saying how many commits and where each partition
ended up, so a fast consumer cannot flood the database or the page.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from logcore.events import (
    Event,
    GroupChanged,
    GroupDeleted,
    GroupRebalanced,
    OffsetsCommitted,
    OffsetsDeleted,
    OffsetsReset,
)

KINDS = ("commit", "rebalance", "reset", "delete", "member-join", "leave")
_MAX_LISTED = 8  # partitions named in a summary; the details keep them all


@dataclass
class Entry:
    group_id: str
    at: float  # seconds since the epoch
    kind: str
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class _PendingCommits:
    first_at: float
    last_at: float
    count: int = 0
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    members: set[str] = field(default_factory=set)


def _tp_list(items: list[tuple[str, int, int]]) -> str:
    shown = ", ".join(f"{t}-{p}→{o}" for t, p, o in items[:_MAX_LISTED])
    more = len(items) - _MAX_LISTED
    return shown + (f" and {more} more" if more > 0 else "")


class TimelineBuffer:
    """Thread-safe buffer between the event bus and the GroupEvent table."""

    def __init__(
        self,
        commit_window_s: float = 5.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.commit_window_s = commit_window_s
        self._clock = clock
        self._lock = threading.Lock()
        # Bounded: if the database stalls for long, the oldest entries go, not memory.
        self._entries: deque[Entry] = deque(maxlen=max_entries)
        self._commits: dict[str, _PendingCommits] = {}
        self._last_commit_entry: dict[str, float] = {}
        self.dropped = 0

    def add(self, event: Event) -> None:
        now = self._clock()
        if isinstance(event, OffsetsCommitted):
            with self._lock:
                pending = self._commits.get(event.group)
                if pending is None:
                    pending = self._commits[event.group] = _PendingCommits(now, now)
                pending.last_at = now
                pending.count += 1
                for t, p, o in event.offsets:
                    pending.offsets[(t, p)] = o
                if event.member_id:
                    pending.members.add(event.member_id)
            return
        entry = self._entry_for(event, now)
        if entry is not None:
            with self._lock:
                if len(self._entries) == self._entries.maxlen:
                    self.dropped += 1
                self._entries.append(entry)

    @staticmethod
    def _entry_for(event: Event, now: float) -> Entry | None:
        if isinstance(event, GroupRebalanced):
            members = [{"member": m, "partitions": [f"{t}-{p}" for t, p in parts]} for m, parts in event.members]
            n = len(event.members)
            return Entry(
                event.group,
                now,
                "rebalance",
                f"generation {event.generation} formed with {n} member{'s' if n != 1 else ''}"
                + (f" ({event.protocol})" if event.protocol else ""),
                {"generation": event.generation, "protocol": event.protocol, "members": members},
            )
        if isinstance(event, GroupChanged):
            # Only membership moves become entries; the state steps of a rebalance are
            # summed up by its GroupRebalanced entry.
            reason = event.reason
            if reason.endswith((" joined", " rejoined")):
                kind = "member-join"
            elif reason.endswith((" left", "missed its session timeout")):
                kind = "leave"
            else:
                return None
            return Entry(event.group, now, kind, reason, {"state": event.state, "generation": event.generation})
        if isinstance(event, OffsetsReset):
            changes = [(t, p, after) for t, p, _before, after in event.changes]
            moved = [{"topic": t, "partition": p, "before": b, "after": a} for t, p, b, a in event.changes]
            label = "undo of the last reset" if event.scenario == "undo" else f"reset ({event.scenario})"
            return Entry(
                event.group,
                now,
                "reset",
                f"{label}: {_tp_list(changes)}",
                {"scenario": event.scenario, "changes": moved},
            )
        if isinstance(event, OffsetsDeleted):
            parts = ", ".join(f"{t}-{p}" for t, p in event.partitions[:_MAX_LISTED])
            more = len(event.partitions) - _MAX_LISTED
            return Entry(
                event.group,
                now,
                "delete",
                "offsets deleted: " + parts + (f" and {more} more" if more > 0 else ""),
                {"partitions": [[t, p] for t, p in event.partitions]},
            )
        if isinstance(event, GroupDeleted):
            return Entry(event.group, now, "delete", "group deleted", {})
        return None

    def drain(self, force: bool = False) -> list[Entry]:
        """Entries ready to be written, oldest first.

        A group's folded commits come out once per ``commit_window_s`` (or at once
        with ``force``); until then they keep folding.
        """
        now = self._clock()
        with self._lock:
            out = list(self._entries)
            self._entries.clear()
            for group, pending in list(self._commits.items()):
                last = self._last_commit_entry.get(group)
                if not force and last is not None and now - last < self.commit_window_s:
                    continue
                del self._commits[group]
                self._last_commit_entry[group] = now
                out.append(self._commit_entry(group, pending))
            # Forget groups quiet for long, so the dict does not grow with every group ever seen.
            for group, last in list(self._last_commit_entry.items()):
                if now - last > 10 * self.commit_window_s and group not in self._commits:
                    del self._last_commit_entry[group]
        out.sort(key=lambda e: e.at)
        return out

    @staticmethod
    def _commit_entry(group: str, pending: _PendingCommits) -> Entry:
        items = sorted((t, p, o) for (t, p), o in pending.offsets.items())
        n = pending.count
        return Entry(
            group,
            pending.last_at,
            "commit",
            f"{n} commit{'s' if n != 1 else ''}: {_tp_list(items)}",
            {
                "commits": n,
                "first_at": pending.first_at,
                "last_at": pending.last_at,
                "offsets": [{"topic": t, "partition": p, "offset": o} for t, p, o in items],
                "members": sorted(pending.members),
            },
        )
