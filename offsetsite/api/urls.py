"""The JSON API under /api/ (docs/api.md). Group ids with '/' use the ``/api/group/...?id=`` forms."""

from __future__ import annotations

from typing import Any

from django.urls import path, re_path

from . import views_audit, views_groups, views_topics

_group_views: list[tuple[str, Any, str]] = [
    ("", views_groups.group, "group"),
    ("/offsets", views_groups.group_offsets, "group_offsets"),
    ("/offsets/delete", views_groups.delete_offsets, "group_offsets_delete"),
    ("/reset", views_groups.reset, "group_reset"),
    ("/reset/undo", views_groups.undo, "group_undo"),
    ("/restore-points", views_groups.restore_points, "group_restore_points"),
    ("/restore-points/pop", views_groups.restore_points_pop, "group_restore_points_pop"),
]

urlpatterns: list[Any] = [
    path("topics", views_topics.topics, name="api_topics"),
    path("topics/<str:topic>", views_topics.topic, name="api_topic"),
    path("topics/<str:topic>/partitions", views_topics.partitions, name="api_partitions"),
    path("topics/<str:topic>/records", views_topics.produce, name="api_produce"),
    path("topics/<str:topic>/partitions/<int:partition>/records", views_topics.records, name="api_records"),
    path("topics/<str:topic>/partitions/<int:partition>/offsets", views_topics.offsets, name="api_offsets"),
    path("groups", views_groups.groups, name="api_groups"),
    *(path(f"groups/<str:group>{suffix}", view, name=f"api_{name}") for suffix, view, name in _group_views),
    *(path(f"group{suffix}", view, name=f"api_{name}_by_id") for suffix, view, name in _group_views),
    path("audit", views_audit.audit_log, name="api_audit"),
    re_path(r"^(?P<rest>.*)$", views_audit.not_found),
]
