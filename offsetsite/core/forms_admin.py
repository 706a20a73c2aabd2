"""Forms of the admin pages: users, roles, passwords, API tokens, runtime settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import SetPasswordForm, UserCreationForm, UsernameField
from django.contrib.auth.models import User

from . import site_settings
from .roles import ROLES

ROLE_CHOICES = [
    ("viewer", "viewer: reads pages, the audit log and the API"),
    ("operator", "operator: also produces, consumes, commits, resets and deletes"),
    ("admin", "admin: also manages users, tokens and site settings"),
]
assert [c[0] for c in ROLE_CHOICES] == list(ROLES)

MAX_TOKEN_DAYS = 3650


def password_help() -> str:
    """The site's password rules as plain text (Django's own help is an HTML list)."""
    return " ".join(password_validation.password_validators_help_texts()) or "Any password."


# A runtime choice that may also be "as the environment says".
TRI_STATE = [("", "default"), ("on", "on"), ("off", "off")]

# The stubs make these forms generic in the user model; Django's classes are not
# subscriptable at run time.
if TYPE_CHECKING:
    _UserCreationForm = UserCreationForm[User]
    _SetPasswordForm = SetPasswordForm[User]
else:
    _UserCreationForm = UserCreationForm
    _SetPasswordForm = SetPasswordForm


class UserCreateForm(_UserCreationForm):
    """Username and password (Django's validators, twice typed) plus the role."""

    role = forms.ChoiceField(choices=ROLE_CHOICES, initial="viewer", widget=forms.RadioSelect)

    class Meta:
        model = User
        fields = ("username",)
        field_classes = {"username": UsernameField}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["password1"].help_text = password_help()


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=ROLE_CHOICES, widget=forms.RadioSelect)


class ActiveForm(forms.Form):
    active = forms.TypedChoiceField(
        choices=[("1", "reactivate"), ("0", "deactivate")],
        coerce=lambda v: v == "1",
        error_messages={"invalid_choice": "active must be 1 (reactivate) or 0 (deactivate)."},
    )


class PasswordForm(_SetPasswordForm):
    """A new password for a user, checked by the site's password validators."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["new_password1"].help_text = password_help()


class TokenCreateForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        required=False,
        help_text="What the token is for, e.g. 'nightly export'. Shown in lists and the audit log.",
    )
    expires_days = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_TOKEN_DAYS,
        label="Expires after (days)",
        help_text=f"1 to {MAX_TOKEN_DAYS}; empty: never expires.",
    )


def _tri(value: bool | None) -> str:
    return "" if value is None else ("on" if value else "off")


def _untri(value: str) -> bool | None:
    return None if value == "" else value == "on"


class SiteSettingsForm(forms.Form):
    """The runtime settings; each may be left to the environment's default."""

    workshop = forms.ChoiceField(choices=TRI_STATE, required=False, label="Workshop mode")
    read_login = forms.ChoiceField(choices=TRI_STATE, required=False, label="Reads need login")
    burst_max_records = forms.IntegerField(required=False, min_value=1, label="Burst: max records")
    burst_max_rate = forms.IntegerField(required=False, min_value=1, label="Burst: max records per second")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cap_records, cap_rate = site_settings.hard_caps()
        self.caps = {"burst_max_records": cap_records, "burst_max_rate": cap_rate}
        env = {"workshop": site_settings.env_workshop(), "read_login": site_settings.env_read_login()}
        for name, on in env.items():
            field = self.fields[name]
            assert isinstance(field, forms.ChoiceField)
            field.choices = [
                ("", f"default from the environment ({'on' if on else 'off'})"),
                ("on", "on"),
                ("off", "off"),
            ]
        for name, cap in self.caps.items():
            field = self.fields[name]
            assert isinstance(field, forms.IntegerField)
            field.widget.attrs.update({"max": cap, "placeholder": str(cap)})
            field.help_text = f"1 to {cap} (the environment's cap); empty: the cap."

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name, cap in self.caps.items():
            value = data.get(name)
            # Checked here: the caps are known only per request (tests and deployments vary them).
            if value is not None and value > cap:
                self.add_error(name, f"at most {cap}: the environment caps it (OFFSETSITE_{name.upper()}).")
        return data

    @classmethod
    def initial_from(cls, row: Any) -> dict[str, Any]:
        return {
            "workshop": _tri(row.workshop),
            "read_login": _tri(row.read_login),
            "burst_max_records": row.burst_max_records,
            "burst_max_rate": row.burst_max_rate,
        }

    def apply(self, row: Any) -> dict[str, tuple[Any, Any]]:
        """Copy the cleaned values onto ``row``; return {field: (before, after)} of what changed."""
        new = {
            "workshop": _untri(self.cleaned_data.get("workshop") or ""),
            "read_login": _untri(self.cleaned_data.get("read_login") or ""),
            "burst_max_records": self.cleaned_data.get("burst_max_records"),
            "burst_max_rate": self.cleaned_data.get("burst_max_rate"),
        }
        changed: dict[str, tuple[Any, Any]] = {}
        for name, value in new.items():
            before = getattr(row, name)
            if before != value:
                changed[name] = (before, value)
                setattr(row, name, value)
        return changed
