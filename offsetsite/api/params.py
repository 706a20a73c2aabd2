"""Reading numbers, names and lists out of API requests, with messages that say what is allowed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest

from .auth import bad_request

MAX_GROUP_ID = 1000


def int_param(value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    # bool is an int in Python; true/false is never a sensible offset.
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise bad_request(f"{name} must be a whole number, got {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise bad_request(f"{name} must be a whole number, got {str(value)[:40]!r}") from None
    if minimum is not None and number < minimum:
        raise bad_request(f"{name} must be at least {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise bad_request(f"{name} must be at most {maximum}, got {number}")
    return number


def query_int(request: HttpRequest, name: str, default: int | None, **bounds: int) -> int | None:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return default
    return int_param(raw, name, **bounds)


def query_bool(request: HttpRequest, name: str, default: bool) -> bool:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes"):
        return True
    if raw.lower() in ("0", "false", "no"):
        return False
    raise bad_request(f"{name} must be true or false, got {raw[:40]!r}")


def group_id(request: HttpRequest, group: str | None) -> str:
    """The group from the path, or from ``?id=`` (ids with '/' cannot travel in a path)."""
    if group is None:
        group = request.GET.get("id")
        if group is None:
            raise bad_request("name the group with ?id=<group id>")
    if not group:
        raise bad_request("the group id must not be empty")
    if len(group) > MAX_GROUP_ID:
        raise bad_request(f"the group id is {len(group)} characters; at most {MAX_GROUP_ID} allowed")
    return group


def obj(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise bad_request(f"{what} must be a JSON object")
    return value


def lst(value: Any, what: str, max_items: int) -> list[Any]:
    if not isinstance(value, list):
        raise bad_request(f"{what} must be a JSON list")
    if len(value) > max_items:
        raise bad_request(f"{what} has {len(value)} items; at most {max_items} allowed")
    return value


def text(value: Any, what: str, max_len: int = 1000) -> str:
    if not isinstance(value, str):
        raise bad_request(f"{what} must be a string")
    if len(value) > max_len:
        raise bad_request(f"{what} is {len(value)} characters; at most {max_len} allowed")
    return value


def topic_partitions(value: Any, what: str, max_items: int = 100_000) -> list[tuple[str, int]]:
    """``[{"topic": t, "partition": p}, ...]``."""
    out = []
    for i, item in enumerate(lst(value, what, max_items)):
        o = obj(item, f"{what}[{i}]")
        out.append(
            (
                text(o.get("topic"), f"{what}[{i}].topic", 300),
                int_param(o.get("partition"), f"{what}[{i}].partition", minimum=0),
            )
        )
    return out
