"""Live parts of ``/consumer-offsets/``, pushed over the websocket (see offsetsite.live.registry)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from django.template.loader import render_to_string


def render_consumer_offsets(key: str, user: Any) -> str:
    """The partitions table and the rows of ``/consumer-offsets/`` as the viewer filtered them.

    ``key`` is the socket's query string (``group=G``, ``p=N``, ``view=latest``): each
    frame renders the same view as the page, through the same context.
    """
    from offsetsite.dashboard.consumer_offsets.views import consumer_offsets_context

    query = {k: v[0] for k, v in parse_qs(key).items() if v}
    ctx = consumer_offsets_context(None, query)
    ctx["oob"] = True
    rows = "co_latest_rows" if ctx["view"] == "latest" else "co_rows"
    parts = [render_to_string("dashboard/consumer_offsets.html#co_partitions", ctx)]
    if ctx["live_rows"]:
        parts.append(render_to_string(f"dashboard/consumer_offsets.html#{rows}", ctx))
    return "\n".join(parts)


def register_all() -> None:
    """Register the renderer of kind "consumer_offsets" with the live layer."""
    from offsetsite.live.registry import register

    register("consumer_offsets", render_consumer_offsets)
