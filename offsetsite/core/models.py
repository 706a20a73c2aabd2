"""The audit log: who changed what, when, on which cluster, with the offsets before and after.

Entries are written by ``offsetsite.core.audit`` only (the one vocabulary of action
names, secrets scrubbed, offsets as read back from the cluster).
"""

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
    action = models.CharField(max_length=64, db_index=True, help_text="offsetsite.core.audit.Action")
    cluster = models.CharField(max_length=100, default="local", db_index=True, help_text="the cluster changed")
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
        return (
            f"{self.at:%Y-%m-%d %H:%M:%S} {self.username or 'anonymous'} {self.action} [{self.cluster}] {self.summary}"
        )


class SiteSettings(models.Model):
    """Settings an admin changes at run time: one row (pk 1), read through ``site_settings``.

    Every field may be empty, meaning "as the deployment's environment says": a fresh
    database behaves exactly as the settings module configures it. The burst limits
    can only lower the environment's caps, never raise them (the caps protect the host).
    """

    SINGLETON_PK = 1

    workshop = models.BooleanField(
        null=True, blank=True, help_text="anonymous visitors produce and consume in own groups; empty: env default"
    )
    read_login = models.BooleanField(
        null=True, blank=True, help_text="anonymous visitors must log in to read pages; empty: env default"
    )
    burst_max_records = models.PositiveIntegerField(
        null=True, blank=True, help_text="records one produce burst may ask for; empty: the env cap"
    )
    burst_max_rate = models.PositiveIntegerField(
        null=True, blank=True, help_text="records per second a burst may ask for; empty: the env cap"
    )
    updated = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=150, blank=True)

    class Meta:
        verbose_name = "site settings"
        verbose_name_plural = "site settings"

    def __str__(self) -> str:
        return f"site settings (updated {self.updated:%Y-%m-%d %H:%M:%S} by {self.updated_by or 'nobody'})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.pk = self.SINGLETON_PK  # one row, whoever constructs it
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> SiteSettings:
        """The row, or an unsaved empty one (all defaults) when none was saved yet."""
        return cls.objects.filter(pk=cls.SINGLETON_PK).first() or cls(pk=cls.SINGLETON_PK)
