"""The lab's pages: checkers of a group, the guided lesson, the room of attendees."""

from __future__ import annotations

from typing import Any

from django.urls import include, path

urlpatterns: list[Any] = [
    path("", include("offsetsite.lab.urls_checkers")),
    path("", include("offsetsite.lab.urls_lesson")),
    path("", include("offsetsite.lab.urls_room")),
]
