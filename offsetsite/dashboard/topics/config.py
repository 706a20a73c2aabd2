"""A topic's settings page: its configs (humanized, raw on hover), set a config, add partitions.

What ``kafka-configs.sh --alter --entity-type topics --add-config k=v`` and
``kafka-topics.sh --alter --partitions N`` do, through the same ``Cluster`` methods on
the embedded engine and on a Kafka cluster (IncrementalAlterConfigs, KIP-339;
CreatePartitions, KIP-195). Reading is open to whoever may read the site; changes need
the operator role, go by POST with CSRF, are audited, and a refused change (Kafka's
words: an unknown name, a bad value, fewer partitions) changes nothing.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from logcore.config import KAFKA_TOPIC_CONFIGS, TopicConfig, describe_keys
from logcore.errors import KafkaError
from logcore.log_manager import TopicDescription
from offsetsite.core import audit
from offsetsite.core.audit import Action, Actor
from offsetsite.core.roles import require_role
from offsetsite.dashboard.topics.views import _describe
from offsetsite.engine import current_cluster_name, get_cluster

# kafka-topics.sh prints this before adding partitions (TopicCommand.alterTopic).
KEY_PLACEMENT_WARNING = (
    "If partitions are increased for a topic that has a key, the partition logic or ordering "
    "of the messages will be affected: a key hashes to murmur2(key) % partitions, so most keys "
    "move to another partition from the next record on, and records already written stay where they are."
)


class TopicConfigForm(forms.Form):
    name = forms.CharField(label="Setting (Kafka name)", max_length=249, strip=True)
    value = forms.CharField(label="Value", max_length=1000, strip=True)


class AddPartitionsForm(forms.Form):
    total = forms.IntegerField(label="New total number of partitions", min_value=1, max_value=100_000)


def config_rows(desc: TopicDescription) -> list[dict[str, Any]]:
    """Every config of the topic with whether it is set for the topic (differs from the default)."""
    defaults = TopicConfig().to_dict()
    docs = describe_keys()
    return [
        {"key": k, "value": v, "set": defaults.get(k) != v, "doc": docs.get(k, "")}
        for k, v in sorted(desc.config.items())
    ]


def _context(
    desc: TopicDescription, config_form: TopicConfigForm | None = None, parts_form: AddPartitionsForm | None = None
) -> dict[str, Any]:
    count = len(desc.partitions)
    return {
        "topic": desc,
        "rows": config_rows(desc),
        "config_form": config_form or TopicConfigForm(),
        "parts_form": parts_form or AddPartitionsForm(initial={"total": count + 1}),
        "known_names": sorted(KAFKA_TOPIC_CONFIGS),
        "key_warning": KEY_PLACEMENT_WARNING,
    }


@require_GET
def topic_settings(request: HttpRequest, topic: str) -> HttpResponse:
    return render(request, "dashboard/topic_settings.html", _context(_describe(topic)))


@require_POST
@require_role("operator")
def topic_config_set(request: HttpRequest, topic: str) -> HttpResponse:
    desc = _describe(topic)
    form = TopicConfigForm(request.POST)
    if form.is_valid():
        name, value = form.cleaned_data["name"], form.cleaned_data["value"]
        before = desc.config.get(name)
        try:
            after = get_cluster().alter_topic_config(topic, {name: value})
        except KafkaError as e:
            # Kafka's own words: InvalidConfig (unknown name, bad value), UnsupportedVersion.
            form.add_error(None, f"{type(e).__name__}: {e}")
        else:
            audit.log(
                Actor.web(request),
                Action.TOPIC_CONFIG,
                cluster=current_cluster_name(),
                topic=topic,
                summary=f"set {name}={value} on topic {topic} (was {before if before is not None else 'the default'})",
                details={"config": {name: value}, "before": {name: before}},
            )
            messages.success(request, f"{name} of {topic} is now {after.config.get(name, value)}.")
            return redirect("topic_settings", topic=topic)
    return render(request, "dashboard/topic_settings.html", _context(desc, config_form=form), status=400)


@require_POST
@require_role("operator")
def topic_partitions_add(request: HttpRequest, topic: str) -> HttpResponse:
    desc = _describe(topic)
    form = AddPartitionsForm(request.POST)
    if form.is_valid():
        total = form.cleaned_data["total"]
        before = len(desc.partitions)
        try:
            after = get_cluster().add_partitions(topic, total)
        except KafkaError as e:
            # Kafka's words: "Topic currently has N partitions, which is higher than the
            # requested M." (InvalidPartitions); UnsupportedVersion where the broker lacks
            # CreatePartitions (KIP-195).
            form.add_error(None, f"{type(e).__name__}: {e}")
        else:
            audit.log(
                Actor.web(request),
                Action.TOPIC_PARTITIONS,
                cluster=current_cluster_name(),
                topic=topic,
                summary=f"partitions of {topic}: {before} -> {len(after.partitions)}",
                details={"before": before, "after": len(after.partitions)},
            )
            messages.warning(request, f"WARNING: {KEY_PLACEMENT_WARNING}")
            messages.success(request, f"Topic {topic} now has {len(after.partitions)} partitions.")
            return redirect("topic_settings", topic=topic)
    return render(request, "dashboard/topic_settings.html", _context(desc, parts_form=form), status=400)
