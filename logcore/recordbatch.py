"""Kafka's RecordBatch v2 (magic 2): check and decode what producers send, encode fetches.

Part of logcore rather than of the listener because a producer's batch is stored whole
(``PartitionLog.append_record_batch``, records.py's stored kind) and read back from the
log by any reader, the listener's fetches and the dashboard alike.

The layout is Kafka's (https://kafka.apache.org/documentation/#recordbatch,
``DefaultRecordBatch.java``)::

    baseOffset int64, batchLength int32, partitionLeaderEpoch int32, magic int8 (2),
    crc uint32 (CRC-32C of everything from attributes to the end),
    attributes int16, lastOffsetDelta int32, baseTimestamp int64, maxTimestamp int64,
    producerId int64, producerEpoch int16, baseSequence int32, recordCount int32,
    records (compressed as one block when attributes bits 0-2 say so)

and each record (``DefaultRecord.java``) is a varint length, int8 attributes, varlong
timestamp delta, varint offset delta, varint key length and key, varint value length
and value, varint header count and headers (varint key length, UTF-8 key, varint value
length, value), every varint zig-zag encoded.

Compression codecs are Kafka's (``CompressionType.java``): 1 gzip, 2 snappy (raw, or
xerial-framed as the Java client writes it), 3 lz4 (the LZ4 frame format), 4 zstd.
"""

from __future__ import annotations

import gzip
import io
import struct
from collections.abc import Iterable, Iterator, Sequence
from itertools import repeat
from typing import Any, NamedTuple

import cramjam
from crc32c import crc32c

from .records import Header, Record

MAGIC = 2
_PREFIX = struct.Struct(">qiib")  # base offset, batch length, leader epoch, magic
_CRC_AT = 17
_ATTRS_AT = 21
_HEADER = struct.Struct(">qiibIhiqqqhii")
HEADER_SIZE = _HEADER.size  # 61
_AFTER_CRC = struct.Struct(">hiqqqhii")
_U32 = struct.Struct(">I")

COMPRESSION_NONE = 0
COMPRESSION_GZIP = 1
COMPRESSION_SNAPPY = 2
COMPRESSION_LZ4 = 3
COMPRESSION_ZSTD = 4
CODEC_NAMES = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
TIMESTAMP_LOG_APPEND = 0x08
TRANSACTIONAL = 0x10
CONTROL = 0x20
_XERIAL = b"\x82SNAPPY\x00"


class BatchError(ValueError):
    """A batch that is not valid RecordBatch v2 (Kafka answers CORRUPT_MESSAGE or INVALID_RECORD)."""


class WireBatch(NamedTuple):
    base_offset: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    keys: list[bytes | None]
    values: list[bytes | None]
    headers: list[tuple[Header, ...]] | None  # None: no record has headers
    timestamps: list[int] | int  # one int when every record has the same
    raw: bytes  # the batch as sent

    @property
    def codec(self) -> int:
        return self.attributes & 0x07

    @property
    def n_records(self) -> int:
        return len(self.values)

    @property
    def records(self) -> list[tuple[bytes | None, bytes | None, tuple[Header, ...], int]]:
        """(key, value, headers, timestamp) of each record."""
        n = len(self.values)
        ts = [self.timestamps] * n if isinstance(self.timestamps, int) else self.timestamps
        hs = self.headers if self.headers is not None else [()] * n
        return list(zip(self.keys, self.values, hs, ts, strict=True))

    def rows(self) -> tuple[list[tuple[Any, ...]], int | None]:
        """What ``PartitionLog.append_batch`` takes: (records, shared timestamp or None)."""
        if self.headers is None and isinstance(self.timestamps, int):
            return list(zip(self.keys, self.values, strict=True)), self.timestamps
        return self.records, None


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """A zig-zag varint (Kafka's ``ByteUtils.readVarint``/``readVarlong``)."""
    b = buf[pos]
    pos += 1
    if b < 0x80:
        return (b >> 1) ^ -(b & 1), pos
    value = b & 0x7F
    shift = 7
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            break
        shift += 7
        if shift > 63:
            raise BatchError("a varint in a record is longer than 10 bytes")
    return (value >> 1) ^ -(value & 1), pos


def decompress(codec: int, data: bytes, limit: int) -> bytes:
    """Inflate a batch's records; more than ``limit`` bytes out is refused (a zip bomb)."""
    try:
        if codec == COMPRESSION_GZIP:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
                out = f.read(limit + 1)
        elif codec == COMPRESSION_SNAPPY:
            raw = not data.startswith(_XERIAL)
            out = bytes(cramjam.snappy.decompress_raw(data)) if raw else _xerial(data, limit)
        elif codec == COMPRESSION_LZ4:
            out = bytes(cramjam.lz4.decompress(data))
        elif codec == COMPRESSION_ZSTD:
            out = bytes(cramjam.zstd.decompress(data))
        else:
            raise BatchError(
                f"compression codec {codec} is unknown: Kafka's are 0 to 4 (none, gzip, snappy, lz4, zstd)"
            )
    except BatchError:
        raise
    except Exception as e:
        raise BatchError(f"the {CODEC_NAMES[codec]} block of the batch does not decompress: {e}") from None
    if len(out) > limit:
        raise BatchError(f"the batch decompresses to more than {limit} bytes")
    return out


def _xerial(data: bytes, limit: int) -> bytes:
    """xerial snappy-java's stream: 16-byte header, then (int32 length, raw snappy block)*."""
    pos = 16
    out = bytearray()
    while pos < len(data):
        if pos + 4 > len(data):
            raise BatchError("a xerial snappy chunk length runs past the end of the batch")
        (n,) = _U32.unpack_from(data, pos)
        pos += 4
        out += cramjam.snappy.decompress_raw(data[pos : pos + n])
        pos += n
        if len(out) > limit:
            raise BatchError(f"the batch decompresses to more than {limit} bytes")
    return bytes(out)


def iter_batches(data: bytes) -> Iterator[tuple[int, int]]:
    """(start, end) of each batch in a produce request's record set."""
    pos = 0
    n = len(data)
    while pos < n:
        if n - pos < 12:
            raise BatchError(f"{n - pos} bytes left after the last batch: not a whole batch header")
        _base, length = struct.unpack_from(">qi", data, pos)
        end = pos + 12 + length
        if length < HEADER_SIZE - 12 or end > n:
            raise BatchError(f"a batch claims {length} bytes; the record set has {n - pos - 12} after its header")
        yield pos, end
        pos = end


def _checked_header(data: bytes, start: int, end: int) -> tuple[int, int, int, int, int, int, int, int, int]:
    """A produced batch's header, checked (magic, CRC-32C over the rest, no control batch, its
    count against its last offset delta): (base offset, attributes, last offset delta, base
    timestamp, max timestamp, producer id, producer epoch, base sequence, record count)."""
    (
        base_offset,
        _length,
        _epoch,
        magic,
        crc,
        attributes,
        last_delta,
        base_ts,
        max_ts,
        producer_id,
        producer_epoch,
        base_sequence,
        count,
    ) = _HEADER.unpack_from(data, start)
    if magic != MAGIC:
        raise BatchError(f"record batch magic {magic} is not supported: this server takes magic 2 (Kafka 0.11+)")
    if crc32c(memoryview(data)[start + _ATTRS_AT : end]) != crc:
        raise BatchError("the record batch fails its CRC-32C check")
    if attributes & CONTROL:
        raise BatchError("control batches (transaction markers) are not accepted from producers")
    if count < 0 or count != last_delta + 1:
        raise BatchError(f"the batch counts {count} records but its last offset delta is {last_delta}")
    return base_offset, attributes, last_delta, base_ts, max_ts, producer_id, producer_epoch, base_sequence, count


def decode(data: bytes, start: int, end: int, *, max_bytes: int) -> WireBatch:
    """Check and decode one produced batch (CRC-32C, magic, counts, lengths)."""
    (
        base_offset,
        attributes,
        last_delta,
        base_ts,
        max_ts,
        producer_id,
        producer_epoch,
        base_sequence,
        count,
    ) = _checked_header(data, start, end)
    body = data[start + HEADER_SIZE : end]
    codec = attributes & 0x07
    if codec:
        body = decompress(codec, body, max_bytes)
    keys: list[bytes | None] = []
    values: list[bytes | None] = []
    deltas: list[int] = []
    headers: list[tuple[Header, ...]] | None = None
    pos = 0
    varint = _varint
    try:
        for i in range(count):
            # Each varint inline for its one-byte case (nearly all of them): a function
            # call per field was most of the cost of a produce.
            b = body[pos]
            if b < 0x80:
                length = (b >> 1) ^ -(b & 1)
                pos += 1
            elif body[pos + 1] < 0x80:
                v = (b & 0x7F) | (body[pos + 1] << 7)
                length = (v >> 1) ^ -(v & 1)
                pos += 2
            else:
                length, pos = varint(body, pos)
            stop = pos + length
            pos += 1  # attributes (unused, Kafka's DefaultRecord)
            b = body[pos]
            if b < 0x80:
                deltas.append((b >> 1) ^ -(b & 1))
                pos += 1
            elif body[pos + 1] < 0x80:
                v = (b & 0x7F) | (body[pos + 1] << 7)
                deltas.append((v >> 1) ^ -(v & 1))
                pos += 2
            else:
                ts_delta, pos = varint(body, pos)
                deltas.append(ts_delta)
            b = body[pos]
            if b < 0x80:
                pos += 1
            elif body[pos + 1] < 0x80:
                pos += 2
            else:
                _odelta, pos = varint(body, pos)
            b = body[pos]
            if b < 0x80:
                klen = (b >> 1) ^ -(b & 1)
                pos += 1
            elif body[pos + 1] < 0x80:
                v = (b & 0x7F) | (body[pos + 1] << 7)
                klen = (v >> 1) ^ -(v & 1)
                pos += 2
            else:
                klen, pos = varint(body, pos)
            if klen < 0:
                keys.append(None)
            else:
                keys.append(body[pos : pos + klen])
                pos += klen
            b = body[pos]
            if b < 0x80:
                vlen = (b >> 1) ^ -(b & 1)
                pos += 1
            elif body[pos + 1] < 0x80:
                v = (b & 0x7F) | (body[pos + 1] << 7)
                vlen = (v >> 1) ^ -(v & 1)
                pos += 2
            else:
                vlen, pos = varint(body, pos)
            if vlen < 0:
                values.append(None)
            else:
                values.append(body[pos : pos + vlen])
                pos += vlen
            b = body[pos]
            if b == 0:
                pos += 1
                if headers is not None:
                    headers.append(())
            else:
                nh, pos = varint(body, pos)
                if nh < 0:
                    raise BatchError(f"a record claims {nh} headers")
                hs: list[Header] = []
                for _h in range(nh):
                    hk, pos = varint(body, pos)
                    if hk < 0:
                        raise BatchError("a record header has a null key")
                    name = body[pos : pos + hk].decode("utf-8")
                    pos += hk
                    hv, pos = varint(body, pos)
                    if hv < 0:
                        hs.append((name, None))
                    else:
                        hs.append((name, body[pos : pos + hv]))
                        pos += hv
                if headers is None:
                    headers = [()] * i
                headers.append(tuple(hs))
            if pos != stop or pos > len(body):
                raise BatchError("a record's fields do not add up to its length")
    except (IndexError, UnicodeDecodeError):
        raise BatchError("a record runs past the end of its batch") from None
    if pos != len(body):
        raise BatchError(f"{len(body) - pos} bytes follow the last record of the batch")
    timestamps: list[int] | int
    if not deltas or (deltas.count(deltas[0]) == len(deltas)):
        timestamps = base_ts + (deltas[0] if deltas else 0)
    else:
        timestamps = [base_ts + d for d in deltas]
    return WireBatch(
        base_offset,
        attributes,
        last_delta,
        base_ts,
        max_ts,
        producer_id,
        producer_epoch,
        base_sequence,
        keys,
        values,
        headers,
        timestamps,
        bytes(data[start:end]),
    )


class BatchInfo(NamedTuple):
    """A produced batch checked by :func:`scan`: its header, and whether it can be stored whole."""

    base_offset: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    n_records: int
    raw: bytes  # the batch as sent
    # Every record's timestamp is a valid CreateTime (0 or more) and the header's
    # maxTimestamp is the records' largest: logcore can index the batch from its header.
    plain: bool

    @property
    def codec(self) -> int:
        return self.attributes & 0x07


def scan(data: bytes, start: int, end: int, *, max_bytes: int) -> BatchInfo:
    """Check one produced batch as :func:`decode` does, without cutting its records out.

    The same checks (magic, CRC-32C, record count, each record's fields adding up to its
    length, nothing after the last record, compressed blocks inflating within
    ``max_bytes``), and the ones a broker makes before storing a batch whole (Kafka's
    ``LogValidator``): offset deltas 0, 1, 2, ... and the records' largest timestamp.
    Walking the varints costs about a third of decoding: no key or value is copied.
    """
    (
        base_offset,
        attributes,
        last_delta,
        base_ts,
        max_ts,
        producer_id,
        producer_epoch,
        base_sequence,
        count,
    ) = _checked_header(data, start, end)
    codec = attributes & 0x07
    body: bytes
    if codec:
        body = decompress(codec, data[start + HEADER_SIZE : end], max_bytes)
        pos, stop_all = 0, len(body)
    else:
        body, pos, stop_all = data, start + HEADER_SIZE, end
    varint = _varint
    min_delta = max_delta = 0
    try:
        for i in range(count):
            # Varints inline for their one- and two-byte cases (nearly all of them), as
            # in decode(); zig-zag decoded only where the sign matters.
            b = body[pos]
            if b < 0x80:
                length = (b >> 1) ^ -(b & 1)
                pos += 1
            elif body[pos + 1] < 0x80:
                v = (b & 0x7F) | (body[pos + 1] << 7)
                length = (v >> 1) ^ -(v & 1)
                pos += 2
            else:
                length, pos = varint(body, pos)
            stop = pos + length
            if length < 1 or stop > stop_all:
                raise BatchError("a record runs past the end of its batch")
            b = body[pos + 1]  # after the record's attributes
            if b < 0x80:
                ts_delta = (b >> 1) ^ -(b & 1)
                pos += 2
            elif body[pos + 2] < 0x80:
                v = (b & 0x7F) | (body[pos + 2] << 7)
                ts_delta = (v >> 1) ^ -(v & 1)
                pos += 3
            else:
                ts_delta, pos = varint(body, pos + 1)
            if ts_delta > max_delta:
                max_delta = ts_delta
            elif ts_delta < min_delta:
                min_delta = ts_delta
            # The offset delta must be i: zig-zag 2 * i, one byte below 64, two below 8192.
            z = i << 1
            if z < 0x80:
                if body[pos] != z:
                    raise BatchError(f"record {i} of the batch has an offset delta other than {i}")
                pos += 1
            elif z < 0x4000 and body[pos] == (z & 0x7F) | 0x80 and body[pos + 1] == z >> 7:
                pos += 2
            else:
                o_delta, pos = varint(body, pos)
                if o_delta != i:
                    raise BatchError(f"record {i} of the batch has offset delta {o_delta}: Kafka's are 0, 1, 2, ...")
            b = body[pos]
            if b < 0x80:
                if b & 1:  # a negative length: a null key, as decode() reads it
                    pos += 1
                else:
                    pos += 1 + (b >> 1)
            elif body[pos + 1] < 0x80:
                v = (b & 0x7F) | (body[pos + 1] << 7)
                pos += 2 + (v >> 1 if not v & 1 else 0)
            else:
                klen, pos = varint(body, pos)
                if klen > 0:
                    pos += klen
            b = body[pos]
            if b < 0x80:
                if b & 1:
                    pos += 1
                else:
                    pos += 1 + (b >> 1)
            elif body[pos + 1] < 0x80:
                v = (b & 0x7F) | (body[pos + 1] << 7)
                pos += 2 + (v >> 1 if not v & 1 else 0)
            else:
                vlen, pos = varint(body, pos)
                if vlen > 0:
                    pos += vlen
            if body[pos] == 0:
                pos += 1
            else:
                nh, pos = varint(body, pos)
                if nh < 0:
                    raise BatchError(f"a record claims {nh} headers")
                for _h in range(nh):
                    hk, pos = varint(body, pos)
                    if hk < 0:
                        raise BatchError("a record header has a null key")
                    bytes(body[pos : pos + hk]).decode("utf-8")
                    pos += hk
                    hv, pos = varint(body, pos)
                    if hv > 0:
                        pos += hv
            if pos != stop:
                raise BatchError("a record's fields do not add up to its length")
    except (IndexError, UnicodeDecodeError):
        raise BatchError("a record runs past the end of its batch") from None
    if pos != stop_all:
        raise BatchError(f"{stop_all - pos} bytes follow the last record of the batch")
    plain = (
        base_ts + min_delta >= 0
        and (count == 0 or base_ts + max_delta == max_ts)
        and not attributes & TIMESTAMP_LOG_APPEND
    )
    return BatchInfo(
        base_offset,
        attributes,
        last_delta,
        base_ts,
        max_ts,
        producer_id,
        producer_epoch,
        base_sequence,
        count,
        bytes(data[start:end]),
        plain,
    )


def to_records(batch: bytes, start: int, end: int, base_offset: int) -> list[Record]:
    """The records of a stored whole batch (already checked when it was appended).

    Offsets are ``base_offset`` on, one a record: :func:`scan` refused any other deltas.
    """
    # Any size the batch inflated to when it was produced; 2 GiB is a Java array's limit.
    wb = decode(batch, start, end, max_bytes=(1 << 31) - 1)
    n = wb.n_records
    ts = repeat(wb.timestamps, n) if isinstance(wb.timestamps, int) else wb.timestamps
    hs: Iterable[tuple[Header, ...]] = wb.headers if wb.headers is not None else repeat((), n)
    rows = zip(range(base_offset, base_offset + n), ts, wb.keys, wb.values, hs, strict=False)
    return list(map(tuple.__new__, repeat(Record, n), rows))


def _zz(value: int) -> bytes:
    """Zig-zag varint bytes (``ByteUtils.writeVarlong``)."""
    v = (value << 1) ^ (value >> 63)
    if v < 0x80:
        return bytes((v,))
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


# Precomputed one-byte varints: most lengths and deltas in a batch are small.
_SMALL = [_zz(i) for i in range(1 << 14)]
_NULL = _zz(-1)


def _vi(value: int) -> bytes:
    return _SMALL[value] if 0 <= value < 16384 else _zz(value)


def encode(
    records: Sequence[Record],
    *,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    attributes: int = 0,
) -> bytes:
    """One uncompressed RecordBatch v2 holding ``records`` (offsets may have gaps)."""
    first = records[0]
    base_offset = first.offset
    base_ts = first.timestamp
    max_ts = base_ts
    parts: list[bytes] = []
    add = parts.append
    vi = _vi
    null = _NULL
    for offset, ts, key, value, headers in records:
        if ts > max_ts:
            max_ts = ts
        body = [b"\0", vi(ts - base_ts), vi(offset - base_offset)]
        if key is None:
            body.append(null)
        else:
            body.append(vi(len(key)))
            body.append(key)
        if value is None:
            body.append(null)
        else:
            body.append(vi(len(value)))
            body.append(value)
        if headers:
            body.append(vi(len(headers)))
            for hk, hv in headers:
                kb = hk.encode("utf-8")
                body.append(vi(len(kb)))
                body.append(kb)
                if hv is None:
                    body.append(null)
                else:
                    body.append(vi(len(hv)))
                    body.append(hv)
        else:
            body.append(b"\0")
        rec = b"".join(body)
        add(vi(len(rec)))
        add(rec)
    last_delta = records[-1].offset - base_offset
    after = _AFTER_CRC.pack(
        attributes, last_delta, base_ts, max_ts, producer_id, producer_epoch, base_sequence, len(records)
    ) + b"".join(parts)
    crc = crc32c(after)
    return _PREFIX.pack(base_offset, len(after) + 9, 0, MAGIC) + _U32.pack(crc) + after


def as_stored(raw: bytes, base_offset: int, leader_epoch: int = 0) -> bytes:
    """The batch with the base offset and leader epoch a broker sets on append.

    Neither is covered by the CRC (it starts at the attributes), so it stays valid.
    """
    return struct.pack(">qiiB", base_offset, len(raw) - 12, leader_epoch, MAGIC) + raw[17:]


def compress(codec: int, data: bytes) -> bytes:
    """For tests and tools: a record block compressed as a producer would."""
    if codec == COMPRESSION_GZIP:
        return gzip.compress(data)
    if codec == COMPRESSION_SNAPPY:
        return bytes(cramjam.snappy.compress_raw(data))
    if codec == COMPRESSION_LZ4:
        return bytes(cramjam.lz4.compress(data))
    if codec == COMPRESSION_ZSTD:
        return bytes(cramjam.zstd.compress(data))
    return data


def recompress(batch: bytes, codec: int) -> bytes:
    """An uncompressed batch from :func:`encode` with its records compressed by ``codec``."""
    after = bytearray(batch[_ATTRS_AT:])
    records = compress(codec, bytes(after[HEADER_SIZE - _ATTRS_AT :]))
    attrs = struct.unpack_from(">h", after, 0)[0] | codec
    head = bytearray(after[: HEADER_SIZE - _ATTRS_AT])
    struct.pack_into(">h", head, 0, attrs)
    new_after = bytes(head) + records
    return batch[:8] + struct.pack(">iib", len(new_after) + 9, 0, MAGIC) + _U32.pack(crc32c(new_after)) + new_after
