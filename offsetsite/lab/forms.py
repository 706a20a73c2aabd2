"""The form that starts a ticket checker in a group (the group page's "Ticket checkers" panel).

The form checks the shape of the input against the same bounds logcore enforces
(``logcore.checkers``); whether the name is free and the topic exists is decided by
the lab at the moment the checker starts, under the engine lock, and reported back
on the form by the view.
"""

from __future__ import annotations

from typing import Any

from django import forms

from logcore.checkers import (
    AUTO_INTERVAL_RANGE_MS,
    EVERY_RANGE,
    NAME_RE,
    PACE_RANGE,
    CheckerSpec,
    CommitPolicy,
)
from logcore.errors import KafkaError

# Each strategy, and what a crash of a checker using it costs. The wording follows
# Kafka's consumer javadoc ("Manual Offset Control", "Offsets and Consumer Position"):
# committing after processing is at-least-once, committing before it at-most-once.
STRATEGIES: tuple[tuple[str, str, str], ...] = (
    (
        "each",
        "After each record (commitSync after every record)",
        "A crash costs nothing twice: the commit follows every checked seat (a rebalance can still repeat one).",
    ),
    (
        "every",
        "Every N records (commitSync after N records)",
        "A crash repeats up to N - 1 seats: those checked since the last commit are checked again.",
    ),
    (
        "auto",
        "Auto-commit every T ms (enable.auto.commit, auto.commit.interval.ms)",
        "A crash repeats everything checked since the last auto-commit, which happens at a poll once T has passed.",
    ),
    (
        "before",
        "Before processing (commitSync right after poll: at-most-once)",
        "A crash loses the rest of the batch: the notebook already says done, so nobody checks those seats.",
    ),
)
STRATEGY_HELP = {key: cost for key, _, cost in STRATEGIES}


class CheckerForm(forms.Form):
    name = forms.CharField(
        max_length=40,
        help_text="1 to 40 letters, digits, spaces, '.', '_' or '-'; unique among all checkers.",
    )
    topic = forms.ChoiceField(choices=())
    pace = forms.FloatField(
        initial=2.0,
        help_text=f"Records a second, between {PACE_RANGE[0]:g} and {PACE_RANGE[1]:g}.",
    )
    strategy = forms.ChoiceField(
        choices=[(k, label) for k, label, _ in STRATEGIES], initial="every", widget=forms.RadioSelect
    )
    every = forms.IntegerField(
        required=False,
        initial=10,
        label="N (records per commit)",
        help_text=f"For 'every N records': {EVERY_RANGE[0]} to {EVERY_RANGE[1]}.",
    )
    interval_ms = forms.IntegerField(
        required=False,
        initial=5000,
        label="T (ms between auto-commits)",
        help_text=f"For auto-commit: {AUTO_INTERVAL_RANGE_MS[0]} to {AUTO_INTERVAL_RANGE_MS[1]} ms.",
    )

    def __init__(self, *args: Any, group: str, topics: list[str], group_topics: list[str], **kwargs: Any) -> None:
        if "initial" not in kwargs and group_topics:
            # Pre-select a topic the group already reads: the usual case in a lesson.
            kwargs["initial"] = {"topic": group_topics[0]}
        super().__init__(*args, **kwargs)
        self.group = group
        ordered = [t for t in group_topics if t in topics] + [t for t in topics if t not in group_topics]
        topic = self.fields["topic"]
        assert isinstance(topic, forms.ChoiceField)
        topic.choices = [(t, t) for t in ordered]
        self.spec: CheckerSpec | None = None

    def clean_name(self) -> str:
        name = str(self.cleaned_data["name"]).strip()
        if not NAME_RE.fullmatch(name):
            raise forms.ValidationError(
                "A checker name may hold 1 to 40 letters, digits, spaces, '.', '_' or '-', "
                "and starts with a letter or digit."
            )
        return name

    def clean_pace(self) -> float:
        pace = float(self.cleaned_data["pace"])
        lo, hi = PACE_RANGE
        if not lo <= pace <= hi:
            raise forms.ValidationError(f"The pace must be between {lo:g} and {hi:g} records a second; got {pace:g}.")
        return pace

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        strategy = data.get("strategy")
        if strategy == "every":
            n = data.get("every")
            lo, hi = EVERY_RANGE
            if n is None or not lo <= n <= hi:
                self.add_error("every", f"N must be a whole number between {lo} and {hi} for 'every N records'.")
                return data
            text = f"every:{n}"
        elif strategy == "auto":
            t = data.get("interval_ms")
            lo, hi = AUTO_INTERVAL_RANGE_MS
            if t is None or not lo <= t <= hi:
                self.add_error("interval_ms", f"T must be a whole number of milliseconds between {lo} and {hi}.")
                return data
            text = f"auto:{t}"
        elif strategy:
            text = str(strategy)
        else:
            return data
        if self.errors:
            return data
        try:
            policy = CommitPolicy.parse(text)
            spec = CheckerSpec(data["name"], self.group, data["topic"], pace=data["pace"], policy=policy)
            spec.validate()
        except KafkaError as e:
            raise forms.ValidationError(str(e)) from None
        self.spec = spec
        return data
