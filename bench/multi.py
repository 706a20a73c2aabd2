"""Two server processes against one (``serve --workers 2``, docs/design.md, Several processes).

``python -m bench.multi [--json] [--clients 1000] [--rate 5000] [--duration 20]``

The measurement is bench/web.py's, through its own code (its websocket clients, its
producer, its analysis): a producer process POSTs ``--rate`` records/s to the JSON API,
``--clients`` websockets hold the live topic page, and the append-to-frame latency is
the arrival of the first frame showing a record's high watermark minus the record's ack.
Two runs, one after the other, on fresh data:

- **one process** (the baseline): ``offsetsite serve``, in-memory channel layer,
  SQLite, as bench/web.py serves it; every client on its one port;
- **two processes**: ``offsetsite serve --workers 2`` with Redis (the relay layer) and
  a fresh PostgreSQL database; half the clients on worker 0 (the engine's process),
  half on worker 1 (which reads the engine over worker 0's API and hears changes through
  Redis); the producer on the shared port (SO_REUSEPORT picks the worker per connection;
  worker 1 forwards its produce requests to worker 0).

Page GETs run all along the load, alternating worker 0 and worker 1 in the two-process
run: a non-owner's page against the owner's. Idle GETs of both come first. CPU is
noted per server process. Targets: achieved rate >= 98 % of asked (below is a FAIL),
append-to-frame median < 200 ms and p99 < 1 s, GET under load median < 200 ms, frame
size median < 4 KB.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import pickle
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import web
from bench.common import Figure, machine, table, today

ROOT = web.ROOT
WORKER_RE = re.compile(r"worker (\d+) \(process (\d+)\) also on http://127\.0\.0\.1:(\d+)")


@dataclass
class Workers:
    public: int
    ports: list[int]  # each worker's loopback port; [0] is the engine's process
    pids: list[int]
    token: str


def _psql(sql: str) -> None:
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True,
        capture_output=True,
    )


@contextmanager
def workers_server(scratch: Path, data_dir: Path, n: int, redis: str, pg: str) -> Iterator[Workers]:
    """A fresh PostgreSQL database and Redis prefix, then ``offsetsite serve --workers n``."""
    db = f"offsetsite_bench_{uuid.uuid4().hex[:10]}"
    _psql(f"CREATE DATABASE {db}")
    var = scratch / "var-multi"
    var.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFSETSITE_")}
    env.update(
        OFFSETSITE_VAR=str(var),
        OFFSETSITE_DATA_DIR=str(data_dir),
        OFFSETSITE_SECRET_KEY="bench-multi-not-secret",
        OFFSETSITE_DB=f"{pg.rstrip('/')}/{db}",
        OFFSETSITE_REDIS=redis,
        OFFSETSITE_REDIS_PREFIX=f"bench-{db}",
        DJANGO_SETTINGS_MODULE="offsetsite.settings",
        PYTHONUNBUFFERED="1",
    )
    proc: subprocess.Popen[str] | None = None
    try:
        setup = subprocess.run(
            [sys.executable, "-c", web.SETUP], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        if setup.returncode != 0:
            raise RuntimeError(f"setting up the database failed:\n{setup.stderr}")
        public = web._free_port()
        log = (scratch / "multi.log").open("w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "offsetsite", "serve", "--port", str(public), "--workers", str(n)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines: queue.Queue[str] = queue.Queue()

        def pump() -> None:
            assert proc is not None and proc.stderr is not None
            for line in proc.stderr:
                log.write(line)
                lines.put(line)

        threading.Thread(target=pump, daemon=True).start()
        ports: dict[int, int] = {}
        pids: dict[int, int] = {}
        deadline = time.monotonic() + 120
        while len(ports) < n:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve --workers {n} did not start:\n{(scratch / 'multi.log').read_text()}")
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if m := WORKER_RE.search(line):
                ports[int(m[1])], pids[int(m[1])] = int(m[3]), int(m[2])
        for port in ports.values():
            while True:
                try:
                    if web.get(port, "/login/", timeout=5)[0] == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("a worker did not answer within 120 s")
                time.sleep(0.2)
        yield Workers(public, [ports[i] for i in range(n)], [pids[i] for i in range(n)], setup.stdout.strip())
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # SIGINT is ignored under a background shell
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        _psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


@dataclass
class Run:
    live: web.LiveRun
    cpu_per_process: list[float]
    gets: dict[str, list[float]]  # "w0 /path" -> seconds


def live_run(
    client_ports: Sequence[int],
    produce_port: int,
    token: str,
    pids: Sequence[int],
    scratch: Path,
    args: argparse.Namespace,
    get_targets: Sequence[tuple[str, int, str]],
    drain: float = 3.0,
) -> Run:
    """bench/web.py's live run, with the clients spread over ``client_ports``."""
    ctx = mp.get_context("spawn")
    tag = uuid.uuid4().hex[:6]
    stop = ctx.Event()
    per = [
        args.clients // len(client_ports) + (1 if i < args.clients % len(client_ports) else 0)
        for i in range(len(client_ports))
    ]
    outs = [scratch / f"frames-{tag}-{i}.pickle" for i in range(len(client_ports))]
    readies = [ctx.Event() for _ in client_ports]
    cprocs = [
        ctx.Process(
            target=web.clients_main,
            kwargs={
                "port": port,
                "path": f"/ws/topic/{web.LIVE}/",
                "n": k,
                "out_path": str(out),
                "ready": ready,
                "stop": stop,
            },
        )
        for port, k, out, ready in zip(client_ports, per, outs, readies, strict=True)
    ]
    produced_path = scratch / f"produced-{tag}.pickle"
    for c in cprocs:
        c.start()
    gets: dict[str, list[float]] = {f"{name} {path}": [] for name, _port, path in get_targets}
    try:
        for ready in readies:
            if not ready.wait(timeout=600):
                raise RuntimeError("the websocket clients did not all connect within 600 s")
        time.sleep(0.5)  # let the last snapshots settle before the clock starts
        pproc = ctx.Process(
            target=web.producer_main,
            # By name: bench/web.py's signatures grow (the topic came first lately).
            kwargs={
                "topic": web.LIVE,
                "port": produce_port,
                "token": token,
                "partitions": 1,
                "rate": args.rate,
                "batch": args.batch,
                "duration": args.duration,
                "connections": args.connections,
                "out_path": str(produced_path),
            },
        )
        cpu0 = [web._cpu_seconds(pid) for pid in pids]
        ccpu0 = sum(web._cpu_seconds(c.pid or 0) for c in cprocs)
        t0 = time.monotonic()
        pproc.start()
        i = 0
        while pproc.is_alive():
            name, port, path = get_targets[i % len(get_targets)]
            i += 1
            status, seconds, _ = web.get(port, path)
            gets.setdefault(f"{name} {path}" + ("" if status == 200 else f" (status {status})"), []).append(seconds)
            time.sleep(0.25)
        pproc.join()
        load_s = time.monotonic() - t0
        cpu = [(web._cpu_seconds(pid) - c0) / load_s for pid, c0 in zip(pids, cpu0, strict=True)]
        clients_cpu = (sum(web._cpu_seconds(c.pid or 0) for c in cprocs) - ccpu0) / load_s
        loadavg = web._loadavg()
        time.sleep(drain)  # frames for the last requests
    finally:
        stop.set()
        for c in cprocs:
            c.join(timeout=60)
            if c.is_alive():
                c.kill()
    if pproc.exitcode != 0 or not produced_path.exists():
        raise RuntimeError(f"the producer failed (exit code {pproc.exitcode})")
    frames: list[Any] = []
    errors: list[str] = []
    for out in outs:
        got = pickle.loads(out.read_bytes())
        frames += got["frames"]
        errors += got["errors"]
    produced = pickle.loads(produced_path.read_bytes())
    live = web._analyse(
        got={"frames": frames, "errors": errors},
        produced=produced,
        clients=args.clients,
        batch=args.batch,
        gets={},
        server_cpu=sum(cpu),
        clients_cpu=clients_cpu,
        loadavg=loadavg,
        load_s=load_s,
    )
    return Run(live, cpu, gets)


def _figures(label: str, run: Run, args: argparse.Namespace, idle: dict[str, list[float]]) -> list[Figure]:
    q = web._quantile
    load = run.live
    out: list[Figure] = []

    def fig(key: str, name: str, value: float, unit: str, target: str = "", passed: bool | None = None) -> None:
        out.append(Figure(f"{label}_{key}", f"{label}: {name}", value, unit, target, passed))

    asked = args.rate
    fig(
        "produced_per_s",
        f"records/s achieved (asked {asked:g})",
        load.achieved_rate,
        "/s",
        ">= 98 %",
        load.achieved_rate >= 0.98 * asked,
    )
    med, p99 = q(load.latencies, 0.5), q(load.latencies, 0.99)
    fig("latency_median_s", f"append->frame median, {args.clients} clients", med, "s", "< 0.2 s", med < 0.2)
    fig("latency_p99_s", f"append->frame p99, {args.clients} clients", p99, "s", "< 1 s", p99 < 1.0)
    fig("unseen_pairs", "(request, client) pairs never shown", load.unseen, "")
    fig(
        "frame_bytes_median",
        "frame size, median",
        load.frame_bytes_median,
        "B",
        "< 4096 B",
        load.frame_bytes_median < 4096,
    )
    fig(
        "frames_per_client_max_per_s",
        "frames per client per second, max",
        load.max_fps,
        "/s",
        "<= 10",
        load.max_fps <= 10,
    )
    for name, values in sorted(run.gets.items()):
        m = q(values, 0.5)
        fig(f"get_load_{name}", f"GET {name} under load, median", m, "s", "< 0.2 s", m < 0.2)
    for name, values in sorted(idle.items()):
        fig(f"get_idle_{name}", f"GET {name} idle, median", q(values, 0.5), "s")
    for i, cpu in enumerate(run.cpu_per_process):
        fig(f"cpu_{i}", f"server process {i} CPU under load (1.0 = one core)", cpu, "core")
    fig("clients_cpu", "websocket clients' CPU", load.clients_cpu_per_s, "core")
    fig("failed_requests", "produce requests failed", load.failed_requests, "")
    return out


PAGES = {"overview": "/", "topic": f"/topics/{web.LIVE}/", "group": f"/groups/{web.GROUP}/"}


def _idle(targets: Sequence[tuple[str, int, str]], runs: int) -> dict[str, list[float]]:
    for _name, port, path in targets:
        web.get(port, path)  # warm
    return {f"{name} {path}": web.time_gets(port, path, runs) for name, port, path in targets}


def run(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    info: dict[str, Any] = {"loadavg_start": web._loadavg()}
    figures: list[Figure] = []
    # 1. One process: the baseline.
    one_dir = scratch / "data-one"
    web.build_data(one_dir, 1001, 1)
    one_scratch = scratch / "one"
    one_scratch.mkdir()
    with web.server(one_scratch, one_dir) as srv:
        targets = [(f"one{name[0]}", srv.port, path) for name, path in PAGES.items()]
        idle = _idle(targets, args.page_runs)
        one = live_run([srv.port], srv.port, srv.token, [srv.process.pid], one_scratch, args, targets)
    figures += _figures("1proc", one, args, idle)
    # 2. Two processes.
    two_dir = scratch / "data-two"
    web.build_data(two_dir, 1001, 1)
    with workers_server(scratch, two_dir, 2, args.redis, args.postgres) as w:
        targets = [(f"w{i}{name[0]}", w.ports[i], path) for name, path in PAGES.items() for i in (0, 1)]
        idle = _idle(targets, args.page_runs)
        two = live_run(w.ports, w.public, w.token, w.pids, scratch, args, targets)
        info["multi_log_tail"] = (scratch / "multi.log").read_text(errors="replace")[-2000:]
    figures += _figures("2proc", two, args, idle)
    info["loadavg_end"] = web._loadavg()
    info["client_errors"] = (one.live.errors + two.live.errors)[:20]
    info["latency_samples"] = {"1proc": len(one.live.latencies), "2proc": len(two.live.latencies)}
    return {
        "benchmark": "multi",
        "date": today(),
        "machine": machine(scratch),
        "params": {k: v for k, v in vars(args).items() if k not in ("json", "dir")},
        "figures": {f.key: f.as_json() for f in figures},
        "info": info,
        "_figures": figures,
    }


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.multi", description=(__doc__ or "").splitlines()[0])
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--clients", type=int, default=1000, help="websocket clients (default 1000)")
    p.add_argument("--rate", type=float, default=5000, help="records produced per second (default 5000)")
    p.add_argument("--batch", type=int, default=100, help="records per produce request (default 100)")
    p.add_argument("--duration", type=float, default=20, help="seconds of load (default 20)")
    p.add_argument("--connections", type=int, default=8, help="producer connections (default 8)")
    p.add_argument("--page-runs", type=int, default=10, help="idle GETs per page and worker (default 10)")
    p.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="Redis URL (default redis://127.0.0.1:6379/0)")
    p.add_argument(
        "--postgres", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server; a fresh database is made"
    )
    p.add_argument("--dir", help="scratch directory (default: a temporary one, removed afterwards)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("clients", "batch", "connections", "page_runs"):
        if getattr(args, name) < 1:
            print(f"--{name.replace('_', '-')} must be at least 1", file=sys.stderr)
            return 2
    scratch = Path(tempfile.mkdtemp(prefix="bench-multi-", dir=Path(args.dir) if args.dir else None))
    try:
        result = run(args, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    figures: list[Figure] = result.pop("_figures")
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        m = result["machine"]
        print(
            f"multi benchmark, {result['date']}, {m['cpu']} x{m['cores']}, load average "
            f"{result['info']['loadavg_start']:.2f} at start, {result['info']['loadavg_end']:.2f} at end"
        )
        print(table(figures))
        failed = [f.name.strip() for f in figures if f.passed is False]
        if failed:
            print("FAIL: " + "; ".join(failed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
