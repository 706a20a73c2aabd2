"""Topic settings: set a config, add partitions (operator, CSRF, audited, Kafka's rules and
words, a refused change changes nothing) and config values humanized in one place."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from logcore.config import LONG_MAX
from logcore.kafka_cluster import KafkaCluster
from logcore.kafka_config import KafkaClusterConfig
from offsetsite import clusters
from offsetsite.core.models import AuditEntry
from offsetsite.dashboard.templatetags.config_values import humanize_config
from offsetsite.engine import get_cluster

pytestmark = pytest.mark.django_db


def text(r: Any) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", r.content.decode()).split())


@pytest.fixture
def topic(engine_dir: Path) -> str:
    get_cluster().create_topic("seats", 2)
    return "seats"


@pytest.mark.parametrize(
    ("key", "raw", "shown"),
    [
        ("retention.ms", "604800000", "7 d"),
        ("retention.ms", "-1", "no limit"),
        ("retention.ms", "3600000", "1 h"),
        ("retention.ms", "90000", "90 s"),
        ("segment.ms", "5400000", "90 min"),
        ("delete.retention.ms", "0", "0 ms"),
        ("flush.ms", str(LONG_MAX), "no limit"),
        ("flush.messages", "9223372036854775807", "no limit"),
        ("flush.messages", "10000", "10,000"),
        ("segment.bytes", "1073741824", "1 GiB"),
        ("retention.bytes", "-1", "no limit"),
        ("max.message.bytes", "1048588", "1.0 MiB"),
        ("index.interval.bytes", "4096", "4 KiB"),
        ("retention.bytes", "100", "100 B"),
        ("cleanup.policy", "compact,delete", "compact,delete"),
        ("retention.ms", "soon", "soon"),  # not a number: shown as it is
    ],
)
def test_humanize(key: str, raw: str, shown: str) -> None:
    assert humanize_config(key, raw) == shown


def test_page_shows_humanized_values_with_raw_on_hover(client: Client, topic: str) -> None:
    html = client.get(f"/topics/{topic}/settings/").content.decode()
    assert '<span class="config-value" title="retention.ms = 604800000">7 d</span>' in html
    assert '<span class="config-value" title="segment.bytes = 1073741824">1 GiB</span>' in html
    assert '<span class="config-value" title="flush.ms = 9223372036854775807">no limit</span>' in html
    # Readers see the settings, not the forms.
    assert 'action="/topics/seats/settings/config/"' not in html
    topic_page = client.get(f"/topics/{topic}/").content.decode()
    assert '<span class="config-value" title="retention.ms = 604800000">7 d</span>' in topic_page


def test_operator_sets_a_config_audited(operator_client: Client, topic: str) -> None:
    page = operator_client.get(f"/topics/{topic}/settings/").content.decode()
    assert 'action="/topics/seats/settings/config/"' in page and "csrfmiddlewaretoken" in page
    r = operator_client.post(f"/topics/{topic}/settings/config/", {"name": "retention.ms", "value": "86400000"})
    assert r.status_code == 302
    assert get_cluster().describe_topic(topic).config["retention.ms"] == "86400000"
    entry = AuditEntry.objects.get(action="topic.config")
    assert entry.topic == topic and entry.username == "otto"
    assert entry.details["config"] == {"retention.ms": "86400000"}
    assert entry.details["before"] == {"retention.ms": "604800000"}
    shown = operator_client.get(f"/topics/{topic}/settings/").content.decode()
    assert '<tr class="override"><td><code title="' in shown and "1 d</span>" in shown


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("retention.mss", "1", "Unknown topic config name: 'retention.mss'"),
        ("retention.ms", "soon", "Invalid value 'soon' for configuration retention.ms: not a number"),
        ("retention.ms", "-2", "Invalid value -2 for configuration retention.ms: value must be in [-1, "),
        ("cleanup.policy", "shred", "Invalid value 'shred' for configuration cleanup.policy: allowed values are"),
        (
            "segment.bytes",
            "3000000000",
            "Invalid value 3000000000 for configuration segment.bytes: value must be in [14, 2147483647].",
        ),
    ],
)
def test_refused_config_changes_nothing(operator_client: Client, topic: str, name: str, value: str, words: str) -> None:
    before = get_cluster().describe_topic(topic).config
    r = operator_client.post(f"/topics/{topic}/settings/config/", {"name": name, "value": value})
    assert r.status_code == 400
    assert "InvalidConfig: " + words in text(r).replace("&#x27;", "'")
    assert get_cluster().describe_topic(topic).config == before
    assert not AuditEntry.objects.filter(action="topic.config").exists()


def test_add_partitions_warns_about_keys_and_is_audited(operator_client: Client, topic: str) -> None:
    page = text(operator_client.get(f"/topics/{topic}/settings/"))
    assert "the partition logic or ordering of the messages will be affected" in page
    r = operator_client.post(f"/topics/{topic}/settings/partitions/", {"total": "5"}, follow=True)
    assert len(get_cluster().describe_topic(topic).partitions) == 5
    shown = text(r)
    assert "WARNING: If partitions are increased for a topic that has a key" in shown
    assert "Topic seats now has 5 partitions." in shown
    entry = AuditEntry.objects.get(action="topic.partitions")
    assert entry.details == {"before": 2, "after": 5}


@pytest.mark.parametrize(
    ("total", "words"),
    [
        ("1", "InvalidPartitions: Topic currently has 2 partitions, which is higher than the requested 1."),
        ("2", "InvalidPartitions: Topic already has 2 partitions."),
        ("0", "Ensure this value is greater than or equal to 1."),
        ("lots", "Enter a whole number."),
    ],
)
def test_partitions_only_grow(operator_client: Client, topic: str, total: str, words: str) -> None:
    r = operator_client.post(f"/topics/{topic}/settings/partitions/", {"total": total})
    assert r.status_code == 400
    assert words in text(r)
    assert len(get_cluster().describe_topic(topic).partitions) == 2
    assert not AuditEntry.objects.filter(action="topic.partitions").exists()


def test_changes_need_the_operator_role_and_csrf(
    client: Client, viewer_client: Client, operator: User, topic: str
) -> None:
    for url, data in ((f"/topics/{topic}/settings/config/", {"name": "retention.ms", "value": "1"}),
                      (f"/topics/{topic}/settings/partitions/", {"total": "3"})):  # fmt: skip
        assert client.post(url, data).status_code == 302  # to the login page
        assert viewer_client.post(url, data).status_code == 403
        strict = Client(enforce_csrf_checks=True)
        strict.force_login(operator)
        assert strict.post(url, data).status_code == 403
        assert operator_get_is_refused(strict, url)
    desc = get_cluster().describe_topic(topic)
    assert desc.config["retention.ms"] == "604800000" and len(desc.partitions) == 2


def operator_get_is_refused(c: Client, url: str) -> bool:
    return c.get(url).status_code == 405


def test_hostile_topic_name_and_values_are_escaped(operator_client: Client, engine_dir: Path) -> None:
    get_cluster().create_topic("t", 1)
    r = operator_client.post("/topics/t/settings/config/", {"name": "<script>x</script>", "value": "<b>1</b>"})
    html = r.content.decode()
    assert "<script>x" not in html and "&lt;script&gt;x" in html


# --- on a Kafka cluster (tansu) ------------------------------------------------------


@pytest.fixture
def kafka(kafka_broker: Any, engine_dir: Path, settings: Any) -> Iterator[KafkaCluster]:
    settings.OFFSETSITE = {**settings.OFFSETSITE, "KAFKA_WATCH": False}
    clusters.configure([KafkaClusterConfig("k", kafka_broker.bootstrap, {})])
    cluster = clusters.kafka_cluster("k")
    assert isinstance(cluster, KafkaCluster)
    yield cluster
    clusters.configure([])


@pytest.mark.kafka
@pytest.mark.integration
def test_kafka_set_config_through_incremental_alter_configs(operator_client: Client, kafka: KafkaCluster) -> None:
    topic = f"cfg-{uuid.uuid4().hex[:6]}"
    kafka.create_topic(topic, 1)
    r = operator_client.post(
        f"/clusters/k/topics/{topic}/settings/config/", {"name": "retention.ms", "value": "3600000"}
    )
    assert r.status_code == 302, text(r)
    assert kafka.describe_topic(topic).config["retention.ms"] == "3600000"
    assert AuditEntry.objects.get(action="topic.config", cluster="k").topic == topic
    html = operator_client.get(f"/clusters/k/topics/{topic}/settings/").content.decode()
    assert '<span class="config-value" title="retention.ms = 3600000">1 h</span>' in html


@pytest.mark.kafka
@pytest.mark.integration
def test_kafka_refuses_what_kafka_refuses_before_sending(operator_client: Client, kafka: KafkaCluster) -> None:
    """tansu accepts any config name and value (docs/tansu.md); the backend refuses with
    Kafka's words first, so nothing reaches the broker."""
    topic = f"cfg-{uuid.uuid4().hex[:6]}"
    kafka.create_topic(topic, 1)
    for name, value, words in (
        ("retention.mss", "1", "Unknown topic config name: retention.mss."),
        ("retention.ms", "soon", "Invalid value 'soon' for configuration retention.ms"),
    ):
        r = operator_client.post(f"/clusters/k/topics/{topic}/settings/config/", {"name": name, "value": value})
        assert r.status_code == 400
        assert words in text(r).replace("&#x27;", "'")
    assert "retention.mss" not in kafka.describe_topic(topic).config
    assert "retention.ms" not in kafka.describe_topic(topic).config  # tansu: only what was set (T4)


@pytest.mark.kafka
@pytest.mark.integration
def test_kafka_partitions_only_grow_and_tansu_lacks_create_partitions(
    operator_client: Client, kafka: KafkaCluster
) -> None:
    """Fewer partitions are refused before any request; growing needs CreatePartitions
    (KIP-195), which tansu lacks (docs/tansu.md): the page says so and nothing changes.
    Growing itself is tested on the embedded engine above."""
    topic = f"parts-{uuid.uuid4().hex[:6]}"
    kafka.create_topic(topic, 2)
    r = operator_client.post(f"/clusters/k/topics/{topic}/settings/partitions/", {"total": "1"})
    assert r.status_code == 400
    assert "Topic currently has 2 partitions, which is higher than the requested 1." in text(r)
    r = operator_client.post(f"/clusters/k/topics/{topic}/settings/partitions/", {"total": "3"})
    assert r.status_code == 400
    assert "CreatePartitions" in text(r) or "not support" in text(r)
    assert len(kafka.describe_topic(topic).partitions) == 2
    assert not AuditEntry.objects.filter(action="topic.partitions").exists()
