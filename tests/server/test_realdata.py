"""The Shandong loader (server/realdata.py) and the rules in rules/shandong run on the real data."""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path

import pytest

from server import realdata

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules" / "shandong"

CITIES = {
    "jinan", "qingdao", "zibo", "zaozhuang", "dongying", "yantai", "weifang", "jining", "taian",
    "weihai", "rizhao", "linyi", "dezhou", "liaocheng", "binzhou", "heze",
}
LAIWU_INDICATORS = {"deposits", "loans", "trade", "exports", "imports", "land_area"}

Key = tuple[str, str, str]


@pytest.fixture(scope="module")
def rows() -> list[dict[str, object]]:
    return realdata.shandong_rows()


@pytest.fixture(scope="module")
def values(rows: list[dict[str, object]]) -> dict[Key, float]:
    return {(str(r["indicator"]), str(r["entity"]), str(r["period"])): float(r["value"]) for r in rows}  # type: ignore[arg-type]


def test_sixteen_cities_and_laiwu(rows: list[dict[str, object]]) -> None:
    assert {r["entity"] for r in rows} == CITIES | {"laiwu"}
    for city in CITIES:
        years = {r["period"] for r in rows if r["entity"] == city and r["indicator"] == "gdp"}
        assert years == {str(y) for y in range(2000, 2025)}, city


def test_laiwu_is_its_honest_subset(rows: list[dict[str, object]]) -> None:
    laiwu = [r for r in rows if r["entity"] == "laiwu"]
    assert {r["indicator"] for r in laiwu} == LAIWU_INDICATORS  # no GDP, no fiscal data, no population
    assert max(int(str(r["period"])) for r in laiwu) == realdata.LAIWU_UNTIL == 2018
    assert min(int(str(r["period"])) for r in laiwu) == 2000


def test_units_converted_by_hand(values: dict[Key, float]) -> None:
    assert values["gdp", "taian", "2000"] == 329.75  # 3,297,500 万元
    assert values["fiscal_rev", "taian", "2024"] == 252.7  # 2,527,000 万元
    assert values["trade", "qingdao", "2018"] == pytest.approx(5324.266119)  # 532,426.61 百万元
    assert values["deposits", "taian", "2000"] == pytest.approx(273.1683)  # 2,731,683 万元
    assert values["population", "jinan", "2019"] == pytest.approx(890.87)  # 万人, unchanged


def test_rows_are_clean(rows: list[dict[str, object]]) -> None:
    for row in rows:
        assert set(row) == {"indicator", "entity", "period", "value"}
        assert isinstance(row["value"], float) and math.isfinite(row["value"]), row
        assert len(str(row["period"])) == 4 and str(row["period"]).isdigit(), row
    keys = [(r["indicator"], r["entity"], r["period"]) for r in rows]
    assert len(keys) == len(set(keys))


def test_parts_add_up_within_rounding(values: dict[Key, float]) -> None:
    compared = 0
    for (indicator, entity, period), total in values.items():
        parts = {"gdp": ("gdp_primary", "gdp_secondary", "gdp_tertiary"), "trade": ("exports", "imports")}
        if indicator not in parts:
            continue
        found = [values.get((p, entity, period)) for p in parts[indicator]]
        if None in found:
            continue
        compared += 1
        assert sum(found) == pytest.approx(total, rel=1e-6, abs=1e-4), (indicator, entity, period)  # type: ignore[arg-type]
    assert compared == 16 * 25 + 17 * 25 - 6  # laiwu's trade stops after 2018


def test_main_writes_long_csv(tmp_path: Path, rows: list[dict[str, object]]) -> None:
    out = tmp_path / "var" / "shandong.csv"
    assert realdata.main(["--out", str(out)]) == 0
    with out.open(encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == ["indicator", "entity", "period", "value"]
        written = list(reader)
    assert len(written) == len(rows)
    assert {"indicator": "gdp", "entity": "taian", "period": "2000", "value": "329.75"} in written


# ------------------------------------------------------------------ the rules on the real data


@pytest.fixture(scope="module")
def report(rows: list[dict[str, object]]):
    from dsl import load
    from engine import run

    return run(load([str(RULES)]), rows)


def _firing(report) -> dict[str, set[tuple[str, str]]]:
    """(entity, year) pairs in which each rule was firing."""
    found: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for span in realdata.firing_spans(report.transitions):
        last = int(span.last or "2024")
        found[span.rule].update((span.entity, str(y)) for y in range(int(span.first), last + 1))
    return found


def test_firing_spans_fold_transitions(report) -> None:
    spans = {(s.rule, s.entity, s.first, s.last) for s in realdata.firing_spans(report.transitions)}
    assert ("gdp_growth_low", "zibo", "2018", "2020") in spans  # critical, then warning: one span
    assert ("trade_swing", "binzhou", "2024", None) in spans  # still firing at the end of the data


def test_jinan_2019_merger_is_flagged(report) -> None:
    population = {(t.entity, str(t.period), t.indicator) for t in report.transitions
                  if t.rule == "population_jump" and t.new == "firing"}
    assert population == {("jinan", "2019", "population"), ("jinan", "2019", "population_hukou")}
    assert _firing(report)["boundary_change"] == {("jinan", "2019")}


def test_covid_year_and_census_revision_are_flagged(report) -> None:
    low = _firing(report)["gdp_growth_low"]
    covid = {entity for entity, year in low if year == "2020"}
    assert covid == {"zibo", "zaozhuang", "dongying", "yantai", "jining", "weihai", "dezhou"}
    assert {("zibo", "2018"), ("zibo", "2019")} <= low  # 第四次经济普查修订后淄博 GDP 下降
    assert {("zibo", "2018"), ("zibo", "2019")} <= _firing(report)["gdp_growth_peer"]


def test_known_findings(report) -> None:
    firing = _firing(report)
    assert firing["fiscal_rev_drop"] == {("weihai", "2019"), ("zibo", "2020"), ("weihai", "2022")}
    assert firing["fiscal_self_low"] == {("heze", str(y)) for y in range(2017, 2021)}
    assert ("binzhou", "2024") in firing["trade_swing"]  # an error in the source data
    assert {("jining", "2001"), ("jining", "2004")} <= firing["trade_swing"]
    assert {("dongying", "2019"), ("rizhao", "2015")} <= firing["credit_divergence"]
    assert firing["gdp_growth_break"]  # where the breaks fall depends on the detector's tuning


def test_no_alerts_on_laiwu_after_it_ceased(report) -> None:
    for t in report.transitions:
        if t.entity == "laiwu":
            assert int(str(t.period)[:4]) <= realdata.LAIWU_UNTIL, t
            assert t.rule not in {"gdp_growth_low", "gdp_growth_peer", "gdp_growth_break"}, t


def test_checks_hold_on_the_real_data(report) -> None:
    statuses = {(c.check, c.status) for c in report.check_results}
    assert ("gdp_parts", "ok") in statuses
    assert all(c.status == "ok" for c in report.check_results)
