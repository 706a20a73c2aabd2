"""How many bytes workshop visitors may write: per visitor and in total, per hour.

Workshop mode lets anonymous visitors produce; without a cap one of them could fill the
disk (a burst form writes thousands of records a second). Each visitor (their session)
may write ``WORKSHOP_VISITOR_BYTES`` an hour and all visitors together
``WORKSHOP_TOTAL_BYTES`` an hour; operators are not counted. A produce asks for its
bytes before anything is written, so a refused one writes nothing.

Counted in this process: one server process holds the embedded engine's data directory,
and every write of a visitor goes through it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest

from logcore.errors import PolicyViolation

from .roles import has_role

WINDOW_S = 3600.0
DEFAULT_VISITOR_BYTES = 5 * 1024 * 1024
DEFAULT_TOTAL_BYTES = 256 * 1024 * 1024


class QuotaExceeded(PolicyViolation):
    """A workshop visitor's write would pass an hourly byte limit; nothing was written."""


def _mb(n: float) -> str:
    if n < 1024:
        return f"{int(n)} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / (1024 * 1024):.1f} MB"


class WriteQuota:
    """Bytes written per visitor and in total over a sliding hour."""

    def __init__(
        self, per_visitor: int, total: int, window_s: float = WINDOW_S, clock: Callable[[], float] = time.monotonic
    ):
        self.per_visitor = per_visitor
        self.total = total
        self.window_s = window_s
        self.clock = clock
        self._lock = threading.Lock()
        self._log: deque[tuple[float, str, int]] = deque()
        self._by_visitor: dict[str, int] = {}
        self._sum = 0

    def _expire(self, now: float) -> None:
        while self._log and now - self._log[0][0] >= self.window_s:
            _, visitor, n = self._log.popleft()
            self._sum -= n
            left = self._by_visitor[visitor] - n
            if left:
                self._by_visitor[visitor] = left
            else:
                del self._by_visitor[visitor]

    def charge(self, visitor: str, nbytes: int) -> None:
        """Count ``nbytes`` for ``visitor``, or raise ``QuotaExceeded`` and count nothing."""
        with self._lock:
            now = self.clock()
            self._expire(now)
            mine = self._by_visitor.get(visitor, 0)
            if mine + nbytes > self.per_visitor:
                raise QuotaExceeded(
                    f"this would write {_mb(nbytes)}, and a workshop visitor may write {_mb(self.per_visitor)} "
                    f"an hour ({_mb(mine)} written so far): write fewer or smaller records, or ask the facilitator"
                )
            if self._sum + nbytes > self.total:
                raise QuotaExceeded(
                    f"this would write {_mb(nbytes)}, and workshop visitors together may write "
                    f"{_mb(self.total)} an hour ({_mb(self._sum)} written so far): try again later"
                )
            self._log.append((now, visitor, nbytes))
            self._by_visitor[visitor] = mine + nbytes
            self._sum += nbytes


_quota: WriteQuota | None = None
_quota_lock = threading.Lock()


def workshop_quota() -> WriteQuota:
    global _quota
    if _quota is None:
        with _quota_lock:
            if _quota is None:
                cfg = settings.OFFSETSITE
                _quota = WriteQuota(
                    int(str(cfg.get("WORKSHOP_VISITOR_BYTES", DEFAULT_VISITOR_BYTES))),
                    int(str(cfg.get("WORKSHOP_TOTAL_BYTES", DEFAULT_TOTAL_BYTES))),
                )
    return _quota


def reset() -> None:
    """Forget every count (tests; a new settings value takes effect on the next charge)."""
    global _quota
    with _quota_lock:
        _quota = None


def charge_visitor(request: HttpRequest, nbytes: int) -> None:
    """Count a workshop visitor's write before it happens; operators are not counted."""
    if has_role(request.user, "operator"):
        return
    session = request.session
    if session.session_key is None:
        session.save()  # a visitor without a session yet gets one: the count follows it
    workshop_quota().charge(str(session.session_key), nbytes)
