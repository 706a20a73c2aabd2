from __future__ import annotations

from django.apps import AppConfig


class LabConfig(AppConfig):
    name = "offsetsite.lab"
    label = "lab"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Every lab page's live parts come from one "lab" renderer that dispatches on
        # the socket's view=... (offsetsite/lab/live.py); each page adds its view there.
        from offsetsite import engine

        from . import live, room

        live.register_all()
        engine.on_open(room.on_engine_open)
