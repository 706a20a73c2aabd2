"""The in-memory channel layer, without its sweep on every message.

Channels' ``InMemoryChannelLayer`` runs ``_clean_expired`` on every ``receive`` and every
``group_send``: a walk over every channel and every group member to drop expired
messages (after ``expiry``, 60 s) and memberships (after ``group_expiry``, a day). One
notice to a topic watched by N pages is N receives, each walking N channels: N^2 work a
wave, which with 500 open pages took most of the server's one GIL (bench/web.py; the
earlier py-spy profile in docs/benchmarks.md already showed 16 % at 200 pages). Expiry
is measured in seconds and minutes, so sweeping at most once a second drops the same
messages, at most a second later.
"""

from __future__ import annotations

import time

from channels.layers import InMemoryChannelLayer as _ChannelsInMemoryChannelLayer


class InMemoryChannelLayer(_ChannelsInMemoryChannelLayer):  # type: ignore[misc]  # channels ships no types
    SWEEP_EVERY_S = 1.0

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._swept_at = float("-inf")

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._swept_at < self.SWEEP_EVERY_S:
            return
        self._swept_at = now
        super()._clean_expired()
