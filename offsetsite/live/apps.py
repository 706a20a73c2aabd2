from __future__ import annotations

from typing import TYPE_CHECKING

from django.apps import AppConfig

if TYPE_CHECKING:
    from logcore import Cluster, EmbeddedCluster

_hooked = False


def on_engine_open(cluster: EmbeddedCluster) -> None:
    """``engine.on_open`` hook: bridge the new engine's events and start the lag sampler.

    Here rather than in bridge.py: the sampler reads the bridge, so the bridge must not
    know the sampler (no import circle).
    """
    from . import sampler
    from .bridge import BRIDGE

    BRIDGE.attach(cluster)
    sampler.start_for(cluster)


def on_kafka_open(name: str, cluster: Cluster) -> None:
    """``clusters.on_open`` hook: the Kafka cluster's watcher events feed its own bridge."""
    from . import sampler
    from .bridge import bridge_for

    bridge_for(name).attach(cluster)
    sampler.start_for(cluster, name)


class LiveConfig(AppConfig):
    name = "offsetsite.live"
    label = "live"
    verbose_name = "offsetsite live updates and lag history"

    def ready(self) -> None:
        global _hooked
        if _hooked:
            return
        _hooked = True
        from offsetsite import clusters, engine

        # Each time the engine opens, its events feed the live pages and the sampler starts.
        engine.on_open(on_engine_open)
        clusters.on_open(on_kafka_open)
