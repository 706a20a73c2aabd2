"""Lag history and the group timeline.

Lag is kept in two tiers: raw samples (one per partition every few seconds, kept an
hour by default) and one-minute aggregates (the minute's highest and last lag, kept a
week). Charts of the last hour read raw samples; longer ranges read the minutes. Each
minute also has a group-total row (topic "", partition -1) holding the highest total
lag seen within it, because the sum of per-partition maxima would overstate it.
"""

from __future__ import annotations

from django.db import models

TOTAL_PARTITION = -1


# Every row names its cluster: one server shows the embedded engine ("local") and
# Kafka clusters, and a group id may exist on several of them.
def _cluster_field() -> models.CharField:  # type: ignore[type-arg]
    return models.CharField(max_length=32, default="local")


class LagSample(models.Model):
    cluster = _cluster_field()
    group_id = models.TextField()
    topic = models.CharField(max_length=255)
    partition = models.IntegerField()
    at = models.DateTimeField()
    committed = models.BigIntegerField()
    hw = models.BigIntegerField()
    lag = models.BigIntegerField()

    class Meta:
        indexes = [
            models.Index(fields=["cluster", "group_id", "at"], name="live_lag_cluster_group_at"),
            models.Index(fields=["at"], name="live_lag_at"),  # pruning and downsampling
        ]

    def __str__(self) -> str:
        return f"{self.group_id} {self.topic}-{self.partition} lag {self.lag} at {self.at:%H:%M:%S}"


class LagMinute(models.Model):
    cluster = _cluster_field()
    group_id = models.TextField()
    topic = models.CharField(max_length=255)  # "" with partition -1: the group's total
    partition = models.IntegerField()
    at = models.DateTimeField()  # the minute's start
    lag_max = models.BigIntegerField()
    lag_last = models.BigIntegerField()
    committed = models.BigIntegerField(null=True)
    hw = models.BigIntegerField(null=True)
    samples = models.IntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["cluster", "group_id", "at"], name="live_lagmin_cluster_group_at"),
            models.Index(fields=["at"], name="live_lagmin_at"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "group_id", "topic", "partition", "at"], name="live_lagmin_cluster_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.group_id} {self.topic}-{self.partition} max lag {self.lag_max} in {self.at:%H:%M}"


class GroupEvent(models.Model):
    class Kind(models.TextChoices):
        COMMIT = "commit"
        REBALANCE = "rebalance"
        RESET = "reset"
        DELETE = "delete"
        MEMBER_JOIN = "member-join"
        LEAVE = "leave"

    cluster = _cluster_field()
    group_id = models.TextField()
    at = models.DateTimeField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    summary = models.TextField()
    details = models.JSONField(default=dict)

    class Meta:
        indexes = [
            models.Index(fields=["cluster", "group_id", "at"], name="live_event_cluster_group_at"),
            models.Index(fields=["at"], name="live_event_at"),
        ]
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.group_id} {self.kind} at {self.at:%H:%M:%S}: {self.summary}"
