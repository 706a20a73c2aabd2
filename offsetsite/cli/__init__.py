"""``offsetsite``: the command line (console script and ``python -m offsetsite``).

Subcommands speak the flags and print the formats of Kafka's own scripts, so what
people learn here carries over to a real cluster:

- ``topics``   kafka-topics.sh            (offsetsite.cli.console)
- ``produce``  kafka-console-producer.sh  (offsetsite.cli.console)
- ``consume``  kafka-console-consumer.sh  (offsetsite.cli.console)
- ``groups``   kafka-consumer-groups.sh   (offsetsite.cli.groups)
- ``serve``    the dashboard (daphne, in this process)
- ``demo``     demo users and a small teaching data set (offsetsite.demo)

Plain commands open the data directory themselves and never load Django. A data
directory is held by one process at a time; when the server holds it, the commands
reach the engine through the server's API instead (``offsetsite.cli.remote``).

With ``--bootstrap-server HOST:PORT`` (and ``--command-config FILE``, as Kafka's
scripts take them) ``topics``, ``produce``, ``consume`` and ``groups`` work on a real
Kafka cluster instead (``logcore.kafka_cluster``): same flags, same output.
"""

from __future__ import annotations

import argparse
import errno
import hashlib
import importlib
import importlib.metadata
import io
import logging
import os
import re
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO, cast

from logcore.admin import RestorePoints
from logcore.cluster import EmbeddedCluster
from logcore.errors import DataDirLocked, InvalidConfig, KafkaError
from logcore.kafka_config import REDACTED, KafkaClusterConfig, is_secret, load_properties
from logcore.log_manager import lock_holder
from offsetsite import paths

from . import console, groups, workers
from .context import Opened
from .text import Parser, UsageError, printable

REPO_DIR = paths.REPO_DIR
RESTORE_POINTS_FILE = "restore-points.json"
# No call to a Kafka cluster from the command line waits longer than this.
KAFKA_TIMEOUT_S = 10.0
# The commands that take --bootstrap-server and --command-config, with the other names
# Kafka's script gives the config file (the console clients' --producer.config and
# --consumer.config).
KAFKA_COMMANDS = {
    "topics": (),
    "produce": ("--producer.config",),
    "consume": ("--consumer.config",),
    "groups": (),
}


def default_var_dir() -> Path:
    """``OFFSETSITE_VAR`` as ``offsetsite.settings`` reads it, without loading Django."""
    return paths.var_dir()


def default_data_dir() -> Path:
    """The data directory ``offsetsite.settings`` uses, computed without loading Django."""
    env = os.environ
    var = default_var_dir()
    return Path(env.get("OFFSETSITE_DATA_DIR", env.get("OFFSETSITE_DATA", var / "data")))


@contextmanager
def open_cluster(data_dir: Path) -> Iterator[Opened]:
    """Open the data directory, or reach the server that holds it.

    Raises ``DataDirLocked`` (naming the holding process) when another process holds
    the directory and has not advertised an API this process can reach.
    """
    try:
        # Nobody else can join a group of this engine while this process holds the
        # directory, so waiting group.initial.rebalance.delay.ms for more members
        # would only delay ``consume --group`` by 3 s.
        embedded = EmbeddedCluster(data_dir, initial_rebalance_delay_ms=0)
    except DataDirLocked:
        # Imported here: the API client is only needed when a server holds the directory.
        from . import remote

        cluster = remote.connect_from_lock(data_dir)
        if cluster is None:
            raise
        # The server keeps the restore points of resets it applies; the client offers
        # them, so `groups --reset-offsets --execute` can be undone.
        restore_points = getattr(cluster, "restore_points", None)
        restore = restore_points() if callable(restore_points) else None
        try:
            yield Opened(cluster, restore, None)
        finally:
            cluster.close()
        return
    try:
        yield Opened(embedded, RestorePoints(embedded.data_dir / RESTORE_POINTS_FILE), embedded)
    finally:
        embedded.close()


def _slug(bootstrap: str, limit: int) -> str:
    """``bootstrap`` as a name of letters, digits, '.', '_' and '-', at most ``limit`` long.

    The servers are sorted, so one cluster gets one name whichever order they are given in.
    """
    servers = sorted(s.strip() for s in bootstrap.split(",") if s.strip())
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", "_".join(servers)).strip("._-") or "kafka"
    if len(slug) <= limit:
        return slug
    digest = hashlib.sha256(",".join(servers).encode()).hexdigest()[:12]
    return f"{slug[: limit - 13].rstrip('._-')}-{digest}"


def kafka_restore_points_path(bootstrap: str, var_dir: Path | None = None) -> Path:
    """Where `groups --reset-offsets --execute` on this Kafka cluster keeps the replaced offsets.

    One file per cluster in the var directory: ``restore-points-127.0.0.1_9092.json``.
    """
    return (var_dir or default_var_dir()) / f"restore-points-{_slug(bootstrap, 100)}.json"


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for value in secrets:
        text = text.replace(value, REDACTED)
    return text


class _ScrubbedStream(io.TextIOBase):
    """A text stream that writes through to another with every secret value hidden."""

    def __init__(self, target: TextIO, secrets: Sequence[str]) -> None:
        self._target = target
        self._secrets = secrets

    def write(self, text: str) -> int:
        self._target.write(_scrub(text, self._secrets))
        return len(text)

    def flush(self) -> None:
        self._target.flush()


@contextmanager
def _quiet_kafka_logs() -> Iterator[None]:
    """librdkafka's retries and the backend's warnings are not for the terminal: the
    command prints one line when it fails. (Without a handler they would reach
    stderr through logging's last resort, or a handler of an embedding process.)"""
    loggers = [logging.getLogger(name) for name in ("logcore.kafka_cluster", "logcore.kafka_consumer")]
    handler = logging.NullHandler()
    propagate = [logger.propagate for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.propagate = False
    try:
        yield
    finally:
        for logger, before in zip(loggers, propagate, strict=True):
            logger.removeHandler(handler)
            logger.propagate = before


@contextmanager
def open_kafka(bootstrap: str, command_config: Path | None = None, var_dir: Path | None = None) -> Iterator[Opened]:
    """Connect to the Kafka cluster at ``bootstrap`` with the properties in ``command_config``.

    No call waits longer than ``KAFKA_TIMEOUT_S``. Whatever the command writes to stderr
    meanwhile has the values of secret properties hidden.
    """
    properties = load_properties(command_config) if command_config is not None else {}
    secrets = sorted({v for k, v in properties.items() if is_secret(k) and v}, key=len, reverse=True)
    config = KafkaClusterConfig(_slug(bootstrap, 32), bootstrap, properties, timeout_s=KAFKA_TIMEOUT_S)
    stderr = sys.stderr
    sys.stderr = _ScrubbedStream(stderr, secrets)
    try:
        with _quiet_kafka_logs():
            from logcore.kafka_cluster import ConfigRefused, KafkaCluster

            try:
                cluster = KafkaCluster(config)
            except ConfigRefused as e:  # librdkafka refusing a property: name it, never its value
                where = f"command config {command_config}" if command_config is not None else "client settings"
                raise InvalidConfig(f"{where}: {_scrub(e.reason, secrets)}") from None
            restore_path = kafka_restore_points_path(bootstrap, var_dir)
            restore_path.parent.mkdir(parents=True, exist_ok=True)
            try:
                yield Opened(cluster, RestorePoints(restore_path), None, config)
            except KafkaError as e:
                e.args = tuple(_scrub(a, secrets) if isinstance(a, str) else a for a in e.args)
                raise
            finally:
                cluster.close()
    finally:
        sys.stderr = stderr


def _add_kafka_flags(p: argparse.ArgumentParser, aliases: Sequence[str]) -> None:
    """kafka-*.sh's --bootstrap-server and --command-config on one subcommand."""
    kafka = p.add_argument_group("Kafka cluster (instead of the data directory)")
    kafka.add_argument(
        "--bootstrap-server",
        metavar="HOST:PORT[,HOST:PORT...]",
        help="work on this Kafka cluster instead of the data directory",
    )
    kafka.add_argument(
        "--command-config",
        *aliases,
        dest="command_config",
        type=Path,
        metavar="FILE",
        help="properties file of client settings for --bootstrap-server (librdkafka names; "
        "sasl.jaas.config for PLAIN and SCRAM is understood)",
    )


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser = action.choices[name]
            return found
    raise LookupError(name)


def version() -> str:
    """The installed distribution's version (the package's own when not installed)."""
    try:
        return importlib.metadata.version("offsetsite")
    except importlib.metadata.PackageNotFoundError:
        from offsetsite import __version__

        return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="offsetsite",
        description="Kafka-style topics, records and consumer-group offsets in a local data "
        "directory, with the flags and output formats of Kafka's command-line tools.",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="logcore's data directory (default: $OFFSETSITE_DATA_DIR, else var/data in the checkout)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    # The subcommands' parsers are Parser too (argparse makes them of the parent's class);
    # the modules that add them only need ArgumentParser's interface.
    sub = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(dest="command", metavar="COMMAND"),
    )
    sub.required = True
    console.add_topics_parser(sub)
    console.add_produce_parser(sub)
    console.add_consume_parser(sub)
    groups.add_parser(sub)
    for name, aliases in KAFKA_COMMANDS.items():
        _add_kafka_flags(sub.choices[name], aliases)
    _add_serve_parser(sub)
    _add_demo_parser(sub)
    return parser


def _add_serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="serve the dashboard (daphne) on this data directory",
        description="Open the engine (taking the data directory's lock), advertise the URL so "
        "other offsetsite commands reach the engine through this server, then serve "
        "offsetsite.asgi:application with daphne.",
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=8000, help="TCP port, 1 to 65535 (default 8000)")
    p.add_argument(
        "--seed-demo",
        action="store_true",
        help="before serving, create the demo users and seed the demo data when the data directory "
        "has no topics yet (what `offsetsite demo --if-empty` does)",
    )
    p.add_argument(
        "--demo-traffic",
        action="store_true",
        help="keep the demo moving: produce ticket events and run ticket-checker and kitchen members",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="serve in N daphne processes on the one port (SO_REUSEPORT); N > 1 needs OFFSETSITE_REDIS "
        "(see the README, Several processes)",
    )
    p.add_argument("--worker-fds", help=argparse.SUPPRESS)  # set by --workers for each worker it starts
    listener = p.add_mutually_exclusive_group()
    listener.add_argument(
        "--kafka-listener",
        metavar="HOST:PORT",
        help="also serve Kafka clients (bootstrap.servers=HOST:PORT) from the engine; default: 127.0.0.1:9092 "
        "when that port is free (setting OFFSETSITE_KAFKA_LISTENER; no authentication without "
        "--kafka-sasl-users: see docs/kafka-listener.md)",
    )
    listener.add_argument("--no-kafka-listener", action="store_true", help="do not serve Kafka clients")
    p.add_argument(
        "--kafka-sasl-users",
        metavar="FILE",
        help="Kafka clients must log in with SASL/PLAIN as one of the NAME:PASSWORD lines of FILE "
        "(security.protocol=SASL_PLAINTEXT; setting OFFSETSITE_KAFKA_SASL_USERS; see docs/kafka-listener.md)",
    )
    kafka = p.add_argument_group(
        "a Kafka cluster",
        "Show a Kafka cluster beside the embedded engine, under /clusters/NAME/ (more clusters: a TOML "
        "file in $OFFSETSITE_CLUSTERS, see docs/kafka.md).",
    )
    kafka.add_argument("--bootstrap-server", metavar="HOST:PORT[,HOST:PORT]", help="the cluster's brokers")
    kafka.add_argument(
        "--command-config",
        metavar="FILE",
        help="librdkafka properties for it (security.protocol, sasl.*, ssl.*), as Kafka's tools take",
    )
    kafka.add_argument("--cluster-name", default="kafka", help="its name in URLs and the switcher (default kafka)")
    p.set_defaults(handler=_serve)


def _add_demo_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="create demo users and seed a small teaching data set",
        description="Create the users admin/admin, operator/operator and viewer/viewer (demo "
        "passwords!) and seed topics train-seats and orders with consumer groups at different "
        "offsets. Prepares the database (migrations) first.",
    )
    p.add_argument("--if-empty", action="store_true", help="seed only when the data directory has no topics yet")
    p.set_defaults(handler=_demo)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port: use a number from 1 to 65535")
    return port


def _bind_error(host: str, port: int) -> OSError | None:
    """What binding ``host:port`` for a moment raises now, or None when it binds.

    SO_REUSEADDR as Twisted sets it on POSIX: a port whose old connections linger in
    TIME_WAIT is free for daphne, a port another program listens on is not.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(address)
    except OSError as e:  # socket.gaierror included
        return e
    return None


def port_problem(host: str, port: int) -> str | None:
    """Why a server could not listen on ``host:port`` now, or None when it could.

    Asked before anything is seeded or announced: daphne finds out only after the
    engine opened and the URL was advertised, then fails with "Address already in use".
    """
    e = _bind_error(host, port)
    if e is None:
        return None
    if isinstance(e, socket.gaierror):
        return (
            f"cannot listen on host {host!r} ({e.strerror}); use an address of this machine "
            "(--host 127.0.0.1 for this machine only, 0.0.0.0 for every interface)"
        )
    if e.errno == errno.EADDRINUSE:
        other = next((p for p in range(port + 1, min(port + 50, 65535) + 1) if _bind_error(host, p) is None), None)
        example = other or (8001 if port != 8001 else 8002)  # only a suggestion: it may be taken later
        return (
            f"port {port} on {host} is already in use by another program, so offsetsite cannot serve there. "
            f"Choose another port: PORT={example} ./dev demo, or offsetsite serve --port {example}"
        )
    if e.errno == errno.EACCES:
        return f"port {port} needs administrator rights on this machine; choose a port from 1024 to 65535"
    if e.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine; use --host 127.0.0.1 or 0.0.0.0"
    return f"cannot listen on {host}:{port}: {e.strerror or e}"


def running_server_problem(data_dir: Path) -> str | None:
    """Why no server can open ``data_dir`` now (another process holds it), or None.

    The holder's flock is the truth: a lock file left by a process that died is free
    (the kernel released it), so no stale pid or URL stops a new server.
    """
    holder = lock_holder(data_dir)
    if holder is None:
        return None
    pid, url = holder.get("pid"), holder.get("url")
    who = f"pid {pid}" if isinstance(pid, int) else "another process"
    if isinstance(url, str):
        return (
            f"offsetsite is already running at {url} ({who}) on the data directory {data_dir}.\n"
            f"Open {url} in a browser, or stop that server first (Ctrl-C in its terminal, or kill {pid}). "
            "A second server needs a data directory of its own: OFFSETSITE_DATA=/another/dir PORT=8001 ./dev demo, "
            "or offsetsite --data-dir DIR serve --port 8001"
        )
    return (
        f"the data directory {data_dir} is in use by {who} (an offsetsite command, or a server still "
        "starting); wait for it to finish or stop it, or choose another data directory (--data-dir DIR)"
    )


def prepare_database() -> None:
    """Run Django's migrations when some are missing (a fresh install, a new version).

    Up to date, this only loads the migration graph: a fraction of a second.
    """
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        print("offsetsite: preparing the database (applying migrations)", file=sys.stderr)
        call_command("migrate", interactive=False, verbosity=0)


def _configure_django(data_dir: Path) -> None:
    """Load Django with the data directory this command was given."""
    os.environ["OFFSETSITE_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "offsetsite.settings")
    import django
    from django.conf import settings

    django.setup()
    current = Path(str(settings.OFFSETSITE["DATA_DIR"]))
    if current.resolve() != data_dir.resolve():
        # Settings were loaded before (an embedding process, a test run): point the
        # engine at the directory asked for, closing one opened elsewhere.
        from offsetsite import engine

        engine.close()
        settings.OFFSETSITE = {**settings.OFFSETSITE, "DATA_DIR": data_dir}


def _serve(args: argparse.Namespace, data_dir: Path) -> int:
    if args.command_config and not args.bootstrap_server:
        print("Error: --command-config needs --bootstrap-server", file=sys.stderr)
        return 2
    if args.bootstrap_server:
        # Read by offsetsite.clusters when Django starts; the properties file is read
        # there too, so no secret passes through the environment.
        os.environ["OFFSETSITE_KAFKA_BOOTSTRAP"] = args.bootstrap_server
        os.environ["OFFSETSITE_KAFKA_NAME"] = args.cluster_name
        if args.command_config:
            os.environ["OFFSETSITE_KAFKA_COMMAND_CONFIG"] = str(Path(args.command_config).resolve())
    if args.no_kafka_listener:
        os.environ["OFFSETSITE_KAFKA_LISTENER"] = "off"
    elif args.kafka_listener:
        from offsetsite.kafka_listener import spec_problem

        if (listener_problem := spec_problem(args.kafka_listener)) is not None:
            print(f"Error: {listener_problem}", file=sys.stderr)
            return 2
        os.environ["OFFSETSITE_KAFKA_LISTENER"] = args.kafka_listener
    if args.kafka_sasl_users:
        from offsetsite.kafka_listener import sasl_problem

        users_file = str(Path(args.kafka_sasl_users).resolve())
        if (sasl_error := sasl_problem(users_file)) is not None:
            print(f"Error: {sasl_error}", file=sys.stderr)
            return 2
        os.environ["OFFSETSITE_KAFKA_SASL_USERS"] = users_file
    if args.worker_fds:  # one worker of `serve --workers N`: its parent checked and migrated
        _configure_django(data_dir)
        return serve(
            args.host,
            args.port,
            demo_traffic=args.demo_traffic,
            seed_demo=args.seed_demo,
            listen=workers.worker_endpoints(args.worker_fds),
            url=workers.private_url(args.worker_fds),
        )
    if args.workers != 1:
        return workers.run(args, data_dir)
    # Both checks come before Django, the database, seeding or any announcement, so a
    # refused start changes nothing and leaves no lock or URL behind.
    problem = running_server_problem(data_dir) or port_problem(args.host, args.port)
    if problem is not None:
        print(problem if problem.startswith("offsetsite is") else f"Error: {problem}", file=sys.stderr)
        return 1
    _configure_django(data_dir)
    from offsetsite import clusters

    clusters.configs()  # a bad cluster configuration stops the server now, with its message
    prepare_database()
    return serve(args.host, args.port, demo_traffic=args.demo_traffic, seed_demo=args.seed_demo)


def _run_daphne(argv: list[str]) -> None:
    from daphne.cli import CommandLineInterface

    CommandLineInterface().run(argv)


def advertised_url(host: str, port: int) -> str:
    """Where the other commands of this machine reach a server listening on ``host``."""
    # A wildcard address is where to listen, not where to connect: use loopback.
    if host in ("", "0.0.0.0"):  # noqa: S104 - compared, not bound
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(
    host: str,
    port: int,
    runner: Callable[[list[str]], None] = _run_daphne,
    *,
    demo_traffic: bool = False,
    seed_demo: bool = False,
    listen: Sequence[str] | None = None,
    url: str | None = None,
) -> int:
    """Open the engine, advertise where it is served, run daphne until stopped.

    One worker of ``serve --workers N`` passes ``listen`` (daphne endpoints) and ``url``
    (its loopback address); only worker 0 opens and advertises the engine.
    """
    import offsetsite.asgi  # noqa: F401 - sets Django up before the engine's first use
    from offsetsite import engine

    owner = engine.is_owner()
    if seed_demo and owner:
        from offsetsite import demo

        # Seeds an empty data directory only, then lets go of the engine; opened again below.
        if (status := demo.run(if_empty=True, out=sys.stdout)) != 0:
            return status
    engine.get_cluster()  # takes the data directory's lock now, not at the first request
    from offsetsite import clusters

    # Kafka clusters open now too, so their watchers and lag history run from the start,
    # not from the first page someone opens (opening sends nothing; the watcher connects).
    for name in clusters.configs():
        clusters.kafka_cluster(name)
    url = url or advertised_url(host, port)
    from . import remote

    if owner:
        with engine.locked():
            remote.advertise_server(url)  # with a token for command-line processes to present
    from django.conf import settings

    if int(str(settings.OFFSETSITE.get("WORKERS", 1))) > 1:
        from offsetsite.live import relay
        from offsetsite.live.bridge import BRIDGE

        relay.start(BRIDGE, owner=owner)  # live notices to and from the other workers
    print(f"offsetsite: serving {engine.data_dir()} on {url}", file=sys.stderr)
    if seed_demo:
        from offsetsite.demo import DEMO_USERS

        logins = ", ".join(f"{user}/{password}" for user, password, _ in DEMO_USERS)
        # A worker's own url is its loopback port; people open the shared one.
        print(f"offsetsite: dashboard on {advertised_url(host, port)}  (demo logins: {logins})", file=sys.stderr)
    from offsetsite import kafka_listener, traffic

    if owner:
        try:
            kafka_listener.start()
        except OSError as e:
            where = kafka_listener.configured()
            print(f"Error: the Kafka listener cannot listen on {where}: {e.strerror or e}", file=sys.stderr)
            engine.close()
            return 1
        except kafka_listener.UsersFileError as e:
            print(f"Error: the Kafka listener's SASL users: {e}", file=sys.stderr)
            engine.close()
            return 1
    if demo_traffic and owner:
        traffic.start()
    try:
        runner([*(listen or ["-b", host, "-p", str(port)]), "offsetsite.asgi:application"])
    finally:
        if int(str(settings.OFFSETSITE.get("WORKERS", 1))) > 1:
            from offsetsite.live import relay

            relay.stop()
        traffic.stop()
        kafka_listener.stop()
        clusters.close_all()
        engine.close()
    return 0


def _demo(args: argparse.Namespace, data_dir: Path) -> int:
    _configure_django(data_dir)
    prepare_database()
    from offsetsite import demo

    return demo.run(if_empty=args.if_empty, out=sys.stdout)


def _engine_command(
    handler: Callable[[Opened, argparse.Namespace], int],
) -> Callable[[argparse.Namespace, Path], int]:
    def run(args: argparse.Namespace, data_dir: Path) -> int:
        bootstrap = getattr(args, "bootstrap_server", None)
        opening = open_kafka(bootstrap, args.command_config) if bootstrap is not None else open_cluster(data_dir)
        with opening as opened:
            return handler(opened, args)

    return run


def _groups(opened: Opened, args: argparse.Namespace) -> int:
    return groups.run(opened.cluster, args, sys.stdout, opened.restore)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (0 ok, 1 refused or failed, 2 bad usage)."""
    parser = build_parser()
    try:
        args, extras = parser.parse_known_args(argv)
        if extras:
            # The subcommand's parser reports them: its usage, its flags as suggestions.
            _subparser(parser, args.command).error(f"unrecognized arguments: {' '.join(extras)}")
    except SystemExit as e:  # --help, --version, or a usage error already printed by argparse
        return e.code if isinstance(e.code, int) else 2
    usage = _kafka_usage_error(args)
    if usage is not None:
        try:
            _subparser(parser, args.command).error(usage)
        except SystemExit as e:
            return e.code if isinstance(e.code, int) else 2
    data_dir: Path = args.data_dir or default_data_dir()
    handler: Callable[[argparse.Namespace, Path], int]
    if args.command == "groups":
        handler = _engine_command(_groups)
    elif (engine_handler := getattr(args, "engine_handler", None)) is not None:
        handler = _engine_command(engine_handler)
    else:
        handler = args.handler
    try:
        return handler(args, data_dir)
    except UsageError as e:
        print(f"Error: {printable(e)}", file=sys.stderr)
        return 2
    except DataDirLocked as e:
        print(f"Error: {printable(e)}", file=sys.stderr)
        return 1
    except KafkaError as e:
        print(f"Error: {printable(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `offsetsite consume ... | head`: the reader left; not an error worth a trace.
        _silence_stdout()
        return 0
    except OSError as e:  # e.g. a data directory this user may not write
        where = f" ({e.filename})" if e.filename else ""
        print(f"Error: {e.strerror or e}{where}; check --data-dir {data_dir}", file=sys.stderr)
        return 1


def _kafka_usage_error(args: argparse.Namespace) -> str | None:
    """What is wrong with the combination of --bootstrap-server, --command-config, --data-dir.

    Only for the commands that work on one or the other (``serve`` shows a Kafka cluster
    beside its data directory and checks its own flags).
    """
    if args.command not in KAFKA_COMMANDS:
        return None
    bootstrap = getattr(args, "bootstrap_server", None)
    if getattr(args, "command_config", None) is not None and bootstrap is None:
        return (
            "--command-config holds client settings for a Kafka cluster: it needs "
            "--bootstrap-server HOST:PORT (without it the command works on the data directory)"
        )
    if bootstrap is not None and not bootstrap.strip():
        return "--bootstrap-server needs HOST:PORT[,HOST:PORT...]"
    if bootstrap is not None and args.data_dir is not None:
        return "--data-dir and --bootstrap-server exclude each other: choose the data directory or the Kafka cluster"
    return None


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
