"""Page routes: each page's package keeps its own list (topics/, groups/), gathered here."""

from __future__ import annotations

from django.urls import path

from offsetsite.dashboard.consumer_offsets import views as consumer_offsets
from offsetsite.dashboard.groups import action_urls as group_action_urls
from offsetsite.dashboard.groups import urls as group_urls
from offsetsite.dashboard.overview import views as overview
from offsetsite.dashboard.topics import urls as topic_urls

urlpatterns = [
    path("", overview.overview, name="overview"),
    *topic_urls.urlpatterns,
    path("consumer-offsets/", consumer_offsets.consumer_offsets, name="consumer_offsets"),
    *group_urls.urlpatterns,
    *group_action_urls.urlpatterns,
]
