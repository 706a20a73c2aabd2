"""The admin role's pages, mounted at /site/ (users, API tokens, runtime settings)."""

from __future__ import annotations

from typing import Any

from django.urls import path

from . import views_admin as v

urlpatterns: list[Any] = [
    path("users/", v.users, name="site_users"),
    path("users/new/", v.user_create, name="site_user_create"),
    path("users/<int:user_id>/", v.user_detail, name="site_user"),
    path("users/<int:user_id>/role/", v.user_role, name="site_user_role"),
    path("users/<int:user_id>/active/", v.user_active, name="site_user_active"),
    path("users/<int:user_id>/password/", v.user_password, name="site_user_password"),
    path("users/<int:user_id>/tokens/", v.token_create, name="site_token_create"),
    path("users/<int:user_id>/tokens/<int:token_id>/revoke/", v.token_revoke, name="site_token_revoke"),
    path("settings/", v.settings_page, name="site_settings"),
]
