"""The demo data generator (server/demo.py): deterministic, shaped like published statistics, consistent,
and its documented anomalies are caught by the shipped rules and nothing else trips those rules."""

from __future__ import annotations

import csv
import datetime
import itertools
import time
from collections import defaultdict
from pathlib import Path

import pytest

import dsl
from engine import run
from server import demo

ROOT = Path(__file__).resolve().parents[2]
MAIN = ROOT / "rules" / "taian" / "main.rules"
DOC = ROOT / "docs" / "demo-data.md"
END = "2026-10"
AS_OF = datetime.date(2026, 11, 28)  # every October figure is past its release day
CLEAN_SEEDS = (1, 7, 2026)

Key = tuple[str, str, str]


@pytest.fixture(scope="module")
def model() -> dsl.Model:
    return dsl.load([str(MAIN)])


@pytest.fixture(scope="module")
def clean() -> list[dict]:
    return demo.generate(2026, END, plant=False)


@pytest.fixture(scope="module")
def planted() -> list[dict]:
    return demo.generate(2026, END)


def _values(rows: list[dict]) -> dict[Key, float]:
    return {(r["indicator"], r["entity"], r["period"]): r["value"] for r in rows}


# ----------------------------------------------------------------------------- shape


def test_deterministic_for_a_seed() -> None:
    assert demo.generate(5, END) == demo.generate(5, END)
    assert demo.generate(5, END) != demo.generate(6, END)


def test_fast() -> None:
    start = time.perf_counter()
    demo.generate(11, END)
    assert time.perf_counter() - start < 2.0


def test_default_end_is_the_last_full_month() -> None:
    assert demo.default_end(datetime.date(2026, 11, 28)) == "2026-10"
    assert demo.default_end(datetime.date(2027, 1, 3)) == "2026-12"
    months = {r["period"] for r in demo.generate(3) if len(r["period"]) == 7}
    assert max(months) == demo.default_end()


def test_every_indicator_from_2016(model: dsl.Model, clean: list[dict]) -> None:
    assert {r["indicator"] for r in clean} == set(model.indicators)
    assert min(r["period"][:4] for r in clean) == "2016"
    assert {r["entity"] for r in clean} == set(model.entities)
    assert all(set(r) == {"indicator", "entity", "period", "value"} for r in clean[:100])


def test_period_strings_match_frequencies(model: dsl.Model, clean: list[dict]) -> None:
    lengths = {"monthly": 7, "quarterly": 6, "annual": 4}
    for row in clean:
        assert len(row["period"]) == lengths[model.indicators[row["indicator"]].frequency], row


def test_no_january_rows_for_merged_indicators(model: dsl.Model, planted: list[dict]) -> None:
    merged = {i.id for i in model.indicators.values() if i.jan_feb == "merged"}
    assert merged
    januaries = [r for r in planted if r["indicator"] in merged and r["period"].endswith("-01")]
    assert januaries == []
    separate = [r for r in planted if r["indicator"] == "budget_rev" and r["period"] == "2026-01"]
    assert separate, "indicators published separately do have January"


def test_counties_add_up_to_the_city(model: dsl.Model, clean: list[dict]) -> None:
    values = _values(clean)
    counties = [e for e, d in model.entities.items() if d.parent == "taian" and not d.attrs.get("overlay")]
    additive = {i.id for i in model.indicators.values() if i.additive}
    checked = 0
    for (indicator, entity, period), city in values.items():
        if entity != "taian" or indicator not in additive:
            continue
        total = sum(values[(indicator, county, period)] for county in counties)
        assert total == pytest.approx(city, abs=0.011), (indicator, period)
        checked += 1
    assert checked > 1000


def test_parts_add_up(model: dsl.Model, clean: list[dict]) -> None:
    values = _values(clean)
    for ind in model.indicators.values():
        if not ind.parts:
            continue
        keys = [k for k in values if k[0] == ind.id]
        assert keys, ind.id
        for _, entity, period in keys:
            if entity == "shandong":
                continue  # the province is a reference: only the totals rules compare with
            parts = sum(values[(p, entity, period)] for p in ind.parts)
            assert parts == pytest.approx(values[(ind.id, entity, period)], abs=0.015), (ind.id, entity, period)


def test_ytd_is_cumulative_and_stocks_are_balances(model: dsl.Model, clean: list[dict]) -> None:
    series: dict[tuple[str, str], list[tuple[str, float]]] = defaultdict(list)
    for row in clean:
        series[(row["indicator"], row["entity"])].append((row["period"], row["value"]))
    for indicator in ("retail", "power_ind", "budget_rev", "gdp"):
        points = sorted(series[(indicator, "taian")])
        for (p1, v1), (p2, v2) in itertools.pairwise(points):
            if p1[:4] == p2[:4]:
                assert v2 >= v1, (indicator, p1, p2)
    deposits = dict(series[("deposits", "taian")])
    assert deposits["2023-12"] == pytest.approx(6251.6, rel=0.03)  # a balance, not a sum over months


def test_levels_look_like_taian(clean: list[dict]) -> None:
    values = _values(clean)
    assert 3200 <= values[("gdp", "taian", "2023Q4")] <= 3450
    for year in (2016, 2019, 2023, 2025):
        growth = values[("gdp_growth", "taian", f"{year}Q4")]
        assert 3 <= growth <= 8, year
    assert values[("gdp_growth", "taian", "2020Q1")] < 0  # COVID
    assert values[("gdp_growth", "taian", "2021Q1")] > 10  # and the rebound on a low base
    # 2018 economic census: published levels of 2018 on fell about a fifth below the old path.
    assert values[("gdp", "taian", "2018Q4")] / values[("gdp", "taian", "2017Q4")] < 0.9
    cpis = [v for (i, e, _), v in values.items() if i == "cpi" and e == "taian"]
    assert min(cpis) >= 99 and max(cpis) <= 106
    assert 100 <= sum(cpis) / len(cpis) <= 103


def test_write_csv(tmp_path: Path, clean: list[dict]) -> None:
    target = tmp_path / "out" / "demo.csv"
    demo.write_csv(clean[:500], target)
    with target.open(encoding="utf-8") as handle:
        back = list(csv.DictReader(handle))
    assert list(back[0]) == ["indicator", "entity", "period", "value"]
    assert len(back) == 500
    assert [float(r["value"]) for r in back] == pytest.approx([r["value"] for r in clean[:500]])


# ----------------------------------------------------------------------------- anomalies


def _hits(report, rule: str, entity: str) -> list[str]:
    firing = [t.period for t in report.transitions if (t.rule, t.entity) == (rule, entity) and t.new == "firing"]
    violated = [c.period for c in report.check_results
                if (c.check, c.entity) == (rule, entity) and c.status == "violated"]
    return firing + violated


@pytest.fixture(scope="module")
def planted_report(model: dsl.Model, planted: list[dict]):
    return run(model, planted, as_of=AS_OF)


def test_anomalies_are_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    anomalies = demo.anomalies(END)
    assert 5 <= len(anomalies) <= 8
    for anomaly in anomalies:
        assert f"`{anomaly.id}`" in text and f"`{anomaly.rule}`" in text, anomaly.id


@pytest.mark.parametrize("anomaly", demo.anomalies(END), ids=lambda a: a.id)
def test_shipped_rules_catch_every_anomaly(planted_report, anomaly: demo.Anomaly) -> None:
    hits = _hits(planted_report, anomaly.rule, anomaly.entity)
    assert [p for p in hits if p in anomaly.periods], f"{anomaly.id} not caught by {anomaly.rule}"
    assert [p for p in hits if p not in anomaly.periods] == [], "fired outside the planted periods"


@pytest.mark.parametrize("seed", CLEAN_SEEDS)
def test_planted_rules_stay_quiet_on_clean_data(model: dsl.Model, seed: int) -> None:
    report = run(model, demo.generate(seed, END, plant=False), as_of=AS_OF)
    for anomaly in demo.anomalies(END):
        assert _hits(report, anomaly.rule, anomaly.entity) == [], (seed, anomaly.id)
