from __future__ import annotations

from typing import Any

import pytest

from .conftest import Server

pytestmark = pytest.mark.e2e


def test_overview_and_login(page: Any, server: Server, login: Any) -> None:
    page.goto(server.url + "/")
    assert page.locator("h1").first.inner_text() != ""
    login(page, "otto")
    assert "otto" in page.locator("header .who").inner_text()
