"""How a record's bytes are shown: as text, as pretty JSON, or as hex.

Keys, values and headers are whatever producers sent: untrusted bytes. Everything
here returns plain ``str``; the templates escape it (never ``|safe``), so a value of
``<script>`` shows as text in every mode.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from logcore.records import Record

ViewMode = Literal["auto", "text", "json", "hex"]
VIEW_MODES: tuple[ViewMode, ...] = ("auto", "text", "json", "hex")

# A page may hold 500 records of up to ~1 MB each: show the start of a long value
# and say how much was left out, rather than send megabytes to the browser.
MAX_SHOWN_BYTES = 2048


@dataclass(frozen=True)
class ShownBytes:
    """Bytes as shown in one cell: ``kind`` is what was chosen (null, text, json, hex)."""

    kind: Literal["null", "text", "json", "hex"]
    text: str
    size: int  # bytes in the original
    omitted: int = 0  # bytes not shown (past MAX_SHOWN_BYTES)
    note: str = ""  # why the mode asked for was not used, e.g. "not JSON"


def _utf8(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _looks_textual(s: str) -> bool:
    # Control characters other than whitespace mean binary in practice (protobuf,
    # Avro): hex tells the truth about them where text would show garbage.
    return all(c.isprintable() or c in "\t\n\r" for c in s)


def hex_dump(data: bytes) -> str:
    """Bytes as hex, grouped by 2 bytes, 16 bytes a line with the offset in front."""
    lines = []
    for at in range(0, len(data), 16):
        chunk = data[at : at + 16].hex()
        groups = " ".join(chunk[i : i + 4] for i in range(0, len(chunk), 4))
        lines.append(f"{at:08x}  {groups}")
    return "\n".join(lines)


def _pretty_json(text: str) -> str | None:
    stripped = text.lstrip()
    # Only objects and arrays: "42" or "true" parse as JSON too but read better as text.
    if not stripped.startswith(("{", "[")):
        return None
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False, sort_keys=False)
    except (ValueError, RecursionError):  # nested too deeply to show indented: as text
        return None


def show_bytes(data: bytes | None, mode: ViewMode = "auto") -> ShownBytes:
    """Choose how to show ``data`` under ``mode``; fall back with a note when it cannot be."""
    if data is None:
        return ShownBytes("null", "", 0)
    size = len(data)
    if mode == "hex":
        head = data[:MAX_SHOWN_BYTES]
        return ShownBytes("hex", hex_dump(head), size, size - len(head))
    text = _utf8(data)
    if text is None:
        head = data[:MAX_SHOWN_BYTES]
        note = "" if mode == "auto" else "not UTF-8: shown as hex"
        return ShownBytes("hex", hex_dump(head), size, size - len(head), note)
    if mode in ("auto", "json"):
        # JSON is pretty-printed whole (cutting it first would break the parse), then cut.
        pretty = _pretty_json(text) if size <= 256 * 1024 else None
        if pretty is not None:
            shown = pretty[:MAX_SHOWN_BYTES]
            return ShownBytes("json", shown, size, max(len(pretty) - len(shown), 0))
        if mode == "json":
            return ShownBytes(
                "text", text[:MAX_SHOWN_BYTES], size, max(len(text) - MAX_SHOWN_BYTES, 0), "not JSON: shown as text"
            )
    if mode == "auto" and not _looks_textual(text):
        head = data[:MAX_SHOWN_BYTES]
        return ShownBytes("hex", hex_dump(head), size, size - len(head))
    shown = text[:MAX_SHOWN_BYTES]
    return ShownBytes("text", shown, size, max(len(text) - len(shown), 0))


def iso_utc(timestamp_ms: int) -> str:
    """Milliseconds since the epoch as ISO 8601 in UTC, to the millisecond."""
    try:
        dt = datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return "out of range"
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class HeaderRow:
    key: str
    value: ShownBytes


@dataclass(frozen=True)
class RecordRow:
    """One row of the record table."""

    offset: int
    timestamp: int
    iso: str
    key: ShownBytes
    value: ShownBytes
    headers: tuple[HeaderRow, ...]
    size: int

    @property
    def tombstone(self) -> bool:
        return self.value.kind == "null"


def record_row(record: Record, mode: ViewMode = "auto") -> RecordRow:
    # Keys are identifiers more often than documents: never pretty-print them as JSON.
    key_mode: ViewMode = "hex" if mode == "hex" else "text"
    return RecordRow(
        offset=record.offset,
        timestamp=record.timestamp,
        iso=iso_utc(record.timestamp),
        key=show_bytes(record.key, key_mode),
        value=show_bytes(record.value, mode),
        headers=tuple(HeaderRow(k, show_bytes(v, key_mode)) for k, v in record.headers),
        size=record.size,
    )


def parse_mode(raw: str | None) -> ViewMode:
    for mode in VIEW_MODES:
        if raw == mode:
            return mode
    return "auto"
