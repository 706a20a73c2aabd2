"""The room of a workshop and its facilitator's page (POSTs only change anything; CSRF-checked)."""

from __future__ import annotations

from typing import Any

from django.urls import path

from . import views_room

urlpatterns: list[Any] = [
    path("room/", views_room.room_page, name="lab_room"),
    path("room/join/", views_room.join, name="lab_room_join"),
    # <str:attendee> stops at "/", and attendee names never hold one (room.NAME_RE).
    path("room/a/<str:attendee>/control/", views_room.control, name="lab_room_control"),
    path("room/a/<str:attendee>/strategy/", views_room.strategy, name="lab_room_strategy"),
    path("room/facilitator/", views_room.facilitator, name="lab_room_facilitator"),
    path("room/facilitator/wave/", views_room.wave, name="lab_room_wave"),
    path("room/facilitator/reset/", views_room.reset, name="lab_room_reset"),
]
