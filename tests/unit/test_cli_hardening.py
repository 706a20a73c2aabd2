"""The command line never prints a traceback nor a raw control character (found by testers)."""

from __future__ import annotations

import io
import json
import logging
import sys
from pathlib import Path

import pytest

from logcore.cluster import EmbeddedCluster
from logcore.errors import CorruptRecord
from offsetsite import cli
from offsetsite.cli.text import printable


class Bytes(io.TextIOWrapper):
    """A stdin whose bytes are not necessarily UTF-8 (what a pipe gives)."""

    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data), encoding="utf-8", errors="surrogateescape")


def run(data_dir: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = cli.main(["--data-dir", str(data_dir), *argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    with EmbeddedCluster(d) as c:
        c.create_topic("t", 1)
        c.produce("t", b"a", partition=0)
        c.produce("t", b"b", partition=0)
    return d


HOSTILE = "evil\x1b[2J\nforged-row\u202e\x07"


def test_printable_escapes_control_characters() -> None:
    assert printable("plain-group.1 ü") == "plain-group.1 ü"
    assert printable("a\x1b[31mb") == "a\\x1b[31mb"
    assert printable("a\nb\tc\rd") == "a\\nb\\tc\\rd"
    assert printable("x\u202ey\u2028z\x7f") == "x\\u202ey\\u2028z\\x7f"


def test_group_ids_are_escaped_in_every_listing(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with EmbeddedCluster(data_dir) as c:
        c.commit_offsets(HOSTILE, {("t", 0): 1})
    outputs = []
    for argv in (
        ("groups", "--list"),
        ("groups", "--list", "--state"),
        ("groups", "--describe", "--all-groups"),
        ("groups", "--describe", "--all-groups", "--state"),
        ("groups", "--describe", "--all-groups", "--members"),
        ("groups", "--describe", "--group", HOSTILE + "x"),
        ("groups", "--delete", "--group", HOSTILE),
    ):
        _rc, out, err = run(data_dir, capsys, *argv)
        outputs.append(out + err)
    for text in outputs:
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text, text
        for line in text.splitlines():
            assert not line.startswith("forged-row"), text
    assert any("evil\\x1b[2J\\nforged-row\\u202e\\x07" in t for t in outputs)


def test_produce_timestamp_beyond_a_long_is_one_line(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run(data_dir, capsys, "produce", "--topic", "t", "--value", "x", "--timestamp", str(10**23))
    assert rc == 1 and err.startswith("Error:") and "9223372036854775807" in err and "Traceback" not in err
    rc, _, err = run(data_dir, capsys, "produce", "--topic", "t", "--value", "x", "--timestamp", "1e23")
    assert rc == 2 and "invalid int value: '1e23'" in err


def test_produce_of_binary_stdin_says_which_lines_were_written(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: 3 records were appended before a traceback. Lines are sent as they come
    (an endless pipe keeps producing, as with kafka-console-producer.sh); the command stops
    at the bad line and says which were written."""
    monkeypatch.setattr(sys, "stdin", Bytes(b"one\ntwo\nthree\n\xff\xfebad\nfive\n"))
    rc, _, err = run(data_dir, capsys, "produce", "--topic", "t")
    assert rc == 1, err
    note, error = err.strip().splitlines()
    assert note == "Note: lines 1 to 3 of stdin were written; none after them."
    assert error.startswith("Error: line 4 of stdin is not UTF-8") and "0xff" in error
    with EmbeddedCluster(data_dir) as c:
        assert [r.value for r in c.read("t", 0, 2)] == [b"one", b"two", b"three"]


def _reset(data_dir: Path, capsys: pytest.CaptureFixture[str], csv: Path) -> tuple[int, str, str]:
    return run(data_dir, capsys, "groups", "--reset-offsets", "--group", "g", "--all-topics", "--from-file", str(csv))


def test_from_file_accepts_a_utf8_bom(data_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    csv = tmp_path / "bom.csv"
    csv.write_bytes(b"\xef\xbb\xbft,0,1\n")
    rc, out, err = _reset(data_dir, capsys, csv)
    assert rc == 0, err
    assert "t " in out and "1" in out


def test_from_file_refuses_other_bytes_clearly(
    data_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    csv = tmp_path / "latin1.csv"
    csv.write_bytes(b"t,0,\xff1\n")
    rc, _, err = _reset(data_dir, capsys, csv)
    assert rc == 1 and "Traceback" not in err
    assert f"{csv} is not UTF-8" in err and "0xff" in err and len(err.strip().splitlines()) == 1


def test_from_file_refuses_an_empty_file(data_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for content in (b"", b"\n\n", b"\xef\xbb\xbf"):
        csv = tmp_path / "empty.csv"
        csv.write_bytes(content)
        rc, _, err = _reset(data_dir, capsys, csv)
        assert rc == 1, err
        assert f"the offsets file {csv} has no lines" in err and "topic,partition,offset" in err


def test_by_duration_before_the_epoch_is_clear(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with EmbeddedCluster(data_dir) as c:
        c.commit_offsets("g", {("t", 0): 1})
    rc, _, err = run(
        data_dir, capsys, "groups", "--reset-offsets", "--group", "g", "--all-topics", "--by-duration", "P99999999999D"
    )
    assert rc == 1 and "Traceback" not in err
    assert "--by-duration P99999999999D reaches back before 1970-01-01" in err


def test_a_truncated_topic_json_names_the_file(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    meta = data_dir / "t" / "topic.json"
    meta.write_text(meta.read_text()[:10])
    rc, _, err = run(data_dir, capsys, "topics", "--list")
    assert rc == 1 and str(meta) in err and "corrupt" in err and len(err.strip().splitlines()) == 1


def test_a_stray_log_file_is_skipped_with_a_warning(
    data_dir: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    (data_dir / "t" / "0" / "abc.log").write_text("junk")
    (data_dir / "abc.log").write_text("junk")
    with caplog.at_level(logging.WARNING):
        rc, out, err = run(data_dir, capsys, "consume", "--topic", "t", "--from-beginning", "--max-messages", "2")
    assert rc == 0, err
    assert out == "a\nb\n"
    assert any("abc.log" in r.getMessage() for r in caplog.records)


def test_a_topic_directory_without_topic_json_is_skipped_with_a_warning(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (data_dir / "crashed" / "0").mkdir(parents=True)
    with caplog.at_level(logging.WARNING), EmbeddedCluster(data_dir) as c:
        assert "crashed" not in c.list_topics()
    assert any("crashed" in r.getMessage() and "topic.json" in r.getMessage() for r in caplog.records)


def test_engine_names_a_corrupt_topic_json(data_dir: Path) -> None:
    (data_dir / "t" / "topic.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(CorruptRecord, match="topic.json"):
        EmbeddedCluster(data_dir)
    assert json  # keep the import for readers of this file
