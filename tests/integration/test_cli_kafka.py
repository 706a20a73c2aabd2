"""The command line on a real Kafka cluster: ``--bootstrap-server`` and ``--command-config``.

Every verb runs through ``cli.main`` against the tansu broker of the session
(``kafka_broker``), with the output it gives on a data directory. Where tansu answers
differently from Apache Kafka (ListOffsets by timestamp, CreatePartitions), the tests
check what the backend does rather than what Kafka would do.
"""

from __future__ import annotations

import io
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from logcore.admin import RestorePoints, undo_reset
from logcore.kafka_cluster import KafkaCluster
from logcore.kafka_config import KafkaClusterConfig
from offsetsite import cli

pytestmark = [pytest.mark.integration, pytest.mark.kafka]

REPO = Path(__file__).resolve().parents[2]
SECRET = "pa55-Never-Shown-7731"


def unique(prefix: str) -> str:
    """A name no other test of this session's broker uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 15.0) -> None:
    """Poll ``condition`` (bounded): cluster metadata arrives a moment after the answer."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


class Kafka:
    """``cli.main`` with ``--bootstrap-server`` of the session's broker; captures the output."""

    def __init__(self, bootstrap: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
        self.bootstrap = bootstrap
        self.capsys = capsys
        self.monkeypatch = monkeypatch

    def __call__(self, *argv: str, stdin: str | None = None) -> tuple[int, str, str]:
        self.capsys.readouterr()
        if stdin is not None:
            self.monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        rc = cli.main([*argv, "--bootstrap-server", self.bootstrap])
        captured = self.capsys.readouterr()
        return rc, captured.out, captured.err

    def ok(self, *argv: str, stdin: str | None = None) -> str:
        rc, out, err = self(*argv, stdin=stdin)
        assert rc == 0, err
        return out

    def fails(self, *argv: str) -> str:
        """Run a command that must fail with exit 1 and one line on stderr; that line."""
        rc, out, err = self(*argv)
        assert rc == 1, (out, err)
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1, err
        return lines[0]


@pytest.fixture
def var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    var = tmp_path / "var"
    monkeypatch.setenv("OFFSETSITE_VAR", str(var))
    return var


@pytest.fixture
def kafka(
    kafka_broker: Any, var_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Kafka:
    return Kafka(kafka_broker.bootstrap, capsys, monkeypatch)


@pytest.fixture(scope="module")
def backend(kafka_broker: Any) -> Iterator[KafkaCluster]:
    """The backend itself, to set the scene and to check what the CLI did."""
    cluster = KafkaCluster(KafkaClusterConfig("cli-tests", kafka_broker.bootstrap))
    yield cluster
    cluster.close()


def committed(backend: KafkaCluster, group: str) -> dict[tuple[str, int], int]:
    return {tp: om.offset for tp, om in backend.committed_offsets(group).items()}


# --- topics --------------------------------------------------------------------------


def test_topics_create_list_describe_offsets_delete(kafka: Kafka, backend: KafkaCluster) -> None:
    topic = unique("seats")
    assert kafka.ok("topics", "--create", "--topic", topic, "--partitions", "3") == f"Created topic {topic}.\n"
    assert topic in kafka.ok("topics", "--list").splitlines()
    assert kafka.ok("topics", "--describe", "--topic", topic) == (
        f"Topic: {topic}\tPartitionCount: 3\tReplicationFactor: 1\tConfigs: \n"
        + "".join(f"\tTopic: {topic}\tPartition: {p}\tLeader: 0\tReplicas: 0\tIsr: 0\n" for p in range(3))
    )
    assert kafka.ok("topics", "--offsets", "--topic", topic) == "".join(f"{topic}:{p}:0\n" for p in range(3))

    # Refusals: one line, exit 1, Kafka's words.
    line = kafka.fails("topics", "--create", "--topic", topic)
    assert line.startswith("Error while executing topic command : ") and "already exists" in line
    assert kafka.ok("topics", "--create", "--topic", topic, "--if-not-exists") == ""

    assert kafka.ok("topics", "--delete", "--topic", topic) == ""  # silent, as kafka-topics.sh
    wait_for(lambda: topic not in backend.list_topics(), f"{topic} to disappear")
    assert topic not in kafka.ok("topics", "--list").splitlines()
    assert kafka.ok("topics", "--delete", "--topic", topic, "--if-exists") == ""
    assert "does not exist" in kafka.fails("topics", "--describe", "--topic", topic)


def test_topics_create_with_config_shows_it(kafka: Kafka) -> None:
    topic = unique("notebook")
    kafka.ok("topics", "--create", "--topic", topic, "--config", "retention.ms=600000")
    first = kafka.ok("topics", "--describe", "--topic", topic).splitlines()[0]
    assert first.startswith(f"Topic: {topic}\tPartitionCount: 1\tReplicationFactor: 1\tConfigs: ")
    assert "retention.ms=600000" in first


def test_topics_alter_on_a_broker_without_create_partitions_says_so(kafka: Kafka, backend: KafkaCluster) -> None:
    # tansu has no CreatePartitions: the backend raises UnsupportedVersion and the
    # command says the cluster does not support the request (one line, exit 1).
    topic = unique("alter")
    backend.create_topic(topic, 1)
    line = kafka.fails("topics", "--alter", "--topic", topic, "--partitions", "2")
    assert line.startswith("Error while executing topic command : add partitions to ")
    assert "does not support" in line


# --- produce and consume -----------------------------------------------------------


def test_produce_parse_key_places_keys_as_on_a_data_directory(
    kafka: Kafka, backend: KafkaCluster, tmp_path: Path
) -> None:
    topic = unique("orders")
    kafka.ok("topics", "--create", "--topic", topic, "--partitions", "3")
    lines = "".join(f"TK-{i}\tevent {i}\n" for i in range(12))
    placed = kafka.ok("produce", "--topic", topic, "--property", "parse.key=true", "--print-metadata", stdin=lines)
    on_kafka = [line.rsplit(":", 2)[1] for line in placed.splitlines()]

    # The same lines into a data directory: murmur2 puts each key on the same partition.
    data = tmp_path / "data"
    assert cli.main(["--data-dir", str(data), "topics", "--create", "--topic", topic, "--partitions", "3"]) == 0
    kafka.monkeypatch.setattr(sys, "stdin", io.StringIO(lines))
    kafka.capsys.readouterr()
    args = ["--data-dir", str(data), "produce", "--topic", topic, "--property", "parse.key=true", "--print-metadata"]
    assert cli.main(args) == 0
    local = [line.rsplit(":", 2)[1] for line in kafka.capsys.readouterr().out.splitlines()]
    assert on_kafka == local

    rc, out, err = kafka(
        "consume", "--topic", topic, "--from-beginning",
        "--property", "print.key=true", "--property", "print.partition=true",
    )  # fmt: skip
    assert rc == 0, err
    assert sorted(out.splitlines()) == sorted(f"Partition:{p}\tTK-{i}\tevent {i}" for i, p in enumerate(on_kafka))
    assert err.splitlines()[-1] == "Processed a total of 12 messages"


def test_produce_headers_value_and_timestamp_round_trip(kafka: Kafka) -> None:
    topic = unique("headers")
    kafka.ok("topics", "--create", "--topic", topic)
    kafka.ok(
        "produce", "--topic", topic, "--key", "TK-1", "--header", "coach=A",
        "--timestamp", "1700000000000", "--value", '{"event":"boarded"}',
    )  # fmt: skip
    kafka.ok(
        "produce", "--topic", topic, "--property", "parse.headers=true", "--property", "parse.key=true",
        stdin="coach:B\tTK-2\tchecked\n",
    )  # fmt: skip
    out = kafka.ok(
        "consume", "--topic", topic, "--from-beginning",
        "--property", "print.headers=true", "--property", "print.key=true", "--property", "print.offset=true",
    )  # fmt: skip
    assert out == 'Offset:0\tcoach:A\tTK-1\t{"event":"boarded"}\nOffset:1\tcoach:B\tTK-2\tchecked\n'
    stamped = kafka.ok(
        "consume", "--topic", topic, "--from-beginning", "--max-messages", "1", "--property", "print.timestamp=true"
    )
    assert stamped == 'CreateTime:1700000000000\t{"event":"boarded"}\n'


def test_produce_refuses_a_missing_topic_and_a_bad_line(kafka: Kafka) -> None:
    topic = unique("missing")
    assert "does not exist" in kafka.fails("produce", "--topic", topic, "--value", "x")
    kafka.ok("topics", "--create", "--topic", topic)
    rc, _, err = kafka("produce", "--topic", topic, "--property", "parse.key=true", stdin="k\tv\nno-tab\n")
    assert rc == 1 and "No key separator found on line number 2" in err
    assert kafka.ok("consume", "--topic", topic, "--from-beginning") == "v\n"  # the line before it was sent


def test_consume_partition_offset_and_max_messages(kafka: Kafka, backend: KafkaCluster) -> None:
    topic = unique("seek")
    backend.create_topic(topic, 2)
    for i in range(5):
        backend.produce(topic, f"r{i}".encode(), partition=0)

    out = kafka.ok("consume", "--topic", topic, "--partition", "0", "--offset", "2", "--property", "print.offset=true")
    assert out == "Offset:2\tr2\nOffset:3\tr3\nOffset:4\tr4\n"
    rc, out, err = kafka("consume", "--topic", topic, "--partition", "0", "--offset", "earliest", "--max-messages", "2")
    assert (rc, out) == (0, "r0\nr1\n")
    assert err.splitlines()[-1] == "Processed a total of 2 messages"
    assert kafka.ok("consume", "--topic", topic, "--from-beginning", "--max-messages", "3") == "r0\nr1\nr2\n"
    # Default: from the high watermark, and stop once caught up.
    assert kafka.ok("consume", "--topic", topic) == ""
    assert kafka.ok("consume", "--topic", topic, "--partition", "1", "--offset", "earliest") == ""

    rc, out, err = kafka("consume", "--topic", topic, "--partition", "0", "--offset", "9")
    assert (rc, out) == (1, "")
    assert err.splitlines() == [
        "Processed a total of 0 messages",  # as on a data directory: the count always comes
        f"Error: offset 9 is out of range for partition {topic}-0: valid offsets are 0 to 5 "
        "(log start to high watermark)",
    ]
    assert "does not exist" in kafka.fails("consume", "--topic", topic, "--partition", "7")


def test_consume_group_with_partition_commits_and_resumes(kafka: Kafka, backend: KafkaCluster) -> None:
    """``--group G --partition P``: assign() without joining, commit what was printed."""
    topic, group = unique("assign"), unique("billing")
    backend.create_topic(topic, 1)
    for i in range(4):
        backend.produce(topic, f"r{i}".encode(), partition=0)

    out = kafka.ok(
        "consume", "--topic", topic, "--group", group, "--partition", "0", "--offset", "earliest", "--max-messages", "2"
    )
    assert out == "r0\nr1\n"
    assert committed(backend, group) == {(topic, 0): 2}
    # A second run starts from the committed offset.
    assert kafka.ok("consume", "--topic", topic, "--group", group, "--partition", "0") == "r2\nr3\n"
    assert committed(backend, group) == {(topic, 0): 4}
    # --no-commit reads without moving the group.
    kafka.ok("consume", "--topic", topic, "--group", group, "--partition", "0", "--offset", "earliest", "--no-commit")
    assert committed(backend, group) == {(topic, 0): 4}


@pytest.mark.slow
def test_consume_group_subscribes_reads_and_commits(kafka: Kafka, backend: KafkaCluster) -> None:
    """``--group G`` joins the group as kafka-console-consumer.sh does (tansu takes ~20 s to join)."""
    topic, group = unique("members"), unique("ticket-checker")
    backend.create_topic(topic, 2)
    for i in range(6):
        backend.produce(topic, f"r{i}".encode(), key=f"k{i}".encode())
    rc, out, err = kafka("consume", "--topic", topic, "--group", group, "--from-beginning")
    assert rc == 0, err
    assert sorted(out.splitlines()) == [f"r{i}" for i in range(6)]
    assert "Processed a total of 6 messages" in err
    # Every assigned partition committed at its end: the group resumes after what it printed.
    ends = {(topic, p): backend.watermarks(topic, p)[1] for p in range(2)}
    assert committed(backend, group) == ends
    wait_for(lambda: backend.describe_group(group).state == "Empty", f"{group} to be Empty after the member left")


# --- groups --------------------------------------------------------------------------

BASE_MS = int(time.time() * 1000) - 60 * 60_000  # records 60, 50, 40, 30 and 20 minutes old
STEP_MS = 10 * 60_000


@pytest.fixture
def scene(backend: KafkaCluster) -> tuple[str, str]:
    """A topic of 2 partitions with 5 records each (one per flush), a group at p0=3, p1=1."""
    topic, group = unique("train"), unique("dining-car")
    backend.create_topic(topic, 2)
    for p in range(2):
        for i in range(5):
            backend.produce(topic, f"r{i}".encode(), partition=p, timestamp=BASE_MS + i * STEP_MS)
    backend.commit_offsets(group, {(topic, 0): 3, (topic, 1): 1})
    return topic, group


def reset_table(group: str, topic: str, offsets: list[int]) -> list[list[str]]:
    """kafka-consumer-groups.sh's NEW-OFFSET table (after a blank line), cell by cell."""
    return [
        [],
        ["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"],
        *([group, topic, str(p), str(o)] for p, o in enumerate(offsets)),
    ]


def cells(out: str) -> list[list[str]]:
    return [line.split() for line in out.splitlines()]


def test_groups_list_and_describe(kafka: Kafka, scene: tuple[str, str]) -> None:
    topic, group = scene
    assert group in kafka.ok("groups", "--list").splitlines()
    assert f"{group} Empty".split() in [line.split() for line in kafka.ok("groups", "--list", "--state").splitlines()]

    rc, out, err = kafka("groups", "--describe", "--group", group)
    assert rc == 0 and err.startswith(f"\nConsumer group '{group}' has no active members.\n")  # stderr, as Kafka
    rows = [line.split() for line in out.splitlines()[1:]]
    assert out.splitlines()[1].split() == [
        "GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID",
    ]  # fmt: skip
    assert rows[1:] == [
        [group, topic, "0", "3", "5", "2", "-", "-", "-"],
        [group, topic, "1", "1", "5", "4", "-", "-", "-"],
    ]
    assert cells(kafka.ok("groups", "--describe", "--group", group, "--state"))[1:] == [
        ["GROUP", "COORDINATOR", "(ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS"],
        [group, "localhost:0", "(0)", "-", "Empty", "0"],
    ]

    missing = unique("nobody")
    rc, out, _ = kafka("groups", "--describe", "--group", missing)
    assert rc == 1 and out.strip() == f"Error: Consumer group '{missing}' does not exist."  # stdout, as Kafka


def _datetime(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _by_time(backend: KafkaCluster, topic: str, ts: int) -> list[int]:
    """What a reset to ``ts`` plans: the backend's answer to ListOffsets by timestamp,
    the high watermark when no record is that new (tansu answers this differently from
    Kafka, so the expectation comes from the backend)."""
    out = []
    for p in range(2):
        start, hw = backend.watermarks(topic, p)
        found = backend.offset_for_timestamp(topic, p, ts)
        out.append(hw if found is None else min(max(found, start), hw))
    return out


def _time_scenario(
    backend: KafkaCluster, topic: str, flags: list[str], expected: list[int] | None
) -> tuple[list[str], list[int] | None]:
    """The flags and expected offsets of the by-time scenarios, from the broker's own answer
    (tansu ignores the timestamp of ListOffsets: docs/tansu.md)."""
    if flags[0] == "--to-datetime":
        ts = BASE_MS + 2 * STEP_MS
        return ["--to-datetime", _datetime(ts)], _by_time(backend, topic, ts)
    if flags[0] == "--by-duration":
        return flags, _by_time(backend, topic, int(time.time() * 1000) - 35 * 60_000)
    return flags, expected


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--to-earliest"], [0, 0]),
        (["--to-latest"], [5, 5]),
        (["--to-current"], [3, 1]),
        (["--to-offset", "2"], [2, 2]),
        (["--shift-by", "1"], [4, 2]),
        (["--to-datetime", "record-2"], None),
        (["--by-duration", "PT35M"], None),
    ],
)
def test_groups_reset_dry_run_changes_nothing(
    kafka: Kafka, backend: KafkaCluster, scene: tuple[str, str], flags: list[str], expected: list[int] | None
) -> None:
    topic, group = scene
    flags, expected = _time_scenario(backend, topic, flags, expected)
    rc, out, err = kafka("groups", "--reset-offsets", "--group", group, "--topic", topic, *flags)
    assert rc == 0, err
    assert cells(out) == reset_table(group, topic, expected or [])
    assert "No action will be performed as the --execute option is missing" in err
    assert committed(backend, group) == {(topic, 0): 3, (topic, 1): 1}


def test_groups_reset_execute_keeps_a_restore_point_that_undoes_it(
    kafka: Kafka, backend: KafkaCluster, scene: tuple[str, str], var_dir: Path
) -> None:
    topic, group = scene
    out = kafka.ok("groups", "--reset-offsets", "--group", group, "--topic", topic, "--to-earliest", "--execute")
    assert cells(out) == reset_table(group, topic, [0, 0])
    assert committed(backend, group) == {(topic, 0): 0, (topic, 1): 0}

    # The replaced offsets are kept beside the other local state, one file per cluster.
    path = cli.kafka_restore_points_path(kafka.bootstrap)
    assert path.parent == var_dir and path.name.startswith("restore-points-127.0.0.1_")
    point = RestorePoints(path).latest(group)
    assert point is not None and point.scenario == "to-earliest"
    undo_reset(backend, group, RestorePoints(path))
    assert committed(backend, group) == {(topic, 0): 3, (topic, 1): 1}


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--to-latest"], [5, 5]),
        (["--to-current"], [3, 1]),
        (["--to-offset", "4"], [4, 4]),
        (["--shift-by", "-2"], [1, 0]),  # p1: 1 - 2 clamps to the log start, with a warning
        (["--to-datetime", "record-2"], None),
        (["--by-duration", "PT35M"], None),
    ],
)
def test_groups_reset_execute_every_scenario(
    kafka: Kafka, backend: KafkaCluster, scene: tuple[str, str], flags: list[str], expected: list[int] | None
) -> None:
    topic, group = scene
    flags, expected = _time_scenario(backend, topic, flags, expected)
    assert expected is not None
    out = kafka.ok("groups", "--reset-offsets", "--group", group, "--topic", f"{topic}:0,1", *flags, "--execute")
    assert cells(out) == reset_table(group, topic, expected)
    assert committed(backend, group) == {(topic, 0): expected[0], (topic, 1): expected[1]}


def test_groups_reset_export_and_from_file(
    kafka: Kafka, backend: KafkaCluster, scene: tuple[str, str], tmp_path: Path
) -> None:
    topic, group = scene
    csv = kafka.ok(
        "groups", "--reset-offsets", "--group", group, "--topic", topic, "--to-offset", "4", "--export", "--dry-run"
    )
    assert csv == f"{topic},0,4\n{topic},1,4\n"
    plan = tmp_path / "plan.csv"
    plan.write_text(csv)
    out = kafka.ok("groups", "--reset-offsets", "--group", group, "--from-file", str(plan), "--execute")
    assert cells(out) == reset_table(group, topic, [4, 4])
    assert committed(backend, group) == {(topic, 0): 4, (topic, 1): 4}


def test_groups_delete_offsets_says_it_is_unsupported_and_delete_removes_the_group(
    kafka: Kafka, backend: KafkaCluster, scene: tuple[str, str]
) -> None:
    topic, group = scene
    line = kafka.fails("groups", "--delete-offsets", "--group", group, "--topic", topic)
    assert line.startswith("Error: ") and "not available on Kafka clusters" in line
    assert committed(backend, group) == {(topic, 0): 3, (topic, 1): 1}

    assert kafka.ok("groups", "--delete", "--group", group) == (
        f"Deletion of requested consumer groups ('{group}') was successful.\n"
    )
    assert committed(backend, group) == {}
    rc, out, _ = kafka("groups", "--describe", "--group", group)
    assert rc == 1 and "does not exist" in out  # stdout, as kafka-consumer-groups.sh prints it


# --- the command config ----------------------------------------------------------------


def test_config_file_aliases_of_the_console_clients(kafka: Kafka, tmp_path: Path) -> None:
    """--command-config on every verb; --producer.config and --consumer.config as Kafka's console clients."""
    config = tmp_path / "client.properties"
    config.write_text("# a Java-style properties file\nclient.id = offsetsite-cli-test\nsecurity.protocol=PLAINTEXT\n")
    topic = unique("aliases")
    kafka.ok("topics", "--create", "--topic", topic, "--command-config", str(config))
    kafka.ok("produce", "--topic", topic, "--value", "one", "--producer.config", str(config))
    kafka.ok("produce", "--topic", topic, "--value", "two", "--command-config", str(config))
    assert kafka.ok("consume", "--topic", topic, "--from-beginning", "--consumer.config", str(config)) == "one\ntwo\n"
    assert kafka.ok("consume", "--topic", topic, "--from-beginning", "--command-config", str(config)) == "one\ntwo\n"
    kafka.ok("groups", "--list", "--command-config", str(config))


def test_command_config_that_does_not_exist(kafka: Kafka, tmp_path: Path) -> None:
    missing = tmp_path / "nope.properties"
    for verb in (["topics", "--list"], ["groups", "--list"], ["consume", "--topic", "t"], ["produce", "--topic", "t"]):
        assert kafka.fails(*verb, "--command-config", str(missing)) == f"Error: command config {missing} does not exist"


def test_secrets_of_the_command_config_are_never_printed(kafka: Kafka, tmp_path: Path) -> None:
    config = tmp_path / "client.properties"
    # librdkafka quotes a bad value in its refusal: the secret's value is hidden there too.
    config.write_text(f"sasl.username=alice\nsasl.password={SECRET}\nsecurity.protocol={SECRET}\n")
    rc, out, err = kafka("topics", "--list", "--command-config", str(config))
    assert rc == 1 and SECRET not in out + err
    assert err.strip() == (
        f'Error: command config {config}: Invalid value "[hidden]" for configuration property "security.protocol"'
    )


# --- an unreachable cluster --------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_bootstrap_prints_one_line_and_exits_1(tmp_path: Path) -> None:
    """A port nobody listens on: the real command, with its real timeout, says so in one line."""
    config = tmp_path / "client.properties"
    config.write_text(f"sasl.password={SECRET}\n")
    done = subprocess.run(
        [
            sys.executable, "-m", "offsetsite", "topics", "--list",
            "--bootstrap-server", f"127.0.0.1:{_free_port()}", "--command-config", str(config),
        ],
        capture_output=True, text=True, cwd=REPO, timeout=120,
        env={"OFFSETSITE_VAR": str(tmp_path / "var"), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("Error while executing topic command : list topics: the cluster did not answer")
    assert SECRET not in done.stderr
