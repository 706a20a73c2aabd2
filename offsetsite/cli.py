"""``offsetsite``: the command line (console script and ``python -m offsetsite``).

Subcommands speak the flags and print the formats of Kafka's own scripts, so what
people learn here carries over to a real cluster:

- ``topics``   kafka-topics.sh            (offsetsite.cli_console)
- ``produce``  kafka-console-producer.sh  (offsetsite.cli_console)
- ``consume``  kafka-console-consumer.sh  (offsetsite.cli_console)
- ``groups``   kafka-consumer-groups.sh   (offsetsite.cli_groups)
- ``serve``    the dashboard (daphne, in this process)
- ``demo``     demo users and a small teaching data set (offsetsite.demo)

Plain commands open the data directory themselves and never load Django. A data
directory is held by one process at a time; when the server holds it, the commands
reach the engine through the server's API instead (``offsetsite.remote``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from logcore.admin import RestorePoints
from logcore.cluster import Cluster, EmbeddedCluster
from logcore.errors import DataDirLocked, KafkaError

from . import cli_console, cli_groups

REPO_DIR = Path(__file__).resolve().parent.parent
RESTORE_POINTS_FILE = "restore-points.json"


def default_data_dir() -> Path:
    """The data directory ``offsetsite.settings`` uses, computed without loading Django."""
    env = os.environ
    var = Path(env.get("OFFSETSITE_VAR", REPO_DIR / "var"))
    return Path(env.get("OFFSETSITE_DATA_DIR", env.get("OFFSETSITE_DATA", var / "data")))


@dataclass
class Opened:
    """A cluster for one command, and what the command may need beside it."""

    cluster: Cluster
    # Where executed resets keep the offsets they replaced (None when the server keeps them).
    restore: RestorePoints | None
    # The engine itself when this process holds the data directory (group members need it).
    embedded: EmbeddedCluster | None


def _remote_module() -> ModuleType | None:
    try:
        return importlib.import_module("offsetsite.remote")
    except ModuleNotFoundError as e:
        if e.name not in ("offsetsite.remote", None):
            raise  # remote.py exists but something it imports is missing: a real error
        return None


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
        remote = _remote_module()
        connect = getattr(remote, "connect_from_lock", None) if remote else None
        cluster = connect(data_dir) if connect else None
        if cluster is None:
            raise
        # The server keeps the restore points of resets it applies; a client offering
        # them (offsetsite.remote) lets `groups --reset-offsets --execute` be undone.
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    cli_console.add_topics_parser(sub)
    cli_console.add_produce_parser(sub)
    cli_console.add_consume_parser(sub)
    cli_groups.add_parser(sub)
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
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument(
        "--demo-traffic",
        action="store_true",
        help="keep the demo moving: produce ticket events and run ticket-checker and kitchen members",
    )
    p.set_defaults(handler=_serve)


def _add_demo_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="create demo users and seed a small teaching data set",
        description="Create the users admin/admin, operator/operator and viewer/viewer (demo "
        "passwords!) and seed topics train-seats and orders with consumer groups at different "
        "offsets. Needs `python manage.py migrate` first.",
    )
    p.add_argument("--if-empty", action="store_true", help="seed only when the data directory has no topics yet")
    p.set_defaults(handler=_demo)


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
    _configure_django(data_dir)
    return serve(args.host, args.port, demo_traffic=args.demo_traffic)


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
    host: str, port: int, runner: Callable[[list[str]], None] = _run_daphne, *, demo_traffic: bool = False
) -> int:
    """Open the engine, advertise where it is served, run daphne until stopped."""
    import offsetsite.asgi  # noqa: F401 - sets Django up before the engine's first use
    from offsetsite import engine

    engine.get_cluster()  # takes the data directory's lock now, not at the first request
    url = advertised_url(host, port)
    remote = _remote_module()
    advertise = getattr(remote, "advertise_server", None) if remote else None
    with engine.locked():
        if advertise is not None:
            advertise(url)  # the API helper adds a token for the CLI to present
        else:
            engine.embedded().logs.advertise(url=url)
    print(f"offsetsite: serving {engine.data_dir()} on {url}", file=sys.stderr)
    from . import traffic

    if demo_traffic:
        traffic.start()
    try:
        runner(["-b", host, "-p", str(port), "offsetsite.asgi:application"])
    finally:
        traffic.stop()
        engine.close()
    return 0


def _demo(args: argparse.Namespace, data_dir: Path) -> int:
    _configure_django(data_dir)
    from . import demo

    return demo.run(if_empty=args.if_empty, out=sys.stdout)


def _engine_command(
    handler: Callable[[Opened, argparse.Namespace], int],
) -> Callable[[argparse.Namespace, Path], int]:
    def run(args: argparse.Namespace, data_dir: Path) -> int:
        with open_cluster(data_dir) as opened:
            return handler(opened, args)

    return run


def _groups(opened: Opened, args: argparse.Namespace) -> int:
    return cli_groups.run(opened.cluster, args, sys.stdout, opened.restore)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (0 ok, 1 refused or failed, 2 bad usage)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, or a usage error already printed by argparse
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
    except DataDirLocked as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1
    except KafkaError as e:
        print(f"Error: {e}", file=sys.stderr)
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


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
