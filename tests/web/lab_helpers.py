"""Moving a ManualClock through the lab, as the server's runner thread does."""

from __future__ import annotations

from logcore import ManualClock
from offsetsite.lab import service


def advance(clock: ManualClock, ms: int, step_ms: int = 100) -> None:
    """Move time in the runner's steps; each step wakes the live pages of what moved."""
    for _ in range(ms // step_ms):
        clock.advance(step_ms)
        service.step_now()
