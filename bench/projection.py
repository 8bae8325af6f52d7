"""Backtest error of the year-end projections on the demo data, against the clerk's naive forecast.

Run from the repository root (part of `make bench`, not of the test suite):

    python -m bench.projection                 # tables + bench/results/projection.json, a few seconds
    python -m bench.projection --seed 7 --out /tmp/projection.json

For every headline indicator of the brief that is a year-to-date total (`server.reports.HEADLINES`; published
rates and end-of-month balances have no year total to project), for the city and each county of the demo data
(`server.demo.generate`, the rows `taishan demo` loads, up to 2026-10), and at every month k = 1…11: each method
of `engine.projection` projects every complete past year from its first k months, and its MAPE is the mean
absolute error over those years. All three methods are scored on the same years, the ones last-year growth
can project (it needs two years before). The table gives the median MAPE over the entities, and its ratio to
the MAPE of last-year growth (below 1: better than the clerk).
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
from engine.projection import METHODS, backtest, single_months
from server import demo
from server.reports import HEADLINES, counties, ytd_matrix

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "projection.json"
RULES = [str(ROOT.parent / "rules" / "taian")]
END = "2026-10"
AS_OF = datetime.date(2026, 11, 28)  # every October figure is past its release day
BASELINE = "last_year_growth"
BRIEF_MONTH = 10  # the brief's usual month, October
SINCE = 2  # the first row tested: last-year growth needs two years before it
LABELS = {"seasonal_naive": "季节性朴素", "holt_winters": "Holt-Winters", "last_year_growth": "上年增速外推"}


def projectable(model: dsl.Model) -> tuple[list[str], dict[str, str]]:
    """The headline indicators with a year total to project, and why the others have none."""
    kept, skipped = [], {}
    for indicator in HEADLINES:
        definition = model.indicators[indicator]
        if definition.frequency == "monthly" and definition.form == "ytd":
            kept.append(indicator)
        else:
            skipped[indicator] = f"{definition.form}：没有全年总量可预计"
    return kept, skipped


def demo_panel(model: dsl.Model, indicators: list[str], seed: int) -> Panel:
    rows = [r for r in demo.generate(seed, END) if r["indicator"] in indicators]
    return build_panel(model, validate(model, rows), as_of=AS_OF)


def points(model: dsl.Model, indicator: str) -> range:
    """The months k a projection can be made at: with 1–2月 published together there is no January figure."""
    return range(2, 12) if model.indicators[indicator].jan_feb == "merged" else range(1, 12)


def entity_errors(panel: Panel, indicator: str, entity: str) -> tuple[int, dict[str, dict[int, np.ndarray]]]:
    """The first year of the entity's history and, per method and month k, the relative errors of its backtest."""
    ytd = ytd_matrix(panel, indicator, entity, Period.parse(END))
    months = single_months(ytd, merged_jan_feb=panel.model.indicators[indicator].jan_feb == "merged")
    first_year = Period.parse(END).year - len(months) + 1
    return first_year, {method: {k: backtest(months, k, method, since=SINCE)
                                 for k in points(panel.model, indicator)} for method in METHODS}


def measure(model: dsl.Model, panel: Panel, indicators: list[str]) -> list[dict]:
    entities = ["taian", *counties(model, "taian")]
    results = []
    for indicator in indicators:
        found = {entity: entity_errors(panel, indicator, entity) for entity in entities}
        first = min(first for first, _ in found.values()) + SINCE
        for k in points(model, indicator):
            mape = {m: {e: float(np.mean(np.abs(errors[m][k])) * 100) for e, (_, errors) in found.items()}
                    for m in METHODS}
            baseline = statistics.median(mape[BASELINE].values())
            for method in METHODS:
                median = statistics.median(mape[method].values())
                years = {len(errors[method][k]) for _, errors in found.values()}
                results.append({"indicator": indicator, "name": model.indicators[indicator].name, "method": method,
                                "k": k, "mape": median, "ratio": median / baseline, "by_entity": mape[method],
                                "years": sorted(years), "first_year": first})
    return results


def print_tables(results: list[dict], skipped: dict[str, str]) -> None:
    print(f"回测：演示数据至 {END}，市及各县区，三种方法在相同年份上计分（MAPE 取各地区中位数，%；"
          "1–2月合并公布的指标没有 k=1）")
    header = f"{'indicator':<12}{'method':<18}" + "".join(f"{f'k={k}':>7}" for k in range(1, 12))
    indicators = list(dict.fromkeys(r["indicator"] for r in results))
    for title, key in (("MAPE %", "mape"), (f"与{LABELS[BASELINE]}之比", "ratio")):
        print(f"\n{title}\n{header}")
        for indicator in indicators:
            for method in METHODS:
                cells = {r["k"]: r[key] for r in results if r["indicator"] == indicator and r["method"] == method}
                print(f"{indicator:<12}{method:<18}" + "".join(
                    f"{cells[k]:>7.2f}" if k in cells else f"{'—':>7}" for k in range(1, 12)))
    print(f"\nk={BRIEF_MONTH}（1-{BRIEF_MONTH}月数据预计全年）：MAPE %（与{LABELS[BASELINE]}之比）")
    print(f"{'indicator':<12}" + "".join(f"{m:>20}" for m in METHODS) + f"{'years':>12}")
    for indicator in indicators:
        rows = {r["method"]: r for r in results if r["indicator"] == indicator and r["k"] == BRIEF_MONTH}
        first, years = rows[BASELINE]["first_year"], max(rows[BASELINE]["years"])
        print(f"{indicator:<12}" + "".join(f"{_cell(rows[m]):>20}" for m in METHODS) +
              f"{f'{first}–{first + years - 1}':>12}")
    for indicator, reason in skipped.items():
        print(f"未预计 {indicator}（{reason}）")


def _cell(row: dict) -> str:
    return f"{row['mape']:.2f} ({row['ratio']:.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2026, help="demo data seed (taishan demo uses 2026)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    started = time.perf_counter()
    model = dsl.load(RULES)
    indicators, skipped = projectable(model)
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
