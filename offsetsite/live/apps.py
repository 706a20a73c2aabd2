from django.apps import AppConfig

_hooked = False


class LiveConfig(AppConfig):
    name = "offsetsite.live"
    label = "live"
    verbose_name = "offsetsite live updates and lag history"

    def ready(self) -> None:
        global _hooked
        if _hooked:
            return
        _hooked = True
        from offsetsite import engine

        from .bridge import on_engine_open

        # Each time the engine opens, its events feed the live pages and the sampler starts.
        engine.on_open(on_engine_open)

        from offsetsite import clusters

        from .bridge import on_kafka_open

        clusters.on_open(on_kafka_open)
