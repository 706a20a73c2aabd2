"""The multi-process settings against the real services: PostgreSQL for Django's tables,
Redis for the channel layer. On a laptop without them these skip with the reason; under
CI=true a missing service fails the run instead of hiding."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from local_services import need, psql

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def test_migrations_and_audit_on_postgresql(tmp_path: Path) -> None:
    need(5432, "PostgreSQL")
    name = f"offsetsite_it_{uuid.uuid4().hex[:10]}"
    psql(f"CREATE DATABASE {name}")
    try:
        env = {
            **os.environ,
            "OFFSETSITE_DB": f"postgres://postgres@127.0.0.1:5432/{name}",
            "OFFSETSITE_VAR": str(tmp_path),
            "DJANGO_SETTINGS_MODULE": "offsetsite.settings",
        }

        def manage(*args: str) -> str:
            done = subprocess.run(
                [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True
            )
            assert done.returncode == 0, done.stderr
            return done.stdout

        manage("migrate", "--noinput", "-v", "0")
        out = manage(
            "shell",
            "--no-imports",
            "-c",
            "from django.db import connection\n"
            "from django.contrib.auth.models import Group\n"
            "from offsetsite.core import audit\n"
            "from offsetsite.core.models import AuditEntry\n"
            "audit.log(audit.Actor(None, audit.Source.CLI), audit.Action.OFFSETS_RESET, cluster='local',\n"
            "          group_id='g<1>', offsets=[{'topic': 't', 'partition': 0, 'before': 5, 'after': 0}])\n"
            "e = AuditEntry.objects.get()\n"
            "print(connection.vendor, sorted(g.name for g in Group.objects.all()), e.group_id, e.offsets[0]['after'])",
        )
        assert out.split() == ["postgresql", "['admin',", "'operator',", "'viewer']", "g<1>", "0"]
    finally:
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_live_notices_cross_processes_through_redis() -> None:
    """A notice sent by another process reaches this one's group through channels-redis."""
    need(6379, "Redis")
    from channels_redis.core import RedisChannelLayer

    prefix = f"offsetsite-it-{uuid.uuid4().hex[:8]}"
    group = "live.overview"

    async def scenario() -> dict[str, object]:
        layer = RedisChannelLayer(hosts=["redis://127.0.0.1:6379"], prefix=prefix)
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        sender = (
            "import asyncio\n"
            "from channels_redis.core import RedisChannelLayer\n"
            f"layer = RedisChannelLayer(hosts=['redis://127.0.0.1:6379'], prefix={prefix!r})\n"
            f"asyncio.run(layer.group_send({group!r}, {{'type': 'live.changed', 'version': 7}}))\n"
        )
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", sender)
        assert await proc.wait() == 0
        message = await asyncio.wait_for(layer.receive(channel), timeout=10)
        await layer.flush()
        return message

    # A thread of its own: asyncio.run must not meet another test's running loop.
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, scenario()).result() == {"type": "live.changed", "version": 7}
