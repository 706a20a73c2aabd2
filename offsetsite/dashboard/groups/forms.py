"""Forms for the pages that change a group's offsets: consume, commit, reset, delete.

The forms only check the shape of the input (numbers are numbers, a datetime parses,
a file is text). Whether a change is allowed (group state, topic and partition
exist, offsets still where the preview saw them) is decided by logcore at the moment
of the change, under the engine lock, and reported by the views.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms

from logcore.admin import SCENARIOS, parse_datetime, parse_duration, parse_offsets_csv
from logcore.config import LONG_MAX
from logcore.errors import KafkaError
from logcore.groups import OFFSET_METADATA_MAX_BYTES

CONSUME_MAX_RECORDS = 500
GROUP_ID_MAX = 255
OFFSETS_FILE_MAX_BYTES = 1_000_000

SCENARIO_LABELS = {
    "to-earliest": "To earliest: the oldest record still in the log (log start)",
    "to-latest": "To latest: the high watermark (skip everything not read yet)",
    "to-current": "To current: keep the committed offset (makes one for partitions without)",
    "to-offset": "To offset N",
    "shift-by": "Shift by N (negative: read again, positive: skip)",
    "to-datetime": "To date and time: the first record at or after it",
    "by-duration": "By duration: the first record from this long ago",
    "from-file": "From file: CSV lines topic,partition,offset",
}
assert set(SCENARIO_LABELS) == set(SCENARIOS)

SCOPES = (
    ("all", "Every partition the group has committed offsets for"),
    ("topics", "All partitions of the chosen topics"),
    ("partitions", "Only these partitions (topic:0,1)"),
)

_LOCAL_MINUTES = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$")
_PARTITION_SPEC = re.compile(r"^[a-zA-Z0-9._-]+(:\d+(,\d+)*)?$")


def validate_group_id(value: str) -> str:
    """Kafka allows any non-empty string; a "/" cannot travel in this site's URLs."""
    if not value:
        raise forms.ValidationError("A group id is required.")
    if len(value) > GROUP_ID_MAX:
        raise forms.ValidationError(f"A group id may be at most {GROUP_ID_MAX} characters long.")
    if "/" in value:
        raise forms.ValidationError(
            "A group id containing '/' cannot be used in this site's pages; use the JSON API for it."
        )
    if any(ord(ch) < 32 for ch in value):
        raise forms.ValidationError("A group id may not contain control characters (newlines, tabs).")
    return value


class ConsumeForm(forms.Form):
    """Read up to N records as a named member of a group, optionally committing."""

    group_id = forms.CharField(
        label="Group id",
        max_length=GROUP_ID_MAX,
        strip=False,
        required=False,
        help_text="A new group id starts a new group; an existing one joins it.",
    )
    client_id = forms.CharField(
        label="Member name (client id)",
        max_length=100,
        initial="web-consumer",
        help_text="Shown as CLIENT-ID in the group's members.",
    )
    topics = forms.MultipleChoiceField(label="Topics", widget=forms.CheckboxSelectMultiple)
    max_records = forms.IntegerField(
        label="Records to read",
        min_value=1,
        max_value=CONSUME_MAX_RECORDS,
        initial=10,
        help_text=f"1 to {CONSUME_MAX_RECORDS}.",
    )
    auto_offset_reset = forms.ChoiceField(
        label="Where to start without a committed offset (auto.offset.reset)",
        choices=(("earliest", "earliest: the log start"), ("latest", "latest: only new records")),
        initial="earliest",
        widget=forms.RadioSelect,
    )
    commit = forms.ChoiceField(
        label="Commit after reading",
        choices=(("yes", "yes: commit the next offset to read"), ("no", "no: read only, commit nothing")),
        initial="yes",
        widget=forms.RadioSelect,
    )

    def __init__(self, *args: Any, topics: list[str], needs_group_id: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.needs_group_id = needs_group_id
        self.fields["topics"].choices = [(t, t) for t in topics]  # type: ignore[attr-defined]
        if needs_group_id:
            self.fields["group_id"].required = True
        else:
            del self.fields["group_id"]

    def clean_group_id(self) -> str:
        return validate_group_id(self.cleaned_data.get("group_id") or "")

    def clean_client_id(self) -> str:
        value: str = self.cleaned_data["client_id"]
        if any(ord(ch) < 32 for ch in value):
            raise forms.ValidationError("The member name may not contain control characters.")
        return value


class CommitForm(forms.Form):
    """Commit one offset from outside the group (generation -1), as an admin tool would."""

    topic = forms.ChoiceField(label="Topic")
    partition = forms.IntegerField(
        label="Partition",
        min_value=0,
        error_messages={"invalid": "The partition must be a whole number (0 or more)."},
    )
    offset = forms.IntegerField(
        label="Offset (the next record the group will read)",
        min_value=0,
        max_value=LONG_MAX,
        error_messages={
            "invalid": "The offset must be a whole number (0 or more).",
            "max_value": f"The offset must be at most {LONG_MAX} (a Kafka offset is a signed 64-bit long).",
        },
    )
    metadata = forms.CharField(
        label="Metadata (optional)",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=f"Free text stored with the commit, at most {OFFSET_METADATA_MAX_BYTES} bytes in UTF-8.",
    )
    allow_outside = forms.BooleanField(
        label="Commit even though the offset is outside the log (log start .. high watermark)",
        required=False,
    )

    def __init__(self, *args: Any, topics: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["topic"].choices = [("", "choose a topic"), *((t, t) for t in topics)]  # type: ignore[attr-defined]

    def clean_metadata(self) -> str:
        value: str = self.cleaned_data.get("metadata") or ""
        size = len(value.encode("utf-8"))
        if size > OFFSET_METADATA_MAX_BYTES:
            raise forms.ValidationError(
                f"The metadata is {size} bytes in UTF-8; at most {OFFSET_METADATA_MAX_BYTES} are allowed."
            )
        return value


class ResetForm(forms.Form):
    """``kafka-consumer-groups --reset-offsets``: one scenario, one scope."""

    scenario = forms.ChoiceField(
        label="Move the committed offsets",
        choices=list(SCENARIO_LABELS.items()),
        widget=forms.RadioSelect,
        error_messages={"required": "Choose a scenario: where should the committed offsets move?"},
    )
    to_offset = forms.CharField(label="N", required=False)
    shift_by = forms.CharField(label="N", required=False)
    to_datetime = forms.CharField(
        label="Date and time",
        required=False,
        help_text="yyyy-MM-ddTHH:mm:ss.SSS, optional zone (Z or +01:00); without a zone it is UTC.",
    )
    by_duration = forms.CharField(
        label="Duration",
        required=False,
        help_text="ISO-8601 PnDTnHnMnS, e.g. PT30M, PT2H, P1D, P1DT12H.",
    )
    offsets_file = forms.FileField(label="CSV file", required=False)
    offsets_text = forms.CharField(
        label="or paste CSV",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Lines topic,partition,offset, as 'Download plan as CSV' and --export write them.",
    )
    scope = forms.ChoiceField(label="Which partitions", choices=SCOPES, initial="all", widget=forms.RadioSelect)
    topics = forms.MultipleChoiceField(label="Topics", required=False, widget=forms.CheckboxSelectMultiple)
    partitions = forms.CharField(
        label="Partitions",
        required=False,
        help_text="Space-separated topic:partitions, e.g. orders:0,1 payments:2 (a bare topic means all of it).",
    )
    # Step 2 only: what the operator previewed and confirmed.
    fingerprint = forms.CharField(required=False, widget=forms.HiddenInput)
    targets = forms.CharField(required=False, widget=forms.HiddenInput)
    confirm = forms.CharField(required=False)

    def __init__(self, *args: Any, topics: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["topics"].choices = [(t, t) for t in topics]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind = data.get("scenario")
        if kind:
            data["value"] = self._scenario_value(kind, data)
        scope = data.get("scope")
        if scope == "topics" and not data.get("topics"):
            self.add_error("topics", "Choose at least one topic, or another scope.")
        if scope == "partitions":
            specs = (data.get("partitions") or "").replace(";", " ").split()
            if not specs:
                self.add_error("partitions", "Name at least one partition, as topic:0,1.")
            for spec in specs:
                if not _PARTITION_SPEC.match(spec):
                    self.add_error(
                        "partitions",
                        f"{spec!r} is not topic or topic:partitions (comma-separated numbers, e.g. orders:0,1).",
                    )
            data["partition_specs"] = specs
        return data

    def _scenario_value(self, kind: str, data: dict[str, Any]) -> str | int | None:
        if kind == "to-offset":
            return self._whole(data, "to_offset", "--to-offset N needs a whole number of 0 or more", minimum=0)
        if kind == "shift-by":
            return self._whole(data, "shift_by", "--shift-by N needs a whole number (negative moves back)")
        if kind == "to-datetime":
            text = (data.get("to_datetime") or "").strip()
            if _LOCAL_MINUTES.match(text):  # a browser's datetime-local value has no seconds
                text += ":00"
            return self._parsed(text, "to_datetime", parse_datetime, "Give a date and time, e.g. 2024-01-31T12:00:00")
        if kind == "by-duration":
            text = (data.get("by_duration") or "").strip()
            return self._parsed(text, "by_duration", parse_duration, "Give a duration, e.g. PT30M")
        if kind == "from-file":
            return self._csv(data)
        return None

    def _whole(self, data: dict[str, Any], field: str, rule: str, minimum: int | None = None) -> int | None:
        text = (data.get(field) or "").strip()
        try:
            value = int(text)
        except ValueError:
            self.add_error(field, f"{rule}; got {text!r}." if text else f"{rule}.")
            return None
        if minimum is not None and value < minimum:
            self.add_error(field, f"{rule}; got {value}.")
            return None
        return value

    def _parsed(self, text: str, field: str, parse: Any, missing: str) -> str | None:
        if not text:
            self.add_error(field, missing + ".")
            return None
        try:
            parse(text)
        except KafkaError as e:
            self.add_error(field, str(e))
            return None
        return text

    def _csv(self, data: dict[str, Any]) -> str | None:
        upload = data.get("offsets_file")
        text: str = data.get("offsets_text") or ""
        if upload is not None:
            if upload.size > OFFSETS_FILE_MAX_BYTES:
                self.add_error("offsets_file", f"The file is larger than {OFFSETS_FILE_MAX_BYTES} bytes.")
                return None
            try:
                text = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                self.add_error("offsets_file", "The file is not UTF-8 text; expected CSV lines topic,partition,offset.")
                return None
        if not text.strip():
            self.add_error("offsets_text", "Upload a CSV file or paste lines topic,partition,offset.")
            return None
        try:
            if not parse_offsets_csv(text):
                raise forms.ValidationError("The CSV has no lines; expected topic,partition,offset.")
        except KafkaError as e:
            self.add_error("offsets_text", str(e))
            return None
        except forms.ValidationError as e:
            self.add_error("offsets_text", e)
            return None
        # Carried in the textarea from now on: a file input is empty after the preview.
        data["offsets_text"] = text
        return text


class DeleteOffsetsForm(forms.Form):
    partitions = forms.MultipleChoiceField(
        label="Committed offsets to delete",
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one partition whose committed offset should go."},
    )
    confirm = forms.BooleanField(
        label="I understand the group will start these partitions from auto.offset.reset next time",
        error_messages={"required": "Tick the confirmation: deleted offsets cannot be undone."},
    )

    def __init__(self, *args: Any, choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["partitions"].choices = choices  # type: ignore[attr-defined]


class DeleteGroupForm(forms.Form):
    confirm_group_id = forms.CharField(label="Type the group id to confirm", strip=False, required=False)

    def __init__(self, *args: Any, group_id: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.group_id = group_id

    def clean_confirm_group_id(self) -> str:
        value: str = self.cleaned_data.get("confirm_group_id") or ""
        if value != self.group_id:
            raise forms.ValidationError("The text does not match the group id exactly; nothing was deleted.")
        return value
