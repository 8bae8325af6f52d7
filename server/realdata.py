"""Real annual data for Shandong's cities, from the `city-macro-data` package.

`shandong_rows()` turns the package's wide table (one row per city and year, units 万元 and
百万人民币) into Taishan's long format in the units a statistics bureau publishes (亿元, 万人).
`python -m server.realdata --out var/shandong.csv` writes it as CSV; `--findings rules/shandong`
also runs the rules on it and lists every stretch of alert (the list in docs/shandong.md).

莱芜市 was merged into 济南市 in January 2019. The package still carries rows for it up to 2024,
but nothing that was 莱芜市 existed after 2018, so those rows are dropped; see docs/shandong.md.
"""

from __future__ import annotations

import argparse
import csv
import math
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROVINCE = "山东省"
FIRST_YEAR = 2000

# 城市 in the package -> entity id in rules/shandong/regions.rules.
CITY_IDS: dict[str, str] = {
    "济南市": "jinan",
    "青岛市": "qingdao",
    "淄博市": "zibo",
    "枣庄市": "zaozhuang",
    "东营市": "dongying",
    "烟台市": "yantai",
    "潍坊市": "weifang",
    "济宁市": "jining",
    "泰安市": "taian",
    "威海市": "weihai",
    "日照市": "rizhao",
    "莱芜市": "laiwu",
    "临沂市": "linyi",
    "德州市": "dezhou",
    "聊城市": "liaocheng",
    "滨州市": "binzhou",
    "菏泽市": "heze",
}

# The last year 莱芜市 existed as a prefecture-level city (merged into 济南市 in January 2019).
LAIWU_UNTIL = 2018

# Package series that are not 莱芜市's although they carry its name: the package's 常住人口
# for 莱芜 is 541–594 万人 (2010: 568.6), against 129.85 万 in the 2010 census, on 2,246 km².
LAIWU_REJECTED = frozenset({"population"})

WAN_YUAN_TO_YI = 1e-4  # 1 亿元 = 10,000 万元
MILLION_YUAN_TO_YI = 1e-2  # 1 亿元 = 100 百万元


@dataclass(frozen=True)
class Column:
    """One package column loaded as one indicator."""

    indicator: str
    source: str  # the package's column name with all whitespace removed
    factor: float  # multiply the package's value by this to get the published unit


# Whitespace-free names: the package's headers contain "\r\n" in some versions and "\n" in others.
COLUMNS: tuple[Column, ...] = (
    Column("gdp", "地区生产总值(万元)", WAN_YUAN_TO_YI),
    Column("gdp_primary", "第一产业增加值(万元)", WAN_YUAN_TO_YI),
    Column("gdp_secondary", "第二产业增加值(万元)", WAN_YUAN_TO_YI),
    Column("gdp_tertiary", "第三产业增加值(万元)", WAN_YUAN_TO_YI),
    Column("fiscal_rev", "一般公共预算收入(万元)", WAN_YUAN_TO_YI),
    Column("fiscal_exp", "一般公共预算支出(万元)", WAN_YUAN_TO_YI),
    Column("deposits", "年末金融机构存款余额(万元)", WAN_YUAN_TO_YI),
    Column("loans", "年末金融机构各项贷款余额(万元)", WAN_YUAN_TO_YI),
    Column("trade", "进出口总额（百万人民币）", MILLION_YUAN_TO_YI),
    Column("exports", "出口总额(百万人民币)", MILLION_YUAN_TO_YI),
    Column("imports", "进口总额(百万人民币)", MILLION_YUAN_TO_YI),
    Column("population", "常住人口(万人)", 1.0),
    Column("population_hukou", "户籍人口数(万人)", 1.0),
    Column("land_area", "行政区域土地面积(平方公里)", 1.0),
)

FIELDS = ("indicator", "entity", "period", "value")


def _squeeze(name: str) -> str:
    return re.sub(r"\s+", "", str(name))


def _column_index(headers: Iterable[str]) -> dict[str, str]:
    """Map whitespace-free header -> real header, failing loudly if a needed column is gone."""
    index = {_squeeze(h): h for h in headers}
    missing = [c.source for c in COLUMNS if c.source not in index]
    if missing:
        raise KeyError(f"city-macro-data 缺少列：{', '.join(missing)}")
    return index


def _keep(entity: str, indicator: str, year: int) -> bool:
    """莱芜: nothing after it ceased to exist, and not the series known to be someone else's."""
    if entity != "laiwu":
        return True
    return year <= LAIWU_UNTIL and indicator not in LAIWU_REJECTED


def _value(raw: object, factor: float) -> float | None:
    """Convert one cell; a blank cell (NaN) is no observation, never a zero."""
    if raw is None:
        return None
    value = float(raw)  # type: ignore[arg-type]
    if math.isnan(value):
        return None
    # 万元 -> 亿元 keeps four decimals exactly; round off float noise such as 329.74999999.
    return round(value * factor, 6)


def _records() -> list[dict[str, object]]:
    from city_macro_data import load_data  # imported here: pandas is slow to import

    frame = load_data()
    frame = frame[frame["省份"] == PROVINCE]
    return frame.to_dict("records")


def shandong_rows() -> list[dict[str, object]]:
    """Long rows {indicator, entity, period, value} for Shandong's cities, in published units."""
    records = _records()
    index = _column_index(records[0].keys()) if records else {}
    rows: list[dict[str, object]] = []
    for record in records:
        entity = CITY_IDS[str(record["城市"])]  # KeyError on a new city: better than a silent skip
        year = int(record["年份"])  # type: ignore[call-overload]
        for column in COLUMNS:
            if not _keep(entity, column.indicator, year):
                continue
            value = _value(record[index[column.source]], column.factor)
            if value is not None:
                rows.append({"indicator": column.indicator, "entity": entity, "period": str(year),
                             "value": value})
    rows.sort(key=lambda r: (r["indicator"], r["entity"], r["period"]))
    return rows


def write_csv(rows: list[dict[str, object]], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)


@dataclass(frozen=True)
class Span:
    """One stretch of an alert: from the period it started firing to the last period it fired."""

    rule: str
    entity: str
    indicator: str | None
    first: str
    last: str | None  # None: still firing at the end of the data
    message: str


def firing_spans(transitions: Iterable[Any]) -> list[Span]:
    """Fold an engine report's transitions into spans; severity changes stay inside one span."""
    opened: dict[tuple[str, str, str | None], Any] = {}
    spans: list[Span] = []
    for t in sorted(transitions, key=lambda t: str(t.period)):
        key = (t.rule, t.entity, t.indicator)
        if t.new == "firing":
            opened.setdefault(key, t)
        elif t.new == "resolved" and key in opened:
            start = opened.pop(key)
            spans.append(Span(*key, str(start.period), str(int(str(t.period)) - 1), start.message))
    spans.extend(Span(*key, str(t.period), None, t.message) for key, t in opened.items())
    return sorted(spans, key=lambda s: (s.rule, s.first, s.entity, s.indicator or ""))


def _print_findings(rules: Path, rows: list[dict[str, object]]) -> None:
    from dsl import load  # the loader itself needs neither the language nor the engine
    from engine import run

    for span in firing_spans(run(load([str(rules)]), rows).transitions):
        years = span.first if span.last == span.first else f"{span.first}–{span.last or '至今'}"
        print(f"{span.rule}\t{span.entity}\t{span.indicator or ''}\t{years}\t{span.message}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="导出山东省各市年度数据（长格式 CSV）")
    parser.add_argument("--out", type=Path, default=Path("var/shandong.csv"), help="输出文件")
    parser.add_argument("--findings", type=Path, metavar="RULES", help="再用这些规则评估，列出每段报警")
    args = parser.parse_args(argv)
    rows = shandong_rows()
    write_csv(rows, args.out)
    entities = len({r["entity"] for r in rows})
    print(f"已写入 {args.out}：{len(rows)} 条观测，{entities} 个城市", file=sys.stderr)
    if args.findings:
        _print_findings(args.findings, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
