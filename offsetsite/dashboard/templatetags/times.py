"""One time format for the pages: ``2026-11-30 12:34:56`` in the site's time zone.

Kafka's record timestamps are milliseconds since the epoch (CreateTime or
LogAppendTime, https://kafka.apache.org/documentation/#messageformat); -1 means the
record has none (a v0 message). Every page shows a time through ``{{ value|when }}``:
the readable local time, the exact instant in ``datetime`` and the epoch milliseconds
in the ``title`` (hover) so a value can be matched against a log line or a
``--to-datetime`` argument.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()

FORMAT = "%Y-%m-%d %H:%M:%S"


def to_datetime(value: object) -> datetime | None:
    """An aware datetime for epoch milliseconds (int, or digits) or a datetime; None for none."""
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value, UTC)
    if isinstance(value, bool) or value is None:
        return None
    try:
        ms = int(str(value))
    except ValueError:
        return None
    if ms < 0:
        return None
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def local_text(value: object) -> str:
    """The shown text alone (``2026-11-30 12:34:56``), "" when there is no time."""
    dt = to_datetime(value)
    return timezone.localtime(dt).strftime(FORMAT) if dt is not None else ""


@register.filter
def when(value: object) -> SafeString | str:
    """``{{ ms_or_datetime|when }}``: a <time> element; a dash (with why, on hover) for none."""
    dt = to_datetime(value)
    if dt is None:
        if isinstance(value, int) and value < 0:
            return format_html('<span class="muted" title="timestamp {}: the record has none">\u2013</span>', value)
        return "\u2013" if value in (None, "") else str(value)
    ms = int(dt.timestamp() * 1000) if isinstance(value, datetime) else int(str(value))
    local = timezone.localtime(dt)
    return format_html(
        '<time class="when" datetime="{}" title="{} ms since the epoch ({})">{}</time>',
        local.isoformat(timespec="milliseconds"),
        ms,
        local.strftime("%Z") or "local",
        local.strftime(FORMAT),
    )
