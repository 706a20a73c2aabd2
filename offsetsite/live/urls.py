from __future__ import annotations

from typing import Any

from django.urls import path

from . import owner, views

urlpatterns: list[Any] = [
    path("groups/<str:group>/lag.json", views.group_lag, name="group_lag"),
    path("live/parts/<str:kind>/", owner.parts, name="live_parts"),
]
