"""Topic config values for people: ``7 d``, ``1 GiB``, ``no limit``; the one place that says how.

Kafka's configs carry durations in milliseconds (names ending ``.ms``) and sizes in
bytes (``.bytes``), with -1 or Long.MAX_VALUE (9223372036854775807) meaning no limit
(https://kafka.apache.org/documentation/#topicconfigs: retention.ms "-1 means no
time limit", flush.messages and flush.ms default to Long.MAX_VALUE). Pages show the
humanized text and keep the raw value in the ``title`` for hovering.
"""

from __future__ import annotations

from django import template

from logcore.config import LONG_MAX

register = template.Library()

_DURATIONS = ((86_400_000, "d"), (3_600_000, "h"), (60_000, "min"), (1000, "s"))
_SIZES = ((1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB"))
# flush.messages counts records, not bytes or ms: Long.MAX_VALUE still means never.
_COUNTS = ("flush.messages",)


def _duration(ms: int) -> str:
    for unit_ms, unit in _DURATIONS:
        if ms >= unit_ms and ms % unit_ms == 0:
            return f"{ms // unit_ms} {unit}"
    for unit_ms, unit in _DURATIONS:
        if ms >= unit_ms:
            return f"{ms / unit_ms:.1f} {unit}"
    return f"{ms} ms"


def _size(n: int) -> str:
    for unit_bytes, unit in _SIZES:
        if n >= unit_bytes and n % unit_bytes == 0:
            return f"{n // unit_bytes} {unit}"
    for unit_bytes, unit in _SIZES:
        if n >= unit_bytes:
            return f"{n / unit_bytes:.1f} {unit}"
    return f"{n} B"


def humanize_config(key: str, value: object) -> str:
    """``value`` of config ``key`` for people; the value unchanged when no rule applies."""
    text = str(value)
    if not (key.endswith((".ms", ".bytes")) or key in _COUNTS):
        return text
    try:
        n = int(text)
    except ValueError:
        return text
    if n == -1 or n == LONG_MAX:
        return "no limit"
    if key.endswith(".ms"):
        return _duration(n)
    if key.endswith(".bytes"):
        return _size(n)
    return f"{n:,}"


@register.filter
def config_human(value: object, key: str) -> str:
    """``{{ value|config_human:key }}``: the humanized value (autoescaped like any text)."""
    return humanize_config(key, value)


@register.filter
def spark_for(sparks: dict[str, str], group_id: str) -> str:
    """``{{ sparks|spark_for:g.group_id }}``: the row's sparkline SVG (built with format_html
    from numbers only: see dashboard/overview/cards.py), "" without history."""
    return sparks.get(group_id, "") if isinstance(sparks, dict) else ""
