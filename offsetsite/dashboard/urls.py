"""Page routes, one module per area so that each area's owner edits only its own list."""

from __future__ import annotations

from django.urls import path

from . import urls_actions, urls_groups, urls_topics, views_overview

urlpatterns = [
    path("", views_overview.overview, name="overview"),
    *urls_topics.urlpatterns,
    *urls_groups.urlpatterns,
    *urls_actions.urlpatterns,
]
