"""Forms of the topic pages: produce, create a topic, delete a topic.

Every message says what was wrong and what is allowed. Kafka's own checks (topic
names, configs, partitions) stay in logcore: the views show its errors on the form
rather than repeating the rules here.
"""

from __future__ import annotations

from typing import Any

from django import forms

from logcore.records import Header
from offsetsite.core import site_settings

MAX_HEADER_LINES = 64


def parse_kv_lines(text: str, what: str) -> list[tuple[str, str]]:
    """``K=V`` one per line (blank lines ignored); the value may contain '='."""
    out: list[tuple[str, str]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise forms.ValidationError(
                f"{what} line {number} ({line[:60]!r}) is not KEY=VALUE: write one KEY=VALUE per line."
            )
        out.append((key.strip(), value.strip()))
    return out


def burst_limits() -> tuple[int, int]:
    # The admin's runtime limits, never above the environment's caps.
    return site_settings.burst_limits()


class ProduceForm(forms.Form):
    key = forms.CharField(required=False, max_length=10_000, help_text="Empty: no key (null).")
    value = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=1_000_000,
        strip=False,
        help_text="In a burst, {n} is replaced by the record's number (1, 2, 3, …).",
    )
    tombstone = forms.BooleanField(required=False, label="Null value (a tombstone)")
    headers = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="One KEY=VALUE per line."
    )
    partition = forms.CharField(
        required=False,
        initial="",
        help_text=(
            'A partition, or "by key": the partitioner places the record as Kafka\'s producer does '
            "(murmur2 of the key; with no key, sticky)."
        ),
    )
    count = forms.IntegerField(required=False, min_value=1, label="Records", initial=1)
    rate = forms.IntegerField(required=False, min_value=1, label="Per second", initial=10)

    def __init__(self, *args: Any, partitions: int = 1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.partitions = partitions
        choices = [("", "by key (the partitioner chooses)"), *((str(i), str(i)) for i in range(partitions))]
        self.fields["partition"].widget = forms.Select(choices=choices)
        max_records, max_rate = burst_limits()
        self.fields["count"].help_text = f"1 produces one record; more start a burst (at most {max_records:,})."
        self.fields["rate"].help_text = f"Burst rate, records per second (at most {max_rate:,})."

    def clean_headers(self) -> tuple[Header, ...]:
        pairs = parse_kv_lines(self.cleaned_data.get("headers") or "", "Header")
        if len(pairs) > MAX_HEADER_LINES:
            raise forms.ValidationError(f"{len(pairs)} headers: at most {MAX_HEADER_LINES} are allowed.")
        return tuple((k, v.encode("utf-8")) for k, v in pairs)

    def clean_partition(self) -> int | None:
        raw = (self.cleaned_data.get("partition") or "").strip()
        if raw in ("", "key", "auto"):
            return None
        if not raw.isdecimal() or len(raw) > 18 or int(raw) >= self.partitions:
            raise forms.ValidationError(
                f"Partition {raw!r} does not exist: choose 0 to {self.partitions - 1}, or leave it empty."
            )
        return int(raw)

    def clean_count(self) -> int:
        count = self.cleaned_data.get("count") or 1
        max_records, _ = burst_limits()
        if count > max_records:
            raise forms.ValidationError(
                f"A burst of {count:,} records is more than this site allows: at most {max_records:,} records."
            )
        return int(count)

    def clean_rate(self) -> int:
        rate = self.cleaned_data.get("rate") or 10
        _, max_rate = burst_limits()
        if rate > max_rate:
            raise forms.ValidationError(
                f"{rate:,} records per second is faster than this site allows: at most {max_rate:,} per second."
            )
        return int(rate)

    @property
    def key_value(self) -> tuple[str | None, str | None]:
        key = self.cleaned_data["key"]
        value = None if self.cleaned_data["tombstone"] else self.cleaned_data["value"]
        return (key if key != "" else None), value


class TopicCreateForm(forms.Form):
    name = forms.CharField(
        max_length=300,
        help_text="Letters, digits, '.', '_' and '-'; at most 249 characters (Kafka's rule).",
    )
    partitions = forms.IntegerField(min_value=1, initial=1)
    config = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Kafka topic settings, one per line, e.g. cleanup.policy=compact or retention.ms=3600000.",
    )

    def clean_config(self) -> dict[str, str]:
        pairs = parse_kv_lines(self.cleaned_data.get("config") or "", "Config")
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise forms.ValidationError(f"{k} is given twice: give each setting once.")
            seen.add(k)
        return dict(pairs)


class TopicDeleteForm(forms.Form):
    confirm = forms.CharField(max_length=300, label="Type the topic's name to confirm")

    def __init__(self, *args: Any, topic: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.topic = topic

    def clean_confirm(self) -> str:
        typed: str = self.cleaned_data["confirm"]
        if typed != self.topic:
            raise forms.ValidationError("The name typed does not match the topic's name: nothing was deleted.")
        return typed
