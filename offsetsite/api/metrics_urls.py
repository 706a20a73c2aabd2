"""``/metrics`` at the site root, where Prometheus looks by default."""

from __future__ import annotations

from typing import Any

from django.urls import path

from .metrics import metrics_view

urlpatterns: list[Any] = [path("metrics", metrics_view, name="metrics")]
