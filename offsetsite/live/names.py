"""The kinds of live pages (each has a websocket route, a renderer and a hub)."""

from __future__ import annotations

KINDS = ("overview", "topic", "group", "consumer_offsets", "lab")
