"""Users with each role, and logged-in clients for them."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client


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
