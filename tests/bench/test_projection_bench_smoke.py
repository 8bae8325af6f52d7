"""bench/projection.py on the demo data (a few seconds). The figures are whatever the methods score; what is
checked is that every method that applies is scored on the same years and entities for all seven headline
indicators, that the medians and ratios in the JSON follow from the per-entity figures, and that the k=10 table says
what the JSON says."""

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


def test_every_headline_is_scored_by_every_method_that_applies_at_every_month(run: tuple[str, dict]) -> None:
    _, results = run
    assert results["skipped"] == {}
    cells = {(r["indicator"], r["method"], r["k"]) for r in results["results"]}
    # 1–2月 are published together for retail sales, trade and both rates: their first projection is at February.
    # Holt-Winters has no rate form.
    first = {"ind_va": 2, "fixed_invest": 2, "retail": 2, "budget_rev": 1, "trade": 2, "deposits": 1, "loans": 1}
    expected = {(i, m, k) for i, start in first.items() for m in projection.METHODS for k in range(start, 12)
                if not (i in ("ind_va", "fixed_invest") and m == "holt_winters")}
    assert cells == expected
    units = {r["indicator"]: r["unit"] for r in results["results"]}
    assert units == {"ind_va": "pp", "fixed_invest": "pp", "retail": "%", "budget_rev": "%", "trade": "%",
                     "deposits": "%", "loans": "%"}


def test_medians_and_ratios_follow_from_the_entities_on_the_same_years(run: tuple[str, dict]) -> None:
    _, results = run
    rows = {(r["indicator"], r["method"], r["k"]): r for r in results["results"]}
    for (indicator, _, k), row in rows.items():
        baseline = rows[(indicator, projection.BASELINE, k)]
        assert set(row["by_entity"]) == ENTITIES
        assert row["error"] == pytest.approx(statistics.median(row["by_entity"].values()))
        assert row["ratio"] == pytest.approx(row["error"] / baseline["error"])
        assert row["years"] == baseline["years"] and len(row["years"]) == 1  # the same years everywhere
        # Last-year growth ignores this year's months: its error is the same at every k.
        assert baseline["error"] == pytest.approx(rows[(indicator, projection.BASELINE, 11)]["error"])


def test_the_k10_table_prints_the_json(run: tuple[str, dict]) -> None:
    stdout, results = run
    for indicator in projection.HEADLINES:
        line = next(s for s in stdout.splitlines()[::-1] if s.startswith(indicator))  # the k=10 table is last
        found = {r["method"]: r for r in results["results"] if r["indicator"] == indicator and r["k"] == 10}
        cells = [p for m in projection.METHODS for p in (
            (f"{found[m]['error']:.2f}", f"({found[m]['ratio']:.2f})") if m in found else ("—",))]
        assert line.split()[1:2 + len(cells)] == [found[projection.BASELINE]["unit"], *cells]
