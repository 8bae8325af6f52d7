"""bench/auth.py in quick mode: argon2id for the configured parameters and a heavier set, then a burst of 20
sign-ins against a real `taishan serve` on SQLite. The numbers are whatever this machine measured; what is
checked is that they are all there and hang together."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import auth

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    out = tmp_path_factory.mktemp("bench") / "auth.json"
    done = subprocess.run([sys.executable, "-m", "bench.auth", "--quick", "--out", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, json.loads(out.read_text(encoding="utf-8"))


def test_quick_run_measures_the_configured_parameters_and_a_heavier_set(quick: tuple[str, dict]) -> None:
    _, results = quick
    assert set(results) >= {"target", "plan", "machine", "current", "argon2", "bursts", "verdict", "skipped"}
    assert results["target"] == {"burst": 200, "window_s": 1.0, "p99_s": 2.0}
    current, heavier = results["argon2"]
    assert current["current"] and not heavier["current"] and results["current"] == current["name"]
    assert (current["time_cost"], current["memory_kib"]) == (auth.accounts.ARGON2.time_cost,
                                                             auth.accounts.ARGON2.memory_cost)
    assert heavier["time_cost"] > current["time_cost"]
    for a in results["argon2"]:
        assert 0 < a["verify_ms"]["min"] <= a["verify_ms"]["median"] <= a["verify_ms"]["max"]
        assert a["hash_ms"] > 0 and a["verify_per_s"]["1_thread"] > 0 and a["verify_per_s"]["2_threads"] > 0
        assert a["predicted_burst_s"] == pytest.approx(results["plan"]["burst"] / a["verify_per_s"]["2_threads"],
                                                       rel=0.05, abs=0.01)
    # More passes over the same memory cost more: the figures measure argon2, not noise.
    assert heavier["verify_ms"]["min"] > current["verify_ms"]["min"]


def test_quick_run_signs_every_user_in_over_http(quick: tuple[str, dict]) -> None:
    _, results = quick
    plan = results["plan"]
    assert [(b["backend"], b["workers"], b["params"], b["arrival"]) for b in results["bursts"]] == [
        ("sqlite", 1, name, "spread") for name in plan["params"]]
    for burst in results["bursts"]:
        latency = burst["latency_ms"]
        assert burst["n"] == latency["n"] == plan["burst"] and burst["statuses"] == {"200": plan["burst"]}
        assert burst["ok"] == plan["burst"]
        assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
        # The last request leaves at the end of the window and is answered after it.
        assert plan["window_s"] * (plan["burst"] - 1) / plan["burst"] < burst["total_s"]
        assert latency["max"] / 1000 <= burst["total_s"]
        assert 0 < burst["cpu_floor_s"] <= burst["server_cpu_s"] <= burst["machine_busy_s"] + 0.05
        assert burst["meets_target"] == (latency["p99"] <= 2000)
    verdict = results["verdict"]
    assert verdict["current"] == results["current"]
    assert verdict["current_meets"] == {"sqlite": results["bursts"][0]["meets_target"]}
    assert set(verdict["by_backend"]["sqlite"]) == set(plan["params"])


def test_quick_run_prints_its_tables(quick: tuple[str, dict]) -> None:
    stdout, results = quick
    for text in ("argon2id 本身", "突发登录", "p99 ms", f"{results['current']} *", "wrote "):
        assert text in stdout, text


def test_percentiles_use_the_nearest_rank() -> None:
    p = auth.percentiles([i / 1000 for i in range(100, 0, -1)])
    assert (p["n"], p["p50"], p["p90"], p["p99"], p["max"]) == (100, 50.0, 90.0, 99.0, 100.0)
    assert auth.percentiles([])["n"] == 0
