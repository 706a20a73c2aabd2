"""Routes of the topic pages (names are the project's URL contract)."""

from __future__ import annotations

from typing import Any

from django.urls import path

from . import views_topics as v

urlpatterns: list[Any] = [
    # Before "topics/<topic>/": Kafka allows a topic called "new"; its own page is then
    # shadowed by the form, its records, produce and delete pages still answer.
    path("topics/new/", v.topic_create, name="topic_create"),
    path("topics/<str:topic>/", v.topic, name="topic"),
    path("topics/<str:topic>/records/", v.topic_records, name="topic_records"),
    path("topics/<str:topic>/produce/", v.produce, name="produce"),
    path("topics/<str:topic>/produce/bursts/<str:burst_id>/", v.produce_burst, name="produce_burst"),
    path("topics/<str:topic>/delete/", v.topic_delete, name="topic_delete"),
    path("consumer-offsets/", v.consumer_offsets, name="consumer_offsets"),
]
