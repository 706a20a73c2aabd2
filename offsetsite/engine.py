"""The one logcore engine this server process holds.

Django serves sync views from a thread pool and Channels consumers from the event
loop, while logcore's objects expect one caller at a time. Every call into the
cluster therefore goes through one re-entrant lock: the engine's work per call is
microseconds to milliseconds, so serialising is cheaper than fine-grained locking
and impossible to get wrong.

Several processes (``serve --workers N``): logcore lets one process hold a data
directory, so worker 0 opens the engine. The other workers hand every HTTP request about
it to worker 0 (offsetsite.core.forward) and ask it for their live pages' parts
(offsetsite.live.owner); what they still call here gets worker 0's JSON API
(:class:`offsetsite.cli.remote.RemoteCluster`, found through the directory's lock file
as the command line finds it), and what needs the engine object itself raises
:class:`EngineElsewhere`.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any, cast

from django.conf import settings

from logcore import Cluster, EmbeddedCluster
from logcore.admin import RestorePoints

_lock = threading.RLock()
_cluster: EmbeddedCluster | None = None
_proxy: Cluster | None = None
_restore: RestorePoints | None = None
_on_open: list[Callable[[EmbeddedCluster], None]] = []
_other_locks: dict[str, threading.RLock] = {}
_other_restore: dict[str, RestorePoints] = {}
_remote: Cluster | None = None


class EngineElsewhere(RuntimeError):
    """This worker does not hold the engine (worker 0 does); the request must go there."""


def is_owner() -> bool:
    """Whether this process opens the embedded engine itself (one server, or worker 0)."""
    return int(str(settings.OFFSETSITE.get("WORKER", 0))) == 0


def on_open(callback: Callable[[EmbeddedCluster], None]) -> None:
    """Run ``callback(cluster)`` each time the engine opens (the live bridge subscribes here)."""
    _on_open.append(callback)


class _LockedCluster:
    """Forwards to the cluster, holding the engine lock around each call."""

    def __init__(self, target: EmbeddedCluster) -> None:
        self._target = target

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value):
            return value

        @functools.wraps(value)
        def locked(*args: Any, **kwargs: Any) -> Any:
            with _lock:
                return value(*args, **kwargs)

        return locked


# The cluster a request or a command works on. The embedded engine is "local"; a
# request under /clusters/<name>/ sets another (offsetsite.clusters).
DEFAULT_CLUSTER = "local"
_current_name: ContextVar[str] = ContextVar("offsetsite_cluster", default=DEFAULT_CLUSTER)


def current_cluster_name() -> str:
    """The name of the cluster this request, socket or command works on."""
    return _current_name.get()


@contextlib.contextmanager
def using(name: str) -> Iterator[None]:
    """Work on cluster ``name`` inside the block (the middleware sets it per request)."""
    token = _current_name.set(name)
    try:
        yield
    finally:
        _current_name.reset(token)


def is_embedded() -> bool:
    """Whether the current cluster is the embedded engine (forms that join groups need it)."""
    return current_cluster_name() == DEFAULT_CLUSTER


def data_dir() -> Path:
    return Path(str(settings.OFFSETSITE["DATA_DIR"]))


def get_cluster(name: str | None = None) -> Cluster:
    """The current cluster (or ``name``), opened on first use.

    The embedded engine's calls are serialised by the engine lock; a Kafka cluster's
    client is thread-safe and is returned as it is.
    """
    name = name or _current_name.get()
    if name != DEFAULT_CLUSTER:
        from . import clusters

        return clusters.kafka_cluster(name)
    return _embedded_proxy()


def _remote_engine() -> Cluster:
    """The engine of worker 0, over its API (a worker that does not own the data directory)."""
    global _remote
    if _remote is None:
        with _lock:
            if _remote is None:
                from offsetsite.cli.remote import connect_from_lock

                found = connect_from_lock(data_dir())
                if found is None:
                    raise EngineElsewhere(
                        f"worker {settings.OFFSETSITE.get('WORKER')} found no server holding {data_dir()}: "
                        "worker 0 opens the engine and advertises its address in the directory's lock file"
                    )
                _remote = found
    return _remote


def _embedded_proxy() -> Cluster:
    global _cluster, _proxy
    if not is_owner():
        return _remote_engine()
    if _proxy is None:
        with _lock:
            if _proxy is None:
                path = data_dir()
                path.mkdir(parents=True, exist_ok=True)
                options: dict[str, Any] = {}
                delay = settings.OFFSETSITE.get("INITIAL_REBALANCE_DELAY_MS")
                if delay is not None:
                    options["initial_rebalance_delay_ms"] = int(str(delay))
                # Tests give the engine a logcore.ManualClock so lab scenarios never sleep.
                clock = settings.OFFSETSITE.get("CLOCK")
                if clock is not None:
                    options["clock"] = clock
                cluster = EmbeddedCluster(path, **options)
                if settings.OFFSETSITE.get("MAINTENANCE", True):
                    # Group timers (session timeouts, offset expiry) and retention run
                    # under the engine lock, like every other call.
                    cluster.start_maintenance(1.0, lock=_lock)
                for callback in _on_open:
                    callback(cluster)
                _cluster = cluster
                _proxy = cast(Cluster, _LockedCluster(cluster))
    return _proxy


def embedded() -> EmbeddedCluster:
    """The engine object itself, for in-process clients (Consumer, Producer).

    Callers hold :func:`locked` while they use it. Only for the embedded engine's own
    requests: under /clusters/<name>/ it refuses rather than act on the wrong cluster.
    """
    if not is_embedded():
        from logcore.errors import UnsupportedVersion

        raise UnsupportedVersion(
            f"this action needs the embedded engine; cluster {current_cluster_name()} is a Kafka cluster"
        )
    if not is_owner():
        raise EngineElsewhere("this needs the embedded engine's own process (worker 0)")
    _embedded_proxy()
    assert _cluster is not None
    return _cluster


def locked() -> threading.RLock:
    """The lock that makes a sequence of calls on the current cluster atomic for this process."""
    name = _current_name.get()
    if name == DEFAULT_CLUSTER:
        return _lock
    with _lock:
        return _other_locks.setdefault(name, threading.RLock())


def restore_points() -> RestorePoints:
    """Where executed resets of the current cluster keep the offsets they replaced."""
    global _restore
    name = _current_name.get()
    if name != DEFAULT_CLUSTER:
        with _lock:
            points = _other_restore.get(name)
            if points is None:
                # In offsetsite's own var directory: the Kafka cluster has no place for
                # them, and the embedded engine's data directory holds only its topics.
                points = RestorePoints(Path(str(settings.VAR_DIR)) / "clusters" / name / "restore-points.json")
                _other_restore[name] = points
            return points
    if not is_owner():
        # Worker 0 keeps them, so an undo works whichever worker served the reset.
        from offsetsite.cli.remote import RemoteCluster

        remote = _remote_engine()
        assert isinstance(remote, RemoteCluster)
        return remote.restore_points()
    if _restore is None:
        _restore = RestorePoints(data_dir() / "restore-points.json")
    return _restore


def opened() -> EmbeddedCluster | None:
    """The embedded engine if it is open now; never opens it (background threads ask this)."""
    return _cluster


def close() -> None:
    """Close the engine (tests and shutdown); the next call opens it again."""
    global _cluster, _proxy, _restore, _remote
    with _lock:
        cluster = _cluster
        _remote = None
        _cluster = None
        _proxy = None
        _restore = None
    if cluster is None:
        return
    # The housekeeping thread takes the engine lock for each round: stop it before
    # taking the lock to close, or closing would wait on it.
    cluster.stop_maintenance()
    with _lock:
        cluster.close()
