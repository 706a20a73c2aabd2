"""Users with each role, and logged-in clients for them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from logcore import ManualClock


def make_user(username: str, role: str | None) -> User:
    user = User.objects.create_user(username=username, password="pw-" + username)
    if role:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


@pytest.fixture
def viewer(db: Any) -> User:
    return make_user("vera", "viewer")


@pytest.fixture
def operator(db: Any) -> User:
    return make_user("otto", "operator")


@pytest.fixture
def admin_user(db: Any) -> User:
    return make_user("ada", "admin")


def login(user: User) -> Client:
    c = Client()
    c.force_login(user)
    return c


@pytest.fixture
def viewer_client(viewer: User) -> Client:
    return login(viewer)


@pytest.fixture
def operator_client(operator: User) -> Client:
    return login(operator)


@pytest.fixture
def admin_client_(admin_user: User) -> Client:
    return login(admin_user)


@pytest.fixture
def lab_clock(engine_dir: Path, settings: Any) -> Iterator[ManualClock]:
    """The engine on a ManualClock with no rebalance delay: lab scenarios give exact numbers.

    Time moves only through ``lab_helpers.advance``, which steps the checkers as the
    server's runner thread does (the thread itself is off in tests).
    """
    from offsetsite import engine

    manual = ManualClock()
    settings.OFFSETSITE = {
        **settings.OFFSETSITE,
        "CLOCK": manual,
        "INITIAL_REBALANCE_DELAY_MS": "0",
        "LAB_RUNNER": False,
    }
    engine.close()
    yield manual
    engine.close()
