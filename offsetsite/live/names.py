"""Channel-layer group names for live pages.

Channels accepts group names matching ``^[a-zA-Z0-9\\-_.]+$`` shorter than 100
characters. Kafka topic names fit that alphabet but group ids can hold anything, so a
name is used as is only when it is plain and short; otherwise it is hashed. The two
forms have different prefixes, so a plain name can never collide with a hash.
"""

from __future__ import annotations

import hashlib
import re

_PLAIN = re.compile(r"^[a-zA-Z0-9\-_.]{1,60}$")
KINDS = ("overview", "topic", "group", "consumer_offsets", "lab")


def safe_part(name: str) -> str:
    if _PLAIN.match(name):
        return "n." + name
    return "h." + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def channel_group(kind: str, key: str = "", cluster: str = "local") -> str:
    """The channel-layer group a page of ``kind`` for ``key`` of ``cluster`` listens on.

    The embedded engine's ("local") names carry no cluster part; a Kafka cluster's
    carry its name, which is short and plain (logcore.kafka_config.validate_cluster_name).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown live page kind {kind!r}; expected one of {', '.join(KINDS)}")
    base = "live" if cluster == "local" else f"live.c.{cluster}"
    if kind in ("overview", "consumer_offsets", "lab"):
        return f"{base}.{kind}"
    return f"{base}.{kind}.{safe_part(key)}"
