"""The site's runtime settings: the one place that says whether workshop mode is on,
whether reading needs a login, and how large a produce burst may be.

Each answer is the admin's choice stored in the database (``SiteSettings``) when one
was made, else the deployment's default from ``settings.OFFSETSITE`` (the environment).
Burst limits are different: the environment's values are hard caps, and the stored
values may only lower them.

The stored row is read at most once per ``CACHE_TTL_S`` per process, because
these answers are asked on every page (the navigation bar shows workshop links).
Saving through this process drops the cache at once; other processes (several
servers behind Redis) see a change within the TTL.

Call these from synchronous code; async code wraps them in ``sync_to_async`` as it
would any database read.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.db.models.signals import post_delete, post_save

from .models import SiteSettings

CACHE_TTL_S = 2.0
DEFAULT_BURST_MAX_RECORDS = 10_000
DEFAULT_BURST_MAX_RATE = 5_000


@dataclass(frozen=True)
class Overrides:
    """What the admin chose; None means "as the environment says"."""

    workshop: bool | None = None
    read_login: bool | None = None
    burst_max_records: int | None = None
    burst_max_rate: int | None = None


_lock = threading.Lock()
_cached: tuple[float, Overrides] | None = None


def invalidate() -> None:
    """Forget the cached row: the next question reads the database."""
    global _cached
    with _lock:
        _cached = None


def overrides() -> Overrides:
    """The stored choices (cached for ``CACHE_TTL_S``)."""
    global _cached
    now = time.monotonic()
    cached = _cached
    if cached is not None and now - cached[0] < CACHE_TTL_S:
        return cached[1]
    row = SiteSettings.objects.filter(pk=SiteSettings.SINGLETON_PK).first()
    value = (
        Overrides()
        if row is None
        else Overrides(
            workshop=row.workshop,
            read_login=row.read_login,
            burst_max_records=row.burst_max_records,
            burst_max_rate=row.burst_max_rate,
        )
    )
    with _lock:
        _cached = (now, value)
    return value


def _env() -> dict[str, Any]:
    cfg: dict[str, Any] = settings.OFFSETSITE
    return cfg


def env_workshop() -> bool:
    return bool(_env().get("WORKSHOP"))


def env_read_login() -> bool:
    return bool(_env().get("READ_LOGIN"))


def hard_caps() -> tuple[int, int]:
    """The environment's (max records, max rate) for a burst: nothing may go above them."""
    cfg = _env()
    return (
        int(str(cfg.get("BURST_MAX_RECORDS", DEFAULT_BURST_MAX_RECORDS))),
        int(str(cfg.get("BURST_MAX_RATE", DEFAULT_BURST_MAX_RATE))),
    )


def workshop_mode() -> bool:
    """Open workshop rooms: anonymous visitors may produce and consume in groups of their own.

    Only ever on the embedded engine: a team's Kafka cluster is never opened to visitors.
    """
    if not _on_embedded_engine():
        return False
    chosen = overrides().workshop
    return env_workshop() if chosen is None else chosen


def read_login_required() -> bool:
    """Must anonymous visitors log in to read pages (and live updates)?

    Always on a Kafka cluster: its records are a team's data, not a workshop's.
    """
    if not _on_embedded_engine():
        return True
    chosen = overrides().read_login
    return env_read_login() if chosen is None else chosen


def _on_embedded_engine() -> bool:
    from offsetsite.engine import is_embedded

    return is_embedded()


def burst_limits() -> tuple[int, int]:
    """(max records, max records per second) one produce burst may ask for."""
    cap_records, cap_rate = hard_caps()
    chosen = overrides()
    records = cap_records if chosen.burst_max_records is None else min(chosen.burst_max_records, cap_records)
    rate = cap_rate if chosen.burst_max_rate is None else min(chosen.burst_max_rate, cap_rate)
    return max(records, 1), max(rate, 1)


def _drop_cache(**_: Any) -> None:
    invalidate()


# Saves and deletes in this process take effect at once; so do test overrides of settings.
post_save.connect(_drop_cache, sender=SiteSettings, dispatch_uid="offsetsite.site_settings.save")
post_delete.connect(_drop_cache, sender=SiteSettings, dispatch_uid="offsetsite.site_settings.delete")
setting_changed.connect(_drop_cache, dispatch_uid="offsetsite.site_settings.setting_changed")
