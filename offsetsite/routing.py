"""Websocket routes (Channels). Each live page has one consumer.

Paths arrive percent-decoded, so a topic or group id with odd characters reaches its
consumer as typed; a group id containing "/" has no page (the API serves it).
"""

from __future__ import annotations

from typing import Any

from django.urls import path

from offsetsite.live import consumers

websocket_urlpatterns: list[Any] = [
    path("ws/overview/", consumers.OverviewConsumer.as_asgi()),
    path("ws/topic/<str:topic>/", consumers.TopicConsumer.as_asgi()),
    path("ws/group/<str:group>/", consumers.GroupConsumer.as_asgi()),
    path("ws/consumer-offsets/", consumers.ConsumerOffsetsConsumer.as_asgi()),
    path("ws/lab/", consumers.LabConsumer.as_asgi()),
]
