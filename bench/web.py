"""Web benchmark (issue 4): live frames under load, page loads under load, a 10M-record topic page.

``python -m bench.web [--json] [--clients 500] [--rate 5000] [--duration 30] [--records 10000000]``

Everything is measured against the real server, started as a subprocess exactly as a user
starts it (``python -m offsetsite serve``, daphne, one process, in-memory channel layer),
on a fresh data directory and database. What is measured is what a browser would see:

- **append-to-frame latency**: a producer process POSTs records to the JSON API
  (``--rate`` records/s as ``--batch`` records a request, partition chosen round-robin)
  and notes, for each request, when it was sent, when its 201 came back and the high
  watermark it left behind (last offset + 1, from the API's answer). A client process
  holds ``--clients`` websockets on ``/ws/topic/<t>/`` (one asyncio loop, the
  ``websockets`` library, a browser's Origin header) and notes when each frame arrived
  and the high watermark of every partition it shows (``<td id="hw-pN">`` of the topic
  summary, the number a viewer reads). For every request and every client, the latency
  is the arrival of the first frame showing a high watermark at or past the one the
  request left, minus the request's ack time. The three processes share one clock,
  ``time.monotonic()`` (CLOCK_MONOTONIC on Linux: one system-wide clock, comparable
  between processes, never stepped by NTP). A frame may arrive before the producer read
  its ack; such latencies are negative and are kept as they are.
  Baseline: the same measurement with one client and a light producer.
- **a saturated server must not look fast by producing less**: the run FAILs when the
  producer did not reach 98% of the ``--rate`` asked (a server too busy to take the
  records would otherwise send fewer, smaller frames and look quick).
- **now against before**: the load runs twice in one benchmark, each on its own server
  and its own topic: first as the live layer was before (``OFFSETSITE_LIVE_FULL_FRAMES=1``:
  every frame the whole live region; ``OFFSETSITE_LIVE_SOCKET_HUBS=1``: each socket its
  own timer, flush and diff), then with the defaults (one hub a page renders once and
  sends each socket only what changed, offsetsite/live/hub.py). The gain is their ratio
  (frame size, server CPU, latency); only the default is held to the targets. Server
  CPU is read from /proc of the server's pid.
- **frames per client per second**: the most any client received in one wall-clock
  second (the live layer promises at most 10).
- **page loads during the load**: the main process GETs the overview, the topic page
  and a group page in turn (a new connection each time, the whole body read) while the
  load runs. Baseline: the same GETs before any client or producer.
- **topic page of a big partition**: a partition of ``--records`` records of 100 bytes is
  written with logcore before the server starts; its page is fetched as a visitor opens
  it (the newest records: the default) and at an early offset, several times.
  Baselines: the same page of a 100-record partition, and the login page (a plain Django
  template, no engine) on the same server.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing as mp
import os
import pickle
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any

from bench.common import Figure, machine, table, today

ROOT = Path(__file__).resolve().parents[1]
BIG, SMALL, LIVE, GROUP = "big", "small", "live", "bench-readers"
LIVE_FULL = "live-full"  # the whole-frames baseline's topic (LIVE_FULL_FRAMES=1)
MIN_ACHIEVED = 0.98  # of the rate asked
VALUE = "v" * 100  # 100-byte values, as kafka-producer-perf-test --record-size 100
HW_RE = re.compile(r'id="hw-p(\d+)">(\d+)<')

# --- helpers -----------------------------------------------------------------------


def _quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile by nearest rank (q=0.5 the median, 0.99 the p99); nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), for the report only."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def _loadavg() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return float("nan")


def get(port: int, path: str, timeout: float = 30.0) -> tuple[int, float, int]:
    """GET a page as a browser's first load does: new connection, whole body. (status, seconds, bytes)."""
    t = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Accept": "text/html"})
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    return resp.status, time.perf_counter() - t, len(body)


def time_gets(port: int, path: str, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        status, seconds, size = get(port, path)
        if status != 200 or size == 0:
            raise RuntimeError(f"GET {path} answered {status} ({size} bytes)")
        out.append(seconds)
    return out


# --- data and server ---------------------------------------------------------------


def build_data(data_dir: Path, big_records: int, partitions: int) -> float:
    """Topics big (``big_records``), small (100) and live (empty), and a group on live. Seconds taken."""
    from logcore.cluster import EmbeddedCluster

    t = time.perf_counter()
    with EmbeddedCluster(data_dir) as cluster:
        cluster.create_topic(BIG, 1)
        cluster.create_topic(SMALL, 1)
        cluster.create_topic(LIVE, partitions)
        cluster.create_topic(LIVE_FULL, partitions)
        value = VALUE.encode()
        batch = [(None, value)] * 1000
        big = cluster.logs.partition(BIG, 0)
        for _ in range(big_records // 1000):
            big.append_batch(batch)
        if big_records % 1000:
            big.append_batch(batch[: big_records % 1000])
        cluster.logs.partition(SMALL, 0).append_batch(batch[:100])
        # A group reading the live topic from its start: its page shows lag growing.
        cluster.commit_offsets(GROUP, {(t, p): 0 for t in (LIVE, LIVE_FULL) for p in range(partitions)})
    return time.perf_counter() - t


SETUP = """
import django, sys
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth.models import Group, User
from offsetsite.api.models import ApiToken
user = User.objects.create_user("bench-producer", password=None)
user.groups.add(Group.objects.get(name="operator"))
_, raw = ApiToken.issue(user, "bench.web", None)
sys.stdout.write(raw)
"""


@dataclass
class Server:
    port: int
    token: str
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def running_server(
    setup: str, env_extra: dict[str, str], log: Path
) -> Iterator[tuple[int, str, subprocess.Popen[bytes]]]:
    """Run ``setup`` (a Python script: migrate, make users; what it prints comes back), then
    ``offsetsite serve`` on a free loopback port as a user starts it; stopped on exit.

    ``env_extra`` are the server's OFFSETSITE_* settings (its var and data directories at
    least); nothing of this process's own OFFSETSITE_* environment leaks into it.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFSETSITE_")}
    env.update(DJANGO_SETTINGS_MODULE="offsetsite.settings", PYTHONUNBUFFERED="1", **env_extra)
    done = subprocess.run([sys.executable, "-c", setup], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"setting up the database failed:\n{done.stderr}")
    port = _free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "offsetsite", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if get(port, "/login/", timeout=5)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not answer within 60 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield port, done.stdout, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # SIGINT is ignored under a background shell
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def server(scratch: Path, data_dir: Path, full_frames: bool = False) -> Iterator[Server]:
    """Migrate a fresh database, make an operator with an API token, run ``offsetsite serve``.

    ``full_frames``: the live layer as it was before this benchmark's targets: every frame
    the whole live region (OFFSETSITE_LIVE_FULL_FRAMES=1), each socket its own flush
    (OFFSETSITE_LIVE_SOCKET_HUBS=1).
    """
    name = "full" if full_frames else "delta"
    var = scratch / f"var-{name}"
    var.mkdir()
    env = {
        "OFFSETSITE_VAR": str(var),
        "OFFSETSITE_DATA_DIR": str(data_dir),
        "OFFSETSITE_SECRET_KEY": "bench-web-not-secret",
    }
    if full_frames:
        env["OFFSETSITE_LIVE_FULL_FRAMES"] = "1"
        env["OFFSETSITE_LIVE_SOCKET_HUBS"] = "1"
    log = scratch / f"server-{name}.log"
    with running_server(SETUP, env, log) as (port, out, proc):
        yield Server(port, out.strip(), proc, log)


# --- producer process ----------------------------------------------------------------


def producer_main(
    topic: str,
    port: int,
    token: str,
    partitions: int,
    rate: float,
    batch: int,
    duration: float,
    connections: int,
    out_path: str,
) -> None:
    """POST ``rate`` records/s for ``duration`` s; pickle [(sent, acked, partition, hw_after, status)].

    Requests are paced on a fixed schedule (slot i at start + i * batch / rate) over
    ``connections`` keep-alive connections, so one slow answer does not hold back the
    rest of the schedule; a worker that falls behind sends its next slot at once.
    """
    per_s = rate / batch
    slots = max(1, round(duration * per_s))
    bodies = [
        json.dumps({"records": [{"value": VALUE, "partition": p} for _ in range(batch)]}).encode()
        for p in range(partitions)
    ]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    results: list[tuple[float, float, int, int, int]] = []
    lock = threading.Lock()
    start = time.monotonic() + 0.2

    def worker(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for i in range(k, slots, connections):
            delay = start + i / per_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            p = i % partitions
            sent = time.monotonic()
            try:
                conn.request("POST", f"/api/topics/{topic}/records", body=bodies[p], headers=headers)
                resp = conn.getresponse()
                body = resp.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                with lock:
                    results.append((sent, time.monotonic(), p, -1, 0))
                continue
            acked = time.monotonic()
            hw = -1
            if resp.status == 201:
                offsets = [r["offset"] for r in json.loads(body)["results"] if r["partition"] == p]
                hw = max(offsets) + 1
            with lock:
                results.append((sent, acked, p, hw, resp.status))
        conn.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    Path(out_path).write_bytes(pickle.dumps(sorted(results)))


# --- websocket client process --------------------------------------------------------


def clients_main(port: int, path: str, n: int, out_path: str, ready: MpEvent, stop: MpEvent) -> None:
    """Hold ``n`` websockets; pickle each client's frames [(arrival, ((partition, hw), ...), bytes)]."""
    asyncio.run(_clients(port, path, n, out_path, ready, stop))


async def _clients(port: int, path: str, n: int, out_path: str, ready: MpEvent, stop: MpEvent) -> None:
    from websockets.asyncio.client import connect

    frames: list[list[tuple[float, tuple[tuple[int, int], ...], int]]] = [[] for _ in range(n)]
    errors: list[str] = []
    got_snapshot = [asyncio.Event() for _ in range(n)]
    origin = f"http://127.0.0.1:{port}"
    url = f"ws://127.0.0.1:{port}{path}"
    connect_s: list[float] = []

    async def client(i: int) -> None:
        try:
            t = time.monotonic()
            async with connect(url, origin=origin, max_size=None, open_timeout=60) as ws:  # type: ignore[arg-type]
                connect_s.append(time.monotonic() - t)
                mine = frames[i]
                async for msg in ws:
                    at = time.monotonic()
                    text = msg if isinstance(msg, str) else msg.decode()
                    hws = tuple((int(p), int(hw)) for p, hw in HW_RE.findall(text))
                    mine.append((at, hws, len(text)))
                    got_snapshot[i].set()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # reported in the results, the run goes on
            errors.append(f"client {i}: {type(e).__name__}: {e}")
            got_snapshot[i].set()

    tasks = []
    for i in range(n):
        tasks.append(asyncio.create_task(client(i)))
        if i % 20 == 19:  # connect in waves, as pages open, not 200 handshakes at once
            await asyncio.sleep(0.05)
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in got_snapshot)), timeout=300)
    ready.set()
    while not stop.is_set():
        await asyncio.sleep(0.05)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    Path(out_path).write_bytes(pickle.dumps({"frames": frames, "errors": errors, "connect_s": connect_s}))


# --- one live run -------------------------------------------------------------------


@dataclass
class LiveRun:
    latencies: list[float]  # ack -> frame, per (request, client)
    from_send: list[float]  # send -> frame
    unseen: int  # (request, client) pairs no frame showed before the run ended
    max_fps: int
    median_fps: float
    frames: int
    frame_bytes_median: int
    frame_bytes_p99: int
    frame_bytes_total: int
    clients: int
    load_s: float
    requests: int
    failed_requests: int
    achieved_rate: float
    request_s: list[float]
    gets: dict[str, list[float]]
    server_cpu_per_s: float
    clients_cpu_per_s: float
    errors: list[str]
    loadavg: float


def live_run(
    srv: Server,
    scratch: Path,
    topic: str,
    clients: int,
    rate: float,
    batch: int,
    duration: float,
    partitions: int,
    connections: int,
    get_paths: Sequence[str] = (),
    get_interval: float = 0.25,
    drain: float = 3.0,
) -> LiveRun:
    ctx = mp.get_context("spawn")
    frames_path = scratch / f"frames-{topic}-{clients}.pickle"
    produced_path = scratch / f"produced-{topic}-{clients}.pickle"
    ready, stop = ctx.Event(), ctx.Event()
    cproc = ctx.Process(
        target=clients_main, args=(srv.port, f"/ws/topic/{topic}/", clients, str(frames_path), ready, stop)
    )
    cproc.start()
    try:
        if not ready.wait(timeout=300):
            raise RuntimeError("the websocket clients did not all connect within 300 s")
        time.sleep(0.5)  # let the last snapshots settle before the clock starts
        pproc = ctx.Process(
            target=producer_main,
            args=(topic, srv.port, srv.token, partitions, rate, batch, duration, connections, str(produced_path)),
        )
        cpu0 = {
            "server": _cpu_seconds(srv.process.pid),
            "clients": _cpu_seconds(cproc.pid or 0),
        }
        t0 = time.monotonic()
        pproc.start()
        gets: dict[str, list[float]] = {p: [] for p in get_paths}
        i = 0
        while pproc.is_alive():
            if get_paths:
                path = get_paths[i % len(get_paths)]
                i += 1
                status, seconds, _ = get(srv.port, path)
                if status == 200:
                    gets[path].append(seconds)
                else:
                    gets.setdefault(f"{path} (status {status})", []).append(seconds)
                time.sleep(get_interval)
            else:
                time.sleep(0.05)
        pproc.join()
        load_s = time.monotonic() - t0
        server_cpu = (_cpu_seconds(srv.process.pid) - cpu0["server"]) / load_s
        clients_cpu = (_cpu_seconds(cproc.pid or 0) - cpu0["clients"]) / load_s
        loadavg = _loadavg()
        time.sleep(drain)  # frames for the last requests
    finally:
        stop.set()
        cproc.join(timeout=60)
        if cproc.is_alive():
            cproc.kill()
    if pproc.exitcode != 0 or not produced_path.exists():
        raise RuntimeError(f"the producer failed (exit code {pproc.exitcode})")
    got = pickle.loads(frames_path.read_bytes())
    produced: list[tuple[float, float, int, int, int]] = pickle.loads(produced_path.read_bytes())
    return _analyse(got, produced, clients, batch, gets, server_cpu, clients_cpu, loadavg, load_s)


def _analyse(
    got: dict[str, Any],
    produced: list[tuple[float, float, int, int, int]],
    clients: int,
    batch: int,
    gets: dict[str, list[float]],
    server_cpu: float,
    clients_cpu: float,
    loadavg: float,
    load_s: float = float("nan"),  # seconds of load, for bytes per second (nan: not reported)
) -> LiveRun:
    ok = [r for r in produced if r[4] == 201]
    span = (max(r[1] for r in ok) - min(r[0] for r in ok)) if ok else float("nan")
    latencies: list[float] = []
    from_send: list[float] = []
    unseen = 0
    fps: list[int] = []
    sizes: list[int] = []
    n_frames = 0
    for frames in got["frames"]:
        n_frames += len(frames)
        sizes.extend(f[2] for f in frames)
        per_second: dict[int, int] = {}
        for at, _hws, _size in frames:
            per_second[int(at)] = per_second.get(int(at), 0) + 1
        fps.extend(per_second.values())
        # Per partition: the arrival times and the high watermarks the client saw, in
        # arrival order. Frames go out in order on one socket, so the HW never drops;
        # a running max guards the search all the same.
        by_p: dict[int, tuple[list[float], list[int]]] = {}
        for at, hws, _size in frames:
            for p, hw in hws:
                times, marks = by_p.setdefault(p, ([], []))
                times.append(at)
                marks.append(max(hw, marks[-1]) if marks else hw)
        for sent, acked, p, hw, _status in ok:
            times, marks = by_p.get(p, ([], []))
            k = bisect_left(marks, hw)
            if k == len(marks):
                unseen += 1
                continue
            latencies.append(times[k] - acked)
            from_send.append(times[k] - sent)
    return LiveRun(
        latencies=latencies,
        from_send=from_send,
        unseen=unseen,
        max_fps=max(fps, default=0),
        median_fps=statistics.median(fps) if fps else 0.0,
        frames=n_frames,
        frame_bytes_median=int(statistics.median(sizes)) if sizes else 0,
        frame_bytes_p99=int(_quantile(sizes, 0.99)) if sizes else 0,
        frame_bytes_total=sum(sizes),
        clients=clients,
        load_s=load_s,
        requests=len(produced),
        failed_requests=len(produced) - len(ok),
        achieved_rate=len(ok) * batch / span if ok and span > 0 else 0.0,
        request_s=[r[1] - r[0] for r in ok],
        gets=gets,
        server_cpu_per_s=server_cpu,
        clients_cpu_per_s=clients_cpu,
        errors=got["errors"],
        loadavg=loadavg,
    )


# --- the benchmark -----------------------------------------------------------------


def run(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    figures: list[Figure] = []
    params: dict[str, Any] = {k: v for k, v in vars(args).items() if k not in ("json", "dir")}
    info: dict[str, Any] = {"loadavg_start": _loadavg()}
    data_dir = scratch / "data"
    info["build_s"] = build_data(data_dir, args.records, args.partitions)
    load_pages = {"overview": "/", "topic": f"/topics/{LIVE}/", "group": f"/groups/{GROUP}/"}
    full: LiveRun | None = None
    if not args.no_full_baseline:
        # 0. The behaviour before: every frame the whole live region, on its own server
        # and its own topic, under the same load.
        with server(scratch, data_dir, full_frames=True) as srv:
            full_pages = {**load_pages, "topic": f"/topics/{LIVE_FULL}/"}
            for path in full_pages.values():
                get(srv.port, path)
            full = live_run(
                srv,
                scratch,
                LIVE_FULL,
                args.clients,
                args.rate,
                args.batch,
                args.duration,
                args.partitions,
                args.connections,
                get_paths=list(full_pages.values()),
            )
    with server(scratch, data_dir) as srv:
        # 1. The topic page of a big partition, and its baselines, on an idle server.
        pages = {
            "big_tail": f"/topics/{BIG}/",
            "big_early": f"/topics/{BIG}/?p=0&offset=1000",
            "small_tail": f"/topics/{SMALL}/",
            "login": "/login/",
        }
        for path in pages.values():
            get(srv.port, path)  # warm: first use of templates, code paths, page cache
        topic_runs = {name: time_gets(srv.port, path, args.page_runs) for name, path in pages.items()}
        # 2. Page loads on an idle server (the baseline of the loads under load).
        for path in load_pages.values():
            get(srv.port, path)
        idle_gets = {name: time_gets(srv.port, path, args.page_runs) for name, path in load_pages.items()}
        # 3. Latency baseline: one client, a light producer, no page loads.
        base = live_run(
            srv,
            scratch,
            LIVE,
            1,
            args.baseline_rate,
            args.baseline_batch,
            args.baseline_duration,
            args.partitions,
            1,
        )
        # 4. The load: many clients, the full rate, page loads all along.
        load = live_run(
            srv,
            scratch,
            LIVE,
            args.clients,
            args.rate,
            args.batch,
            args.duration,
            args.partitions,
            args.connections,
            get_paths=list(load_pages.values()),
        )
        info["server_log_tail"] = srv.log.read_text(errors="replace")[-2000:]
    info["loadavg_end"] = _loadavg()

    def fig(key: str, name: str, value: float, unit: str, target: str = "", passed: bool | None = None) -> None:
        figures.append(Figure(key, name, value, unit, target, passed))

    achieved = load.achieved_rate / args.rate
    fig(
        "produced_share",
        f"records produced / asked ({args.rate:,.0f}/s)",
        achieved,
        "",
        f">= {MIN_ACHIEVED:.0%}",
        achieved >= MIN_ACHIEVED,
    )
    lat_med, lat_p99 = _quantile(load.latencies, 0.5), _quantile(load.latencies, 0.99)
    fig("latency_median_s", f"append->frame median, {args.clients} clients", lat_med, "s", "< 0.2 s", lat_med < 0.2)
    fig("latency_p99_s", f"append->frame p99, {args.clients} clients", lat_p99, "s", "< 1 s", lat_p99 < 1.0)
    fig("latency_max_s", "append->frame max", max(load.latencies, default=float("nan")), "s")
    fig("latency_from_send_median_s", "send->frame median", _quantile(load.from_send, 0.5), "s")
    fig("latency_baseline_median_s", "baseline: 1 client, light load, median", _quantile(base.latencies, 0.5), "s")
    fig("latency_baseline_p99_s", "baseline: 1 client, light load, p99", _quantile(base.latencies, 0.99), "s")
    fig("unseen_pairs", "(request, client) pairs never shown", load.unseen, "")
    fig(
        "frames_per_client_max_per_s",
        "frames per client per second, max",
        load.max_fps,
        "/s",
        "<= 10",
        load.max_fps <= 10,
    )
    fig("frames_per_client_median_per_s", "frames per client per second, median", load.median_fps, "/s")
    fig(
        "frame_bytes_median",
        "frame size, median",
        load.frame_bytes_median,
        "B",
        "< 4 KB",
        load.frame_bytes_median < 4096,
    )
    fig("frame_bytes_p99", "frame size, p99", load.frame_bytes_p99, "B")
    fig("produced_per_s", "records produced per second (achieved)", load.achieved_rate, "/s")
    fig("produce_request_median_s", "produce request round trip, median", _quantile(load.request_s, 0.5), "s")
    fig("produce_request_p99_s", "produce request round trip, p99", _quantile(load.request_s, 0.99), "s")
    for name, path in load_pages.items():
        under = load.gets.get(path, [])
        med = _quantile(under, 0.5)
        fig(f"get_{name}_load_median_s", f"GET {path} under load, median", med, "s", "< 0.2 s", med < 0.2)
        fig(f"get_{name}_load_p95_s", f"GET {path} under load, p95", _quantile(under, 0.95), "s")
        fig(f"get_{name}_idle_median_s", f"GET {path} idle (baseline), median", _quantile(idle_gets[name], 0.5), "s")
    fig("server_cpu_per_s", "server CPU under load (1.0 = one core)", load.server_cpu_per_s, "core")
    fig("clients_cpu_per_s", "websocket clients' CPU under load", load.clients_cpu_per_s, "core")
    if full is not None:
        # The same load as the live layer was before; no targets: the comparison. A
        # ratio > 1 means before cost that many times more.
        f_med, f_p99 = _quantile(full.latencies, 0.5), _quantile(full.latencies, 0.99)
        fig("full_produced_share", "before: records produced / asked", full.achieved_rate / args.rate, "")
        fig("full_latency_median_s", "before: append->frame median", f_med, "s")
        fig("full_latency_p99_s", "before: append->frame p99", f_p99, "s")
        fig("full_frame_bytes_median", "before: frame size, median", full.frame_bytes_median, "B")
        fig("full_frame_bytes_p99", "before: frame size, p99", full.frame_bytes_p99, "B")
        fig(
            "full_frames_per_client_median_per_s",
            "before: frames per client per second, median",
            full.median_fps,
            "/s",
        )
        fig("full_server_cpu_per_s", "before: server CPU (1.0 = one core)", full.server_cpu_per_s, "core")
        for name, path in load_pages.items():
            path = path.replace(LIVE, LIVE_FULL) if name == "topic" else path
            fig(
                f"full_get_{name}_load_median_s",
                f"before: GET {path} under load, median",
                _quantile(full.gets.get(path, []), 0.5),
                "s",
            )
        fig(
            "ratio_frame_bytes_median",
            "frame size median, before / now",
            full.frame_bytes_median / load.frame_bytes_median if load.frame_bytes_median else float("nan"),
            "x",
        )
        fig(
            "ratio_latency_median",
            "append->frame median, before / now",
            f_med / lat_med if lat_med else float("nan"),
            "x",
        )
        fig(
            "ratio_bytes_per_client_s",
            "bytes sent per client per second, before / now",
            _bytes_rate(full) / _bytes_rate(load) if _bytes_rate(load) else float("nan"),
            "x",
        )
    labels = {
        "big_tail": f"topic page, {args.records:,} records, newest",
        "big_early": f"topic page, {args.records:,} records, offset 1000",
        "small_tail": "baseline: topic page, 100 records",
        "login": "baseline: login page (no engine)",
    }
    for name, runs in topic_runs.items():
        med = _quantile(runs, 0.5)
        big = name.startswith("big")
        fig(
            f"page_{name}_median_s",
            f"{labels[name]}, median",
            med,
            "s",
            "< 0.1 s" if big else "",
            (med < 0.1) if big else None,
        )
        fig(f"page_{name}_best_s", f"{labels[name]}, best", min(runs), "s")

    info.update(
        latency_samples=len(load.latencies),
        baseline_latency_samples=len(base.latencies),
        baseline_unseen_pairs=base.unseen,
        frames=load.frames,
        requests=load.requests,
        failed_requests=load.failed_requests,
        get_samples={p: len(v) for p, v in load.gets.items()},
        client_errors=load.errors[:20] + base.errors[:5],
        loadavg_during_load=load.loadavg,
        loadavg_during_full_load=full.loadavg if full is not None else None,
        full_client_errors=full.errors[:10] if full is not None else [],
        topic_page_runs={k: [round(x, 4) for x in v] for k, v in topic_runs.items()},
    )
    return {
        "benchmark": "web",
        "date": today(),
        "machine": machine(scratch),
        "params": params,
        "clock": "time.monotonic() (CLOCK_MONOTONIC, shared by the processes of one machine)",
        "figures": {f.key: f.as_json() for f in figures},
        "info": info,
        "_figures": figures,
    }


def _bytes_rate(r: LiveRun) -> float:
    """Mean frame bytes a client received per second of load."""
    return r.frame_bytes_total / r.clients / r.load_s if r.clients and r.load_s > 0 else 0.0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.web", description=(__doc__ or "").splitlines()[0])
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--clients", type=int, default=500, help="websocket clients under load (default 500)")
    p.add_argument("--rate", type=float, default=5000, help="records produced per second (default 5000)")
    p.add_argument("--batch", type=int, default=100, help="records per produce request (default 100)")
    p.add_argument("--duration", type=float, default=30, help="seconds of load (default 30)")
    p.add_argument("--partitions", type=int, default=1, help="partitions of the live topic (default 1)")
    p.add_argument("--connections", type=int, default=8, help="producer connections (default 8)")
    p.add_argument("--baseline-rate", type=float, default=100, help="baseline records/s (default 100)")
    p.add_argument("--baseline-batch", type=int, default=10, help="baseline records a request (default 10)")
    p.add_argument("--baseline-duration", type=float, default=10, help="baseline seconds (default 10)")
    p.add_argument("--records", type=int, default=10_000_000, help="records of the big partition (default 10M)")
    p.add_argument("--page-runs", type=int, default=10, help="GETs per page on the idle server (default 10)")
    p.add_argument(
        "--no-full-baseline",
        action="store_true",
        help="skip the load run as before (whole frames, a hub per socket) that the gain is measured against",
    )
    p.add_argument("--dir", help="scratch directory (default: a temporary one, removed afterwards)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("clients", "batch", "partitions", "connections", "baseline_batch", "page_runs"):
        if getattr(args, name) < 1:
            print(f"--{name.replace('_', '-')} must be at least 1", file=sys.stderr)
            return 2
    if args.records < 1001:
        print("--records must be more than 1000 (a page at offset 1000 is measured)", file=sys.stderr)
        return 2
    base = Path(args.dir) if args.dir else None
    scratch = Path(tempfile.mkdtemp(prefix="bench-web-", dir=base))
    try:
        result = run(args, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    figures: list[Figure] = result.pop("_figures")
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(
            f"web benchmark, {result['date']}, {result['machine']['cpu']} x{result['machine']['cores']}, "
            f"load average {result['info']['loadavg_start']:.2f} at start, "
            f"{result['info']['loadavg_during_load']:.2f} under load"
        )
        print(table(figures))
    failed = [f.name.strip() for f in figures if f.passed is False]
    if failed:
        print("FAIL: " + "; ".join(failed), file=sys.stderr if args.json else sys.stdout)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
