"""The pages of a real Kafka cluster in a real browser: the session's tansu broker shown as
cluster "tansu" beside the demo-seeded embedded engine (``kafka_server`` in conftest.py,
its watcher sampling every 0.5 s).

Topics and groups are seeded and checked through confluent-kafka, never through the
dashboard, with unique names (the broker is shared by the session). tansu's high
watermark counts batches, not records (docs/tansu.md, L1): the seed produces one record
per batch. An outage is covered by tests/web/test_kafka_web.py; the session broker is
never killed here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka_broker import TansuBroker, unique_name
from playwright.sync_api import Locator, Page, expect

from .conftest import KAFKA_CLUSTER, Server, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]

WAIT_S = 10.0  # for one admin call to the loopback broker
LIVE_MS = 15_000  # a commit made outside reaches an open page within a few 0.5 s rounds

# Columns of the group page's partition table (templates/dashboard/group.html).
COL_TOPIC, COL_PARTITION, COL_COMMITTED, COL_LOG_START, COL_HW, COL_LAG = range(6)
# Columns of the reset plan table (templates/dashboard/actions/reset.html).
PLAN_PARTITION, PLAN_BEFORE, PLAN_AFTER = 1, 2, 3


@dataclass
class Seeded:
    topic: str
    group: str
    records: int  # per partition
    committed: dict[int, int]  # partition -> committed offset


Seed = Callable[[dict[int, int]], Seeded]
KafkaPage = Callable[[str], Page]


@pytest.fixture(scope="module")
def admin(kafka_broker: TansuBroker) -> AdminClient:
    return AdminClient({"bootstrap.servers": kafka_broker.bootstrap})


@pytest.fixture
def seed(kafka_broker: TansuBroker, admin: AdminClient) -> Seed:
    """seed({0: 4, 1: 10}) -> a fresh topic with 10 records in each of 2 partitions and a
    fresh group that committed those offsets (an Empty group: nobody consumes)."""

    def make(committed: dict[int, int], records: int = 10) -> Seeded:
        topic, group = unique_name("e2e-orders"), unique_name("e2e-billing")
        admin.create_topics([NewTopic(topic, len(committed), 1)])[topic].result(WAIT_S)
        producer = Producer({"bootstrap.servers": kafka_broker.bootstrap, "linger.ms": 0})
        for p in committed:
            for i in range(records):
                producer.produce(topic, value=f'{{"n": {i}}}'.encode(), key=f"k{i}".encode(), partition=p)
                producer.flush(WAIT_S)  # one record per batch: tansu's HW counts batches
        commit(admin, group, topic, committed)
        assert broker_offsets(admin, group, topic, committed) == committed
        return Seeded(topic, group, records, committed)

    return make


def commit(admin: AdminClient, group: str, topic: str, offsets: dict[int, int]) -> None:
    """Commit from outside the group, as kafka-consumer-groups.sh --reset-offsets --execute does."""
    tps = [TopicPartition(topic, p, o) for p, o in offsets.items()]
    admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, tps)])[group].result(WAIT_S)


def broker_offsets(admin: AdminClient, group: str, topic: str, partitions: dict[int, int]) -> dict[int, int]:
    """The group's committed offsets as the broker's group coordinator holds them."""
    wanted = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in partitions])
    answer = admin.list_consumer_group_offsets([wanted])[group].result(WAIT_S)
    return {tp.partition: tp.offset for tp in answer.topic_partitions}


@pytest.fixture
def kafka_page(kafka_server: Server, new_context: Any) -> KafkaPage:
    """kafka_page("vera") -> a page in its own browser context, signed in on the Kafka server."""

    def make(username: str) -> Page:
        page: Page = new_context().new_page()
        sign_in(page, kafka_server.url, username)
        return page

    return make


def cluster_url(server: Server, path: str = "") -> str:
    return f"{server.url}/clusters/{KAFKA_CLUSTER}/{path}"


def wait_live(page: Page) -> None:
    """The page's websocket is connected: from now on it shows changes as they happen."""
    expect(page.locator("#live-socket")).to_have_attribute("data-ws-state", "open", timeout=5000)


def partition_cell(page: Page, partition: int, column: int) -> Locator:
    row = page.locator("#group-partitions tr.partition").filter(
        has=page.locator(f"td:nth-child({COL_PARTITION + 1})", has_text=re.compile(rf"^\s*{partition}\s*$"))
    )
    return row.locator("td").nth(column)


def number(value: int) -> re.Pattern[str]:
    """The cell's text is this number (the committed cell may carry a tag after it)."""
    return re.compile(rf"^\s*{value}\b")


def open_group_from_overview(page: Page, server: Server, group: str) -> None:
    """The Kafka overview, filtered to the group (the shared broker holds every test's groups), then its link."""
    page.goto(cluster_url(server))
    page.get_by_label("Name contains").fill(group)
    page.get_by_role("button", name="Apply").click()
    link = page.locator("#groups-rows").get_by_role("link", name=group, exact=True)
    expect(link).to_be_visible()
    expect(link).to_have_attribute("href", f"/clusters/{KAFKA_CLUSTER}/groups/{group}/")
    link.click()
    expect(page).to_have_url(cluster_url(server, f"groups/{group}/"))


def test_group_from_the_overview_then_a_commit_from_outside_shows_live(
    kafka_server: Server, kafka_page: KafkaPage, seed: Seed, admin: AdminClient
) -> None:
    s = seed({0: 4, 1: 10})
    page = kafka_page("vera")
    open_group_from_overview(page, kafka_server, s.group)
    expect(page.locator("h1")).to_contain_text(s.group)
    expect(page.locator(".cluster-source")).to_contain_text(f"Kafka cluster {KAFKA_CLUSTER}")
    expect(page.locator(".cluster-source")).to_contain_text("sampled every 0.5 s")
    expect(page.locator(".cluster-banner")).to_have_count(0)
    for p, (committed, lag) in {0: (4, 6), 1: (10, 0)}.items():
        expect(partition_cell(page, p, COL_TOPIC)).to_have_text(s.topic)
        expect(partition_cell(page, p, COL_COMMITTED)).to_have_text(number(committed))
        expect(partition_cell(page, p, COL_HW)).to_have_text(str(s.records))
        expect(partition_cell(page, p, COL_LAG)).to_have_text(str(lag))
    expect(page.locator("#group-totals")).to_contain_text("6")

    wait_live(page)
    commit(admin, s.group, s.topic, {0: 7})
    expect(partition_cell(page, 0, COL_COMMITTED)).to_have_text(number(7), timeout=LIVE_MS)
    expect(partition_cell(page, 0, COL_LAG)).to_have_text("3", timeout=LIVE_MS)
    expect(partition_cell(page, 1, COL_LAG)).to_have_text("0")
    # The same document received the change: no reload, no navigation.
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    assert page.url == cluster_url(kafka_server, f"groups/{s.group}/")


def test_switcher_to_the_embedded_engine_and_back(kafka_server: Server, kafka_page: KafkaPage) -> None:
    page = kafka_page("vera")
    page.goto(cluster_url(kafka_server))
    switch = page.locator("header.top details.cluster-switch")
    expect(switch.locator("summary")).to_have_text(KAFKA_CLUSTER)
    menu = switch.locator("ul")
    expect(menu).to_be_hidden()

    switch.locator("summary").click()
    expect(menu).to_be_visible()
    expect(menu.locator("a[aria-current=page]")).to_contain_text(KAFKA_CLUSTER)
    expect(menu.get_by_role("link", name=re.compile(r"^local\b"))).to_contain_text("embedded engine")
    menu.get_by_role("link", name=re.compile(r"^local\b")).click()
    expect(page).to_have_url(kafka_server.url + "/")
    expect(switch.locator("summary")).to_have_text("local")
    expect(page.locator(".cluster-source")).to_have_count(0)  # no Kafka line on the embedded engine
    expect(page.locator("#groups-rows")).to_contain_text("ticket-checker")  # the demo's

    switch.locator("summary").click()
    menu.get_by_role("link", name=re.compile(rf"^{KAFKA_CLUSTER}\b")).click()
    expect(page).to_have_url(cluster_url(kafka_server))
    expect(switch.locator("summary")).to_have_text(KAFKA_CLUSTER)
    expect(page.locator(".cluster-source")).to_contain_text(f"Kafka cluster {KAFKA_CLUSTER}")
    # The demo's group is not there (the session's broker holds other tests' groups, some
    # of them named ticket-checker-<suffix>: only the exact name counts).
    expect(page.locator("#groups-rows a", has_text=re.compile(r"^ticket-checker$"))).to_have_count(0)


def test_reset_through_the_form_then_read_back_from_the_broker(
    kafka_server: Server, kafka_page: KafkaPage, seed: Seed, admin: AdminClient
) -> None:
    s = seed({0: 8, 1: 10})
    expected = {0: 5, 1: 7}  # shift by -3
    page = kafka_page("otto")
    page.goto(cluster_url(kafka_server, f"groups/{s.group}/"))
    expect(partition_cell(page, 0, COL_COMMITTED)).to_have_text(number(8))

    page.get_by_role("link", name="Reset offsets").click()
    expect(page).to_have_url(cluster_url(kafka_server, f"groups/{s.group}/reset/"))
    page.check("input[name=scenario][value=shift-by]")
    page.fill("[name=shift_by]", "-3")
    page.check("input[name=scope][value=all]")
    page.get_by_role("button", name="Preview (changes nothing)").click()

    expect(page.locator("#plan-title")).to_have_text("Preview: nothing has changed yet")
    rows = page.locator("table.plan-table tbody tr")
    expect(rows).to_have_count(2)
    for i in range(2):
        tds = rows.nth(i).locator("td")
        p = int(tds.nth(PLAN_PARTITION).inner_text())
        assert int(tds.nth(PLAN_BEFORE).inner_text()) == s.committed[p]
        assert int(tds.nth(PLAN_AFTER).inner_text()) == expected[p]
    expect(page.locator("table.plan-table tfoot")).to_contain_text("6 records to read again")
    assert broker_offsets(admin, s.group, s.topic, s.committed) == s.committed  # the preview changed nothing

    confirm = page.locator("input[name=confirm]")
    expect(confirm).to_have_attribute("value", "2")
    confirm.check()
    page.get_by_role("button", name="Execute this reset").click()
    expect(page.locator("#reset-panel section.result.ok h2")).to_have_text("Executed: 2 partitions moved")
    assert page.url.startswith(cluster_url(kafka_server))

    assert broker_offsets(admin, s.group, s.topic, s.committed) == expected
    page.goto(cluster_url(kafka_server, f"groups/{s.group}/"))
    for p, offset in expected.items():
        expect(partition_cell(page, p, COL_COMMITTED)).to_have_text(number(offset))
        expect(partition_cell(page, p, COL_LAG)).to_have_text(str(s.records - offset))
    page.goto(cluster_url(kafka_server, "audit/"))
    expect(page.locator("main")).to_contain_text(f"reset group {s.group} shift-by -3")
