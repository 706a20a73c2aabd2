"""Room benchmark: a workshop of 50 attendees, each with a ticket checker and a live page.

``python -m bench room [--json] [--attendees 50] [--pace 5] [--rate 20] [--duration 20]``

Against the real server, started as a subprocess as a user starts it (``python -m
offsetsite serve``, daphne, one process, in-memory channel layer, the lab's runner
thread stepping the checkers every 0.1 s) in workshop mode, on a fresh data directory
and database:

- **joining**: ``--attendees`` anonymous visitors each GET ``/lab/room/`` (a CSRF
  cookie and token), POST ``/lab/room/join/`` with a name and keep the session cookie it
  sets, as a browser does. Strategies are mixed (each, every:10, auto:5000, before, in
  turn); every ``--shared-every``-th attendee joins the shared group, the others a group
  of their own. Every checker runs at ``--pace`` seats a second.
- **event-to-frame latency**: a client process holds one websocket per attendee on
  their room page (``/ws/lab/?view=room&me=<name>``, with their session cookie and a
  browser's Origin) and one facilitator socket (``view=facilitator``, an operator's
  session). A producer process POSTs ``--rate`` records a second to the room topic
  through the JSON API, one record a request, partitions in turn, and notes when each
  was sent and acknowledged and the high watermark it left. Each frame carries the
  room topic's high watermarks (``<td id="room-hw-pN">`` of the room summary); for every
  (request, socket) the latency is the arrival of the first frame showing that high
  watermark or more, minus the acknowledgement (``bench.web._analyse``; all processes
  read ``time.monotonic()``, one system-wide clock).
- **frames** received, the most a socket got in one second (the live layer allows 10),
  and the server's CPU over the load (``/proc/<pid>/stat``, 1.0 = one core busy).

Baseline, same run: the same room and sockets with every checker crashed (no checker
running: the frames come only from the appends), the same producer.

A run that did not seat every attendee, did not keep every checker running, or did
not reach the asked produce rate is a FAIL, not a fast result.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing as mp
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.cookies import SimpleCookie
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from bench.common import Figure, machine, positive_int, table, today
from bench.web import LiveRun, _analyse, _cpu_seconds, _loadavg, _quantile, running_server
from bench.web import producer_main as web_producer

TOPIC = "room-train"  # offsetsite.lab.room.TOPIC (not imported: no Django in the bench's processes)
PARTITIONS = 6  # offsetsite.lab.room.PARTITIONS
STRATEGIES = ("each", "every:10", "auto:5000", "before")
HW_RE = re.compile(r'id="room-hw-p(\d+)">(\d+)<')
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')

SETUP = """
import django, sys
django.setup()
from importlib import import_module
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth.models import Group, User
from offsetsite.api.models import ApiToken
user = User.objects.create_user("bench-facilitator", password=None)
user.groups.add(Group.objects.get(name="operator"))
_, raw = ApiToken.issue(user, "bench.room", None)
# The facilitator's browser session, as the login form would leave it.
session = import_module(settings.SESSION_ENGINE).SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
sys.stdout.write(raw + " " + session.session_key)
"""


@dataclass
class Server:
    port: int
    token: str
    session: str  # the facilitator's session cookie
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def server(scratch: Path) -> Iterator[Server]:
    """A fresh database and data directory, workshop mode on, ``offsetsite serve``."""
    var = scratch / "var"
    var.mkdir()
    env = {
        "OFFSETSITE_VAR": str(var),
        "OFFSETSITE_DATA_DIR": str(scratch / "data"),
        "OFFSETSITE_SECRET_KEY": "bench-room-not-secret",
        "OFFSETSITE_WORKSHOP": "1",
        "OFFSETSITE_INITIAL_REBALANCE_DELAY_MS": "0",
    }
    log = scratch / "server.log"
    with running_server(SETUP, env, log) as (port, out, proc):
        token, session = out.split()
        yield Server(port, token, session, proc, log)


# --- attendees over HTTP --------------------------------------------------------------


@dataclass
class Attendee:
    name: str
    cookies: dict[str, str]
    csrf: str


def _cookie_header(cookies: dict[str, str]) -> str:
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


def _request(
    port: int, method: str, path: str, cookies: dict[str, str], body: dict[str, str] | None = None
) -> tuple[int, str, dict[str, str]]:
    """One request with the browser's cookies; (status, body, cookies it set)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Accept": "text/html", "Cookie": _cookie_header(cookies)}
    data = None
    if body is not None:
        data = urlencode(body).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        headers["X-CSRFToken"] = body.get("csrfmiddlewaretoken", "")
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
        jar = SimpleCookie()
        for value in resp.headers.get_all("Set-Cookie") or []:
            jar.load(value)
        return resp.status, text, {k: m.value for k, m in jar.items()}
    finally:
        conn.close()


def join(port: int, name: str, strategy: str, shared: bool, pace: float) -> Attendee:
    status, page, cookies = _request(port, "GET", "/lab/room/", {})
    token = CSRF_RE.search(page)
    if status != 200 or token is None:
        raise RuntimeError(f"GET /lab/room/ for {name} answered {status} without a join form")
    form = {
        "csrfmiddlewaretoken": token.group(1),
        "name": name,
        "mode": "shared" if shared else "own",
        "strategy": strategy,
        "pace": f"{pace:g}",
    }
    status, body, more = _request(port, "POST", "/lab/room/join/", cookies, form)
    if status != 302:
        raise RuntimeError(f"joining as {name} answered {status}: {body[:300]}")
    cookies.update(more)
    return Attendee(name, cookies, token.group(1))


def control_all(port: int, people: list[Attendee], action: str) -> int:
    """Each attendee presses ``action`` on their own checker; how many were accepted."""
    ok = 0
    for a in people:
        body = {"csrfmiddlewaretoken": a.cookies.get("csrftoken", a.csrf), "action": action}
        status, _, _ = _request(port, "POST", f"/lab/room/a/{quote(a.name)}/control/", a.cookies, body)
        ok += status == 302
    return ok


def states(port: int, session: str) -> dict[str, int]:
    """How many checkers the facilitator's page shows in each state."""
    status, page, _ = _request(port, "GET", "/lab/room/facilitator/", {"sessionid": session})
    if status != 200:
        raise RuntimeError(f"the facilitator's page answered {status}")
    out: dict[str, int] = {}
    for s in re.findall(r'<tr data-attendee="[^"]*" class="state-(\w+)"', page):
        out[s] = out.get(s, 0) + 1
    return out


# --- producer process ---------------------------------------------------------------


def producer_main(port: int, token: str, rate: float, duration: float, out_path: str) -> None:
    """One record a request at ``rate`` a second over the room topic's partitions, as
    bench.web's producer paces and records it (pickles [(sent, acked, partition, hw_after, status)])."""
    connections = max(1, min(4, int(rate // 10) + 1))
    web_producer(TOPIC, port, token, PARTITIONS, rate, 1, duration, connections, out_path)


# --- websocket client process -------------------------------------------------------


def clients_main(port: int, sockets: list[tuple[str, str]], out_path: str, ready: MpEvent, stop: MpEvent) -> None:
    """Hold one websocket per (query string, cookie); pickle each one's frames."""
    asyncio.run(_clients(port, sockets, out_path, ready, stop))


async def _clients(port: int, sockets: list[tuple[str, str]], out_path: str, ready: MpEvent, stop: MpEvent) -> None:
    from websockets.asyncio.client import connect

    n = len(sockets)
    frames: list[list[tuple[float, tuple[tuple[int, int], ...], int]]] = [[] for _ in range(n)]
    errors: list[str] = []
    got_snapshot = [asyncio.Event() for _ in range(n)]
    from websockets.typing import Origin

    origin = Origin(f"http://127.0.0.1:{port}")

    async def client(i: int) -> None:
        query, cookie = sockets[i]
        url = f"ws://127.0.0.1:{port}/ws/lab/?{query}"
        try:
            async with connect(
                url, origin=origin, max_size=None, open_timeout=60, additional_headers={"Cookie": cookie}
            ) as ws:
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
            errors.append(f"socket {i}: {type(e).__name__}: {e}")
            got_snapshot[i].set()

    tasks = []
    for i in range(n):
        tasks.append(asyncio.create_task(client(i)))
        if i % 10 == 9:  # pages open over a moment, not 50 handshakes at once
            await asyncio.sleep(0.05)
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in got_snapshot)), timeout=300)
    ready.set()
    while not stop.is_set():
        await asyncio.sleep(0.05)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    Path(out_path).write_bytes(pickle.dumps({"frames": frames, "errors": errors}))


# --- one phase -----------------------------------------------------------------------


@dataclass
class Phase:
    attendees: LiveRun
    facilitator: LiveRun
    server_cpu_per_s: float
    produced: int
    asked: int


def phase(srv: Server, scratch: Path, people: list[Attendee], rate: float, duration: float, tag: str) -> Phase:
    ctx = mp.get_context("spawn")
    sockets = [(urlencode({"view": "room", "me": a.name}), _cookie_header(a.cookies)) for a in people] + [
        ("view=facilitator", f"sessionid={srv.session}")
    ]
    frames_path, produced_path = scratch / f"frames-{tag}.pickle", scratch / f"produced-{tag}.pickle"
    ready, stop = ctx.Event(), ctx.Event()
    cproc = ctx.Process(target=clients_main, args=(srv.port, sockets, str(frames_path), ready, stop))
    cproc.start()
    try:
        if not ready.wait(timeout=300):
            raise RuntimeError("the websockets did not all open within 300 s")
        time.sleep(0.5)  # the snapshots settle before the clock starts
        pproc = ctx.Process(target=producer_main, args=(srv.port, srv.token, rate, duration, str(produced_path)))
        cpu0 = _cpu_seconds(srv.process.pid)
        t0 = time.monotonic()
        pproc.start()
        pproc.join()
        server_cpu = (_cpu_seconds(srv.process.pid) - cpu0) / (time.monotonic() - t0)
        loadavg = _loadavg()
        time.sleep(2.0)  # frames for the last requests
    finally:
        stop.set()
        cproc.join(timeout=60)
        if cproc.is_alive():
            cproc.kill()
    if pproc.exitcode != 0 or not produced_path.exists():
        raise RuntimeError(f"the producer failed (exit code {pproc.exitcode})")
    got = pickle.loads(frames_path.read_bytes())
    produced: list[tuple[float, float, int, int, int]] = pickle.loads(produced_path.read_bytes())
    n = len(people)
    att = _analyse(
        {"frames": got["frames"][:n], "errors": got["errors"]},
        produced,
        n,
        1,
        {},
        server_cpu,
        0.0,
        loadavg,
        load_s=duration,
    )
    fac = _analyse(
        {"frames": got["frames"][n:], "errors": []}, produced, 1, 1, {}, server_cpu, 0.0, loadavg, load_s=duration
    )
    return Phase(att, fac, server_cpu, sum(1 for r in produced if r[4] == 201), max(1, round(duration * rate)))


# --- the benchmark -------------------------------------------------------------------


def run(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    params: dict[str, Any] = {k: v for k, v in vars(args).items() if k not in ("json", "dir")}
    info: dict[str, Any] = {"loadavg_start": _loadavg()}
    with server(scratch) as srv:
        t = time.monotonic()
        people: list[Attendee] = []
        join_errors: list[str] = []
        for i in range(args.attendees):
            try:
                people.append(
                    join(
                        srv.port,
                        f"attendee {i + 1:03d}",
                        STRATEGIES[i % len(STRATEGIES)],
                        shared=args.shared_every > 0 and i % args.shared_every == args.shared_every - 1,
                        pace=args.pace,
                    )
                )
            except RuntimeError as e:
                join_errors.append(str(e))
        info["join_s"] = time.monotonic() - t
        info["join_errors"] = join_errors[:5]
        load = phase(srv, scratch, people, args.rate, args.duration, "load")
        info["states_after_load"] = states(srv.port, srv.session)
        info["crashed_for_baseline"] = control_all(srv.port, people, "crash")
        info["states_baseline"] = states(srv.port, srv.session)
        base = phase(srv, scratch, people, args.rate, args.duration, "baseline")
        info["server_log_tail"] = srv.log.read_text(errors="replace")[-2000:]
    info["loadavg_end"] = _loadavg()

    figures: list[Figure] = []

    def fig(key: str, name: str, value: float, unit: str, target: str = "", passed: bool | None = None) -> None:
        figures.append(Figure(key, name, value, unit, target, passed))

    n = args.attendees
    running = info["states_after_load"].get("running", 0)
    fig("attendees_joined", "attendees joined over HTTP", len(people), "", f"= {n}", len(people) == n)
    fig("checkers_running", "checkers running after the load", running, "", f"= {n}", running == n)
    for tag, ph in (("load", load), ("baseline", base)):
        label = "checkers running" if tag == "load" else "baseline, no checker running"
        lat = ph.attendees.latencies
        med, p99 = _quantile(lat, 0.5), _quantile(lat, 0.99)
        asked = args.rate * 0.9
        ok_rate = ph.attendees.achieved_rate >= asked and ph.attendees.failed_requests == 0 and ph.produced == ph.asked
        if tag == "load":
            fig(
                "latency_median_s",
                f"produce->frame median, {n} attendee sockets, {label}",
                med,
                "s",
                "< 0.2 s",
                med < 0.2,
            )
            fig("latency_p99_s", f"produce->frame p99, {label}", p99, "s", "< 1 s", p99 < 1.0)
            fig("produced_per_s", f"records produced per second ({label})", ph.attendees.achieved_rate, "/s",
                f">= {asked:g}", ok_rate)  # fmt: skip
        else:
            fig("baseline_latency_median_s", f"produce->frame median, {label}", med, "s")
            fig("baseline_latency_p99_s", f"produce->frame p99, {label}", p99, "s")
            fig("baseline_produced_per_s", f"records produced per second ({label})", ph.attendees.achieved_rate,
                "/s", f">= {asked:g}", ok_rate)  # fmt: skip
        prefix = "" if tag == "load" else "baseline_"
        fig(f"{prefix}latency_max_s", f"produce->frame max ({tag})", max(lat, default=float("nan")), "s")
        fig(f"{prefix}unseen_pairs", f"(record, socket) pairs never shown ({tag})", ph.attendees.unseen, "")
        fac = ph.facilitator.latencies
        fig(f"{prefix}facilitator_latency_median_s", f"facilitator socket: produce->frame median ({tag})",
            _quantile(fac, 0.5), "s")  # fmt: skip
        fig(
            f"{prefix}frames",
            f"frames received by all sockets ({tag})",
            ph.attendees.frames + ph.facilitator.frames,
            "",
        )
        fps = max(ph.attendees.max_fps, ph.facilitator.max_fps)
        fig(f"{prefix}frames_per_socket_max_per_s", f"frames per socket per second, max ({tag})", fps, "/s", "<= 10",
            fps <= 10)  # fmt: skip
        fig(f"{prefix}frame_bytes_median", f"attendee frame size, median ({tag})", ph.attendees.frame_bytes_median, "B")
        fig(f"{prefix}server_cpu_per_s", f"server CPU ({tag}; 1.0 = one core)", ph.server_cpu_per_s, "core")
        info[f"{tag}_socket_errors"] = ph.attendees.errors[:10]
        info[f"{tag}_latency_samples"] = len(lat)
        info[f"{tag}_requests"] = ph.attendees.requests
        info[f"{tag}_failed_requests"] = ph.attendees.failed_requests
    return {
        "benchmark": "room",
        "date": today(),
        "machine": machine(scratch),
        "params": params,
        "clock": "time.monotonic() (CLOCK_MONOTONIC, shared by the processes of one machine)",
        "figures": {f.key: f.as_json() for f in figures},
        "info": info,
        "_figures": figures,
    }


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench room", description=(__doc__ or "").splitlines()[0])
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--attendees", type=positive_int, default=50, help="attendees, each a checker and a socket (50)")
    p.add_argument("--pace", type=float, default=5.0, help="seats a second each checker checks (default 5)")
    p.add_argument("--shared-every", type=int, default=5, help="every Nth attendee joins the shared group (5; 0: none)")
    p.add_argument("--rate", type=float, default=20.0, help="records produced a second, one a request (default 20)")
    p.add_argument("--duration", type=float, default=20.0, help="seconds of each phase (default 20)")
    p.add_argument("--dir", help="scratch directory (default: a temporary one, removed afterwards)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0.1 <= args.pace <= 10:
        print("--pace must be between 0.1 and 10 (the room's limit)", file=sys.stderr)
        return 2
    if args.rate <= 0 or args.duration <= 0 or args.shared_every < 0:
        print("--rate and --duration must be positive, --shared-every 0 or more", file=sys.stderr)
        return 2
    base = Path(args.dir) if args.dir else None
    scratch = Path(tempfile.mkdtemp(prefix="bench-room-", dir=base))
    try:
        result = run(args, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    figures: list[Figure] = result.pop("_figures")
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return 0
    m = result["machine"]
    print(
        f"room benchmark, {result['date']}, {m['cpu']} x{m['cores']}, load average "
        f"{result['info']['loadavg_start']:.2f} at start, {result['info']['loadavg_end']:.2f} at the end"
    )
    print(table(figures))
    failed = [f.name.strip() for f in figures if f.passed is False]
    print()
    print("FAIL: " + "; ".join(failed) if failed else "all targets PASS")
    return 0
