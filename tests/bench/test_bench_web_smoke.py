"""The web benchmark runs end to end with tiny sizes and reports every figure (no timing asserts).

It starts the real server as a subprocess, so it is an integration test and takes ~15 s.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench import __main__ as dispatcher
from bench import web

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]

WEB_FIGURES = {
    "latency_median_s",
    "latency_p99_s",
    "latency_max_s",
    "latency_from_send_median_s",
    "latency_baseline_median_s",
    "latency_baseline_p99_s",
    "unseen_pairs",
    "frames_per_client_max_per_s",
    "frames_per_client_median_per_s",
    "frame_bytes_median",
    "frame_bytes_p99",
    "produced_share",
    "produced_per_s",
    "produce_request_median_s",
    "produce_request_p99_s",
    "server_cpu_per_s",
    "clients_cpu_per_s",
    *(
        f"get_{page}_{what}_s"
        for page in ("overview", "topic", "group")
        for what in ("load_median", "load_p95", "idle_median")
    ),
    # The same load with whole frames (OFFSETSITE_LIVE_FULL_FRAMES=1), and the ratios.
    "full_produced_share",
    "full_latency_median_s",
    "full_latency_p99_s",
    "full_frame_bytes_median",
    "full_frame_bytes_p99",
    "full_frames_per_client_median_per_s",
    "full_server_cpu_per_s",
    *(f"full_get_{page}_load_median_s" for page in ("overview", "topic", "group")),
    "ratio_frame_bytes_median",
    "ratio_latency_median",
    "ratio_bytes_per_client_s",
    *(
        f"page_{name}_{what}_s"
        for name in ("big_tail", "big_early", "small_tail", "login")
        for what in ("median", "best")
    ),
}
TARGETS = {
    "produced_share",
    "frame_bytes_median",
    "latency_median_s",
    "latency_p99_s",
    "frames_per_client_max_per_s",
    "get_overview_load_median_s",
    "get_topic_load_median_s",
    "get_group_load_median_s",
    "page_big_tail_median_s",
    "page_big_early_median_s",
}
TINY = [
    "--clients", "3", "--rate", "200", "--batch", "20", "--duration", "2", "--connections", "2",
    "--baseline-rate", "50", "--baseline-batch", "5", "--baseline-duration", "1.5",
    "--records", "3000", "--page-runs", "2",
]  # fmt: skip


def test_web_bench_json_has_every_figure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 1 when a target failed (FAIL is printed): timings, not what this test checks.
    assert web.main(["--json", "--dir", str(tmp_path), *TINY]) in (0, 1)
    result = json.loads(capsys.readouterr().out)
    figures = result["figures"]
    assert set(figures) == WEB_FIGURES
    for name, fig in figures.items():
        assert isinstance(fig["value"], int | float) and not math.isnan(fig["value"]), name
        assert (fig["pass"] is not None) == (name in TARGETS), name
        assert (fig["target"] is not None) == (name in TARGETS), name
    # Latencies were measured for every (request, client) pair: 2 s at 200/s in batches of
    # 20 is 20 requests, seen by 3 clients; the clients saw frames and the pages answered.
    info = result["info"]
    assert info["requests"] == 20 and info["failed_requests"] == 0
    assert info["latency_samples"] + figures["unseen_pairs"]["value"] == 20 * 3
    assert info["latency_samples"] > 0 and info["frames"] >= 3
    assert info["client_errors"] == []
    assert all(n > 0 for n in info["get_samples"].values())
    assert set(info["get_samples"]) == {"/", "/topics/live/", "/groups/bench-readers/"}
    assert result["params"]["records"] == 3000 and result["params"]["clients"] == 3
    assert figures["frame_bytes_median"]["value"] > 0
    machine = result["machine"]
    assert machine["cores"] and machine["cpu"] and machine["python"]
    assert result["date"] and "monotonic" in result["clock"]
    # The scratch directory (data, database, server log) is removed afterwards.
    assert list(tmp_path.iterdir()) == []


def test_web_bench_rejects_bad_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    assert web.main(["--clients", "0"]) == 2
    assert "--clients must be at least 1" in capsys.readouterr().err
    assert web.main(["--records", "10"]) == 2
    assert "--records must be more than 1000" in capsys.readouterr().err


def test_dispatcher_lists_and_runs_web(capsys: pytest.CaptureFixture[str]) -> None:
    assert dispatcher.main(["--help"]) == 0
    assert "web " in capsys.readouterr().out
    assert dispatcher.main(["web", "--records", "5"]) == 2  # reached bench.web's own checks
    assert "--records must be more than 1000" in capsys.readouterr().err


def test_latencies_pair_each_request_with_the_first_frame_showing_it() -> None:
    # Two clients on one partition. Requests leave HW 10 (acked at 1.0) and 20 (acked at 2.0).
    frames = [
        [(1.05, ((0, 10),), 100), (2.5, ((0, 20),), 100)],  # sees each request in its own frame
        [(0.9, ((0, 0),), 100), (2.2, ((0, 20),), 100)],  # sees both in one frame
    ]
    produced = [(0.95, 1.0, 0, 10, 201), (1.9, 2.0, 0, 20, 201), (2.9, 3.0, 0, 30, 201)]
    run = web._analyse({"frames": frames, "errors": []}, produced, 2, 10, {}, 0.5, 0.1, 1.0)
    assert sorted(round(x, 3) for x in run.latencies) == [0.05, 0.2, 0.5, 1.2]
    assert sorted(round(x, 3) for x in run.from_send) == [0.1, 0.3, 0.6, 1.25]
    assert run.unseen == 2  # HW 30 was shown to nobody
    assert run.max_fps == 1 and run.frames == 4
    assert run.achieved_rate == pytest.approx(30 / (3.0 - 0.95))
