"""When a live page sends its next frame: pure timing logic, no Django, injectable clock.

A page hears wake-up notices (never payloads). Each notice asks for a flush; a flush
renders the *current* state. The coalescer decides when that flush runs so that a burst
of notices becomes one frame, and no page gets more than ``max_fps`` frames a second.
It also remembers the newest version a page was sent, so a slow reconciliation tick
can tell whether a notice was lost (the in-memory channel layer drops them silently).
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Coalescer:
    """Flush scheduling for one page (one websocket)."""

    def __init__(
        self,
        max_fps: float = 10.0,
        delay_s: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_fps <= 0:
            raise ValueError("max_fps must be positive")
        self.min_interval_s = 1.0 / max_fps
        self.delay_s = delay_s
        self._clock = clock
        self.pending = False
        self.last_flush_at: float | None = None
        self.sent_version = -1
        self.frames = 0

    def request(self) -> float | None:
        """A change was noticed. Returns seconds until a flush to schedule, or None if one is pending.

        The delay lets the rest of a burst land before the render; the frame rate cap
        keeps a steady stream of changes from turning into a stream of frames.
        """
        if self.pending:
            return None
        self.pending = True
        now = self._clock()
        wait = self.delay_s
        if self.last_flush_at is not None:
            wait = max(wait, self.last_flush_at + self.min_interval_s - now)
        return max(wait, 0.0)

    def begin_flush(self) -> None:
        """The scheduled flush starts now: a notice arriving from here on asks for another one."""
        self.pending = False
        self.last_flush_at = self._clock()

    def sent(self, version: int) -> None:
        """A frame rendered at ``version`` (read before rendering) went out."""
        self.frames += 1
        if version > self.sent_version:
            self.sent_version = version

    def behind(self, current_version: int) -> bool:
        """True when the page has not been sent ``current_version`` and no flush is on its way."""
        return not self.pending and current_version > self.sent_version
