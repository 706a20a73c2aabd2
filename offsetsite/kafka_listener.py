"""``offsetsite serve`` also speaks Kafka's protocol: logcore.kafka_server in this process.

The setting is ``OFFSETSITE["KAFKA_LISTENER"]`` (env ``OFFSETSITE_KAFKA_LISTENER``,
flags ``--kafka-listener HOST:PORT`` / ``--no-kafka-listener``):

* ``auto`` (the default): 127.0.0.1:9092 when that port is free, otherwise off with a
  message. Loopback only, because the listener has no authentication (Kafka's
  PLAINTEXT listener): only programs of this machine reach it unless asked for;
  9092 because that is what every Kafka client's quickstart uses; and only when free,
  so a real broker or a second offsetsite on this machine is never disturbed.
* ``HOST:PORT``: listen there; a port that cannot be bound stops ``serve`` before it
  starts (the operator asked for it);
* ``off`` (or empty): no listener.

Only the process that holds the engine (one server, or worker 0 of ``--workers N``)
listens: every call goes to that engine under the engine lock.
"""

from __future__ import annotations

import logging
import socket
import sys

from django.conf import settings

from logcore.kafka_server import DEFAULT_PORT, KafkaListener, parse_listener

_log = logging.getLogger(__name__)
AUTO = "auto"
DEFAULT_HOST = "127.0.0.1"
_listener: KafkaListener | None = None


def configured() -> str:
    """The setting as given: ``auto``, ``off`` or ``HOST:PORT``."""
    value = str(settings.OFFSETSITE.get("KAFKA_LISTENER", AUTO) or "off").strip()
    return value or "off"


def spec_problem(value: str) -> str | None:
    """What is wrong with a ``--kafka-listener`` value (None when it is usable)."""
    if value.lower() in (AUTO, "off"):
        return None
    try:
        parse_listener(value)
    except ValueError as e:
        return f"--kafka-listener: {e}"
    return None


def _port_free(host: str, port: int) -> bool:
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError:
        return False
    return True


def start() -> KafkaListener | None:
    """Start the listener the setting asks for; raises OSError when an explicit one cannot bind."""
    global _listener
    from offsetsite import engine

    value = configured()
    if value.lower() == "off" or _listener is not None:
        return _listener
    explicit = value.lower() != AUTO
    host, port = parse_listener(value) if explicit else (DEFAULT_HOST, DEFAULT_PORT)
    if not explicit and not _port_free(host, port):
        print(
            f"offsetsite: port {port} on {host} is in use, so the Kafka listener is off "
            "(--kafka-listener HOST:PORT picks another)",
            file=sys.stderr,
        )
        return None
    with engine.locked():
        cluster = engine.embedded()
    listener = KafkaListener(cluster, engine.locked(), host, port)
    listener.start()
    _listener = listener
    where = f"{listener.broker.host}:{listener.port}"
    print(f"offsetsite: Kafka listener on {host}:{listener.port} (bootstrap.servers={where})", file=sys.stderr)
    return listener


def current() -> KafkaListener | None:
    return _listener


def stop() -> None:
    global _listener
    if _listener is not None:
        _listener.stop()
        _listener = None
