"""The audit log: who changed what, when, with the offsets before and after."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


class AuditEntry(models.Model):
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    # Kept as text too: the entry must still say who after the user is deleted.
    username = models.CharField(max_length=150, blank=True)
    source = models.CharField(max_length=16, default="web", help_text="web, api or cli")
    action = models.CharField(max_length=64, db_index=True)
    topic = models.CharField(max_length=255, blank=True, db_index=True)
    group_id = models.CharField(max_length=255, blank=True, db_index=True)
    summary = models.TextField(blank=True)
    # Per partition: {"topic", "partition", "before", "after"} where offsets moved.
    offsets = models.JSONField(default=list, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["group_id", "-at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.username or 'anonymous'} {self.action} {self.summary}"


def record(
    request: Any,
    action: str,
    *,
    topic: str = "",
    group_id: str = "",
    summary: str = "",
    offsets: list[dict[str, Any]] | None = None,
    source: str = "web",
    **details: Any,
) -> AuditEntry:
    """Write one audit entry for a change made through ``request`` (or None for the CLI)."""
    user = getattr(request, "user", None)
    authed = user is not None and user.is_authenticated
    return AuditEntry.objects.create(
        user=user if authed else None,
        username=user.get_username() if user is not None and authed else "",
        source=source,
        action=action,
        topic=topic,
        group_id=group_id,
        summary=summary,
        offsets=offsets or [],
        details=details,
    )
