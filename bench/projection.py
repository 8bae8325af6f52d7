"""Backtest error of the year-end projections on the demo data, against the clerk's naive forecast.

Run from the repository root (part of `make bench`, not of the test suite):

    python -m bench.projection                 # tables + bench/results/projection.json, a few seconds
    python -m bench.projection --seed 7 --out /tmp/projection.json

For every headline indicator of the brief (`server.reports.HEADLINES`: year-to-date totals projected to the
full-year total, end-of-month balances to the December balance, published cumulative growth rates to the full-year
growth), for the city and each county of the demo data (`server.demo.generate`, the rows `taishan demo` loads, up
to 2026-10), and at every month k = 1…11: each method of `engine.projection` projects every complete past year
from its first k months, and its error is the mean absolute error over those years: a MAPE in % for totals and
balances, in percentage points for rates. All methods are scored on the same years, the ones last-year growth can
project (it needs two years before). The table gives the median error over the entities, and its ratio to the
error of last-year growth (below 1: better than the clerk). Holt-Winters has no rate form: its cells are "—".
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import time
from pathlib import Path

import numpy as np

import dsl
from engine.panel import Panel, build_panel, validate
from engine.periods import Period
from engine.projection import METHODS, backtest, mean_absolute_error
from server import demo
from server.reports import HEADLINES, PROJECTED, counties, projectable, projection_values

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "projection.json"
RULES = [str(ROOT.parent / "rules" / "taian")]
END = "2026-10"
AS_OF = datetime.date(2026, 11, 28)  # every October figure is past its release day
BASELINE = "last_year_growth"
BRIEF_MONTH = 10  # the brief's usual month, October
SINCE = 2  # the first row tested: last-year growth needs two years before it
LABELS = {"seasonal_naive": "季节性朴素", "holt_winters": "Holt-Winters", "last_year_growth": "上年增速外推"}
UNITS = {"flow": "%", "stock": "%", "rate": "pp"}  # MAPE in %, or mean absolute error in percentage points


def headlines(model: dsl.Model) -> tuple[list[str], dict[str, str]]:
    """The headline indicators the brief projects, and why any other has no projection."""
    kept, skipped = [], {}
    for indicator in HEADLINES:
        definition = model.indicators[indicator]
        if projectable(definition):
            kept.append(indicator)
        else:
            skipped[indicator] = f"{definition.frequency} {definition.form}：简报不作全年预计"
    return kept, skipped


def demo_panel(model: dsl.Model, indicators: list[str], seed: int) -> Panel:
    rows = [r for r in demo.generate(seed, END) if r["indicator"] in indicators]
    return build_panel(model, validate(model, rows), as_of=AS_OF)


def points(model: dsl.Model, indicator: str) -> range:
    """The months k a projection can be made at: with 1–2月 published together there is no January figure."""
    return range(2, 12) if model.indicators[indicator].jan_feb == "merged" else range(1, 12)


def form(model: dsl.Model, indicator: str) -> str:
    return PROJECTED[model.indicators[indicator].form]


def entity_errors(panel: Panel, indicator: str, entity: str) -> tuple[int, dict[str, dict[int, np.ndarray]]]:
    """The first year of the entity's history and, per method and month k, the errors of its backtest."""
    values = projection_values(panel, indicator, entity, Period.parse(END))
    first_year = Period.parse(END).year - len(values) + 1
    kind = form(panel.model, indicator)
    return first_year, {method: {k: backtest(values, k, method, since=SINCE, form=kind)
                                 for k in points(panel.model, indicator)} for method in METHODS}


def measure(model: dsl.Model, panel: Panel, indicators: list[str]) -> list[dict]:
    """One row per indicator, method and month k the method can project; none for Holt-Winters on rates."""
    entities = ["taian", *counties(model, "taian")]
    results = []
    for indicator in indicators:
        kind = form(model, indicator)
        found = {entity: entity_errors(panel, indicator, entity) for entity in entities}
        first = min(first for first, _ in found.values()) + SINCE
        for k in points(model, indicator):
            error = {m: {e: mean_absolute_error(errors[m][k], kind) for e, (_, errors) in found.items()
                         if len(errors[m][k])} for m in METHODS}
            baseline = statistics.median(error[BASELINE].values())
            for method in (m for m in METHODS if error[m]):
                median = statistics.median(error[method].values())
                years = {len(errors[method][k]) for _, errors in found.values()}
                results.append({"indicator": indicator, "name": model.indicators[indicator].name, "form": kind,
                                "unit": UNITS[kind], "method": method, "k": k, "error": median,
                                "ratio": median / baseline, "by_entity": error[method], "years": sorted(years),
                                "first_year": first})
    return results


def print_tables(results: list[dict], skipped: dict[str, str]) -> None:
    print(f"回测：演示数据至 {END}，市及各县区，各方法在相同年份上计分，取各地区中位数（总量、余额为 MAPE，%；"
          "增速为平均绝对误差，百分点 pp）；1–2月合并公布的指标没有 k=1；Holt-Winters 不适用于累计增速（—）")
    header = f"{'indicator':<14}{'unit':<6}{'method':<18}" + "".join(f"{f'k={k}':>7}" for k in range(1, 12))
    indicators = list(dict.fromkeys(r["indicator"] for r in results))
    units = {r["indicator"]: r["unit"] for r in results}
    for title, key in (("回测误差", "error"), (f"与{LABELS[BASELINE]}之比", "ratio")):
        print(f"\n{title}\n{header}")
        for indicator in indicators:
            for method in METHODS:
                cells = {r["k"]: r[key] for r in results if r["indicator"] == indicator and r["method"] == method}
                print(f"{indicator:<14}{units[indicator]:<6}{method:<18}" + "".join(
                    f"{cells[k]:>7.2f}" if k in cells else f"{'—':>7}" for k in range(1, 12)))
    print(f"\nk={BRIEF_MONTH}（1-{BRIEF_MONTH}月数据预计全年）：回测误差（与{LABELS[BASELINE]}之比）")
    print(f"{'indicator':<14}{'unit':<6}" + "".join(f"{m:>20}" for m in METHODS) + f"{'years':>12}")
    for indicator in indicators:
        rows = {r["method"]: r for r in results if r["indicator"] == indicator and r["k"] == BRIEF_MONTH}
        first, years = rows[BASELINE]["first_year"], max(rows[BASELINE]["years"])
        print(f"{indicator:<14}{units[indicator]:<6}" + "".join(f"{_cell(rows.get(m)):>20}" for m in METHODS) +
              f"{f'{first}–{first + years - 1}':>12}")
    for indicator, reason in skipped.items():
        print(f"未预计 {indicator}（{reason}）")


def _cell(row: dict | None) -> str:
    return "—" if row is None else f"{row['error']:.2f} ({row['ratio']:.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2026, help="demo data seed (taishan demo uses 2026)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    started = time.perf_counter()
    model = dsl.load(RULES)
    indicators, skipped = headlines(model)
    results = measure(model, demo_panel(model, indicators, args.seed), indicators)
    seconds = time.perf_counter() - started
    print_tables(results, skipped)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"seed": args.seed, "end": END, "since_row": SINCE, "baseline": BASELINE,
                                    "seconds": round(seconds, 2), "skipped": skipped, "results": results},
                                   ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"\n{seconds:.1f} 秒；已写入 {args.out}")


if __name__ == "__main__":
    main()
