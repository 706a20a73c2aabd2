"""The guided lesson (/lab/lesson/): the page, one POST per step, and the restart."""

from __future__ import annotations

from typing import Any

from django.urls import path

from . import views_lesson

urlpatterns: list[Any] = [
    path("lesson/", views_lesson.lesson_page, name="lesson"),
    path("lesson/steps/<int:number>/", views_lesson.lesson_step, name="lesson_step"),
    path("lesson/restart/", views_lesson.lesson_restart, name="lesson_restart"),
]
