"""The Kafka backend's pure parts, without a broker: configuration, secrets, error
translation, the watcher's event diff and the ``__consumer_offsets`` decoding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import confluent_kafka
import pytest

from logcore import errors
from logcore.events import (
    GroupChanged,
    GroupDeleted,
    GroupRebalanced,
    OffsetsCommitted,
    RecordsAppended,
    TopicCreated,
    TopicDeleted,
)
from logcore.kafka_cluster import KafkaCluster, translate
from logcore.kafka_config import KafkaClusterConfig, load_properties, parse_properties, redacted
from logcore.kafka_watch import KafkaWatcher, Snapshot, commit_events, diff_events
from logcore.offsets_codec import (
    GroupMetadataKey,
    OffsetCommitKey,
    OffsetCommitValue,
    encode_key,
    encode_offset_value,
)

# --- configuration -------------------------------------------------------------------


def test_properties_file_like_kafkas_command_config(tmp_path: Path) -> None:
    path = tmp_path / "client.properties"
    path.write_text(
        "# comment\n! also a comment\n\nsecurity.protocol=SASL_SSL\nsasl.mechanism : SCRAM-SHA-512\n"
        "ssl.ca.location=/etc/ca.pem\nclient.id = a \\\n    long-one\n"
    )
    assert load_properties(path) == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "ssl.ca.location": "/etc/ca.pem",
        "client.id": "a long-one",
    }


def test_java_jaas_config_becomes_librdkafka_username_and_password() -> None:
    props = parse_properties(
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        'username="alice" password="p@ss=word";\n'
    )
    assert props == {"sasl.username": "alice", "sasl.password": "p@ss=word"}
    with pytest.raises(errors.InvalidConfig, match="librdkafka does not read"):
        parse_properties("sasl.jaas.config=com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true;")


def test_config_errors_say_what_is_allowed(tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidConfig, match="does not exist"):
        load_properties(tmp_path / "missing.properties")
    with pytest.raises(errors.InvalidConfig, match="1 to 32 letters"):
        KafkaClusterConfig("bad name", "h:1")
    with pytest.raises(errors.InvalidConfig, match="bootstrap.servers is empty"):
        KafkaClusterConfig("ok", " ")


def test_secrets_are_redacted_everywhere_a_config_is_shown() -> None:
    props = {
        "sasl.password": "pw1",
        "ssl.key.password": "pw2",
        "ssl.key.pem": "pem",
        "sasl.oauthbearer.client.secret": "s",
        "client.id": "visible",
    }
    shown = redacted(props)
    assert shown["client.id"] == "visible"
    assert all(v == "[hidden]" for k, v in shown.items() if k != "client.id")
    config = KafkaClusterConfig("prod", "b:9092", props)
    for text in (repr(config), str(config.describe())):
        assert not {"pw1", "pw2", "pem"} & set(text.replace("'", " ").split())


def test_refused_property_is_named_without_its_value() -> None:
    config = KafkaClusterConfig("x", "127.0.0.1:1", {"no.such.property": "hunter2"})
    with pytest.raises(errors.InvalidConfig, match="no.such.property") as failure:
        KafkaCluster(config)
    assert "hunter2" not in str(failure.value)


# --- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "cls", "says"),
    [
        (confluent_kafka.KafkaError._TRANSPORT, errors.ClusterUnreachable, "did not answer"),
        (confluent_kafka.KafkaError._ALL_BROKERS_DOWN, errors.ClusterUnreachable, "did not answer"),
        (confluent_kafka.KafkaError.SASL_AUTHENTICATION_FAILED, errors.AuthenticationFailed, "sasl.username"),
        (confluent_kafka.KafkaError.TOPIC_AUTHORIZATION_FAILED, errors.AuthorizationFailed, "topic ACL"),
        (confluent_kafka.KafkaError.GROUP_AUTHORIZATION_FAILED, errors.AuthorizationFailed, "group ACL"),
        (confluent_kafka.KafkaError.UNSUPPORTED_VERSION, errors.UnsupportedVersion, "does not support"),
        (confluent_kafka.KafkaError.UNKNOWN_TOPIC_OR_PART, errors.UnknownTopicOrPartition, ""),
        (confluent_kafka.KafkaError.NON_EMPTY_GROUP, errors.NonEmptyGroup, ""),
    ],
)
def test_librdkafka_errors_become_kafka_named_errors(code: int, cls: type[errors.KafkaError], says: str) -> None:
    err = translate(confluent_kafka.KafkaException(confluent_kafka.KafkaError(code)), "describe group g")
    assert type(err) is cls
    assert says in str(err)
    assert str(err).startswith("describe group g")
    if cls is errors.AuthorizationFailed:
        assert err.code == confluent_kafka.KafkaError(code).name()


def test_a_timeout_of_our_own_is_unreachable() -> None:
    assert isinstance(translate(TimeoutError(), "x"), errors.ClusterUnreachable)


class _NoBrokers:
    """An AdminClient that knows no broker yet: its ListGroups answers "no groups", no error."""

    def list_topics(self, **_: Any) -> Any:
        return type("Metadata", (), {"brokers": {}, "topics": {}})()

    def list_consumer_groups(self, **_: Any) -> Any:  # pragma: no cover - must not be reached
        raise AssertionError("ListGroups sent without a known broker")


def test_an_unreachable_cluster_is_never_a_cluster_without_groups() -> None:
    """Regression: `groups --list` on a dead bootstrap sometimes printed nothing and exited 0."""
    c = KafkaCluster(KafkaClusterConfig("x", "127.0.0.1:1", timeout_s=1))
    try:
        c._admin = _NoBrokers()
        with pytest.raises(errors.ClusterUnreachable, match="no broker"):
            c.list_groups()
    finally:
        c.close()


# --- the watcher -----------------------------------------------------------------------


def snap(**kw: Any) -> Snapshot:
    return Snapshot(taken=True, **kw)


def test_first_round_publishes_nothing() -> None:
    assert diff_events(Snapshot(), snap(topics={"t"}, watermarks={("t", 0): 5})) == []


def test_diff_reports_appends_commits_topics_and_groups() -> None:
    before = snap(
        topics={"t", "old"},
        watermarks={("t", 0): 5, ("t", 1): 2},
        groups={"g": ("Stable", ("m1",)), "gone": ("Empty", ())},
        offsets={"g": {("t", 0): 3}},
    )
    after = snap(
        topics={"t", "new"},
        watermarks={("t", 0): 8, ("t", 1): 2, ("new", 0): 0},
        groups={"g": ("Stable", ("m1", "m2")), "h": ("Empty", ())},
        offsets={"g": {("t", 0): 6}, "h": {}},
    )
    events = diff_events(before, after)
    assert TopicCreated(topic="new", partitions=1) in events
    assert TopicDeleted(topic="old") in events
    assert RecordsAppended(topic="t", partition=0, base_offset=5, last_offset=7, high_watermark=8) in events
    assert not any(isinstance(e, RecordsAppended) and e.partition == 1 for e in events)
    assert any(isinstance(e, GroupRebalanced) and e.group == "g" for e in events)
    assert GroupChanged(group="h", state="Empty", generation=-1, reason="seen") in events
    assert GroupDeleted(group="gone") in events
    assert OffsetsCommitted(group="g", offsets=(("t", 0, 6),)) in events
    # With the __consumer_offsets tail, a commit it reported is not reported again.
    watcher = KafkaWatcher(KafkaCluster(KafkaClusterConfig("x", "127.0.0.1:1", timeout_s=1)), tail=False)
    try:
        assert watcher._not_tailed(OffsetsCommitted(group="g", offsets=(("t", 0, 6),))) is not None
        watcher._tailed[("g", "t", 0)] = 6
        assert watcher._not_tailed(OffsetsCommitted(group="g", offsets=(("t", 0, 6),))) is None
        both = OffsetsCommitted(group="g", offsets=(("t", 0, 6), ("t", 1, 9)))
        assert watcher._not_tailed(both) == OffsetsCommitted(group="g", offsets=(("t", 1, 9),))
        assert watcher.source == "sampling"  # until the tail has shown it carries commits
    finally:
        watcher.cluster.close()


def test_consumer_offsets_records_decode_to_commits() -> None:
    key = encode_key(OffsetCommitKey("billing", "orders", 2))
    value = encode_offset_value(OffsetCommitValue(42, commit_timestamp=1_700_000_000_000))
    group_key = encode_key(GroupMetadataKey("billing"))
    events = commit_events([(key, value), (group_key, b"\x00\x03"), (key, None), (b"\xff\xff junk", b"x"), (None, b"")])
    assert events == [OffsetsCommitted(group="billing", offsets=(("orders", 2, 42),))]


def test_group_description_from_describe_consumer_groups_answer() -> None:
    """Members, client ids, hosts and assignments as Kafka's DescribeGroups reports them
    (tansu reports no members, so this is checked on confluent-kafka's own objects)."""
    from confluent_kafka import ConsumerGroupState, Node
    from confluent_kafka import TopicPartition as CkTP
    from confluent_kafka.admin import ConsumerGroupDescription, MemberAssignment, MemberDescription

    from logcore.groups import OffsetAndMetadata

    answer = ConsumerGroupDescription(
        "billing",
        False,
        [
            MemberDescription("c-1-abc", "c-1", "/10.0.0.5", MemberAssignment([CkTP("orders", 1), CkTP("orders", 0)])),
            MemberDescription("c-2-def", "c-2", "/10.0.0.6", MemberAssignment([CkTP("orders", 2)]), "static-2"),
        ],
        "range",
        ConsumerGroupState.STABLE,
        Node(1, "b", 9092),
    )
    c = KafkaCluster(KafkaClusterConfig("x", "127.0.0.1:1", timeout_s=1))
    try:
        desc = c._group_description(
            "billing",
            answer,
            {("orders", 0): OffsetAndMetadata(5), ("orders", 3): OffsetAndMetadata(1)},
            {("orders", 0): (0, 9), ("orders", 1): (0, 4), ("orders", 2): (0, 0)},
        )
    finally:
        c.close()
    assert desc is not None
    assert (desc.state, desc.protocol_type, desc.protocol, desc.generation) == ("Stable", "consumer", "range", -1)
    assert [(m.member_id, m.client_id, m.host, m.group_instance_id, m.assignment) for m in desc.members] == [
        ("c-1-abc", "c-1", "/10.0.0.5", None, (("orders", 0), ("orders", 1))),
        ("c-2-def", "c-2", "/10.0.0.6", "static-2", (("orders", 2),)),
    ]
    rows = [(p.partition, p.committed, p.high_watermark, p.lag, p.client_id) for p in desc.offsets]
    assert rows == [
        (0, 5, 9, 4, "c-1"),
        (1, None, 4, None, "c-1"),
        (2, None, 0, None, "c-2"),
        (3, 1, -1, None, None),  # offsets on a partition that is gone: lag unknown
    ]


def test_describing_an_unknown_group_is_not_an_empty_group() -> None:
    from confluent_kafka import ConsumerGroupState, Node
    from confluent_kafka.admin import ConsumerGroupDescription

    c = KafkaCluster(KafkaClusterConfig("x", "127.0.0.1:1", timeout_s=1))
    try:
        for state in (ConsumerGroupState.DEAD, ConsumerGroupState.EMPTY):
            answer = ConsumerGroupDescription("ghost", False, [], "", state, Node(1, "b", 9092))
            assert c._group_description("ghost", answer, {}, {}) is None
        assert c._group_description("ghost", None, {}, {}) is None
    finally:
        c.close()
