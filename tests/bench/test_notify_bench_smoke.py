"""bench/notify.py in quick mode on SQLite: 1,000 transitions through the real Dispatcher to a local receiver.
The figures are whatever this machine measured; what is checked is that every transition arrived once,
grouped, no sooner than the route's group wait, and that the table and the JSON say so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import notify
from dsl import load

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    out = tmp_path_factory.mktemp("bench") / "notify.json"
    done = subprocess.run([sys.executable, "-m", "bench.notify", "--quick", "--db", "sqlite", "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, json.loads(out.read_text(encoding="utf-8"))


def test_every_transition_arrives_once_grouped_after_the_group_wait(quick: tuple[str, dict]) -> None:
    _, results = quick
    assert results["workload"]["transitions"] == 1000 and results["workload"]["group_wait_s"] == 1
    [run] = results["runs"]
    assert (run["backend"], run["transitions"], run["duplicates"]) == ("sqlite", 1000, 0)
    assert 0 < run["messages"] < run["transitions"]  # grouped by rule and period
    assert 1000 <= run["latency_p50_ms"] <= run["latency_p99_ms"]
    assert run["messages_per_s"] == pytest.approx(run["messages"] / run["seconds"], rel=0.01)


def test_quick_run_prints_its_table(quick: tuple[str, dict]) -> None:
    stdout, results = quick
    row = next(line for line in stdout.splitlines() if line.startswith("sqlite"))
    assert row.split()[1:3] == ["1000", str(results["runs"][0]["messages"])]
    assert "消息/秒" in stdout and "已写入" in stdout


def test_the_bench_rules_keep_the_inhibitions_and_route_everything_to_one_receiver(tmp_path: Path) -> None:
    model = load([str(notify.bench_rules(tmp_path))])
    assert list(model.routes) == ["bench"] and model.routes["bench"].receivers == (notify.RECEIVER,)
    assert (model.routes["bench"].group_wait, model.routes["bench"].group_interval) == ("1s", "1s")
    assert {i.mode for i in model.inhibits} == {"hierarchy", "severity"}
