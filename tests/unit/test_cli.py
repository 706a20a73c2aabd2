"""The command line: each subcommand through ``main(argv)``, output compared to Kafka's tools."""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from logcore.cluster import EmbeddedCluster
from offsetsite import cli
from offsetsite.cli import remote
from offsetsite.cli.console import LineReader, MessageFormatter


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


class Run:
    """Call ``main`` on one data directory and capture what it printed."""

    def __init__(self, data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
        self.data_dir = data_dir
        self.capsys = capsys
        self.monkeypatch = monkeypatch

    def __call__(self, *argv: str, stdin: str | None = None) -> tuple[int, str, str]:
        self.capsys.readouterr()
        if stdin is not None:
            self.monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        rc = cli.main(["--data-dir", str(self.data_dir), *argv])
        captured = self.capsys.readouterr()
        return rc, captured.out, captured.err

    def ok(self, *argv: str, stdin: str | None = None) -> str:
        rc, out, err = self(*argv, stdin=stdin)
        assert rc == 0, err
        return out


@pytest.fixture
def run(data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    return Run(data_dir, capsys, monkeypatch)


def committed(data_dir: Path, group: str) -> dict[tuple[str, int], int]:
    with EmbeddedCluster(data_dir) as c:
        return {tp: om.offset for tp, om in c.committed_offsets(group).items()}


# --- usage and defaults --------------------------------------------------------------


def test_usage_errors_exit_2_and_say_what_is_allowed(run: Run) -> None:
    rc, _, err = run("topics")
    assert rc == 2
    assert "one of the arguments --create --list --describe --alter --delete --offsets is required" in err
    rc, _, err = run("frobnicate")
    assert rc == 2
    assert "invalid choice: 'frobnicate'" in err and "topics" in err
    rc, _, err = run("consume", "--topic", "t", "--max-messages", "many")
    assert rc == 2 and "invalid int value: 'many'" in err


def test_help_exits_0(run: Run) -> None:
    rc, out, _ = run("--help")
    assert rc == 0 and "groups" in out and "--data-dir" in out


def test_default_data_dir_follows_settings_rules(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("OFFSETSITE_DATA_DIR", "OFFSETSITE_DATA", "OFFSETSITE_VAR"):
        monkeypatch.delenv(name, raising=False)
    assert cli.default_data_dir() == cli.REPO_DIR / "var" / "data"
    monkeypatch.setenv("OFFSETSITE_VAR", str(tmp_path / "v"))
    assert cli.default_data_dir() == tmp_path / "v" / "data"
    monkeypatch.setenv("OFFSETSITE_DATA", str(tmp_path / "d1"))
    assert cli.default_data_dir() == tmp_path / "d1"
    monkeypatch.setenv("OFFSETSITE_DATA_DIR", str(tmp_path / "d2"))
    assert cli.default_data_dir() == tmp_path / "d2"


def test_unusable_data_dir_is_an_error_not_a_trace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert cli.main(["--data-dir", str(blocker / "data"), "topics", "--list"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and "check --data-dir" in err and "Traceback" not in err


def test_data_dir_from_environment(run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OFFSETSITE_DATA_DIR", str(tmp_path / "envdata"))
    assert cli.main(["topics", "--create", "--topic", "e"]) == 0
    assert (tmp_path / "envdata" / "e").is_dir()


# --- topics --------------------------------------------------------------------------


def test_create_describe_list_like_kafka_topics(run: Run) -> None:
    assert run.ok("topics", "--create", "--topic", "seats", "--partitions", "3") == "Created topic seats.\n"
    assert (
        run.ok(
            "topics",
            "--create",
            "--topic",
            "notebook",
            "--config",
            "cleanup.policy=compact",
            "--config",
            "retention.ms=60000",
        )
        == "Created topic notebook.\n"
    )
    assert run.ok("topics", "--describe", "--topic", "seats") == (
        "Topic: seats\tPartitionCount: 3\tReplicationFactor: 1\tConfigs: \n"
        "\tTopic: seats\tPartition: 0\tLeader: 0\tReplicas: 0\tIsr: 0\n"
        "\tTopic: seats\tPartition: 1\tLeader: 0\tReplicas: 0\tIsr: 0\n"
        "\tTopic: seats\tPartition: 2\tLeader: 0\tReplicas: 0\tIsr: 0\n"
    )
    assert run.ok("topics", "--describe", "--topic", "notebook").splitlines()[0] == (
        "Topic: notebook\tPartitionCount: 1\tReplicationFactor: 1\tConfigs: cleanup.policy=compact,retention.ms=60000"
    )
    assert run.ok("topics", "--list") == "__consumer_offsets\nnotebook\nseats\n"
    assert run.ok("topics", "--list", "--exclude-internal") == "notebook\nseats\n"
    described = run.ok("topics", "--describe", "--exclude-internal")
    assert [line for line in described.splitlines() if line.startswith("Topic:")] == [
        line for line in described.splitlines() if not line.startswith("\t")
    ]
    assert described.count("Topic: ") == 2 + 4


def test_create_refusals_change_nothing(run: Run) -> None:
    run.ok("topics", "--create", "--topic", "seats")
    rc, out, err = run("topics", "--create", "--topic", "seats")
    assert (rc, out) == (1, "")
    assert err == "Error while executing topic command : Topic 'seats' already exists.\n"
    assert run.ok("topics", "--create", "--topic", "seats", "--if-not-exists") == ""

    rc, _, err = run("topics", "--create", "--topic", "bad", "--config", "retention.hours=3")
    assert rc == 1 and "Unknown topic config name: 'retention.hours'" in err and "retention.ms" in err
    rc, _, err = run("topics", "--create", "--topic", "bad", "--config", "retention.ms=soon")
    assert rc == 1 and "retention.ms" in err and "integer" in err
    rc, _, err = run("topics", "--create", "--topic", "bad", "--config", "cleanup.policy")
    assert rc == 2 and "expected key=value" in err  # a usage error, as argparse's own
    rc, _, err = run("topics", "--create", "--topic", "bad", "--replication-factor", "3")
    assert rc == 1 and "only replication factor is 1" in err
    rc, _, err = run("topics", "--create", "--topic", "bad", "--partitions", "0")
    assert rc == 1 and "between 1 and" in err
    rc, _, err = run("topics", "--create", "--topic", "no/slash")
    assert rc == 1 and "ASCII alphanumerics" in err
    rc, _, err = run("topics", "--create")
    assert rc == 2 and "--create needs --topic T" in err
    assert run.ok("topics", "--list", "--exclude-internal") == "seats\n"


def test_alter_adds_partitions_only(run: Run) -> None:
    run.ok("topics", "--create", "--topic", "seats", "--partitions", "2")
    assert run.ok("topics", "--alter", "--topic", "seats", "--partitions", "4") == (
        "WARNING: If partitions are increased for a topic that has a key, the partition logic or "
        "ordering of the messages will be affected\nAdding partitions succeeded!\n"
    )
    assert "PartitionCount: 4" in run.ok("topics", "--describe", "--topic", "seats")
    rc, _, err = run("topics", "--alter", "--topic", "seats", "--partitions", "3")
    assert rc == 1 and "Partitions can only be added" in err
    rc, _, err = run("topics", "--alter", "--topic", "seats")
    assert rc == 2 and "--alter needs --partitions N" in err
    rc, _, err = run("topics", "--alter", "--topic", "seats", "--partitions", "5", "--config", "a=b")
    assert rc == 2 and "--config is only accepted with --create" in err
    assert "PartitionCount: 4" in run.ok("topics", "--describe", "--topic", "seats")


def test_delete_and_unknown_topics(run: Run) -> None:
    run.ok("topics", "--create", "--topic", "seats")
    assert run.ok("topics", "--delete", "--topic", "seats") == ""
    assert run.ok("topics", "--list", "--exclude-internal") == ""
    for action in ("--delete", "--describe"):
        rc, _, err = run("topics", action, "--topic", "seats")
        assert rc == 1
        assert err == "Error while executing topic command : Topic 'seats' does not exist.\n"
        assert run.ok("topics", action, "--topic", "seats", "--if-exists") == ""
    rc, _, err = run("topics", "--delete", "--topic", "__consumer_offsets")
    assert rc == 1 and "internal" in err


def test_offsets_like_get_offset_shell(run: Run) -> None:
    run.ok("topics", "--create", "--topic", "seats", "--partitions", "2")
    for ts in (1000, 2000, 3000):
        run.ok("produce", "--topic", "seats", "--partition", "0", "--timestamp", str(ts), "--value", "x")
    assert run.ok("topics", "--offsets", "--topic", "seats") == "seats:0:3\nseats:1:0\n"
    assert run.ok("topics", "--offsets", "--topic", "seats", "--time", "earliest") == "seats:0:0\nseats:1:0\n"
    assert run.ok("topics", "--offsets", "--topic", "seats", "--time", "1500") == "seats:0:1\nseats:1:\n"
    rc, _, err = run("topics", "--offsets", "--topic", "seats", "--time", "yesterday")
    assert rc == 2 and "latest (-1), earliest (-2) or a timestamp in ms" in err


# --- produce and consume -------------------------------------------------------------

ALL_PROPS = [
    "--property",
    "print.timestamp=true",
    "--property",
    "print.partition=true",
    "--property",
    "print.offset=true",
    "--property",
    "print.headers=true",
    "--property",
    "print.key=true",
]


def test_produce_one_value_consume_every_column(run: Run) -> None:
    run.ok("topics", "--create", "--topic", "seats", "--partitions", "2")
    out = run.ok(
        "produce",
        "--topic",
        "seats",
        "--partition",
        "1",
        "--key",
        "A12",
        "--header",
        "coach=A",
        "--header",
        "src=cli",
        "--timestamp",
        "1700000000000",
        "--value",
        "booked",
        "--print-metadata",
    )
    assert out == "seats:1:0\n"
    run.ok("produce", "--topic", "seats", "--partition", "1", "--timestamp", "1700000000001", "--value", "walk-up")
    rc, out, err = run("consume", "--topic", "seats", "--from-beginning", *ALL_PROPS)
    assert rc == 0
    assert out == (
        "CreateTime:1700000000000\tPartition:1\tOffset:0\tcoach:A,src:cli\tA12\tbooked\n"
        "CreateTime:1700000000001\tPartition:1\tOffset:1\tNO_HEADERS\tnull\twalk-up\n"
    )
    assert err == "Processed a total of 2 messages\n"
    # The default formatter prints only the value.
    assert run.ok("consume", "--topic", "seats", "--from-beginning") == "booked\nwalk-up\n"


def test_produce_lines_with_parse_key_and_headers(run: Run) -> None:
    run.ok("topics", "--create", "--topic", "seats")
    lines = "A12:booked\nB7:boarded:late\n"
    run.ok("produce", "--topic", "seats", "--property", "parse.key=true", "--property", "key.separator=:", stdin=lines)
    run.ok(
        "produce",
        "--topic",
        "seats",
        "--property",
        "parse.headers=true",
        "--property",
        "parse.key=true",
        "--property",
        "null.marker=NULL",
        stdin="h1:v1,h2:NULL\tC3\tchecked\n\tNULL\tNULL\n",
    )
    out = run.ok(
        "consume",
        "--topic",
        "seats",
        "--from-beginning",
        "--property",
        "print.key=true",
        "--property",
        "print.headers=true",
    )
    assert out == (
        "NO_HEADERS\tA12\tbooked\nNO_HEADERS\tB7\tboarded:late\nh1:v1,h2:null\tC3\tchecked\nNO_HEADERS\tnull\tnull\n"
    )


def test_produce_refusals(run: Run) -> None:
    rc, _, err = run("produce", "--topic", "nope", "--value", "x")
    assert rc == 1
    assert "Topic 'nope' does not exist" in err and "topics --create --topic nope" in err
    run.ok("topics", "--create", "--topic", "seats", "--partitions", "2")
    rc, _, err = run("produce", "--topic", "seats", "--partition", "5", "--value", "x")
    assert rc == 1 and "valid partitions are 0 to 1" in err
    rc, _, err = run("produce", "--topic", "seats", "--property", "parse.key=true", stdin="a\tb\nno-tab\n")
    assert rc == 1
    assert "No key separator found on line number 2: 'no-tab'" in err
    rc, _, err = run("produce", "--topic", "seats", "--property", "parse.kee=true", stdin="x\n")
    assert rc == 2 and "unknown producer property 'parse.kee'" in err and "parse.key" in err
    rc, _, err = run("produce", "--topic", "seats", "--property", "parse.key=yes", stdin="x\n")
    assert rc == 2 and "use true or false" in err
    rc, _, err = run("produce", "--topic", "seats", "--header", "novalue", "--value", "x")
    assert rc == 2 and "expected key=value" in err
    rc, _, err = run("produce", "--topic", "seats", "--timestamp", "-5", "--value", "x")
    assert rc == 2 and ">= 0" in err
    rc, _, err = run("produce", "--topic", "seats", "--key", "k", "--property", "parse.key=true", stdin="")
    assert rc == 2 and "not both" in err
    # Lines go out as they come (kafka-console-producer.sh): the line before the bad one was
    # appended, and the refusal said so ("lines 1 to 1 of stdin were written").
    offsets = run.ok("topics", "--offsets", "--topic", "seats").splitlines()
    assert sum(int(line.rsplit(":", 1)[1]) for line in offsets) == 1


def test_ignore_error_keeps_lines_without_separator(run: Run) -> None:
    run.ok("topics", "--create", "--topic", "seats")
    run.ok(
        "produce",
        "--topic",
        "seats",
        "--property",
        "parse.key=true",
        "--property",
        "ignore.error=true",
        stdin="k\tv\nlonely\n",
    )
    out = run.ok("consume", "--topic", "seats", "--from-beginning", "--property", "print.key=true")
    assert out == "k\tv\nnull\tlonely\n"


def test_consume_positions_and_limits(run: Run) -> None:
    run.ok("topics", "--create", "--topic", "seats", "--partitions", "2")
    run.ok("produce", "--topic", "seats", "--partition", "0", stdin="a\nb\nc\nd\n")
    run.ok("produce", "--topic", "seats", "--partition", "1", stdin="x\n")
    # Without --from-beginning a consumer starts at the high watermark: nothing to print.
    rc, out, err = run("consume", "--topic", "seats")
    assert (rc, out, err) == (0, "", "Processed a total of 0 messages\n")
    assert run.ok("consume", "--topic", "seats", "--partition", "0", "--offset", "2") == "c\nd\n"
    assert (
        run.ok("consume", "--topic", "seats", "--partition", "0", "--offset", "earliest", "--max-messages", "2")
        == "a\nb\n"
    )
    assert run.ok("consume", "--topic", "seats", "--partition", "0", "--offset", "latest") == ""
    assert run.ok("consume", "--topic", "seats", "--partition", "1", "--from-beginning") == "x\n"
    out = run.ok("consume", "--topic", "seats", "--from-beginning", "--property", "print.partition=true")
    assert sorted(out.splitlines()) == sorted(
        ["Partition:0\ta", "Partition:0\tb", "Partition:0\tc", "Partition:0\td", "Partition:1\tx"]
    )
    out = run.ok(
        "consume",
        "--topic",
        "seats",
        "--partition",
        "0",
        "--from-beginning",
        "--property",
        "print.value=false",
        "--property",
        "print.offset=true",
    )
    assert out == "Offset:0\nOffset:1\nOffset:2\nOffset:3\n"


def test_consume_refusals(run: Run) -> None:
    run.ok("topics", "--create", "--topic", "seats", "--partitions", "2")
    run.ok("produce", "--topic", "seats", "--partition", "0", "--value", "a")
    # 1: the engine refused; 2: the flags given are wrong (a usage error, as argparse's).
    cases = [
        (["--topic", "nope"], "Topic 'nope' does not exist", 1),
        (["--topic", "seats", "--partition", "2"], "valid partitions are 0 to 1", 1),
        (["--topic", "seats", "--offset", "1"], "The partition is required when offset is specified", 2),
        (
            ["--topic", "seats", "--partition", "0", "--offset", "0", "--from-beginning"],
            "Options from-beginning and offset cannot be specified together.",
            2,
        ),
        (["--topic", "seats", "--partition", "0", "--offset", "5"], "out of range", 1),
        (["--topic", "seats", "--partition", "0", "--offset", "soon"], "use a number >= 0, earliest or latest", 2),
        (["--topic", "seats", "--property", "print.key"], "expected key=value", 2),
        (["--topic", "seats", "--property", "print.keys=true"], "unknown formatter property 'print.keys'", 2),
        (["--topic", "seats", "--property", "print.key=maybe"], "use true or false", 2),
        (["--topic", "seats", "--no-commit"], "--no-commit only makes sense with --group G", 2),
        (["--topic", "seats", "--max-messages", "0"], "expected a number >= 1", 2),
    ]
    for argv, message, status in cases:
        rc, out, err = run("consume", *argv)
        assert rc == status, argv
        assert message in err, (argv, err)
        assert out == ""


def test_consume_timeout_waits_then_stops(run: Run) -> None:
    run.ok("topics", "--create", "--topic", "seats")
    started = time.monotonic()
    rc, out, err = run("consume", "--topic", "seats", "--timeout-ms", "300")
    assert (rc, out) == (0, "")
    assert time.monotonic() - started >= 0.3
    assert "Processed a total of 0 messages" in err


def test_formatter_matches_default_message_formatter() -> None:
    f = MessageFormatter(print_timestamp=True, print_key=True, key_separator=" | ", null_literal="<nil>")
    assert f.format(0, 5, 42, None, b"v", ()) == "CreateTime:42 | <nil> | v\n"
    assert f.format(0, 5, 42, b"k", None, (), "LogAppendTime") == "LogAppendTime:42 | k | <nil>\n"
    nothing = MessageFormatter(print_value=False)
    assert nothing.format(0, 0, 0, b"k", b"v", ()) == ""
    headers_only = MessageFormatter(
        print_headers=True, print_value=False, headers_separator=";", headers_key_separator="="
    )
    assert headers_only.format(0, 0, 0, None, None, [("a", b"1"), ("b", None)]) == "a=1;b=null\n"


def test_line_reader_splits_like_line_message_reader() -> None:
    r = LineReader(True, "\t", True, "\t", ",", ":", False, None)
    assert r.parse("h:1\tk\tv\tmore", 1) == ([("h", b"1")], b"k", b"v\tmore")
    with pytest.raises(Exception, match="No header key separator found in pair 'h' on line number 3"):
        r.parse("h\tk\tv", 3)


def test_log_append_time_topic_prints_its_timestamp_type(run: Run) -> None:
    run.ok("topics", "--create", "--topic", "stamped", "--config", "message.timestamp.type=LogAppendTime")
    run.ok("produce", "--topic", "stamped", "--value", "x", "--timestamp", "5")
    out = run.ok("consume", "--topic", "stamped", "--from-beginning", "--property", "print.timestamp=true")
    assert out.startswith("LogAppendTime:") and not out.startswith("LogAppendTime:5\t")


# --- consume --group and groups ------------------------------------------------------


def test_consume_group_commits_and_resumes(run: Run, data_dir: Path) -> None:
    run.ok("topics", "--create", "--topic", "seats", "--partitions", "2")
    run.ok(
        "produce", "--topic", "seats", "--property", "parse.key=true", stdin="".join(f"k{i}\tv{i}\n" for i in range(10))
    )
    out = run.ok("consume", "--topic", "seats", "--group", "checker", "--from-beginning", "--max-messages", "4")
    assert len(out.splitlines()) == 4
    assert sum(committed(data_dir, "checker").values()) == 4
    # Resuming reads the rest, each record once, then everything is committed.
    rest = run.ok("consume", "--topic", "seats", "--group", "checker")
    assert len(rest.splitlines()) == 6
    assert sorted(out.splitlines() + rest.splitlines()) == sorted(f"v{i}" for i in range(10))
    rc, described, err = run("groups", "--describe", "--group", "checker")
    assert rc == 0 and "Consumer group 'checker' has no active members." in err  # it left the group
    rows = [line.split() for line in described.splitlines() if line.startswith("checker ")]
    assert len(rows) == 2 and all(row[5] == "0" for row in rows)  # LAG 0
    assert run.ok("consume", "--topic", "seats", "--group", "checker") == ""


def test_consume_group_no_commit_and_latest_default(run: Run, data_dir: Path) -> None:
    run.ok("topics", "--create", "--topic", "seats")
    run.ok("produce", "--topic", "seats", stdin="a\nb\n")
    assert run.ok("consume", "--topic", "seats", "--group", "peek", "--from-beginning", "--no-commit") == "a\nb\n"
    assert committed(data_dir, "peek") == {}
    # A new group without --from-beginning starts at the high watermark (auto.offset.reset=latest).
    assert run.ok("consume", "--topic", "seats", "--group", "late") == ""


def test_consume_group_one_partition_assigned(run: Run, data_dir: Path) -> None:
    run.ok("topics", "--create", "--topic", "seats", "--partitions", "2")
    run.ok("produce", "--topic", "seats", "--partition", "1", stdin="a\nb\nc\n")
    out = run.ok("consume", "--topic", "seats", "--group", "g", "--partition", "1", "--offset", "1")
    assert out == "b\nc\n"
    assert committed(data_dir, "g") == {("seats", 1): 3}


def test_groups_list_describe_reset_delete(run: Run, data_dir: Path) -> None:
    run.ok("topics", "--create", "--topic", "seats", "--partitions", "2")
    run.ok("produce", "--topic", "seats", "--partition", "0", stdin="a\nb\nc\n")
    run.ok("consume", "--topic", "seats", "--group", "checker", "--from-beginning")
    assert run.ok("groups", "--list") == "checker\n"
    assert run.ok("groups", "--list", "--state") == "GROUP           STATE\nchecker         Empty\n"
    described = run.ok("groups", "--describe", "--group", "checker")
    header = (
        "GROUP           TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             "
        "CONSUMER-ID     HOST            CLIENT-ID"
    )
    assert header in described.splitlines()
    assert (
        "checker         seats           0          3               3               0               "
        "-               -               -"
    ) in described.splitlines()

    rc, out, err = run("groups", "--reset-offsets", "--group", "checker", "--topic", "seats:0", "--to-offset", "1")
    assert rc == 0
    assert out == (
        "\nGROUP           TOPIC           PARTITION  NEW-OFFSET\nchecker         seats           0          1\n"
    )
    assert "WARN: No action will be performed as the --execute option is missing" in err
    assert committed(data_dir, "checker")[("seats", 0)] == 3  # a dry run changes nothing
    csv_out = run.ok(
        "groups", "--reset-offsets", "--group", "checker", "--all-topics", "--to-earliest", "--export", "--dry-run"
    )
    assert csv_out == "seats,0,0\nseats,1,0\n"
    run.ok("groups", "--reset-offsets", "--group", "checker", "--topic", "seats:0", "--shift-by", "-2", "--execute")
    assert committed(data_dir, "checker")[("seats", 0)] == 1
    points = json.loads((data_dir / cli.RESTORE_POINTS_FILE).read_text())
    assert points["checker"][-1]["offsets"]  # the reset can be undone from the dashboard

    rc, out, _ = run("groups", "--describe", "--group", "nobody")
    assert rc == 1 and "Error: Consumer group 'nobody' does not exist." in out
    rc, _, err = run("groups", "--to-earliest", "--describe", "--group", "checker")
    assert rc == 2 and "--to-earliest only work with --reset-offsets" in err
    rc, _, err = run("groups", "--delete-offsets", "--group", "checker", "--topic", "seats:7")
    assert rc == 1 and "valid partitions are 0 to 1" in err
    assert run.ok("groups", "--delete-offsets", "--group", "checker", "--topic", "seats:1") == (
        "TOPIC           PARTITION  STATUS\nseats           1          Successful\n"
    )
    assert ("seats", 1) not in committed(data_dir, "checker")
    assert run.ok("groups", "--delete", "--group", "checker") == (
        "Deletion of requested consumer groups ('checker') was successful.\n"
    )
    assert run.ok("groups", "--list") == ""


def test_groups_describe_deleted_topic_shows_no_log(run: Run) -> None:
    run.ok("topics", "--create", "--topic", "gone")
    run.ok("produce", "--topic", "gone", "--value", "a")
    run.ok("consume", "--topic", "gone", "--group", "g", "--from-beginning")
    run.ok("topics", "--delete", "--topic", "gone")
    row = next(line for line in run.ok("groups", "--describe", "--group", "g").splitlines() if line.startswith("g "))
    assert row.split()[:6] == ["g", "gone", "0", "1", "-", "-"]


def test_groups_export_with_several_groups_has_a_group_column(run: Run) -> None:
    run.ok("topics", "--create", "--topic", "seats")
    run.ok("produce", "--topic", "seats", stdin="a\nb\n")
    run.ok("consume", "--topic", "seats", "--group", "g1", "--from-beginning")
    run.ok("consume", "--topic", "seats", "--group", "g2", "--from-beginning")
    out = run.ok("groups", "--reset-offsets", "--all-groups", "--all-topics", "--to-earliest", "--export", "--dry-run")
    assert out == "g1,seats,0,0\ng2,seats,0,0\n"


# --- a data directory held by the server ---------------------------------------------


def test_locked_data_dir_without_remote_names_the_holder(
    run: Run, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A process holding the directory without a server API (no URL advertised).
    with EmbeddedCluster(data_dir):
        rc, out, err = run("topics", "--list")
    assert (rc, out) == (1, "")
    assert f"is in use by process {__import__('os').getpid()}" in err


def test_locked_data_dir_goes_through_remote(run: Run, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Path] = []
    with EmbeddedCluster(data_dir) as server_side:
        server_side.create_topic("seats")

        def connect_from_lock(path: Path) -> Any:
            seen.append(path)
            return server_side

        monkeypatch.setattr(remote, "connect_from_lock", connect_from_lock)
        monkeypatch.setattr(server_side, "close", lambda: None)  # the CLI closes its client, not the server
        assert run.ok("topics", "--list", "--exclude-internal") == "seats\n"
        assert run.ok("produce", "--topic", "seats", "--value", "v") == ""
        rc, out, err = run("consume", "--topic", "seats", "--group", "g", "--from-beginning")
        assert (rc, out) == (0, "v\n")
        assert "does not join the group" in err
        assert server_side.committed_offsets("g")[("seats", 0)].offset == 1
        monkeypatch.setattr(remote, "connect_from_lock", lambda path: None)
        rc, _, err = run("topics", "--list")
        assert rc == 1 and "is in use by process" in err
    assert seen == [data_dir] * 3


# --- serve and demo ------------------------------------------------------------------


def test_serve_opens_engine_advertises_and_runs_daphne(engine_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from logcore.log_manager import read_lock_info

    monkeypatch.setattr(remote, "cli_token", lambda data_dir: None)  # no API token table here
    calls: list[list[str]] = []

    def runner(argv: list[str]) -> None:
        calls.append(argv)
        assert read_lock_info(engine_dir)["url"] == "http://127.0.0.1:8123"
        with pytest.raises(Exception, match="in use by process"):
            EmbeddedCluster(engine_dir)

    assert cli.serve("127.0.0.1", 8123, runner=runner) == 0
    assert calls == [["-b", "127.0.0.1", "-p", "8123", "offsetsite.asgi:application"]]
    EmbeddedCluster(engine_dir).close()  # the lock was released when daphne returned

    advertised: list[str] = []
    monkeypatch.setattr(remote, "advertise_server", advertised.append)
    cli.serve("0.0.0.0", 9000, runner=lambda argv: None)
    assert advertised == ["http://127.0.0.1:9000"]  # where to connect, not the wildcard


def test_advertised_url() -> None:
    assert cli.advertised_url("localhost", 8000) == "http://localhost:8000"
    assert cli.advertised_url("::", 8000) == "http://[::1]:8000"
    assert cli.advertised_url("::1", 80) == "http://[::1]:80"


@pytest.mark.django_db
def test_demo_creates_users_and_teaching_data(
    engine_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    from django.contrib.auth.models import User

    from offsetsite.core.roles import role_of

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    monkeypatch.setenv("OFFSETSITE_DATA_DIR", str(engine_dir))  # restored after the test
    assert cli.main(["--data-dir", str(engine_dir), "demo", "--if-empty"]) == 0
    out = capsys.readouterr().out
    assert "demo passwords" in out
    assert {u.username: role_of(u) for u in User.objects.all()} == {
        "admin": "admin",
        "operator": "operator",
        "viewer": "viewer",
    }
    assert User.objects.get(username="viewer").check_password("viewer")
    with EmbeddedCluster(engine_dir) as c:  # the demo closed the engine: the lock is free
        assert c.list_topics(include_internal=False) == ["orders", "train-seats"]
        assert len(c.describe_topic("train-seats").partitions) == 3
        assert c.describe_topic("train-seats").records == 60
        lags = {g.group_id: c.describe_group(g.group_id).total_lag for g in c.list_groups()}
        assert lags["kitchen"] == 0
        assert 0 < lags["ticket-checker"] < lags["dining-car"]
        assert c.committed_offsets("lost-and-found") == {}
        assert c.describe_group("lost-and-found").state == "Empty"
        for record in c.read("train-seats", 0, 0, 5):
            assert json.loads(record.value or b"")["ticket"] == (record.key or b"").decode()

    assert cli.main(["--data-dir", str(engine_dir), "demo", "--if-empty"]) == 0
    assert "no demo data added" in capsys.readouterr().out
    assert cli.main(["--data-dir", str(engine_dir), "demo"]) == 0  # adds only what is missing
    assert "Topic train-seats exists; left as it is." in capsys.readouterr().out
    with EmbeddedCluster(engine_dir) as c:
        assert c.describe_topic("train-seats").records == 60
    assert User.objects.count() == 3


@pytest.mark.django_db
def test_demo_prepares_the_database_before_seeding(
    engine_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh install has no tables: `demo` (and `serve`) migrate first, not refuse."""
    monkeypatch.setenv("OFFSETSITE_DATA_DIR", str(engine_dir))
    prepared: list[bool] = []
    monkeypatch.setattr(cli, "prepare_database", lambda: prepared.append(not (engine_dir / "train-seats").exists()))
    assert cli.main(["--data-dir", str(engine_dir), "demo"]) == 0, capsys.readouterr().err
    assert prepared == [True]  # before the first topic was seeded
    assert (engine_dir / "train-seats").exists()


def test_produce_to_consumer_offsets_is_refused_offline(run: Run, data_dir: Path) -> None:
    """Regression: exited 0, and the data directory then refused to open."""
    run.ok("topics", "--create", "--topic", "t")
    rc, _, err = run("produce", "--topic", "__consumer_offsets", "--value", "junk")
    assert rc == 1 and "Cannot append to internal topic __consumer_offsets" in err
    assert "__consumer_offsets" in run.ok("topics", "--list")  # the directory still opens


# --- kafka-consumer-groups.sh: --from-file groups, negative lag, streams ---------------


def test_groups_from_file_applies_only_this_groups_rows(run: Run, data_dir: Path, tmp_path: Path) -> None:
    # Kafka's parseResetPlan: a CSV with a group column gives each group its own rows.
    run.ok("topics", "--create", "--topic", "a")
    run.ok("topics", "--create", "--topic", "b")
    run.ok("produce", "--topic", "a", stdin="".join(f"{i}\n" for i in range(9)))
    run.ok("produce", "--topic", "b", stdin="".join(f"{i}\n" for i in range(9)))
    plan = tmp_path / "plan.csv"
    plan.write_text("g1,a,0,5\ng2,b,0,4\n")
    out = run.ok("groups", "--group", "g1", "--reset-offsets", "--from-file", str(plan), "--execute")
    assert committed(data_dir, "g1") == {("a", 0): 5}
    assert "g1              a               0          5" in out and " b " not in out
    run.ok("groups", "--group", "g1", "--group", "g2", "--reset-offsets", "--from-file", str(plan), "--execute")
    assert committed(data_dir, "g2") == {("b", 0): 4}
    assert committed(data_dir, "g1") == {("a", 0): 5}
    # A group with no rows in the file: Kafka's "No reset plan for group ... found." and nothing changes.
    rc, out, _ = run("groups", "--group", "g3", "--reset-offsets", "--from-file", str(plan), "--execute")
    assert rc == 1 and "Error: No reset plan for group g3 found." in out
    assert committed(data_dir, "g3") == {}
    # Without a group column, one --group takes every row (Kafka's single-group format).
    plan.write_text("a,0,2\nb,0,3\n")
    run.ok("groups", "--group", "g3", "--reset-offsets", "--from-file", str(plan), "--execute")
    assert committed(data_dir, "g3") == {("a", 0): 2, ("b", 0): 3}


def test_groups_describe_prints_negative_lag_like_kafka(run: Run, data_dir: Path) -> None:
    # ConsumerGroupCommand.getLag is logEndOffset - offset, negative past the HW.
    run.ok("topics", "--create", "--topic", "seats")
    run.ok("produce", "--topic", "seats", stdin="a\nb\n")
    with EmbeddedCluster(data_dir) as c:
        c.commit_offsets("ahead", {("seats", 0): 5})
        assert c.describe_group("ahead").offsets[0].lag == 0  # pages and /metrics stay clamped
    row = next(
        line for line in run.ok("groups", "--describe", "--group", "ahead").splitlines() if line.startswith("ahead ")
    )
    assert row.split()[:6] == ["ahead", "seats", "0", "5", "2", "-3"]


def test_groups_streams_are_kafkas(run: Run, data_dir: Path) -> None:
    run.ok("topics", "--create", "--topic", "seats")
    run.ok("produce", "--topic", "seats", stdin="a\n")
    run.ok("consume", "--topic", "seats", "--group", "idle", "--from-beginning")
    # "has no active members" goes to stderr, the table to stdout.
    rc, out, err = run("groups", "--describe", "--group", "idle")
    assert rc == 0
    assert "Consumer group 'idle' has no active members." in err
    assert "has no active members" not in out and out.startswith("\nGROUP ")
    # "does not exist" goes to stdout (ConsumerGroupCommand.printError).
    rc, out, err = run("groups", "--describe", "--group", "nobody")
    assert "Error: Consumer group 'nobody' does not exist." in out and "does not exist" not in err
    assert rc == 1  # a documented difference: Kafka's tool exits 0 here


def test_groups_active_refusal_and_rebalancing_streams(
    run: Run, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from logcore.consumer import Consumer

    with EmbeddedCluster(data_dir) as server_side:
        server_side.create_topic("seats")
        monkeypatch.setattr(remote, "connect_from_lock", lambda path: server_side)
        monkeypatch.setattr(server_side, "close", lambda: None)
        a = Consumer(server_side, "busy", client_id="a", enable_auto_commit=False)
        a.subscribe(["seats"])
        deadline = time.monotonic() + 10
        while not a.assignment() and time.monotonic() < deadline:
            a.poll(0)
            time.sleep(0.05)
        assert a.assignment()
        rc, out, err = run(
            "groups", "--reset-offsets", "--group", "busy", "--topic", "seats", "--to-earliest", "--execute"
        )
        assert "Error: Assignments can only be reset if the group 'busy' is inactive" in out
        assert "can only be reset" not in err
        assert rc == 1  # a documented difference: Kafka's tool exits 0 here
        b = Consumer(server_side, "busy", client_id="b", enable_auto_commit=False)
        b.subscribe(["seats"])
        b.poll(0)
        assert server_side.describe_group("busy").state in ("PreparingRebalance", "CompletingRebalance")
        rc, out, err = run("groups", "--describe", "--group", "busy", "--state")
        assert "Warning: Consumer group 'busy' is rebalancing." in err and "rebalancing" not in out
        a.close()
        b.close()


def test_consume_group_through_the_server_commits_every_partition(
    run: Run, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The README's walkthrough while the demo runs: consume --group, then groups --describe.
    with EmbeddedCluster(data_dir) as server_side:
        server_side.create_topic("seats", partitions=3)
        server_side.produce("seats", b"a", partition=0)
        monkeypatch.setattr(remote, "connect_from_lock", lambda path: server_side)
        monkeypatch.setattr(server_side, "close", lambda: None)
        assert run.ok("consume", "--topic", "seats", "--group", "billing") == ""  # latest: nothing to print
        got = {tp: om.offset for tp, om in server_side.committed_offsets("billing").items()}
        assert got == {("seats", 0): 1, ("seats", 1): 0, ("seats", 2): 0}
        rc, out, _ = run("groups", "--describe", "--group", "billing")
        assert rc == 0 and "does not exist" not in out
        assert len([line for line in out.splitlines() if line.startswith("billing ")]) == 3


def test_serve_opens_the_configured_kafka_clusters_from_the_start(
    engine_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Their watchers and lag history run from the start, not from the first page view."""
    from logcore.kafka_config import KafkaClusterConfig
    from offsetsite import clusters

    monkeypatch.setattr(remote, "cli_token", lambda data_dir: None)  # no API token table here
    clusters.configure([KafkaClusterConfig("prod", "127.0.0.1:1", timeout_s=1)])
    seen: list[set[str]] = []
    try:
        cli.serve("127.0.0.1", 8124, runner=lambda argv: seen.append(set(clusters.open_clusters())))
        assert seen == [{"prod"}]
        assert clusters.open_clusters() == {}  # closed with the server
    finally:
        clusters.configure([])
