"""Producer placement: Kafka's murmur2, key placement and uniform sticky."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logcore.partitioner import (
    StickyPartitioner,
    murmur2,
    partition_for_key,
    to_positive,
)

# Kafka's UtilsTest.testMurmur2 (docs/logcore.md, Kafka's rules, section 2).
MURMUR2_VECTORS = [
    (b"21", -973932308),
    (b"foobar", -790332482),
    (b"a-little-bit-long-string", -985981536),
    (b"a-little-bit-longer-string", -1486304829),
    (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
    (bytes([ord("a"), ord("b"), ord("c")]), 479470107),
]


@pytest.mark.parametrize(("key", "expected"), MURMUR2_VECTORS)
def test_murmur2_matches_kafkas_vectors(key: bytes, expected: int) -> None:
    assert murmur2(key) == expected


def test_murmur2_of_empty_input_is_the_mixed_seed() -> None:
    # No block, no tail: only the final mix of seed ^ 0.
    assert murmur2(b"") == 275646681


@given(st.binary(max_size=64))
def test_murmur2_is_a_signed_32_bit_int(data: bytes) -> None:
    h = murmur2(data)
    assert -(2**31) <= h < 2**31


def test_to_positive_masks_the_sign_bit_instead_of_abs() -> None:
    assert to_positive(-1) == 0x7FFFFFFF
    assert to_positive(-(2**31)) == 0
    assert to_positive(5) == 5
    assert to_positive(-5) != 5


def test_partition_for_key_is_to_positive_murmur2_mod_n() -> None:
    for key, h in MURMUR2_VECTORS:
        for n in (1, 3, 6, 50):
            assert partition_for_key(key, n) == (h & 0x7FFFFFFF) % n
    # Worked by hand: (-790332482 & 0x7fffffff) = 1357151166; 1357151166 % 6 = 0.
    assert partition_for_key(b"foobar", 6) == 0
    assert partition_for_key(b"21", 3) == 1173551340 % 3


def test_partition_for_key_rejects_no_partitions() -> None:
    with pytest.raises(ValueError, match="at least 1 partition"):
        partition_for_key(b"k", 0)


def test_explicit_partition_wins_and_is_validated() -> None:
    sp = StickyPartitioner()
    assert sp.partition("t", b"foobar", b"v", 6, explicit=4) == 4
    with pytest.raises(ValueError, match="0 to 5"):
        sp.partition("t", b"k", b"v", 6, explicit=6)
    with pytest.raises(ValueError, match="0 to 5"):
        sp.partition("t", None, b"v", 6, explicit=-1)


def test_keyed_records_use_murmur2_and_do_not_touch_the_sticky_batch() -> None:
    sp = StickyPartitioner(batch_size=10, rng=random.Random(1))
    assert sp.partition("t", b"foobar", b"x" * 100, 6) == partition_for_key(b"foobar", 6)
    assert sp.current_partition("t") is None
    first = sp.partition("t", None, b"12345", 6)
    for _ in range(5):
        sp.partition("t", b"k", b"x" * 100, 6)
    assert sp.partition("t", None, b"1234", 6) == first  # 9 bytes so far: no switch yet


def test_null_keys_stick_until_batch_size_bytes_then_switch() -> None:
    seed, n = 42, 6
    sp = StickyPartitioner(batch_size=100, rng=random.Random(seed))
    mirror = random.Random(seed)
    first = mirror.randrange(n)
    # 30-byte records: the 4th one reaches 120 >= 100 bytes and is still placed on
    # the first partition; the 5th goes elsewhere.
    placed = [sp.partition("t", None, b"v" * 30, n) for _ in range(4)]
    assert placed == [first] * 4
    draw = mirror.randrange(n - 1)
    second = draw if draw < first else draw + 1
    assert second != first
    assert sp.partition("t", None, b"v" * 30, n) == second
    assert sp.current_partition("t") == second


def test_switch_counts_key_and_value_bytes_and_null_value() -> None:
    sp = StickyPartitioner(batch_size=3, rng=random.Random(7))
    first = sp.partition("t", None, None, 4)  # a tombstone weighs 0 bytes
    assert sp.partition("t", None, b"ab", 4) == first
    assert sp.partition("t", None, b"c", 4) == first  # 3 bytes: switch after this one
    assert sp.partition("t", None, b"", 4) != first


def test_each_topic_has_its_own_sticky_partition() -> None:
    sp = StickyPartitioner(batch_size=1000, rng=random.Random(3))
    a = sp.partition("a", None, b"x", 8)
    b = sp.partition("b", None, b"x" * 999, 8)
    assert sp.partition("a", None, b"x", 8) == a
    sp.partition("b", None, b"x", 8)  # b switches
    assert sp.partition("a", None, b"x", 8) == a
    assert sp.current_partition("b") != b


def test_single_partition_topic_always_gets_zero() -> None:
    sp = StickyPartitioner(batch_size=1, rng=random.Random(0))
    assert {sp.partition("t", None, b"xx", 1) for _ in range(10)} == {0}


def test_sticky_spreads_evenly_over_many_batches() -> None:
    sp = StickyPartitioner(batch_size=16384, rng=random.Random(2024))
    counts = Counter(sp.partition("t", None, b"x" * 1024, 4) for _ in range(16 * 400))
    assert set(counts) == {0, 1, 2, 3}
    assert all(c % 16 == 0 for c in counts.values())  # whole 16 KiB batches
    assert max(counts.values()) < 2 * min(counts.values())


def test_sticky_partition_is_redrawn_when_partitions_shrink() -> None:
    seed = next(s for s in range(100) if random.Random(s).randrange(100) >= 3)
    sp = StickyPartitioner(batch_size=10**6, rng=random.Random(seed))
    before = sp.partition("t", None, b"x", 100)
    assert before >= 3
    assert 0 <= sp.partition("t", None, b"x", 3) < 3


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        StickyPartitioner(batch_size=-1)
    with pytest.raises(ValueError):
        StickyPartitioner().partition("t", None, b"", 0)
