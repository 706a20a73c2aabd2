"""Records and the on-disk batch format.

A batch is what one append writes: a fixed header, then the records laid out in
columns (lengths first, then the key, value and header bytes). Columns let both the
encoder and the decoder run their per-record loops inside C (``array``, ``map``,
``zip``), which is what makes a pure-Python log fast enough. This is logcore's own
format, not Kafka's varint RecordBatch v2; the ideas are Kafka's: a base offset, a
length prefix so a reader can skip whole batches, and a CRC32 over everything after
the CRC field so a torn or corrupt batch is detected on recovery.

Layout (little-endian)::

    base_offset       int64
    batch_length      int32   bytes after this field
    crc               uint32  zlib.crc32 of the bytes after this field
    magic             uint8   format version (1)
    attributes        uint8   bit 0 offsets have gaps, bit 1 one timestamp, bit 2 headers
    last_offset_delta int32
    base_timestamp    int64
    max_timestamp     int64
    record_count      int32
    [offset_deltas    int32 * n]   when offsets have gaps (compacted batches)
    [timestamps       int64 * n]   unless all records share base_timestamp
    key_lengths       int32 * n    -1 for a null key
    value_lengths     int32 * n    -1 for a null value (a tombstone)
    [header_lengths   int32 * n]   when any record has headers
    keys, values, headers           concatenated bytes

A second kind of batch, magic 2, holds a Kafka producer's RecordBatch v2 whole: the
same header (its attributes 0, the counts and timestamps copied from the Kafka batch),
then the Kafka batch itself as sent, with its baseOffset set to the batch's base offset
(https://kafka.apache.org/documentation/#recordbatch). Kafka stores a producer's batch
this way and a fetch sends it back unchanged; storing it whole spares decoding and
re-encoding every record on the way in (``PartitionLog.append_record_batch``), and
a reader decodes it only when it reads it. Both kinds mix in a segment, and the outer
CRC32, the length and the offsets are the same for both, so recovery, indexes,
retention and compaction (which rewrites what it keeps as magic 1) treat them alike.
Segments written before magic 2 existed hold only magic 1 and read as they always did.
"""

from __future__ import annotations

import struct
import sys
import zlib
from array import array
from collections.abc import Callable, Iterable, Sequence
from itertools import accumulate, islice, repeat
from typing import NamedTuple

from .errors import CorruptRecord

Header = tuple[str, bytes | None]
Headers = tuple[Header, ...]

MAGIC = 1
MAGIC_KAFKA = 2  # a Kafka RecordBatch v2 stored whole
MAGICS = (MAGIC, MAGIC_KAFKA)
ATTR_GAPS = 0x01
ATTR_ONE_TIMESTAMP = 0x02
ATTR_HEADERS = 0x04

PREFIX = struct.Struct("<qiI")  # base_offset, batch_length, crc
BODY_HEADER = struct.Struct("<BBiqqi")
PREFIX_SIZE = PREFIX.size  # 16
MAGIC_AT = PREFIX_SIZE  # where a batch's magic byte is, which says its kind
HEADER_SIZE = PREFIX.size + BODY_HEADER.size  # 42
# The batch_length field counts from after itself, like Kafka's batchLength.
LENGTH_OFFSET = 12
FULL_HEADER = struct.Struct("<qiIBBiqqi")
_ONE = struct.Struct("<BBiqqiii")  # body header + key/value lengths of a single record
_I32 = struct.Struct("<i")
_LEN_HDR = struct.Struct("<h")
# Kafka's baseOffset, batchLength and partitionLeaderEpoch (big-endian), before its magic.
_KAFKA_PREFIX = struct.Struct(">qii")
_LITTLE = sys.byteorder == "little"


class Record(NamedTuple):
    """A record as read back from a partition."""

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()

    @property
    def size(self) -> int:
        """Bytes of key, value and headers (what max.message.bytes counts, roughly)."""
        return len(self.key or b"") + len(self.value or b"") + sum(len(k) + len(v or b"") for k, v in self.headers)


class ProduceRecord(NamedTuple):
    """One record to produce, as ``Cluster.produce`` takes it (``Cluster.produce_many``)."""

    value: bytes | None
    key: bytes | None = None
    headers: Sequence[Header] = ()
    partition: int | None = None  # None: placed as Kafka's producer places it
    timestamp: int | None = None  # None: now (CreateTime), or the log's time (LogAppendTime)


class BatchHeader(NamedTuple):
    base_offset: int
    batch_length: int
    crc: int
    magic: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    record_count: int

    @property
    def total_size(self) -> int:
        return self.batch_length + LENGTH_OFFSET

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1


def parse_header(buf: bytes | memoryview, pos: int = 0) -> BatchHeader:
    """Read a batch header at ``pos``; the caller checks there are HEADER_SIZE bytes."""
    return BatchHeader._make(FULL_HEADER.unpack_from(buf, pos))


def _i32_bytes(values: Iterable[int]) -> bytes:
    a = array("i", values)
    if not _LITTLE:
        a.byteswap()
    return a.tobytes()


def _i64_bytes(values: Iterable[int]) -> bytes:
    a = array("q", values)
    if not _LITTLE:
        a.byteswap()
    return a.tobytes()


def encode_headers(headers: Sequence[Header]) -> bytes:
    """One record's headers: int16 count, then (int16 key length, key, int32 value length, value)."""
    parts = [_LEN_HDR.pack(len(headers))]
    for hk, hv in headers:
        kb = hk.encode("utf-8")
        parts.append(_LEN_HDR.pack(len(kb)))
        parts.append(kb)
        if hv is None:
            parts.append(_I32.pack(-1))
        else:
            parts.append(_I32.pack(len(hv)))
            parts.append(hv)
    return b"".join(parts)


def decode_headers(data: bytes) -> Headers:
    if not data:
        return ()
    (count,) = _LEN_HDR.unpack_from(data, 0)
    pos = 2
    out: list[Header] = []
    for _ in range(count):
        (klen,) = _LEN_HDR.unpack_from(data, pos)
        pos += 2
        key = data[pos : pos + klen].decode("utf-8")
        pos += klen
        (vlen,) = _I32.unpack_from(data, pos)
        pos += 4
        if vlen < 0:
            out.append((key, None))
        else:
            out.append((key, data[pos : pos + vlen]))
            pos += vlen
    return tuple(out)


def _lengths(items: Sequence[bytes | None]) -> list[int]:
    if None in items:
        return [-1 if x is None else len(x) for x in items]
    return list(map(len, items))  # type: ignore[arg-type]


def _join(items: Sequence[bytes | None]) -> bytes:
    # filter(None) also drops b"", which adds nothing to a join anyway.
    return b"".join(filter(None, items))


def encode_batch(
    base_offset: int,
    keys: Sequence[bytes | None],
    values: Sequence[bytes | None],
    timestamps: Sequence[int] | int,
    headers: Sequence[Sequence[Header]] | None = None,
    offset_deltas: Sequence[int] | None = None,
) -> bytes:
    """Encode one batch. ``timestamps`` may be one int shared by every record."""
    n = len(values)
    if n == 0 or len(keys) != n:
        raise ValueError("a batch needs at least one record and as many keys as values")
    attributes = 0
    parts: list[bytes] = []
    if offset_deltas is not None:
        attributes |= ATTR_GAPS
        last_delta = offset_deltas[-1]
        parts.append(_i32_bytes(offset_deltas))
    else:
        last_delta = n - 1
    if isinstance(timestamps, int):
        base_ts = max_ts = timestamps
        attributes |= ATTR_ONE_TIMESTAMP
    else:
        base_ts = timestamps[0]
        max_ts = max(timestamps)
        if min(timestamps) == max_ts:
            attributes |= ATTR_ONE_TIMESTAMP
        else:
            parts.append(_i64_bytes(timestamps))
    parts.append(_i32_bytes(_lengths(keys)))
    parts.append(_i32_bytes(_lengths(values)))
    header_blob = b""
    if headers is not None and any(headers):
        attributes |= ATTR_HEADERS
        encoded = [encode_headers(h) if h else b"" for h in headers]
        parts.append(_i32_bytes(map(len, encoded)))
        header_blob = b"".join(encoded)
    parts.append(_join(keys))
    parts.append(_join(values))
    parts.append(header_blob)
    body = BODY_HEADER.pack(MAGIC, attributes, last_delta, base_ts, max_ts, n) + b"".join(parts)
    return PREFIX.pack(base_offset, len(body) + 4, zlib.crc32(body)) + body


def encode_one(
    base_offset: int,
    key: bytes | None,
    value: bytes | None,
    timestamp: int,
    headers: Sequence[Header] = (),
) -> bytes:
    """The one-record batch, on a path short enough for ~200k appends/s."""
    if headers:
        return encode_batch(base_offset, [key], [value], timestamp, [headers])
    body = _ONE.pack(
        MAGIC,
        ATTR_ONE_TIMESTAMP,
        0,
        timestamp,
        timestamp,
        1,
        -1 if key is None else len(key),
        -1 if value is None else len(value),
    )
    if key:
        body += key
    if value:
        body += value
    return PREFIX.pack(base_offset, len(body) + 4, zlib.crc32(body)) + body


def encode_stored(
    base_offset: int, kafka_batch: bytes, record_count: int, base_timestamp: int, max_timestamp: int
) -> bytes:
    """A magic-2 batch around ``kafka_batch`` (a checked RecordBatch v2), its offsets from ``base_offset``.

    Kafka's baseOffset and partitionLeaderEpoch are set here; its CRC-32C starts at the
    attributes, after both, so it stays valid without being recomputed.
    """
    head = BODY_HEADER.pack(MAGIC_KAFKA, 0, record_count - 1, base_timestamp, max_timestamp, record_count)
    inner = _KAFKA_PREFIX.pack(base_offset, len(kafka_batch) - LENGTH_OFFSET, 0)
    rest = memoryview(kafka_batch)[_KAFKA_PREFIX.size :]
    # The CRC runs over the pieces and one join copies them: the batch is copied once.
    crc = zlib.crc32(rest, zlib.crc32(inner, zlib.crc32(head)))
    size = len(head) + len(inner) + len(rest)
    return b"".join((PREFIX.pack(base_offset, size + 4, crc), head, inner, rest))


def stored_kafka_batch(batch: bytes, start: int = 0) -> bytes:
    """The Kafka RecordBatch v2 inside the magic-2 batch at ``start`` (its offsets set)."""
    h = parse_header(batch, start)
    return batch[start + HEADER_SIZE : start + h.total_size]


def batch_crc_ok(batch: bytes | memoryview) -> bool:
    crc: int = struct.unpack_from("<I", batch, LENGTH_OFFSET)[0]
    return zlib.crc32(memoryview(batch)[PREFIX_SIZE:]) == crc


# Struct objects that cut ``n`` fields of ``length`` bytes each, by (length, n).
_UNIFORM: dict[tuple[int, int], struct.Struct] = {}
_UNIFORM_MAX = 256


def _uniform(length: int, n: int) -> struct.Struct:
    st = _UNIFORM.get((length, n))
    if st is None:
        if len(_UNIFORM) >= _UNIFORM_MAX:
            _UNIFORM.clear()
        st = _UNIFORM[(length, n)] = struct.Struct(f"{length}s" * n)
    return st


def _split(
    blob: bytes, start: int, lengths: array[int], n: int
) -> tuple[Sequence[bytes | None] | Iterable[bytes | None], int]:
    """Cut ``n`` fields out of ``blob`` from ``start``; returns them and the end position."""
    first = lengths[0]
    if first >= 0 and lengths.count(first) == n:
        # Same-sized fields (fixed-size keys or values are common): one struct call
        # cuts them all in C, ~10 ns a field against ~90 for slicing in a map.
        return _uniform(first, n).unpack_from(blob, start), start + first * n
    nulls = lengths.count(-1)
    if nulls == n:
        return repeat(None, n), start
    if nulls == 0:
        pos = list(accumulate(lengths, initial=start))
        cut_at: Callable[[slice], bytes] = blob.__getitem__
        cut: list[bytes] = list(map(cut_at, map(slice, pos, islice(pos, 1, None))))
        return cut, pos[-1]
    out: list[bytes | None] = []
    pos_i = start
    for ln in lengths:
        if ln < 0:
            out.append(None)
        else:
            out.append(blob[pos_i : pos_i + ln])
            pos_i += ln
    return out, pos_i


def _array(code: str, blob: bytes, start: int, n: int) -> array[int]:
    a = array(code)
    a.frombytes(blob[start : start + n * a.itemsize])
    if not _LITTLE:
        a.byteswap()
    return a


def decode_batch(batch: bytes, verify: bool = False, start: int = 0) -> list[Record]:
    """All records of the whole batch at ``start`` of ``batch`` (where its base_offset is).

    ``start`` lets a reader decode straight out of a larger read buffer, without first
    copying the batch out of it.
    """
    h = parse_header(batch, start)
    if verify and zlib.crc32(memoryview(batch)[start + PREFIX_SIZE : start + h.total_size]) != h.crc:
        raise CorruptRecord(f"batch at offset {h.base_offset} fails its CRC check")
    if h.magic == MAGIC_KAFKA:
        return _decode_stored(batch, start, h)
    n = h.record_count
    pos = start + HEADER_SIZE
    attrs = h.attributes
    offsets: Iterable[int]
    if attrs & ATTR_GAPS:
        deltas = _array("i", batch, pos, n)
        pos += 4 * n
        offsets = map(h.base_offset.__add__, deltas)
    else:
        offsets = range(h.base_offset, h.base_offset + n)
    timestamps: Iterable[int]
    if attrs & ATTR_ONE_TIMESTAMP:
        timestamps = repeat(h.base_timestamp, n)
    else:
        timestamps = _array("q", batch, pos, n)
        pos += 8 * n
    key_lengths = _array("i", batch, pos, n)
    pos += 4 * n
    value_lengths = _array("i", batch, pos, n)
    pos += 4 * n
    header_lengths = None
    if attrs & ATTR_HEADERS:
        header_lengths = _array("i", batch, pos, n)
        pos += 4 * n
    keys, pos = _split(batch, pos, key_lengths, n)
    values, pos = _split(batch, pos, value_lengths, n)
    headers: Iterable[Headers]
    if header_lengths is not None:
        raw, pos = _split(batch, pos, header_lengths, n)
        headers = [decode_headers(r) if r else () for r in raw]
    else:
        headers = repeat((), n)
    # tuple.__new__(Record, row) straight from map: no Python frame per record.
    return list(map(tuple.__new__, repeat(Record, n), zip(offsets, timestamps, keys, values, headers, strict=False)))


def _decode_stored(batch: bytes, start: int, h: BatchHeader) -> list[Record]:
    # Imported here: recordbatch imports this module (Record, Header).
    from .recordbatch import BatchError, to_records

    try:
        records = to_records(batch, start + HEADER_SIZE, start + h.total_size, h.base_offset)
    except BatchError as e:
        raise CorruptRecord(f"the Kafka batch stored at offset {h.base_offset} does not decode: {e}") from None
    if len(records) != h.record_count:
        raise CorruptRecord(
            f"the Kafka batch stored at offset {h.base_offset} holds {len(records)} records, "
            f"its header {h.record_count}"
        )
    return records
