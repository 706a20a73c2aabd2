"""The batch format: encode/decode round trips, headers, gaps, CRC."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logcore.errors import CorruptRecord
from logcore.records import (
    ATTR_GAPS,
    ATTR_HEADERS,
    ATTR_ONE_TIMESTAMP,
    HEADER_SIZE,
    LENGTH_OFFSET,
    MAGIC,
    Record,
    batch_crc_ok,
    decode_batch,
    decode_headers,
    encode_batch,
    encode_headers,
    encode_one,
    parse_header,
)

T0 = 1_700_000_000_000


def test_encode_one_round_trip() -> None:
    data = encode_one(42, b"k", b"value", T0)
    h = parse_header(data)
    assert h.base_offset == 42
    assert h.magic == MAGIC
    assert h.record_count == 1
    assert h.last_offset_delta == 0
    assert h.base_timestamp == h.max_timestamp == T0
    assert h.total_size == len(data)
    assert h.last_offset == 42 and h.next_offset == 43
    assert decode_batch(data, verify=True) == [Record(42, T0, b"k", b"value", ())]


@pytest.mark.parametrize(
    ("key", "value"),
    [(None, None), (None, b"v"), (b"k", None), (b"", b""), (b"", None), (None, b"")],
)
def test_null_and_empty_key_value_are_distinct(key: bytes | None, value: bytes | None) -> None:
    for data in (encode_one(0, key, value, T0), encode_batch(0, [key], [value], T0)):
        (r,) = decode_batch(data, verify=True)
        assert r.key == key and r.value == value
        # None and b"" must not be confused in either direction.
        assert (r.key is None) == (key is None)
        assert (r.value is None) == (value is None)


def test_encode_one_with_headers_uses_batch_path() -> None:
    headers = (("trace", b"abc"), ("empty", b""), ("null", None), ("ünï", b"\x00\xff"))
    (r,) = decode_batch(encode_one(7, b"k", b"v", T0, headers), verify=True)
    assert r.headers == headers


def test_batch_round_trip_with_timestamps_and_headers() -> None:
    keys = [b"a", None, b"", b"d"]
    values = [b"1", b"2", None, b"x" * 1000]
    timestamps = [T0, T0 + 5, T0 - 3, T0 + 1]
    headers = [(("h", b"1"),), (), (("n", None), ("e", b"")), ()]
    data = encode_batch(100, keys, values, timestamps, headers)
    h = parse_header(data)
    assert h.attributes & ATTR_HEADERS
    assert not h.attributes & ATTR_ONE_TIMESTAMP
    assert not h.attributes & ATTR_GAPS
    assert h.base_timestamp == T0
    assert h.max_timestamp == T0 + 5
    assert h.record_count == 4 and h.next_offset == 104
    records = decode_batch(data, verify=True)
    assert records == [Record(100 + i, timestamps[i], keys[i], values[i], tuple(headers[i])) for i in range(4)]


def test_shared_timestamp_sets_one_timestamp_attribute() -> None:
    data = encode_batch(0, [b"a", b"b"], [b"1", b"2"], [T0, T0])
    assert parse_header(data).attributes & ATTR_ONE_TIMESTAMP
    assert [r.timestamp for r in decode_batch(data)] == [T0, T0]
    data = encode_batch(0, [b"a", b"b"], [b"1", b"2"], T0)
    assert parse_header(data).attributes & ATTR_ONE_TIMESTAMP


def test_all_null_values_batch() -> None:
    data = encode_batch(0, [b"a", b"b", b"c"], [None, None, None], T0)
    assert [r.value for r in decode_batch(data)] == [None, None, None]
    data = encode_batch(0, [None, None], [None, None], T0)
    assert [(r.key, r.value) for r in decode_batch(data)] == [(None, None), (None, None)]


def test_offset_deltas_give_gaps() -> None:
    data = encode_batch(10, [b"a", b"b", b"c"], [b"1", b"2", b"3"], T0, offset_deltas=[0, 4, 9])
    h = parse_header(data)
    assert h.attributes & ATTR_GAPS
    assert h.last_offset == 19 and h.next_offset == 20
    assert [r.offset for r in decode_batch(data, verify=True)] == [10, 14, 19]


def test_empty_or_mismatched_batch_refused() -> None:
    with pytest.raises(ValueError):
        encode_batch(0, [], [], T0)
    with pytest.raises(ValueError):
        encode_batch(0, [b"a"], [b"1", b"2"], T0)


def test_crc_detects_any_flipped_byte() -> None:
    data = encode_batch(5, [b"key", None], [b"value", b"other"], [T0, T0 + 1], [(("h", b"v"),), ()])
    assert batch_crc_ok(data)
    # Every byte covered by the CRC (everything after the CRC field).
    for i in range(LENGTH_OFFSET + 4, len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x40
        assert not batch_crc_ok(bytes(bad)), i
        with pytest.raises(CorruptRecord):
            decode_batch(bytes(bad), verify=True)


def test_crc_field_is_crc32_of_body() -> None:
    data = encode_one(0, b"k", b"v", T0)
    assert parse_header(data).crc == zlib.crc32(data[16:])
    assert parse_header(data).batch_length == len(data) - LENGTH_OFFSET
    assert len(data) == HEADER_SIZE + 4 + 4 + 2


def test_headers_codec() -> None:
    assert decode_headers(b"") == ()
    hs = (("a", b"1"), ("", None), ("b", b""))
    assert decode_headers(encode_headers(hs)) == hs
    assert decode_headers(encode_headers([])) == ()


def test_record_size_counts_key_value_headers() -> None:
    assert Record(0, 0, None, None).size == 0
    assert Record(0, 0, b"ab", b"cde", (("h", b"12"), ("n", None))).size == 2 + 3 + 3 + 1


_bytes_or_none = st.none() | st.binary(max_size=40)
_header = st.tuples(st.text(max_size=8), _bytes_or_none)
_rec = st.tuples(
    _bytes_or_none,
    _bytes_or_none,
    st.integers(min_value=0, max_value=2**62),
    st.lists(_header, max_size=3).map(tuple),
)


@given(base=st.integers(min_value=0, max_value=2**40), recs=st.lists(_rec, min_size=1, max_size=20))
def test_batch_round_trip_property(base: int, recs: list) -> None:
    keys = [r[0] for r in recs]
    values = [r[1] for r in recs]
    ts = [r[2] for r in recs]
    hs = [r[3] for r in recs]
    data = encode_batch(base, keys, values, ts, hs)
    assert batch_crc_ok(data)
    out = decode_batch(data, verify=True)
    assert out == [Record(base + i, t, k, v, h) for i, (k, v, t, h) in enumerate(recs)]
    h = parse_header(data)
    assert h.max_timestamp == max(ts)
    assert h.next_offset == base + len(recs)


@given(key=_bytes_or_none, value=_bytes_or_none, ts=st.integers(min_value=0, max_value=2**62))
def test_encode_one_matches_encode_batch(key: bytes | None, value: bytes | None, ts: int) -> None:
    assert decode_batch(encode_one(3, key, value, ts)) == decode_batch(encode_batch(3, [key], [value], ts))
