"""bench/server.py in quick mode (SQLite, a real server, small N, a 3-second load) and its load generator's parts.

The quick run checks the harness end to end: it must have timed POSTs that really moved the alert, stored a
whole batch, and driven load with every request answered or counted as an error. The numbers are whatever
this machine measured; only their consistency is checked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import load, server

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    out = tmp_path_factory.mktemp("bench") / "server.json"
    done = subprocess.run([sys.executable, "-m", "bench.server", "--quick", "--out", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, json.loads(out.read_text(encoding="utf-8"))


def _ordered(p: dict[str, float]) -> bool:
    return 0 < p["p50"] <= p["p90"] <= p["p99"] <= p["max"]


def test_quick_run_prints_its_tables(quick: tuple[str, dict]) -> None:
    stdout, _ = quick
    for text in ("POST 1 row + alert", "-row batch", "p90 / p99 / max", "achieved", "server CPU", "wrote "):
        assert text in stdout, text


def test_quick_run_times_real_alert_persistence(quick: tuple[str, dict]) -> None:
    _, results = quick
    assert list(results["backends"]) == ["sqlite"]
    sqlite = results["backends"]["sqlite"]
    post = sqlite["post"]
    assert post["transitions_checked"] == post["n"] == post["latency_ms"]["n"] == server.QUICK.posts
    assert _ordered(post["latency_ms"]) and _ordered(post["server_ingest_ms"])
    # The server's own ingest time is part of what the client waited for.
    assert post["server_ingest_ms"]["p50"] <= post["latency_ms"]["p50"]
    batch = sqlite["batch"]
    assert batch["rows"] == server.QUICK.batch_rows and len(batch["all_s"]) == server.QUICK.batch_runs
    assert 0 < batch["server_ingest_median_s"] <= batch["median_s"]
    assert sqlite["demo"]["seconds"] > 0 and "演示数据" in sqlite["demo"]["output"]


def test_quick_run_drives_load_and_accounts_for_every_request(quick: tuple[str, dict]) -> None:
    _, results = quick
    (run,) = results["backends"]["sqlite"]["load"]
    assert run["clients"] == server.QUICK.clients and run["workers"] == 1
    assert run["paths"] and set(run["paths"]) | set(run["paths_missing"]) == set(server.DASHBOARD)
    assert run["requests"] == run["answered"] + sum(v for k, v in run["error_kinds"].items()
                                                    if not k.startswith("http_"))
    assert sum(run["statuses"].values()) == run["answered"] > 0
    assert sum(p["n"] for p in run["per_path_ms"].values()) == run["answered"]
    assert _ordered(run["latency_ms"])
    assert run["achieved_rps"] > 0 and run["server_cpu_s"] > 0 and run["cpu_s"] >= 0
    assert run["machine_busy_cores"] >= run["server_cpu_cores"]


def test_percentiles_use_the_nearest_rank() -> None:
    p = load.percentiles([i / 1000 for i in range(100, 0, -1)])
    assert (p["n"], p["p50"], p["p90"], p["p99"], p["max"]) == (100, 50.0, 90.0, 99.0, 100.0)
    assert load.percentiles([])["n"] == 0


def test_responses_are_complete_only_with_their_whole_body() -> None:
    head = b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\nContent-Length: 5\r\n\r\n"
    assert load._complete_response(bytearray(head + b"{}")) is None
    assert load._complete_response(bytearray(head + b'{"a"}HTTP/1.1')) == (404, len(head) + 5)
    assert load._complete_response(bytearray(b"HTTP/1.1 200 OK\r\ncontent-le")) is None


def test_stack_summary_splits_own_time_and_packages() -> None:
    top = 'process 1:"taishan";_run (sanic/app.py:1)'
    lines = [f"{top};alerts (server/queries.py:9);execute (asyncpg/connection.py:3) 3",
             f"{top};dumps (/usr/lib/python3.11/json/__init__.py:2) 1"]
    summary = server.summarize_stacks(lines)
    assert summary["samples"] == 4
    assert summary["own"][0] == {"share": 0.75, "frame": "execute (asyncpg/connection.py:3)"}
    assert summary["packages"]["sanic"] == 1.0 and summary["packages"]["asyncpg"] == 0.75
    assert summary["packages"]["server"] == 0.75 and summary["packages"]["json"] == 0.25
