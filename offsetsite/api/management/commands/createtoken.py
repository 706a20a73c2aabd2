"""``python manage.py createtoken <username> [--name N] [--days D]``: print a new API token once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from offsetsite.api.models import ApiToken
from offsetsite.core.roles import role_of


class Command(BaseCommand):
    help = "Create an API token for a user and print it (it is stored hashed and cannot be shown again)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="a label to tell tokens apart")
        parser.add_argument("--days", type=int, default=None, help="expire after this many days (default: never)")

    def handle(self, *args: Any, **options: Any) -> None:
        username = options["username"]
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(
                f"no user named {username!r}; create one with 'python manage.py createsuperuser' or in the admin"
            )
        days = options["days"]
        if days is not None and days < 1:
            raise CommandError("--days must be at least 1")
        expires = timezone.now() + timedelta(days=days) if days else None
        _, raw = ApiToken.issue(user, options["name"], expires)
        role = role_of(user)
        if role is None:
            self.stderr.write(
                f"warning: {username} has no role; the token will be refused until they get one "
                "(viewer, operator or admin)"
            )
        else:
            self.stderr.write(f"token for {username} (role {role}); store it now, it is not shown again:")
        self.stdout.write(raw)
