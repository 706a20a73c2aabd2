"""Routes of the pages that change a group's offsets (consume, commit, reset, undo, delete)."""

from __future__ import annotations

from typing import Any

from django.urls import path

from offsetsite.dashboard.groups import actions as views_actions
from offsetsite.dashboard.groups import consume as views_consume
from offsetsite.dashboard.groups import reset as views_reset

urlpatterns: list[Any] = [
    path("consume/", views_consume.consume, name="consume"),
    path("groups/<str:group>/consume/", views_consume.group_consume, name="group_consume"),
    path("groups/<str:group>/commit/", views_consume.group_commit, name="group_commit"),
    path("groups/<str:group>/reset/", views_reset.group_reset, name="group_reset"),
    path("groups/<str:group>/undo/", views_reset.group_undo, name="group_undo"),
    path("groups/<str:group>/delete-offsets/", views_actions.group_delete_offsets, name="group_delete_offsets"),
    path("groups/<str:group>/delete/", views_actions.group_delete, name="group_delete"),
]
