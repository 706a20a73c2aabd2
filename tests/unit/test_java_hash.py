"""Java's String.hashCode and the __consumer_offsets partition of a group."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logcore.java_hash import java_abs, java_string_hashcode, partition_for_group


def test_testgroup_lives_on_partition_27_of_50() -> None:
    # docs/logcore.md, Kafka's rules, section 4.
    assert partition_for_group("testgroup", 50) == 27


@pytest.mark.parametrize(
    ("s", "expected"),
    [
        ("", 0),
        ("a", 97),
        ("hello", 99162322),  # "hello".hashCode() in Java
        ("testgroup", -1172783827),
        # Beyond the BMP Java hashes the two UTF-16 surrogates: 0xD83D * 31 + 0xDE00.
        ("\U0001f600", 0xD83D * 31 + 0xDE00),
        ("é", 0xE9),
    ],
)
def test_java_string_hashcode(s: str, expected: int) -> None:
    assert java_string_hashcode(s) == expected


def test_hashcode_wraps_like_a_java_int() -> None:
    # "polygenelubricants".hashCode() == Integer.MIN_VALUE, the classic Java example.
    assert java_string_hashcode("polygenelubricants") == -(2**31)


def test_abs_of_int_min_is_zero_like_kafkas_utils_abs() -> None:
    assert java_abs(-(2**31)) == 0
    assert java_abs(-5) == 5
    assert partition_for_group("polygenelubricants", 50) == 0
    assert partition_for_group("polygenelubricants", 7) == 0


@given(st.text(max_size=40), st.integers(min_value=1, max_value=200))
def test_partition_for_group_is_in_range_and_matches_the_formula(group: str, n: int) -> None:
    h = java_string_hashcode(group)
    assert -(2**31) <= h < 2**31
    p = partition_for_group(group, n)
    assert 0 <= p < n
    assert p == (0 if h == -(2**31) else abs(h)) % n


def test_hashcode_matches_the_recurrence() -> None:
    s = "consumer-group-Ω-42"
    h = 0
    for ch in s:
        h = (31 * h + ord(ch)) % 2**32
    assert java_string_hashcode(s) == (h - 2**32 if h >= 2**31 else h)


def test_rejects_no_partitions() -> None:
    with pytest.raises(ValueError):
        partition_for_group("g", 0)
