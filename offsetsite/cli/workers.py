"""``offsetsite serve --workers N``: N daphne processes on one port.

One port, no proxy: the parent binds N listening sockets to HOST:PORT with
SO_REUSEPORT, and the kernel spreads new connections over them (Linux hashes each
connection to one socket, see socket(7)); each worker is a daphne process that adopts
its socket (daphne's ``fd:fileno=N`` endpoint). Each worker also gets a loopback
socket of its own on a free port: worker 0's is the address it advertises in the
data directory's lock file, where the other workers (and the command line) reach the
engine's API; tests and benchmarks use them to talk to one worker on purpose.

Worker 0 opens the embedded engine (logcore's lock: one process per data directory),
runs the lag sampler and the demo traffic. Workers 1..N-1 read the engine through
worker 0's API and forward state changes to it (offsetsite.core.forward); live
notices reach their pages through Redis (offsetsite.live.relay), which is why N > 1
needs OFFSETSITE_REDIS. The parent runs the migrations once, then waits; Ctrl-C or
SIGTERM stops every worker, and one worker exiting stops the rest.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

MAX_WORKERS = 64
START_TIMEOUT_S = 120.0


def redis_problem(workers: int) -> str | None:
    if workers > 1 and not os.environ.get("OFFSETSITE_REDIS"):
        return (
            f"--workers {workers} needs Redis for live updates between the processes: set "
            "OFFSETSITE_REDIS=redis://HOST:PORT (for example OFFSETSITE_REDIS=redis://127.0.0.1:6379 "
            f"./dev serve --workers {workers}); PostgreSQL (OFFSETSITE_DB=postgres://USER@HOST:PORT/NAME) "
            "is advised too, as SQLite serialises the workers' writes. One process needs neither: --workers 1"
        )
    return None


def _public_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def _private_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    # SIGTERM, not SIGINT: a process started in the background by a non-interactive shell
    # (CI, nohup, `cmd &`) inherits SIGINT ignored, and a worker that ignored it outlived
    # the server as an orphan holding its ports. daphne stops cleanly on SIGTERM.
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def run(args: argparse.Namespace, data_dir: Path) -> int:
    """The parent: check, migrate, bind, start worker 0, then the others; wait."""
    from . import _configure_django, port_problem, prepare_database, running_server_problem
    from .remote import connect_from_lock

    n = int(args.workers)
    if not 1 <= n <= MAX_WORKERS:
        print(f"Error: --workers {n}: use a number from 1 to {MAX_WORKERS}", file=sys.stderr)
        return 2
    problem = redis_problem(n)
    if problem is None and ":" in args.host:
        problem = f"--workers {n} listens on IPv4 only: use --host 0.0.0.0 or an IPv4 address, not {args.host}"
    problem = problem or running_server_problem(data_dir) or port_problem(args.host, args.port)
    if problem is not None:
        print(problem if problem.startswith("offsetsite is") else f"Error: {problem}", file=sys.stderr)
        return 1
    _configure_django(data_dir)
    from offsetsite import clusters

    clusters.configs()  # a bad cluster configuration stops the server now, with its message
    prepare_database()  # once, here: N workers migrating at once would race
    from django.db import connections

    connections.close_all()
    public = [_public_socket(args.host, args.port) for _ in range(n)]
    private = [_private_socket() for _ in range(n)]
    procs: list[subprocess.Popen[bytes]] = []
    # From before the first worker starts: a SIGTERM while they start stops them too (it
    # used to end the parent alone and leave its workers running).
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        for i in range(n):
            env = {
                **os.environ,
                "OFFSETSITE_DATA_DIR": str(data_dir),
                "OFFSETSITE_WORKER": str(i),
                "OFFSETSITE_WORKERS": str(n),
            }
            if i > 0:
                env["OFFSETSITE_SAMPLER"] = "0"  # one writer of lag history: worker 0
            argv = [sys.executable, "-m", "offsetsite", "--data-dir", str(data_dir), "serve"]
            argv += ["--host", args.host, "--port", str(args.port), "--workers", str(n)]
            argv += ["--worker-fds", f"{public[i].fileno()},{private[i].fileno()}"]
            if i == 0:
                argv += ["--seed-demo"] if args.seed_demo else []
                argv += ["--demo-traffic"] if args.demo_traffic else []
            fds = (public[i].fileno(), private[i].fileno())
            procs.append(subprocess.Popen(argv, env=env, pass_fds=fds))  # noqa: S603 - our own interpreter
            where = f"http://127.0.0.1:{private[i].getsockname()[1]}"
            print(f"offsetsite: worker {i} (process {procs[-1].pid}) also on {where}", file=sys.stderr)
            if i == 0:
                # The others reach the engine through worker 0: wait until it advertises.
                deadline = time.monotonic() + START_TIMEOUT_S
                while connect_from_lock(data_dir) is None:
                    if procs[0].poll() is not None:
                        print(f"Error: worker 0 exited with {procs[0].returncode}", file=sys.stderr)
                        return 1
                    if time.monotonic() > deadline:
                        print(
                            f"Error: worker 0 did not open {data_dir} within {START_TIMEOUT_S:.0f} s", file=sys.stderr
                        )
                        _stop(procs)
                        return 1
                    time.sleep(0.1)
        for s in public + private:
            s.close()  # the workers hold them now
        print(f"offsetsite: {n} workers serve http://{args.host}:{args.port}", file=sys.stderr)
        while True:
            for i, p in enumerate(procs):
                if p.poll() is not None:
                    print(f"offsetsite: worker {i} exited with {p.returncode}; stopping the others", file=sys.stderr)
                    _stop(procs)
                    return p.returncode or 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        _stop(procs)
        return 0
    finally:
        for s in public + private:
            s.close()
        _stop(procs)


def worker_endpoints(fds: str) -> list[str]:
    """daphne arguments for ``--worker-fds PUBLIC,PRIVATE``."""
    public, private = (int(x) for x in fds.split(","))
    return ["-e", f"fd:fileno={public}", "-e", f"fd:fileno={private}"]


def private_url(fds: str) -> str:
    """Where this worker's loopback socket listens (worker 0 advertises it)."""
    private = int(fds.split(",")[1])
    sock = socket.socket(fileno=os.dup(private))
    try:
        return f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()
