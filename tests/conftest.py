"""Shared fixtures. Every test that touches the server's engine gets its own data directory."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Settings read these at import: keep a test run out of the checkout's var/.
os.environ.setdefault("OFFSETSITE_VAR", tempfile.mkdtemp(prefix="offsetsite-test-var-"))


@pytest.fixture(autouse=True, scope="session")
def _no_background_sampler() -> None:
    """Tests sample lag themselves (sample_once); a background writer would race their database.

    Only this process: the browser tests' server subprocess samples as in production.
    """
    from django.conf import settings

    settings.OFFSETSITE["SAMPLER"] = False


@pytest.fixture
def engine_dir(tmp_path: Path, settings: object) -> Iterator[Path]:
    """Point the server's engine at a fresh data directory, closed after the test."""
    from offsetsite import engine

    data = tmp_path / "data"
    settings.OFFSETSITE = {**settings.OFFSETSITE, "DATA_DIR": data}  # type: ignore[attr-defined]
    engine.close()
    yield data
    engine.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Playwright's sync API keeps an event loop running in the main thread for the rest of
    # the session once a browser starts; asyncio tests after it could not run their own.
    # Browser tests therefore go last.
    items.sort(key=lambda item: "e2e" in item.keywords)
