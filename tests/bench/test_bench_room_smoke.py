"""The room benchmark runs end to end with tiny sizes and reports every figure (no timing asserts).

It starts the real server as a subprocess, so it is an integration test and takes ~20 s.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench import __main__ as dispatcher
from bench import room

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]

PER_PHASE = (
    "latency_max_s",
    "unseen_pairs",
    "facilitator_latency_median_s",
    "frames",
    "frames_per_socket_max_per_s",
    "frame_bytes_median",
    "server_cpu_per_s",
)
ROOM_FIGURES = {
    "attendees_joined",
    "checkers_running",
    "latency_median_s",
    "latency_p99_s",
    "produced_per_s",
    "baseline_latency_median_s",
    "baseline_latency_p99_s",
    "baseline_produced_per_s",
    *PER_PHASE,
    *(f"baseline_{name}" for name in PER_PHASE),
}
TARGETS = {
    "attendees_joined",
    "checkers_running",
    "latency_median_s",
    "latency_p99_s",
    "produced_per_s",
    "baseline_produced_per_s",
    "frames_per_socket_max_per_s",
    "baseline_frames_per_socket_max_per_s",
}
TINY = ["--attendees", "3", "--shared-every", "2", "--rate", "10", "--duration", "1.5"]


def test_room_bench_json_has_every_figure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert room.main(["--json", "--dir", str(tmp_path), *TINY]) == 0
    result = json.loads(capsys.readouterr().out)
    figures = result["figures"]
    assert set(figures) == ROOM_FIGURES
    for name, fig in figures.items():
        assert isinstance(fig["value"], int | float) and not math.isnan(fig["value"]), name
        assert (fig["pass"] is not None) == (name in TARGETS), name
    # Every attendee joined over HTTP and ran a checker; each phase's 15 records were
    # acknowledged, and every (record, socket) pair was either seen or counted unseen.
    assert figures["attendees_joined"]["value"] == 3 and figures["checkers_running"]["value"] == 3
    info = result["info"]
    assert info["states_baseline"] == {"crashed": 3} and info["crashed_for_baseline"] == 3
    for tag in ("load", "baseline"):
        assert info[f"{tag}_requests"] == 15 and info[f"{tag}_failed_requests"] == 0
        assert (
            info[f"{tag}_latency_samples"] + figures[f"{'baseline_' if tag == 'baseline' else ''}unseen_pairs"]["value"]
            == 15 * 3
        )
        assert info[f"{tag}_socket_errors"] == []
    assert info["join_errors"] == []
    assert result["machine"]["cores"] and result["date"]
    assert list(tmp_path.iterdir()) == []


def test_room_bench_rejects_bad_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    assert room.main(["--pace", "50"]) == 2
    assert "--pace must be between 0.1 and 10" in capsys.readouterr().err
    assert dispatcher.main(["room", "--rate", "0"]) == 2
    assert "--rate and --duration must be positive" in capsys.readouterr().err
