"""``--bootstrap-server`` / ``--command-config`` without a broker: usage, names, errors.

The commands against a running broker are in tests/integration/test_cli_kafka.py.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import confluent_kafka
import pytest

from logcore.kafka_cluster import KafkaCluster
from offsetsite import cli

REPO = Path(__file__).resolve().parents[2]
SECRET = "pa55-Never-Shown-7731"
VERBS = {
    "topics": ["topics", "--list"],
    "produce": ["produce", "--topic", "t", "--value", "v"],
    "consume": ["consume", "--topic", "t"],
    "groups": ["groups", "--list"],
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(autouse=True)
def _var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OFFSETSITE_VAR", str(tmp_path / "var"))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = cli.main(list(argv))
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


# --- flags -----------------------------------------------------------------------------


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_takes_bootstrap_server_and_command_config(verb: str) -> None:
    args = cli.build_parser().parse_args([*VERBS[verb], "--bootstrap-server", "h:9092", "--command-config", "c.props"])
    assert (args.bootstrap_server, args.command_config) == ("h:9092", Path("c.props"))


@pytest.mark.parametrize(("verb", "alias"), [("produce", "--producer.config"), ("consume", "--consumer.config")])
def test_console_clients_take_their_config_file_names(verb: str, alias: str) -> None:
    args = cli.build_parser().parse_args([*VERBS[verb], "--bootstrap-server", "h:9092", alias, "c.props"])
    assert args.command_config == Path("c.props")


def test_topics_and_groups_do_not_take_the_console_clients_names(capsys: pytest.CaptureFixture[str]) -> None:
    for verb in ("topics", "groups"):
        rc, _, err = run(capsys, *VERBS[verb], "--bootstrap-server", "h:9092", "--producer.config", "c.props")
        assert rc == 2 and "unrecognized arguments: --producer.config" in err


def test_command_config_without_bootstrap_server_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in VERBS.values():
        rc, out, err = run(capsys, *argv, "--command-config", "c.props")
        assert (rc, out) == (2, "")
        assert err.splitlines()[-1] == (
            f"offsetsite {argv[0]}: error: --command-config holds client settings for a Kafka cluster: "
            "it needs --bootstrap-server HOST:PORT (without it the command works on the data directory)"
        )


def test_data_dir_and_bootstrap_server_exclude_each_other(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc, _, err = run(capsys, "--data-dir", str(tmp_path), "topics", "--list", "--bootstrap-server", "h:9092")
    assert rc == 2 and "--data-dir and --bootstrap-server exclude each other" in err
    rc, _, err = run(capsys, "topics", "--list", "--bootstrap-server", " ")
    assert rc == 2 and "--bootstrap-server needs HOST:PORT" in err


def test_serve_keeps_its_own_kafka_flags() -> None:
    """``serve`` shows a Kafka cluster beside its data directory: not a usage error there."""
    args = cli.build_parser().parse_args(["--data-dir", "d", "serve", "--bootstrap-server", "h:9092"])
    assert cli._kafka_usage_error(args) is None


def test_restore_points_file_is_named_after_the_cluster(tmp_path: Path) -> None:
    path = cli.kafka_restore_points_path("127.0.0.1:9092", tmp_path)
    assert path == tmp_path / "restore-points-127.0.0.1_9092.json"
    # One cluster, one file, whatever the order of its servers.
    assert cli.kafka_restore_points_path("b:9092, a:9092", tmp_path) == cli.kafka_restore_points_path(
        "a:9092,b:9092", tmp_path
    )
    assert cli.kafka_restore_points_path("[::1]:9092", tmp_path).name == "restore-points-1_9092.json"
    long = ",".join(f"broker-{i}.kafka.example.com:9092" for i in range(10))
    name = cli.kafka_restore_points_path(long, tmp_path).name
    assert (
        len(name) <= len("restore-points-.json") + 100
        and name != cli.kafka_restore_points_path(long[:-1], tmp_path).name
    )


def test_command_config_that_does_not_exist_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.properties"
    rc, out, err = run(
        capsys, "groups", "--list", "--bootstrap-server", "127.0.0.1:1", "--command-config", str(missing)
    )
    assert (rc, out, err) == (1, "", f"Error: command config {missing} does not exist\n")


def test_a_property_librdkafka_refuses_is_named_without_its_value(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "client.properties"
    config.write_text(f"sasl.password={SECRET}\nno.such.property={SECRET}\n")
    rc, out, err = run(capsys, "topics", "--list", "--bootstrap-server", "127.0.0.1:1", "--command-config", str(config))
    assert (rc, out) == (1, "")
    assert err == f'Error: command config {config}: No such configuration property: "no.such.property"\n'


# --- failures of the cluster: one line that says which ---------------------------------


@pytest.mark.parametrize("verb", VERBS)
def test_an_unreachable_cluster_is_one_line_and_exit_1(
    verb: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(cli, "KAFKA_TIMEOUT_S", 1.0)  # the real 10 s: tests/integration/test_cli_kafka.py
    config = tmp_path / "client.properties"
    config.write_text(f"sasl.username=alice\nsasl.password={SECRET}\n")
    argv = [*VERBS[verb], "--bootstrap-server", f"127.0.0.1:{_free_port()}", "--command-config", str(config)]
    rc, out, err = run(capsys, *argv)
    assert (rc, out) == (1, "")
    assert err.count("\n") == 1, err
    assert err.startswith(("Error: ", "Error while executing topic command : "))
    assert SECRET not in err


def _raise(error: confluent_kafka.KafkaError) -> Any:
    def fail(*args: object, **kwargs: object) -> None:
        raise confluent_kafka.KafkaException(error)

    return fail


@pytest.mark.parametrize(
    ("code", "says"),
    [
        (
            confluent_kafka.KafkaError.SASL_AUTHENTICATION_FAILED,
            "authentication failed: check sasl.username/sasl.password",
        ),
        (confluent_kafka.KafkaError.TOPIC_AUTHORIZATION_FAILED, "not authorized; the principal needs a topic ACL"),
        (confluent_kafka.KafkaError.GROUP_AUTHORIZATION_FAILED, "not authorized; the principal needs a group ACL"),
        (confluent_kafka.KafkaError.CLUSTER_AUTHORIZATION_FAILED, "not authorized; the principal needs a cluster ACL"),
        (confluent_kafka.KafkaError.UNSUPPORTED_VERSION, "the cluster does not support this request"),
    ],
)
@pytest.mark.parametrize("verb", VERBS)
def test_wrong_password_missing_acl_and_unsupported_api_say_which(
    verb: str, code: int, says: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """librdkafka's error, through the backend, to one line of the command."""
    error = confluent_kafka.KafkaError(code, "refused by the broker")
    monkeypatch.setattr(KafkaCluster, "_metadata", _raise(error))  # topics, produce, consume start here
    monkeypatch.setattr(KafkaCluster, "_wait", _raise(error))  # groups --list starts here
    rc, out, err = run(capsys, *VERBS[verb], "--bootstrap-server", "127.0.0.1:1")
    assert (rc, out) == (1, "")
    assert err.count("\n") == 1 and says in err, err


def test_the_kafka_commands_do_not_load_django(tmp_path: Path) -> None:
    code = (
        "import sys; from offsetsite import cli; cli.KAFKA_TIMEOUT_S = 0.5; "
        f"rc = cli.main(['groups', '--list', '--bootstrap-server', '127.0.0.1:{_free_port()}']); "
        "assert rc == 1; assert 'confluent_kafka' in sys.modules; "
        "assert not [m for m in sys.modules if m.split('.')[0] == 'django'], 'django was imported'"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"OFFSETSITE_VAR": str(tmp_path / "var"), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
