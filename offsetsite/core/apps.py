from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from django.apps import AppConfig

# SQLite's own files beside the database (WAL mode): they hold the same rows.
SQLITE_SIDE_FILES = ("", "-wal", "-shm", "-journal")


def make_private(db: Path) -> None:
    """0600 for the SQLite database and its side files: it holds session keys and token
    hashes, like ``var/secret_key``. Missing files are skipped."""
    for suffix in SQLITE_SIDE_FILES:
        with contextlib.suppress(FileNotFoundError):
            Path(f"{db}{suffix}").chmod(0o600)


def _sqlite_path() -> Path | None:
    from django.conf import settings

    db = settings.DATABASES.get("default", {})
    name = db.get("NAME")
    if "sqlite3" not in str(db.get("ENGINE", "")) or not name or str(name).startswith(":memory:"):
        return None
    if str(name).startswith("file:"):
        return None
    return Path(str(name))


def _on_connection(sender: Any, connection: Any, **kwargs: Any) -> None:
    # SQLite creates the file on the first connection (migrate's, or any command's):
    # make it private at once, and again on every start.
    if connection.vendor == "sqlite" and connection.alias == "default" and (path := _sqlite_path()) is not None:
        make_private(path)


class CoreConfig(AppConfig):
    name = "offsetsite.core"
    label = "core"
    verbose_name = "offsetsite core: roles and audit"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        connection_created.connect(_on_connection, dispatch_uid="offsetsite-private-sqlite")
        if (path := _sqlite_path()) is not None:
            make_private(path)
