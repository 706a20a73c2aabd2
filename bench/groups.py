"""Benchmark of the group coordinator and ``__consumer_offsets`` (issue: consumer groups).

``python -m bench.groups [--json] [--commits N] [--reload-commits N] [--groups N]``

Figures, all from one run on this machine:
- single commits: ``GroupCoordinator.commit_offsets`` of one partition a call, each
  appended to ``__consumer_offsets`` before the call returns (target >= 100,000/s);
- group commit: the same commits handed to ``commit_offsets_batch`` 1,000 requests at
  a time (as Kafka's coordinator runtime batches writes from many requests);
- raw baseline: the very same commit records (Kafka key and value layouts, encoded
  from the same inputs) appended with ``PartitionLog.append_batch`` 1,000 a call,
  with no coordinator in between (target: group commit >= 0.5 x this rate);
- reload: open an engine whose ``__consumer_offsets`` holds N commit records and
  rebuild the coordinator's cache (target < 3 s for 1,000,000);
- describe: ``describe_groups`` of 1,000 groups of 10 partitions each, with lag
  (target < 200 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from logcore import offsets_codec as codec
from logcore.cluster import EmbeddedCluster
from logcore.config import TopicConfig
from logcore.groups import CommitRequest
from logcore.partition import PartitionLog


def _machine() -> dict[str, Any]:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
    }


def bench_commits(root: Path, n: int) -> dict[str, float]:
    groups = [f"group-{i}" for i in range(100)]
    inputs = [(groups[i % 100], ("orders", i % 10), i) for i in range(n)]
    out: dict[str, float] = {}

    with EmbeddedCluster(root / "single") as cluster:
        commit = cluster.coordinator.commit_offsets
        t = time.perf_counter()
        for group, tp, offset in inputs:
            commit(group, {tp: offset})
        out["single_commits_per_s"] = n / (time.perf_counter() - t)

    with EmbeddedCluster(root / "batched") as cluster:
        batch = cluster.coordinator.commit_offsets_batch
        t = time.perf_counter()
        for i in range(0, n, 1000):
            results = batch([CommitRequest(g, {tp: o}) for g, tp, o in inputs[i : i + 1000]])
            assert not any(results)
        out["group_commits_per_s"] = n / (time.perf_counter() - t)

    log = PartitionLog(root / "raw", "__consumer_offsets", 0, TopicConfig.from_dict({"cleanup.policy": "compact"}))
    now = int(time.time() * 1000)
    t = time.perf_counter()
    for i in range(0, n, 1000):
        log.append_batch(
            [
                (
                    codec.encode_key(codec.OffsetCommitKey(g, tp[0], tp[1])),
                    codec.encode_offset_value(
                        codec.OffsetCommitValue(offset=o, leader_epoch=-1, metadata="", commit_timestamp=now)
                    ),
                )
                for g, tp, o in inputs[i : i + 1000]
            ]
        )
    out["raw_append_per_s"] = n / (time.perf_counter() - t)
    log.close()
    out["group_commit_vs_raw"] = out["group_commits_per_s"] / out["raw_append_per_s"]
    return out


def bench_reload(root: Path, n: int) -> dict[str, float]:
    with EmbeddedCluster(root / "reload") as cluster:
        batch = cluster.coordinator.commit_offsets_batch
        for i in range(0, n, 1000):
            batch([CommitRequest(f"group-{j % 1000}", {("orders", j % 10): j}) for j in range(i, min(i + 1000, n))])
    t = time.perf_counter()
    cluster = EmbeddedCluster(root / "reload")
    elapsed = time.perf_counter() - t
    groups = len(cluster.list_groups())
    cluster.close()
    return {"reload_s": elapsed, "reload_commit_records": n, "reload_groups": groups}


def bench_describe(root: Path, groups: int) -> dict[str, float]:
    with EmbeddedCluster(root / "describe") as cluster:
        cluster.create_topic("orders", 10)
        for p in range(10):
            cluster.logs.partition("orders", p).append_batch([(None, b"x")] * 100)
        batch = cluster.coordinator.commit_offsets_batch
        batch([CommitRequest(f"g{i:04d}", {("orders", p): (i + p) % 100 for p in range(10)}) for i in range(groups)])
        ids = [g.group_id for g in cluster.list_groups()]
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            described = cluster.describe_groups(ids)
            lag = sum(d.total_lag for d in described)
            best = min(best, time.perf_counter() - t)
        assert len(described) == groups and lag > 0
        return {"describe_groups": groups, "describe_s": best}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.groups", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--commits", type=int, default=200_000)
    parser.add_argument("--reload-commits", type=int, default=1_000_000)
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--dir", help="scratch directory (default: a temporary one)")
    args = parser.parse_args(argv)
    root = Path(args.dir or tempfile.mkdtemp(prefix="bench-groups-"))
    try:
        figures: dict[str, Any] = {}
        figures.update(bench_commits(root, args.commits))
        figures.update(bench_reload(root, args.reload_commits))
        figures.update(bench_describe(root, args.groups))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    targets = {
        "single_commits_per_s >= 100000": figures["single_commits_per_s"] >= 100_000,
        "group_commit_vs_raw >= 0.5": figures["group_commit_vs_raw"] >= 0.5,
        "reload_s < 3 (1,000,000 records)": figures["reload_s"] < 3,
        "describe_s < 0.2 (1,000 groups)": figures["describe_s"] < 0.2,
    }
    result = {"machine": _machine(), "date": time.strftime("%Y-%m-%d"), "figures": figures, "targets": targets}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for k, v in figures.items():
            print(f"{k:28s} {v:>14,.3f}" if isinstance(v, float) else f"{k:28s} {v:>14,}")
        for k, ok in targets.items():
            print(f"{'PASS' if ok else 'FAIL'}  {k}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
