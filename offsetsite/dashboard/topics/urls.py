"""Routes of the topic pages (names are the project's URL contract)."""

from __future__ import annotations

from typing import Any

from django.urls import path

from offsetsite.dashboard.topics import config as vs
from offsetsite.dashboard.topics import search as rs
from offsetsite.dashboard.topics import views as v

urlpatterns: list[Any] = [
    # Before "topics/<topic>/": Kafka allows a topic called "new"; its own page is then
    # shadowed by the form, its records, produce and delete pages still answer.
    path("topics/new/", v.topic_create, name="topic_create"),
    path("topics/<str:topic>/", v.topic, name="topic"),
    path("topics/<str:topic>/records/", v.topic_records, name="topic_records"),
    path("topics/<str:topic>/produce/", v.produce, name="produce"),
    path("topics/<str:topic>/produce/bursts/<str:burst_id>/", v.produce_burst, name="produce_burst"),
    path("topics/<str:topic>/delete/", v.topic_delete, name="topic_delete"),
    path("topics/<str:topic>/settings/", vs.topic_settings, name="topic_settings"),
    path("topics/<str:topic>/settings/config/", vs.topic_config_set, name="topic_config_set"),
    path("topics/<str:topic>/settings/partitions/", vs.topic_partitions_add, name="topic_partitions_add"),
    path("topics/<str:topic>/search/", rs.search_page, name="topic_search"),
    path("topics/<str:topic>/search/start/", rs.search_start, name="topic_search_start"),
    path("topics/<str:topic>/search/jobs/<str:job_id>/", rs.search_status, name="topic_search_status"),
    path("topics/<str:topic>/search/jobs/<str:job_id>/cancel/", rs.search_cancel, name="topic_search_cancel"),
    path("topics/<str:topic>/merged/", rs.merged_page, name="topic_merged"),
]
