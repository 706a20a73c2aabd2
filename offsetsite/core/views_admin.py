"""The admin role's pages: users (roles, activity, passwords, API tokens) and site settings.

Server-rendered forms in the site's style instead of django.contrib.admin: a handful
of actions, each POST with CSRF, each writing one audit entry. A refused change
(bad input, or one that would leave the site without an active admin) changes
nothing and says why.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.models import Group, User
from django.db import connection, transaction
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

import offsetsite
from offsetsite.api.models import ApiToken
from offsetsite.engine import current_cluster_name

from . import audit, site_settings
from .audit import Action, Actor
from .forms_admin import (
    ActiveForm,
    PasswordForm,
    RoleForm,
    SiteSettingsForm,
    TokenCreateForm,
    UserCreateForm,
)
from .models import SiteSettings
from .roles import ROLES, Role, require_role, role_of


class Refused(Exception):
    """A change that is allowed in form but not in effect (it would lock the site out)."""


# --- roles and the last admin ---------------------------------------------------------


def _active_admins() -> QuerySet[User]:
    return User.objects.filter(is_active=True).filter(Q(is_superuser=True) | Q(groups__name="admin")).distinct()


def _guard_last_admin(
    request: HttpRequest, target: User, *, new_role: Role | None = None, new_active: bool | None = None
) -> None:
    """Refuse a change that would leave no active admin. Call inside a transaction.

    Locks the admins' rows first so that two admins demoting each other at the same
    moment cannot both pass the count (on SQLite the IMMEDIATE transaction already
    serialises writers).
    """
    ids = list(_active_admins().values_list("pk", flat=True))
    list(User.objects.select_for_update().filter(pk__in=ids).values_list("pk", flat=True))
    admins = set(_active_admins().values_list("pk", flat=True))  # again, now that they are locked
    if target.pk not in admins:
        return
    stays_admin = (new_role in (None, "admin")) and new_active is not False
    if stays_admin or len(admins) > 1:
        return
    who = "you are" if target.pk == request.user.pk else f"{target.get_username()} is"
    what = "demoted" if new_role not in (None, "admin") else "deactivated"
    raise Refused(
        f"Refused: {who} the last active admin and cannot be {what}: the site would have "
        "no one left to manage users and settings. "
        "Make another user an admin first. Nothing was changed."
    )


def _set_role(user: User, role: Role) -> None:
    """The user's role groups become exactly ``role`` (other groups are left alone)."""
    user.groups.remove(*Group.objects.filter(name__in=ROLES))
    user.groups.add(Group.objects.get_or_create(name=role)[0])


# --- users ------------------------------------------------------------------------------


def _user_rows() -> list[dict[str, Any]]:
    users = (
        User.objects.order_by("username")
        .prefetch_related("groups")
        .annotate(token_count=Count("api_tokens", distinct=True))
    )
    return [{"user": u, "role": role_of(u), "tokens": u.token_count} for u in users]


def _users_page(request: HttpRequest, form: UserCreateForm, status: int = 200) -> HttpResponse:
    return render(
        request,
        "core/admin_users.html",
        {"rows": _user_rows(), "form": form, "admin_count": _active_admins().count()},
        status=status,
    )


@require_GET
@require_role("admin")
def users(request: HttpRequest) -> HttpResponse:
    return _users_page(request, UserCreateForm())


@require_POST
@require_role("admin")
def user_create(request: HttpRequest) -> HttpResponse:
    form = UserCreateForm(request.POST)
    if not form.is_valid():
        return _users_page(request, form, status=400)
    role: Role = form.cleaned_data["role"]
    with transaction.atomic():
        user = form.save()
        _set_role(user, role)
        audit.log(
            Actor.web(request),
            Action.USER_CREATE,
            cluster=current_cluster_name(),
            summary=f"created user {user.get_username()} with role {role}",
            details={
                "target": user.get_username(),
                "role": role,
            },
        )
    messages.success(request, f"Created {user.get_username()} ({role}).")
    return redirect("site_user", user_id=user.pk)


def _tokens(user: User) -> list[dict[str, Any]]:
    now = timezone.now()
    return [
        {"token": t, "expired": t.expires is not None and t.expires <= now}
        for t in ApiToken.objects.filter(user=user).order_by("-created", "-id")
    ]


def _user_page(request: HttpRequest, target: User, status: int = 200, refusal: str = "", **forms: Any) -> HttpResponse:
    ctx = {
        "target": target,
        "target_role": role_of(target),
        "tokens": _tokens(target),
        "role_form": forms.get("role_form") or RoleForm(initial={"role": role_of(target) or "viewer"}),
        "password_form": forms.get("password_form") or PasswordForm(target),
        "token_form": forms.get("token_form") or TokenCreateForm(),
        "active_problem": forms.get("active_problem", ""),
        "refusal": refusal,
        "is_self": target.pk == request.user.pk,
    }
    return render(request, "core/admin_user.html", ctx, status=status)


@require_GET
@require_role("admin")
def user_detail(request: HttpRequest, user_id: int) -> HttpResponse:
    return _user_page(request, get_object_or_404(User, pk=user_id))


@require_POST
@require_role("admin")
def user_role(request: HttpRequest, user_id: int) -> HttpResponse:
    target = get_object_or_404(User, pk=user_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        return _user_page(request, target, status=400, role_form=form)
    role: Role = form.cleaned_data["role"]
    before = role_of(target)
    if target.is_superuser and role != "admin":
        return _user_page(
            request,
            target,
            status=409,
            refusal=(
                f"Refused: {target.get_username()} is a superuser (made with createsuperuser), and a "
                "superuser is always an admin whatever their groups say. Nothing was changed."
            ),
        )
    if before == role:
        messages.info(request, f"{target.get_username()} already has the {role} role; nothing changed.")
        return redirect("site_user", user_id=target.pk)
    try:
        with transaction.atomic():
            _guard_last_admin(request, target, new_role=role)
            _set_role(target, role)
            audit.log(
                Actor.web(request),
                Action.USER_ROLE,
                cluster=current_cluster_name(),
                summary=f"{target.get_username()}: role {before or 'none'} → {role}",
                details={
                    "target": target.get_username(),
                    "before": before,
                    "after": role,
                },
            )
    except Refused as e:
        return _user_page(request, target, status=409, refusal=str(e))
    messages.success(request, f"{target.get_username()} is now {role}.")
    return redirect("site_user", user_id=target.pk)


@require_POST
@require_role("admin")
def user_active(request: HttpRequest, user_id: int) -> HttpResponse:
    target = get_object_or_404(User, pk=user_id)
    form = ActiveForm(request.POST)
    if not form.is_valid():
        problem = " ".join(str(e) for e in form.errors.get("active", []))
        return _user_page(request, target, status=400, active_problem=problem)
    active: bool = form.cleaned_data["active"]
    if target.is_active == active:
        messages.info(
            request, f"{target.get_username()} is already {'active' if active else 'inactive'}; nothing changed."
        )
        return redirect("site_user", user_id=target.pk)
    try:
        with transaction.atomic():
            if not active:
                _guard_last_admin(request, target, new_active=False)
            User.objects.filter(pk=target.pk).update(is_active=active)
            target.is_active = active
            audit.log(
                Actor.web(request),
                Action.USER_REACTIVATE if active else Action.USER_DEACTIVATE,
                cluster=current_cluster_name(),
                summary=f"{'reactivated' if active else 'deactivated'} user {target.get_username()}",
                details={
                    "target": target.get_username(),
                },
            )
    except Refused as e:
        return _user_page(request, target, status=409, refusal=str(e))
    messages.success(
        request,
        f"{target.get_username()} is now {'active' if active else 'inactive'}"
        f"{'' if active else ': they cannot log in, and their API tokens stop working'}.",
    )
    return redirect("site_user", user_id=target.pk)


@require_POST
@require_role("admin")
def user_password(request: HttpRequest, user_id: int) -> HttpResponse:
    target = get_object_or_404(User, pk=user_id)
    form = PasswordForm(target, request.POST)
    if not form.is_valid():
        return _user_page(request, target, status=400, password_form=form)
    with transaction.atomic():
        form.save()
        audit.log(
            Actor.web(request),
            Action.USER_PASSWORD,
            cluster=current_cluster_name(),
            summary=f"set a new password for {target.get_username()}",
            details={
                "target": target.get_username(),
            },
        )
    if target.pk == request.user.pk:
        update_session_auth_hash(request, target)  # changing your own password keeps you logged in
    messages.success(request, f"New password set for {target.get_username()}; their other sessions are logged out.")
    return redirect("site_user", user_id=target.pk)


# --- API tokens -------------------------------------------------------------------------


@require_POST
@require_role("admin")
def token_create(request: HttpRequest, user_id: int) -> HttpResponse:
    target = get_object_or_404(User, pk=user_id)
    form = TokenCreateForm(request.POST)
    if not form.is_valid():
        return _user_page(request, target, status=400, token_form=form)
    days = form.cleaned_data.get("expires_days")
    expires = timezone.now() + timedelta(days=days) if days else None
    name = form.cleaned_data.get("name") or ""
    with transaction.atomic():
        token, raw = ApiToken.issue(target, name=name, expires=expires)
        audit.log(
            Actor.web(request),
            Action.TOKEN_CREATE,
            cluster=current_cluster_name(),
            summary=f"API token {token.prefix}… ({name or 'unnamed'}) for {target.get_username()}",
            details={
                "target": target.get_username(),
                "prefix": token.prefix,
                "name": name,
                "expires": expires.isoformat() if expires else None,
            },
        )
    response = render(
        request,
        "core/admin_token_created.html",
        {"target": target, "token": token, "raw": raw, "target_role": role_of(target)},
    )
    # The one time the token is shown: keep it out of caches and the back-forward history.
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@require_role("admin")
def token_revoke(request: HttpRequest, user_id: int, token_id: int) -> HttpResponse:
    target = get_object_or_404(User, pk=user_id)
    token = get_object_or_404(ApiToken, pk=token_id, user=target)
    with transaction.atomic():
        token.delete()  # a revoked token is gone: its hash can never match again
        audit.log(
            Actor.web(request),
            Action.TOKEN_REVOKE,
            cluster=current_cluster_name(),
            summary=f"revoked API token {token.prefix}… ({token.name or 'unnamed'}) of {target.get_username()}",
            details={
                "target": target.get_username(),
                "prefix": token.prefix,
                "name": token.name,
            },
        )
    messages.success(request, f"Revoked token {token.prefix}…; requests with it now get 401.")
    return redirect("site_user", user_id=target.pk)


# --- site settings ----------------------------------------------------------------------


def effective_configuration() -> list[tuple[str, str]]:
    """What this process runs with, read-only: for the admin to check a deployment."""
    db = settings.DATABASES["default"]
    engine = str(db.get("ENGINE", ""))
    if connection.vendor == "sqlite":
        database = f"SQLite, {db.get('NAME')}"
    else:
        where = f"{db.get('HOST') or 'local socket'}{':' + str(db.get('PORT')) if db.get('PORT') else ''}"
        database = f"{connection.vendor} ({engine}), database {db.get('NAME')} at {where}"
    layer = (
        "channels-redis relay between the workers"
        if "relay" in settings.CHANNEL_LAYERS
        else "none: one process, its pages woken in process"
    )
    cap_records, cap_rate = site_settings.hard_caps()
    return [
        ("Version", f"offsetsite {offsetsite.__version__}"),
        ("Data directory", str(settings.OFFSETSITE.get("DATA_DIR"))),
        ("Database", database),
        ("Live notices", layer),
        ("Workshop mode (environment default)", "on" if site_settings.env_workshop() else "off"),
        ("Reads need login (environment default)", "on" if site_settings.env_read_login() else "off"),
        ("Burst caps (environment)", f"{cap_records} records, {cap_rate} records/s"),
        ("Debug", "on" if settings.DEBUG else "off"),
    ]


def _describe(name: str, value: Any) -> str:
    if value is None:
        return "default"
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


@require_http_methods(["GET", "POST"])
@require_role("admin")
def settings_page(request: HttpRequest) -> HttpResponse:
    row = SiteSettings.load()
    if request.method == "POST":
        form = SiteSettingsForm(request.POST)
        if form.is_valid():
            changed = form.apply(row)
            if not changed:
                messages.info(request, "Nothing changed.")
                return redirect("site_settings")
            with transaction.atomic():
                row.updated_by = request.user.get_username()
                row.save()
                summary = "; ".join(f"{k}: {_describe(k, a)} → {_describe(k, b)}" for k, (a, b) in changed.items())
                audit.log(
                    Actor.web(request),
                    Action.SETTINGS_CHANGE,
                    cluster=current_cluster_name(),
                    summary=summary,
                    details={
                        "changes": {k: {"before": a, "after": b} for k, (a, b) in changed.items()},
                    },
                )
            site_settings.invalidate()
            messages.success(request, f"Settings saved: {summary}.")
            return redirect("site_settings")
        status = 400
    else:
        form = SiteSettingsForm(initial=SiteSettingsForm.initial_from(row))
        status = 200
    records, rate = site_settings.burst_limits()
    effective = [
        (
            "Workshop mode",
            "on" if site_settings.workshop_mode() else "off",
            "set here" if row.workshop is not None else "environment default",
        ),
        (
            "Reads need login",
            "on" if site_settings.read_login_required() else "off",
            "set here" if row.read_login is not None else "environment default",
        ),
        ("Burst: max records", str(records), "set here" if row.burst_max_records is not None else "environment cap"),
        ("Burst: max records/s", str(rate), "set here" if row.burst_max_rate is not None else "environment cap"),
    ]
    return render(
        request,
        "core/admin_settings.html",
        {
            "form": form,
            "row": row,
            "saved": row.updated is not None,
            "effective": effective,
            "configuration": effective_configuration(),
            "cache_ttl": site_settings.CACHE_TTL_S,
        },
        status=status,
    )
