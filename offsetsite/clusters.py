"""The clusters this server shows: the embedded engine ("local") and configured Kafka clusters.

As kafka-ui and AKHQ list clusters, one offsetsite serves several at once. The
embedded engine is always there and is the default (its pages keep their plain URLs);
each Kafka cluster's pages live under ``/clusters/<name>/`` (see
:class:`ClusterMiddleware`), and every page, API call, websocket and /metrics scrape
under that prefix works on that cluster.

Kafka clusters come from two places, both read once at start:

- ``OFFSETSITE_CLUSTERS``: a TOML file, one table per cluster::

      [clusters.prod]
      bootstrap_servers = "broker-1:9092,broker-2:9092"
      command_config = "/etc/offsetsite/prod.properties"  # librdkafka properties, secrets here
      sample_interval_s = 5

- ``offsetsite serve --bootstrap-server HOST:PORT [--command-config FILE] [--cluster-name NAME]``,
  which sets ``OFFSETSITE_KAFKA_BOOTSTRAP`` / ``OFFSETSITE_KAFKA_COMMAND_CONFIG`` /
  ``OFFSETSITE_KAFKA_NAME`` for one more.

A cluster's properties are read from its file when the server starts and never leave
this module except as :func:`logcore.kafka_config.redacted` output.
"""

from __future__ import annotations

import os
import re
import threading
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound
from django.urls import get_script_prefix, set_script_prefix

from logcore.cluster import Cluster
from logcore.errors import (
    AuthenticationFailed,
    AuthorizationFailed,
    ClusterUnreachable,
    InvalidConfig,
    UnsupportedVersion,
)
from logcore.kafka_config import KafkaClusterConfig, load_properties, validate_cluster_name

from . import engine

# Errors that say the cluster cannot serve a page at all (not that the request was wrong).
UNAVAILABLE = (ClusterUnreachable, AuthenticationFailed, AuthorizationFailed, UnsupportedVersion)

PREFIX = re.compile(r"^/clusters/(?P<name>[^/]+)(?P<rest>/.*)?$")


@dataclass(frozen=True)
class ClusterEntry:
    """What the header's switcher and the overview show of a cluster (no secret)."""

    name: str
    backend: str  # "embedded" or "kafka"
    bootstrap_servers: str = ""


def _from_env() -> list[KafkaClusterConfig]:
    out: list[KafkaClusterConfig] = []
    path = os.environ.get("OFFSETSITE_CLUSTERS")
    if path:
        out.extend(load_clusters_file(Path(path)))
    bootstrap = os.environ.get("OFFSETSITE_KAFKA_BOOTSTRAP")
    if bootstrap:
        command_config = os.environ.get("OFFSETSITE_KAFKA_COMMAND_CONFIG")
        out.append(
            KafkaClusterConfig(
                name=os.environ.get("OFFSETSITE_KAFKA_NAME", "kafka"),
                bootstrap_servers=bootstrap,
                properties=load_properties(command_config) if command_config else {},
                sample_interval_s=float(os.environ.get("OFFSETSITE_KAFKA_SAMPLE_INTERVAL_S", "5")),
            )
        )
    names = [c.name for c in out]
    for name in names:
        if name == engine.DEFAULT_CLUSTER:
            raise InvalidConfig(f"cluster name {name!r} is the embedded engine's: choose another")
        if names.count(name) > 1:
            raise InvalidConfig(f"cluster {name!r} is configured twice")
    return out


def load_clusters_file(path: Path) -> list[KafkaClusterConfig]:
    """The clusters of an ``OFFSETSITE_CLUSTERS`` TOML file; errors name the file and the key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidConfig(f"OFFSETSITE_CLUSTERS: {path} does not exist") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise InvalidConfig(f"OFFSETSITE_CLUSTERS: {path} cannot be read: {e}") from None
    tables = data.get("clusters")
    if not isinstance(tables, dict):
        raise InvalidConfig(f"OFFSETSITE_CLUSTERS: {path} has no [clusters.NAME] table")
    out = []
    for name, table in tables.items():
        if not isinstance(table, dict) or not isinstance(table.get("bootstrap_servers"), str):
            raise InvalidConfig(f'{path}: [clusters.{name}] needs bootstrap_servers = "HOST:PORT[,...]"')
        unknown = set(table) - {"bootstrap_servers", "command_config", "sample_interval_s", "timeout_s"}
        if unknown:
            raise InvalidConfig(
                f"{path}: [clusters.{name}] has unknown keys {sorted(unknown)}; allowed: bootstrap_servers, "
                "command_config, sample_interval_s, timeout_s (client properties go in the command_config file)"
            )
        command_config = table.get("command_config")
        if command_config is not None:
            command_config = (path.parent / str(command_config)).resolve()
        out.append(
            KafkaClusterConfig(
                name=validate_cluster_name(str(name)),
                bootstrap_servers=table["bootstrap_servers"],
                properties=load_properties(command_config) if command_config else {},
                sample_interval_s=float(table.get("sample_interval_s", 5)),
                timeout_s=float(table.get("timeout_s", 10)),
            )
        )
    return out


_lock = threading.Lock()
_configs: dict[str, KafkaClusterConfig] | None = None
_open: dict[str, Cluster] = {}
_on_open: list[Callable[[str, Cluster], None]] = []
_watchers: dict[str, Any] = {}


def on_open(callback: Callable[[str, Cluster], None]) -> None:
    """Run ``callback(name, cluster)`` when a Kafka cluster's backend opens (live bridge, sampler)."""
    _on_open.append(callback)


def configs() -> dict[str, KafkaClusterConfig]:
    global _configs
    if _configs is None:
        with _lock:
            if _configs is None:
                _configs = {c.name: c for c in _from_env()}
    return _configs


def configure(clusters: list[KafkaClusterConfig]) -> None:
    """Replace the configured Kafka clusters (tests, and ``serve``); closes any open backend."""
    global _configs
    close_all()
    with _lock:
        _configs = {c.name: c for c in clusters}


def entries() -> list[ClusterEntry]:
    return [ClusterEntry(engine.DEFAULT_CLUSTER, "embedded")] + [
        ClusterEntry(c.name, "kafka", c.bootstrap_servers) for c in configs().values()
    ]


def exists(name: str) -> bool:
    return name == engine.DEFAULT_CLUSTER or name in configs()


def kafka_cluster(name: str) -> Cluster:
    """The open backend of Kafka cluster ``name`` (opened on first use)."""
    cluster = _open.get(name)
    if cluster is not None:
        return cluster
    config = configs().get(name)
    if config is None:
        raise InvalidConfig(f"no cluster named {name!r}: configured are {', '.join(e.name for e in entries())}")
    with _lock:
        cluster = _open.get(name)
        if cluster is None:
            from logcore.kafka_cluster import KafkaCluster

            cluster = KafkaCluster(config)
            _open[name] = cluster
            with engine.using(name):
                for callback in _on_open:
                    callback(name, cluster)
            if settings.OFFSETSITE.get("KAFKA_WATCH", True):
                from logcore.kafka_watch import KafkaWatcher

                watcher = KafkaWatcher(cluster, config.sample_interval_s)
                _watchers[name] = watcher
                watcher.start()
    return cluster


def open_clusters() -> dict[str, Cluster]:
    return dict(_open)


def close_all() -> None:
    with _lock:
        opened = list(_open.values())
        watchers = list(_watchers.values())
        _open.clear()
        _watchers.clear()
    for watcher in watchers:
        watcher.stop()
    for watcher in watchers:
        watcher.join(timeout=15)
    for cluster in opened:
        cluster.close()


@dataclass(frozen=True)
class ClusterStatus:
    """How a Kafka cluster is doing, for the banner and the header (no secret)."""

    name: str
    reachable: bool
    unreachable_since_ms: int | None
    last_ok_ms: int | None
    error: str
    source: str  # "consumer_offsets" (commits as they happen) or "sampling"
    interval_s: float

    @property
    def source_text(self) -> str:
        if self.source == "consumer_offsets":
            return "commits read from __consumer_offsets as they happen"
        return f"commits and high watermarks sampled every {self.interval_s:g} s"


def stale_since_ms(name: str) -> int | None:
    """When the oldest answer this request showed from the cache was read (None: all fresh)."""
    cluster = _open.get(name)
    var = getattr(cluster, "stale_since_ms", None)
    return var.get() if var is not None else None


def status(name: str) -> ClusterStatus | None:
    """The status of Kafka cluster ``name`` if it is open (None for the embedded engine)."""
    cluster = _open.get(name)
    if cluster is None:
        return None
    r = cluster.reachability  # type: ignore[attr-defined]
    watcher = _watchers.get(name)
    config = configs()[name]
    return ClusterStatus(
        name,
        r.reachable,
        r.since_ms,
        r.last_ok_ms,
        r.last_error,
        watcher.source if watcher is not None else "sampling",
        config.sample_interval_s,
    )


def url_prefix(name: str) -> str:
    """The path every page of cluster ``name`` starts with (no trailing slash)."""
    return "" if name == engine.DEFAULT_CLUSTER else f"/clusters/{name}"


class ClusterMiddleware:
    """Serve ``/clusters/<name>/...`` as the page ``/...`` of cluster ``name``.

    The prefix becomes Django's script prefix for the request, so every ``{% url %}``
    and ``reverse()`` of the page stays on the same cluster without any view knowing.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        match = PREFIX.match(request.path_info)
        name = engine.DEFAULT_CLUSTER
        outer_prefix = get_script_prefix()
        if match is not None:
            name = match.group("name")
            if name == engine.DEFAULT_CLUSTER or not exists(name):
                return HttpResponseNotFound(
                    f"No cluster named {name!r}. Clusters: {', '.join(e.name for e in entries())}.",
                    content_type="text/plain; charset=utf-8",
                )
            request.path_info = match.group("rest") or "/"
            set_script_prefix(outer_prefix.rstrip("/") + url_prefix(name) + "/")
        request.cluster_name = name  # type: ignore[attr-defined]
        # Pages may show a Kafka cluster's last good answers while it is unreachable,
        # under a banner saying how old they are; the API and /metrics must not.
        path = request.path_info
        page = not (path.startswith("/api/") or path.startswith("/metrics"))
        from logcore.kafka_cluster import serve_stale

        stale_token = serve_stale.set(page and request.method in ("GET", "HEAD"))
        with engine.using(name):
            try:
                return self.get_response(request)
            finally:
                serve_stale.reset(stale_token)
                set_script_prefix(outer_prefix)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """A page of a cluster that cannot answer: a 503 page that says why, not a 500."""
        from django.shortcuts import render

        if not isinstance(exception, UNAVAILABLE) or request.path_info.startswith("/api/"):
            return None
        name = getattr(request, "cluster_name", engine.DEFAULT_CLUSTER)
        return render(
            request,
            "cluster_unavailable.html",
            {"error": str(exception), "error_code": exception.code, "unavailable_cluster": name},
            status=503 if isinstance(exception, ClusterUnreachable) else 502,
        )


class ClusterWebsocketMiddleware:
    """The websocket side of :class:`ClusterMiddleware`: strip the prefix, set the cluster."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        match = PREFIX.match(scope.get("path", ""))
        name = engine.DEFAULT_CLUSTER
        if match is not None:
            name = match.group("name")
            if name == engine.DEFAULT_CLUSTER or not exists(name):
                await receive()  # websocket.connect: then refuse it
                await send({"type": "websocket.close", "code": 4404})
                return None
            scope = {**scope, "path": match.group("rest") or "/"}
        scope = {**scope, "cluster": name}
        with engine.using(name):
            return await self.app(scope, receive, send)
