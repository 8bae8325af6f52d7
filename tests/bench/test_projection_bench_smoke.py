"""bench/projection.py on the demo data (a few seconds). The figures are whatever the methods score; what is
checked is that the three methods are scored on the same years and entities, that the medians and ratios in the
JSON follow from the per-entity figures, and that the k=10 table says what the JSON says."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from bench import projection

REPO = Path(__file__).resolve().parents[2]
ENTITIES = {"taian", "taishan", "daiyue", "xintai", "feicheng", "ningyang", "dongping"}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    out = tmp_path_factory.mktemp("bench") / "projection.json"
    done = subprocess.run([sys.executable, "-m", "bench.projection", "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, json.loads(out.read_text(encoding="utf-8"))


def test_every_year_total_headline_is_scored_by_every_method_at_every_month(run: tuple[str, dict]) -> None:
    _, results = run
    assert set(results["skipped"]) == {"ind_va", "fixed_invest", "deposits", "loans"}  # rates and balances
    cells = {(r["indicator"], r["method"], r["k"]) for r in results["results"]}
    # 1–2月 are published together for retail sales and trade: their first projection is at February.
    expected = {(i, m, k) for i, first in (("retail", 2), ("budget_rev", 1), ("trade", 2))
                for m in projection.METHODS for k in range(first, 12)}
    assert cells == expected


def test_medians_and_ratios_follow_from_the_entities_on_the_same_years(run: tuple[str, dict]) -> None:
    _, results = run
    rows = {(r["indicator"], r["method"], r["k"]): r for r in results["results"]}
    for (indicator, _, k), row in rows.items():
        baseline = rows[(indicator, projection.BASELINE, k)]
        assert set(row["by_entity"]) == ENTITIES
        assert row["mape"] == pytest.approx(statistics.median(row["by_entity"].values()))
        assert row["ratio"] == pytest.approx(row["mape"] / baseline["mape"])
        assert row["years"] == baseline["years"] and len(row["years"]) == 1  # the same years everywhere
        # Last-year growth ignores this year's months: its error is the same at every k.
        assert baseline["mape"] == pytest.approx(rows[(indicator, projection.BASELINE, 11)]["mape"])


def test_the_k10_table_prints_the_json(run: tuple[str, dict]) -> None:
    stdout, results = run
    for indicator in ("retail", "budget_rev", "trade"):
        line = next(s for s in stdout.splitlines()[::-1] if s.startswith(indicator))  # the k=10 table is last
        found = {r["method"]: r for r in results["results"] if r["indicator"] == indicator and r["k"] == 10}
        assert line.split()[1:7] == [p for m in projection.METHODS
                                     for p in (f"{found[m]['mape']:.2f}", f"({found[m]['ratio']:.2f})")]
