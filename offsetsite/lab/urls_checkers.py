"""Ticket checkers started and controlled from the group page (POST only, CSRF-checked)."""

from __future__ import annotations

from typing import Any

from django.urls import path

from . import views_checkers

urlpatterns: list[Any] = [
    # <str:...> stops at "/": like the group page, a group id holding one has no lab form.
    path("groups/<str:group>/checkers/", views_checkers.start, name="lab_checker_start"),
    path("checkers/<str:name>/control/", views_checkers.control, name="lab_checker_control"),
]
