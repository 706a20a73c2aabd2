"""Group pages (read-only): the group page and the audit log. Actions live in urls_actions."""

from __future__ import annotations

from typing import Any

from django.urls import path

from offsetsite.dashboard.audit import views as views_audit
from offsetsite.dashboard.groups import views as views_groups

urlpatterns: list[Any] = [
    # <str:...> stops at "/": a group id holding one is reachable through the API only.
    path("groups/<str:group>/", views_groups.group, name="group"),
    path("audit/", views_audit.audit, name="audit"),
    path("audit.csv", views_audit.audit_csv, name="audit_csv"),
]
