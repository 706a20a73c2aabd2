"""Shared reading of a benchmark's printed table."""

from __future__ import annotations


def target_rows(out: str) -> list[str]:
    """The table rows that carry a verdict, without the closing verdict line.

    The closing line ("all targets PASS" or "FAIL: ...") also ends in PASS when every target
    passed: counting it made a smoke test depend on how fast the machine ran the tiny sizes.
    """
    table, _, verdict = out.rpartition("\n\n")
    assert verdict.startswith(("all targets PASS", "FAIL: ")), verdict
    return [line for line in table.splitlines() if line.rstrip().endswith(("PASS", "FAIL <<<"))]
