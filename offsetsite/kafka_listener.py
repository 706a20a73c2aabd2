"""``offsetsite serve`` also speaks Kafka's protocol: logcore.kafka_server in this process.

The setting is ``OFFSETSITE["KAFKA_LISTENER"]`` (env ``OFFSETSITE_KAFKA_LISTENER``,
flags ``--kafka-listener HOST:PORT`` / ``--no-kafka-listener``):

* ``auto`` (the default): 127.0.0.1:9092 when that port is free, otherwise off with a
  message. Loopback only, because without SASL the listener has no authentication
  (Kafka's PLAINTEXT listener): only programs of this machine reach it unless asked for;
  9092 because that is what every Kafka client's quickstart uses; and only when free,
  so a real broker or a second offsetsite on this machine is never disturbed.
* ``HOST:PORT``: listen there; a port that cannot be bound stops ``serve`` before it
  starts (the operator asked for it);
* ``off`` (or empty): no listener.

``OFFSETSITE["KAFKA_SASL_USERS"]`` (env ``OFFSETSITE_KAFKA_SASL_USERS``, flag
``--kafka-sasl-users FILE``): a file of ``NAME:PASSWORD`` lines; when set, clients must
log in with SASL/PLAIN (Kafka's SASL_PLAINTEXT, logcore/kafka_server/sasl.py). The file
is read when the listener starts; its passwords are never printed or logged.

Only the process that holds the engine (one server, or worker 0 of ``--workers N``)
listens: every call goes to that engine under the engine lock.
"""

from __future__ import annotations

import logging
import socket
import sys

from django.conf import settings

from logcore.kafka_server import DEFAULT_PORT, KafkaListener, parse_listener
from logcore.kafka_server.sasl import PlainUsers, UsersFileError, load_users

__all__ = ["UsersFileError", "configured", "current", "sasl_problem", "sasl_users", "spec_problem", "start", "stop"]

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


def sasl_users() -> PlainUsers | None:
    """The users of the setting's file (None: no SASL); UsersFileError says what is wrong."""
    path = str(settings.OFFSETSITE.get("KAFKA_SASL_USERS", "") or "").strip()
    return PlainUsers(load_users(path)) if path else None


def sasl_problem(path: str) -> str | None:
    """What is wrong with a ``--kafka-sasl-users`` file (None when it is usable)."""
    try:
        load_users(path)
    except UsersFileError as e:
        return f"--kafka-sasl-users: {e}"
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
    users = sasl_users()  # before the engine: a bad file stops serve with nothing started
    with engine.locked():
        cluster = engine.embedded()
    listener = KafkaListener(cluster, engine.locked(), host, port, sasl_users=users)
    listener.start()
    _listener = listener
    where = f"{listener.broker.host}:{listener.port}"
    auth = (
        f", SASL/PLAIN for {len(users)} user{'s' if len(users) != 1 else ''}: security.protocol=SASL_PLAINTEXT"
        if users is not None
        else ""
    )
    print(f"offsetsite: Kafka listener on {host}:{listener.port} (bootstrap.servers={where}{auth})", file=sys.stderr)
    return listener


def current() -> KafkaListener | None:
    return _listener


def stop() -> None:
    global _listener
    if _listener is not None:
        _listener.stop()
        _listener = None
