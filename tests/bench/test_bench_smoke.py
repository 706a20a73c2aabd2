"""Each benchmark runs end to end with tiny sizes and reports every figure (no timing asserts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from bench_table import target_rows

from bench import __main__ as dispatcher
from bench import groups, log

ROOT = Path(__file__).resolve().parents[2]

LOG_FIGURES = {
    "batched_append_per_s",
    "plain_baseline_per_s",
    "sqlite_per_s",
    "batched_vs_plain",
    "batched_vs_sqlite",
    "single_append_per_s",
    "batch_read_per_s",
    "batch_read_vs_batched_append",
    "sequential_read_per_s",
    "read_vs_batched_append",
    "reopen_clean_s",
    "reopen_after_kill_s",
    "kill_tail_verified_mb",
}
TARGETS = {
    "batched_vs_plain",
    "batched_vs_sqlite",
    "single_append_per_s",
    # The read target is on the whole-batch read (Kafka's fetch); the per-record read has none.
    "batch_read_vs_batched_append",
    "reopen_clean_s",
    "reopen_after_kill_s",
}
TINY = ["--records", "3000", "--batch", "100", "--reopen-records", "5000", "--kill-after", "1000", "--rounds", "1"]


def test_log_bench_json_has_every_figure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert log.main(["--json", "--dir", str(tmp_path), *TINY]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["figures"]) >= LOG_FIGURES
    for name, fig in result["figures"].items():
        assert fig["value"] >= 0, name
        assert (fig["pass"] is not None) == (name in TARGETS), name
        assert isinstance(fig["pass"], bool | None)
    assert result["params"]["records"] == 3000
    assert result["params"]["log_end_after_kill"] >= 5000 + 1000
    machine = result["machine"]
    assert machine["cores"] and machine["python"] and machine["cpu"] and "disk" in machine
    assert result["date"]
    # The scratch directory is cleaned up after the run.
    assert list(tmp_path.iterdir()) == []


def test_log_bench_table_marks_each_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert log.main(["--dir", str(tmp_path), *TINY]) == 0
    out = capsys.readouterr().out
    rows = target_rows(out)
    assert len(rows) == len(TARGETS)
    assert "records/s" in out and ">= 0.7" in out and "< 2" in out


def test_both_reads_see_every_record_and_no_more(tmp_path: Path) -> None:
    """The two read figures count only if each read really went through every record."""
    batches = log.make_batches(2500, 100, 0, 100)
    log.write_logcore(tmp_path / "p", batches)
    assert log.read_all_batches(tmp_path / "p", 2500).wall >= 0
    assert log.read_all(tmp_path / "p", 2500).wall >= 0
    for reader in (log.read_all_batches, log.read_all):
        with pytest.raises(AssertionError, match="expected 2501"):
            reader(tmp_path / "p", 2501)


def test_log_bench_refuses_bad_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        log.main(["--records", "0"])
    assert exc.value.code == 2
    assert "not a positive whole number" in capsys.readouterr().err


def test_plain_baseline_writes_the_bytes_logcore_writes(tmp_path: Path) -> None:
    """The baseline is honest only if it produces the same log file, byte for byte."""
    batches = log.make_batches(500, 100, 8, 100)
    log.write_plain(tmp_path / "plain", batches)
    log.write_logcore(tmp_path / "logcore", batches)
    plain = (tmp_path / "plain" / "plain.log").read_bytes()
    (segment,) = (tmp_path / "logcore").glob("*.log")
    ours = segment.read_bytes()
    assert len(plain) == len(ours)
    # Equal up to the timestamps (stamped per batch by the wall clock) and the CRCs over them.
    from logcore.records import decode_batch
    from logcore.segment import LogSegment

    seg = LogSegment(tmp_path / "logcore", 0, 4096)
    seg.open_files()
    seg.size = len(ours)
    ours_records = [(r.offset, r.key, r.value) for _, b in seg.iter_batches() for r in decode_batch(b, verify=True)]
    seg.close()
    plain_records = []
    pos = 0
    while pos < len(plain):
        length = int.from_bytes(plain[pos + 8 : pos + 12], "little", signed=True)
        batch = plain[pos : pos + length + 12]
        plain_records += [(r.offset, r.key, r.value) for r in decode_batch(batch, verify=True)]
        pos += length + 12
    assert ours_records == plain_records
    assert [v for _, _, v in ours_records] == [v for b in batches for _, v in b]


def test_groups_bench_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert groups.main(["--json", "--commits", "2000", "--reload-commits", "2000", "--groups", "20"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"single_commits_per_s", "group_commits_per_s", "reload_s", "describe_s"} <= set(result["figures"])


def test_dispatcher_runs_a_named_benchmark(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert dispatcher.main(["log", "--json", "--dir", str(tmp_path), *TINY]) == 0
    assert "batched_vs_plain" in json.loads(capsys.readouterr().out)["figures"]
    assert dispatcher.main(["nope"]) == 2
    assert "unknown benchmark 'nope'; allowed: log, groups" in capsys.readouterr().err


def test_python_dash_m_bench_help() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "bench", "--help"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert "log" in out.stdout and "groups" in out.stdout
