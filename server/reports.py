"""The monthly statistical brief (统计分析简报): headline numbers, what moved them, the month's alerts with the
statisticians' explanations, target progress and year-end projections, in the bureau's words and number style.

`compose` is pure (panel and alert lines in, a Brief out); `build` reads the alerts from the store; `render_html`
draws the charts as inline SVG and `render_pdf` prints that page with Debian's chromium through Playwright.
The wording and the choices behind every figure are in docs/brief.md.
"""

from __future__ import annotations

import collections
import datetime
import html
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from dsl import Model
from dsl.ast import IndicatorDef
from engine.contributions import Contribution, contributions
from engine.panel import Panel
from engine.periods import Period, PeriodError
from engine.projection import Projection, project_year_end, single_months
from engine.report import SEVERITY_CHINESE
from notifiers.model import Message
from server.config import Settings
from server.latest import latest
from server.service import Service
from server.store.models import AlertNote, AlertTransition, Receiver

HEADLINES = ("ind_va", "fixed_invest", "retail", "budget_rev", "trade", "deposits", "loans")
GDP_PARTS = (("gdp_primary", "gdp_primary_growth", "第一产业"), ("gdp_secondary", "gdp_secondary_growth", "第二产业"),
             ("gdp_tertiary", "gdp_tertiary_growth", "第三产业"))
QUARTER_SPANS = {1: "一季度", 2: "上半年", 3: "前三季度", 4: "全年"}
PROVINCE = "shandong"
CHROMIUM = "/usr/bin/chromium"
BEIJING = ZoneInfo("Asia/Shanghai")
MAX_ALERTS = 10


class ReportError(Exception):
    """A brief that cannot be made; the message is for the user (Chinese), `status` for the API."""

    def __init__(self, message: str, status: int = 404):
        super().__init__(message)
        self.message, self.status = message, status


@dataclass(frozen=True)
class AlertLine:
    entity: str
    rule: str
    new: str  # firing | resolved
    severity: str
    message: str
    explanation: str


@dataclass
class Brief:
    entity: str
    name: str
    period: str
    title: str
    sections: list[tuple[str, list[str]]] = field(default_factory=list)
    headlines: list[str] = field(default_factory=list)  # one line per headline figure, for the digest
    bars: list[tuple[str, float, bool]] = field(default_factory=list)  # (name, growth, is the brief's own)
    bars_title: str = ""
    line: list[tuple[str, float]] = field(default_factory=list)  # (period, value)
    line_title: str = ""

    def text(self) -> str:
        return "\n".join(p for _, paragraphs in self.sections for p in paragraphs)


# ---------------------------------------------------------------------- the bureau's number style


def amount(value: float, unit: str) -> str:
    """亿元 with two decimals below 100 and one above, as the bureau prints totals."""
    digits = 2 if abs(value) < 100 else 1
    return f"{value:.{digits}f}{unit}"


def growth(value: float) -> str:
    rounded = round(value, 1)
    if rounded > 0:
        return f"增长{rounded:.1f}%"
    return f"下降{-rounded:.1f}%" if rounded < 0 else "与上年持平"


def point_difference(figure: float, reference: float) -> float:
    """The difference in percentage points of two figures as published: the bureau compares the rounded
    figures, to one decimal (a zero is never negative)."""
    return round(round(figure, 1) - round(reference, 1), 1) + 0.0


def change(now: float, before: float, label: str) -> str:
    points = point_difference(now, before)
    if points > 0:
        return f"比{label}提高{points:.1f}个百分点"
    return f"比{label}回落{-points:.1f}个百分点" if points < 0 else f"与{label}持平"


def gap(now: float, reference: float, name: str) -> str:
    points = point_difference(now, reference)
    if points > 0:
        return f"高于{name}{points:.1f}个百分点"
    return f"低于{name}{-points:.1f}个百分点" if points < 0 else f"与{name}持平"


def pull(points: float, whole: str) -> str:
    rounded = round(points, 1)
    return f"拉动{whole}增长{rounded:.1f}个百分点" if rounded >= 0 else f"下拉{whole}{-rounded:.1f}个百分点"


def span(month: int) -> str:
    return "1月" if month == 1 else f"1-{month}月"


def _known(value: float | None) -> bool:
    return value is not None and not math.isnan(value)


# ---------------------------------------------------------------------- reading the panel


@dataclass(frozen=True)
class Figure:
    value: float
    growth: float | None
    rank: int | None
    peers: int | None


def figure(panel: Panel, indicator: str, entity: str, period: Period) -> Figure | None:
    if indicator not in panel.model.indicators:
        return None
    for row in latest(panel, indicator, period).rows:
        if row["entity"] == entity and row["value"] is not None:
            return Figure(row["value"], row["growth"], row["growth_rank"], row["peers"])
    return None


def value_at(panel: Panel, indicator: str, entity: str, period: Period) -> float | None:
    axis = panel.axes.get(period.freq)
    values = panel.values.get(indicator)
    if axis is None or values is None or period not in axis or entity not in panel.entity_index:
        return None
    found = float(values[panel.entity_index[entity], axis.index(period)])
    return None if math.isnan(found) else found


def latest_quarter(month: Period) -> Period:
    """The last quarter that has ended by the end of `month`."""
    if month.sub >= 3:
        return Period.of("quarterly", month.year, month.sub // 3)
    return Period.of("quarterly", month.year - 1, 4)


def ytd_matrix(panel: Panel, indicator: str, entity: str, month: Period) -> np.ndarray:
    """Years × 12 of the monthly values as published (YTD totals, month-end balances or cumulative growth rates)
    from the first year with data up to `month`'s year (NaN where unknown)."""
    axis, values = panel.axes["monthly"], panel.values[indicator][panel.entity_index[entity]]
    years = range(int(axis.first.year), month.year + 1)
    out = np.full((len(years), 12), np.nan)
    for period, value in zip(axis.periods, values, strict=True):
        if period.year in years and period <= month:
            out[period.year - years.start, period.sub - 1] = value
    first = next((i for i, row in enumerate(out) if not np.isnan(row).all()), len(out) - 1)
    return out[first:]


PROJECTED = {"ytd": "flow", "stock": "stock", "rate": "rate"}  # indicator form → engine.projection's form


def projectable(definition: IndicatorDef) -> bool:
    return definition.frequency == "monthly" and definition.form in PROJECTED


def projection_values(panel: Panel, indicator: str, entity: str, month: Period) -> np.ndarray:
    """What engine.projection projects from: the single months of a YTD total (1–2月 split evenly where
    published together), the balances of a stock, the published cumulative growth of a rate."""
    definition = panel.model.indicators[indicator]
    values = ytd_matrix(panel, indicator, entity, month)
    if definition.form != "ytd":
        return values
    return single_months(values, merged_jan_feb=definition.jan_feb == "merged")


def project(panel: Panel, indicator: str, entity: str, month: Period) -> Projection | None:
    """Seasonal-naive year-end projection with its backtest band: the full-year total of a YTD total, the
    December balance of a stock, the full-year growth of a rate. None for what cannot be projected, and
    without last year's figures (a total needs all its months)."""
    definition = panel.model.indicators[indicator]
    if not projectable(definition) or indicator not in panel.values or entity not in panel.entity_index:
        return None
    values = projection_values(panel, indicator, entity, month)
    if len(values) < 2 or (definition.form == "ytd" and np.isnan(values[-2]).any()):
        return None
    found = project_year_end(values, month.sub, form=PROJECTED[definition.form])
    return None if math.isnan(found.year_end) else found


# ---------------------------------------------------------------------- composing the brief


def check_request(model: Model, panel: Panel | None, entity: str, period: str) -> Period:
    definition = model.entities.get(entity)
    if definition is None or definition.kind in ("enterprise", "province"):
        raise ReportError(f"没有名为「{entity}」的地区")
    try:
        month = Period.parse(period)
    except PeriodError:
        raise ReportError(f"期别「{period}」有误，应为月份，如 2026-10", 400) from None
    if month.freq != "monthly":
        raise ReportError(f"期别「{period}」应为月份，如 2026-10", 400)
    if panel is None or not any(figure(panel, i, entity, month) for i in HEADLINES):
        raise ReportError(f"{definition.name}{month.year}年{month.sub}月还没有数据，无法生成简报")
    return month


def compose(model: Model, panel: Panel, entity: str, period: str, alerts: list[AlertLine]) -> Brief:
    month = check_request(model, panel, entity, period)
    name = model.entities[entity].name
    brief = Brief(entity, name, str(month), f"{name}{month.year}年{month.sub}月统计分析简报")
    area = "全市" if model.entities[entity].kind == "city" else name
    brief.sections.append(("一、主要指标", _headlines(brief, panel, entity, month, area)))
    brief.sections.append(("二、增长动力", _drivers(panel, entity, month)))
    brief.sections.append(("三、预警与研判", _alerts(model, alerts)))
    brief.sections.append(("四、目标进度与全年预计", _targets(panel, entity, month)))
    brief.sections = [(heading, paragraphs) for heading, paragraphs in brief.sections if paragraphs]
    _charts(brief, panel, entity, month)
    return brief


def _rank(panel: Panel, entity: str, found: Figure) -> str:
    parent = panel.model.entities[entity].parent
    if found.rank is None or parent is None or not found.peers or found.peers < 2:
        return ""
    whole = "全省" if panel.model.entities[parent].kind == "province" else "全市"
    return f"，居{whole}第{found.rank}位"


def _headlines(brief: Brief, panel: Panel, entity: str, month: Period, area: str) -> list[str]:
    paragraphs = [_gdp(brief, panel, entity, month, area)] if month.sub % 3 == 0 else []
    for indicator in HEADLINES:
        line = _headline(panel, entity, month, indicator)
        if line:
            paragraphs.append(line)
            brief.headlines.append(line)
    return [p for p in paragraphs if p]


def _headline(panel: Panel, entity: str, month: Period, indicator: str) -> str:
    definition = panel.model.indicators[indicator]
    found = figure(panel, indicator, entity, month)
    if found is None or not _known(found.growth):
        return ""
    merged = definition.jan_feb == "merged"
    if definition.form == "stock":
        text = f"{month.sub}月末，{definition.name}{amount(found.value, definition.unit)}，同比{growth(found.growth)}"
    elif definition.form == "rate":
        text = f"{span(month.sub)}，{definition.name}{growth(found.value)}"
    else:
        text = f"{span(month.sub)}，{definition.name}{amount(found.value, definition.unit)}，{growth(found.growth)}"
    before = figure(panel, indicator, entity, month - 1) if month.sub > (2 if merged else 1) else None
    if before is not None and _known(before.growth):
        label = f"{month.sub - 1}月末" if definition.form == "stock" else span(month.sub - 1)
        text += f"，{change(found.growth, before.growth, label)}"
    province = figure(panel, indicator, PROVINCE, month) if panel.model.entities[entity].kind == "city" else None
    if province is not None and _known(province.growth):
        text += f"，{gap(found.growth, province.growth, '全省')}"
    return text + _rank(panel, entity, found) + "。"


def _gdp(brief: Brief, panel: Panel, entity: str, month: Period, area: str) -> str:
    quarter = latest_quarter(month)
    level, real = figure(panel, "gdp", entity, quarter), figure(panel, "gdp_growth", entity, quarter)
    if level is None or real is None:
        return ""
    text = (f"{QUARTER_SPANS[quarter.sub]}，{area}实现地区生产总值{amount(level.value, '亿元')}，"
            f"按可比价格计算，{growth(real.value)}{_rank(panel, entity, real)}")
    parts = []
    for part, part_growth, label in GDP_PARTS:
        value, rate = value_at(panel, part, entity, quarter), value_at(panel, part_growth, entity, quarter)
        if value is not None and rate is not None:
            parts.append(f"{label}增加值{amount(value, '亿元')}，{growth(rate)}")
    text += "。" + ("其中，" + "；".join(parts) + "。" if parts else "")
    brief.headlines.insert(0, f"{QUARTER_SPANS[quarter.sub]}，地区生产总值{amount(level.value, '亿元')}，"
                              f"{growth(real.value)}。")
    return text


def counties(model: Model, city: str) -> list[str]:
    """The regions that add up to `city`: not its overlays (functional zones), not enterprises."""
    return [c for c in model.children(city)
            if model.entities[c].kind != "enterprise" and not model.entities[c].attrs.get("overlay")]


def _city(model: Model, entity: str) -> str | None:
    """The region whose growth the brief splits by county: the entity itself if it has counties, else its parent."""
    return entity if counties(model, entity) else model.entities[entity].parent


def gdp_pulls(panel: Panel, entity: str, quarter: Period) -> list[tuple[str, Contribution]]:
    """The three industries' pull on GDP growth at comparable prices: base-period (same quarter last year)
    value added times each industry's real growth, over last year's GDP."""
    base, real = {}, {}
    for part, part_growth, label in GDP_PARTS:
        value = value_at(panel, part, entity, quarter.last_year())
        rate = value_at(panel, part_growth, entity, quarter)
        if value is None or rate is None:
            return []
        base[label], real[label] = value, rate
    return [(c.part, c) for c in contributions(base, base, real_growth=real)]


def county_pulls(panel: Panel, city: str, month: Period) -> list[tuple[str, float, Contribution]]:
    """Each county's pull on the city's 规上工业 growth: its growth weighted by last year's industrial value
    added (the full year, Q4 YTD), the latest base-period level the bureau has for every county."""
    weights, growths = {}, {}
    for county in counties(panel.model, city):
        weight = value_at(panel, "va_industry", county, Period.of("quarterly", month.year - 1, 4))
        rate = value_at(panel, "ind_va", county, month)
        if weight is not None and rate is not None:
            weights[county], growths[county] = weight, rate
    found = contributions(weights, weights, real_growth=growths) if weights else []
    return sorted(((c.part, growths[c.part], c) for c in found), key=lambda item: -item[2].pull)


def retail_pulls(panel: Panel, city: str, month: Period) -> list[tuple[str, float, Contribution]]:
    """Each county's pull on the city's retail sales growth at current prices (YTD against last year's YTD)."""
    now, base = {}, {}
    for county in counties(panel.model, city):
        current, before = value_at(panel, "retail", county, month), value_at(panel, "retail", county, month - 12)
        if current is not None and before:
            now[county], base[county] = current, before
    found = contributions(now, base) if now else []
    return sorted(((c.part, (now[c.part] / base[c.part] - 1) * 100, c) for c in found), key=lambda x: -x[2].pull)


def _drivers(panel: Panel, entity: str, month: Period) -> list[str]:
    model = panel.model
    paragraphs = []
    if month.sub % 3 == 0:
        industries = gdp_pulls(panel, entity, latest_quarter(month))
        if industries:
            paragraphs.append("从三次产业看，" + "；".join(
                f"{label}{pull(c.pull, '地区生产总值')}，贡献率{c.rate:.1f}%" for label, c in industries) + "。")
    city = _city(model, entity)
    if city is None:
        return paragraphs
    for indicator, found in (("规上工业", county_pulls(panel, city, month)), ("社会消费品零售总额",
                                                                          retail_pulls(panel, city, month))):
        mine = [item for item in found if item[0] == entity or entity == city]
        if not mine:
            continue
        lines = [f"{model.entities[c].name}{growth(g)}，{pull(k.pull, '全市' + indicator)}，贡献率{k.rate:.1f}%"
                 for c, g, k in mine]
        lead = "分县区看，" if entity == city else ""
        paragraphs.append(f"{lead}{indicator}：" + "；".join(lines) + "。")
    return paragraphs


def _alerts(model: Model, alerts: list[AlertLine]) -> list[str]:
    listed = [a for a in alerts if model.watch_list(a.rule, a.severity)]
    paragraphs = _warnings(model, [a for a in alerts if a not in listed])
    return paragraphs + ([_watch_lists(model, listed)] if listed else [])


def _watch_lists(model: Model, listed: list[AlertLine]) -> str:
    """Enterprises entering or leaving a watch category are a list, not warnings: one sentence with the counts."""
    added = collections.Counter(model.rules[a.rule].labels["category"] for a in listed if a.new == "firing")
    removed = sum(a.new == "resolved" for a in listed)
    kinds = f"（{'、'.join(f'{category}{count}家' for category, count in added.items())}）" if added else ""
    return f"重点关注企业：本月新列入{sum(added.values())}家{kinds}，移出{removed}家，名单见“企业监测”看板。"


def _warnings(model: Model, alerts: list[AlertLine]) -> list[str]:
    firing = [a for a in alerts if a.new == "firing"]
    resolved = [a for a in alerts if a.new == "resolved"]
    if not alerts:
        return ["本月未触发新的预警。"]
    critical = sum(a.severity == "critical" for a in firing)
    paragraphs = [f"本月触发预警{len(firing)}条（其中严重{critical}条），解除预警{len(resolved)}条。"]
    for line in (firing + resolved)[:MAX_ALERTS]:
        title = model.rules[line.rule].title if line.rule in model.rules else (
            model.checks[line.rule].title if line.rule in model.checks else line.rule)
        state = "触发" if line.new == "firing" else "解除"
        text = f"{model.entities[line.entity].name}「{title}」（{SEVERITY_CHINESE.get(line.severity, '')}，{state}）"
        if line.message:
            text += f"：{line.message}"
        if line.explanation:
            text += f"。研判说明：{line.explanation}"
        paragraphs.append(text.rstrip("。") + "。")
    return paragraphs


def _targets(panel: Panel, entity: str, month: Period) -> list[str]:
    model = panel.model
    paragraphs = []
    targeted = set()
    for target in model.targets:
        goal = next((v.value for v in target.values if v.entity == entity), None)
        if target.year != month.year or goal is None:
            continue
        targeted.add(target.indicator)
        line = _growth_target(panel, entity, month, target.indicator, goal) if target.growth else (
            _level_target(panel, entity, month, target.indicator, goal))
        if line:
            paragraphs.append(line)
    for indicator in HEADLINES:
        definition = model.indicators.get(indicator)
        if definition is None or indicator in targeted:
            continue
        found = project(panel, indicator, entity, month)
        if found is not None:
            paragraphs.append(f"按季节性推算，预计{_projected(found, definition, named=True)}{_on_last_year(found)}。")
    return paragraphs


def _growth_target(panel: Panel, entity: str, month: Period, indicator: str, goal: float) -> str:
    definition = panel.model.indicators[indicator]
    period = latest_quarter(month) if definition.frequency == "quarterly" else month
    if period.year != month.year:
        return ""
    found = figure(panel, indicator, entity, period)  # a rate is its own growth; a total grows year to date
    if found is None or not _known(found.growth):
        return ""
    label = (QUARTER_SPANS[period.sub] if period.freq == "quarterly" else
             f"{month.sub}月末" if definition.form == "stock" else span(month.sub))
    name = definition.name.removesuffix("增速") + ("同比" if definition.form == "stock" else "")
    text = f"{label}，{name}{growth(found.growth)}，{gap(found.growth, goal, f'年度目标（{goal:.1f}%）')}"
    return text + _outlook(panel, entity, month, indicator, goal, growth_target=True) + "。"


def _level_target(panel: Panel, entity: str, month: Period, indicator: str, goal: float) -> str:
    definition = panel.model.indicators[indicator]
    if definition.frequency != "monthly" or definition.form not in ("ytd", "stock"):
        return ""
    value = value_at(panel, indicator, entity, month)
    if value is None:
        return ""
    progress = value / goal * 100
    if definition.form == "stock":  # a balance is not accumulated over the year: no time progress
        text = (f"{month.sub}月末，{definition.name}{amount(value, definition.unit)}，"
                f"为年度目标（{amount(goal, definition.unit)}）的{progress:.1f}%")
        return text + _outlook(panel, entity, month, indicator, goal, growth_target=False) + "。"
    elapsed = month.sub / 12 * 100
    points = point_difference(progress, elapsed)
    pace = (f"快于时间进度{points:.1f}个百分点" if points > 0 else
            f"落后时间进度{-points:.1f}个百分点" if points < 0 else "与时间进度持平")
    text = (f"{span(month.sub)}，{definition.name}完成{amount(value, definition.unit)}，"
            f"为年度目标（{amount(goal, definition.unit)}）的{progress:.1f}%，{pace}")
    return text + _outlook(panel, entity, month, indicator, goal, growth_target=False) + "。"


def _outlook(panel: Panel, entity: str, month: Period, indicator: str, goal: float, growth_target: bool) -> str:
    """The year-end projection against the target, and the chance of reaching the target that the past
    projections' errors give; empty for what cannot be projected (quarterly figures, no history)."""
    definition = panel.model.indicators[indicator]
    found = project(panel, indicator, entity, month)
    if found is None:
        return ""
    against = _on_last_year(found) if growth_target else f"，为年度目标的{found.year_end / goal * 100:.1f}%"
    text = f"。按季节性推算，预计{_projected(found, definition, named=False)}{against}"
    chance = found.probability(goal, growth=growth_target)
    return text + (f"。{chance_text(chance, found.backtest_years)}" if not math.isnan(chance) else "")


# A share of fewer past years reads as more certain than it is (two years give 0, 50 or 100%): count them.
MIN_YEARS_FOR_A_PERCENTAGE = 5


def chance_text(chance: float, years: int) -> str:
    """The chance of meeting a target in a bureau's words, from `years` past projections at this point."""
    if years < MIN_YEARS_FOR_A_PERCENTAGE:
        return f"按往年同一时点的预计误差推算，{years}年中有{round(chance * years)}年可完成全年目标"
    return f"按目前进度，完成全年目标的概率约为{chance * 100:.0f}%（据{years}年回测）"


def _projected(found: Projection, definition: IndicatorDef, named: bool) -> str:
    """预计… : the full-year total, the year-end balance or the full-year growth, with the backtest band."""
    name, unit = definition.name if named else "", definition.unit
    if found.form == "rate":
        rounded = round(found.year_end, 1)
        text = f"全年{name}{growth(found.year_end)}{'左右' if rounded else ''}"
        if not math.isnan(found.low):
            text += (f"（误差区间{found.low:.1f}%至{found.high:.1f}%，"
                     f"回测平均误差{found.backtest_error:.1f}个百分点）")
        return text
    text = (f"年末{name or '余额'}{amount(found.year_end, unit)}" if found.form == "stock" else
            f"全年{name}完成{amount(found.year_end, unit)}")
    if not math.isnan(found.low):
        text += (f"（误差区间{amount(found.low, '')}至{amount(found.high, unit)}，"
                 f"回测平均误差{found.backtest_error:.1f}%）")
    return text


def _on_last_year(found: Projection) -> str:
    """The projected growth over last year's total or last December's balance; a rate is its own growth."""
    rate = found.growth_of(found.year_end)
    if found.form == "rate" or math.isnan(rate):
        return ""
    if found.form == "flow":
        return f"，{growth(rate)}"
    return f"，比上年末{growth(rate)}" if round(rate, 1) else "，与上年末持平"


def _charts(brief: Brief, panel: Panel, entity: str, month: Period) -> None:
    model = panel.model
    city = _city(model, entity)
    if city is not None:
        for county in counties(model, city):
            found = value_at(panel, "ind_va", county, month)
            if found is not None:
                brief.bars.append((model.entities[county].name, found, county == entity))
        brief.bars_title = f"{span(month.sub)}各县市区规上工业增加值增速（%）"
    axis, values = panel.axes.get("monthly"), panel.values.get("ind_va")
    if axis is not None and values is not None and month in axis:
        end = axis.index(month)
        row = values[panel.entity_index[entity]]
        brief.line = [(str(axis.periods[i]), float(row[i])) for i in range(max(0, end - 23), end + 1)
                      if not math.isnan(row[i])]
        brief.line_title = f"{brief.name}规上工业增加值累计增速（%）"


# ---------------------------------------------------------------------- alerts from the store


async def load_alerts(model: Model, entity: str, month: Period) -> list[AlertLine]:
    """Transitions to firing or resolved in the month (and in the quarter that ends with it) in the region."""
    region = [entity, *model.descendants(entity)]
    periods = [str(month)] + ([str(latest_quarter(month))] if month.sub % 3 == 0 else [])
    transitions = await AlertTransition.filter(
        period__in=periods, new__in=("firing", "resolved"), alert__entity__in=region).order_by("id").values(
        "alert_id", "alert__entity", "alert__rule", "new", "severity", "message")
    ids = {t["alert_id"] for t in transitions}
    notes = await AlertNote.filter(alert_id__in=list(ids), action="explain").order_by("id").values_list(
        "alert_id", "note")
    explained = dict(notes)  # the newest explanation of each alert wins
    return [AlertLine(t["alert__entity"], t["alert__rule"], t["new"], t["severity"], t["message"],
                      explained.get(t["alert_id"], "")) for t in transitions]


async def build(service: Service, entity: str, period: str) -> Brief:
    if service.model is None or service.engine is None:
        raise ReportError("服务尚未就绪", 503)
    month = check_request(service.model, service.engine.panel, entity, period)
    alerts = await load_alerts(service.model, entity, month)
    return compose(service.model, service.engine.panel, entity, period, alerts)


# ---------------------------------------------------------------------- rendering

STYLE = """
body{font-family:"WenQuanYi Micro Hei","Noto Sans CJK SC",sans-serif;max-width:780px;margin:2em auto;
color:#222;line-height:1.8}
h1{text-align:center;font-size:22px;color:#b00}h2{font-size:17px;border-bottom:1px solid #ccc;margin-top:1.4em}
p{text-indent:2em;margin:.4em 0}.meta{text-align:center;color:#666}figure{margin:1em 0;text-align:center}
figcaption{font-size:13px;color:#444}
"""


def bar_chart(bars: list[tuple[str, float, bool]], width: int = 640, height: int = 260) -> str:
    top, bottom, left = 20, 40, 40
    low, high = min(0.0, *(v for _, v, _ in bars)), max(0.0, *(v for _, v, _ in bars))
    scale = (height - top - bottom) / ((high - low) or 1.0)
    zero = top + high * scale
    step = (width - left) / len(bars)
    parts = [f'<line x1="{left}" y1="{zero:.1f}" x2="{width}" y2="{zero:.1f}" stroke="#888"/>']
    for i, (name, value, own) in enumerate(bars):
        x, y = left + i * step + step * 0.2, zero - max(value, 0) * scale
        colour = "#c0392b" if own else "#2e6fad"
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{step * 0.6:.1f}" height="{abs(value) * scale:.1f}" '
                     f'fill="{colour}"/>')
        label_y = y - 4 if value >= 0 else zero + abs(value) * scale + 14
        parts.append(f'<text x="{x + step * 0.3:.1f}" y="{label_y:.1f}" font-size="12" text-anchor="middle">'
                     f'{value:.1f}</text>')
        parts.append(f'<text x="{x + step * 0.3:.1f}" y="{height - 12}" font-size="12" text-anchor="middle">'
                     f'{html.escape(name)}</text>')
    return _svg(width, height, parts, "bars")


def line_chart(points: list[tuple[str, float]], width: int = 640, height: int = 240) -> str:
    top, bottom, left = 20, 40, 40
    values = [v for _, v in points]
    low, high = min(values), max(values)
    spread = (high - low) or 1.0
    step = (width - left - 20) / max(len(points) - 1, 1)
    xy = [(left + i * step, top + (high - v) / spread * (height - top - bottom)) for i, v in enumerate(values)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    parts = [f'<polyline points="{path}" fill="none" stroke="#2e6fad" stroke-width="2"/>']
    for (x, y), (period, value) in zip(xy, points, strict=True):
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="#2e6fad"><title>{period}：{value:.1f}'
                     f'</title></circle>')
    for index in sorted({0, len(points) - 1}):
        x, _ = xy[index]
        parts.append(f'<text x="{x:.1f}" y="{height - 12}" font-size="12" text-anchor="middle">'
                     f'{points[index][0]}</text>')
    parts.append(f'<text x="4" y="{top + 4}" font-size="11">{high:.1f}</text>')
    parts.append(f'<text x="4" y="{height - bottom}" font-size="11">{low:.1f}</text>')
    return _svg(width, height, parts, "line")


def _svg(width: int, height: int, parts: list[str], kind: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart-{kind}" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}">' + "".join(parts) + "</svg>")


def render_html(brief: Brief, today: datetime.date | None = None) -> str:
    made = today or datetime.date.today()
    body = [f"<h1>{html.escape(brief.title)}</h1>",
            f'<p class="meta">{made.year}年{made.month}月{made.day}日</p>']
    for heading, paragraphs in brief.sections:
        body.append(f"<h2>{heading}</h2>")
        body.extend(f"<p>{html.escape(p)}</p>" for p in paragraphs)
        if heading.startswith("二") and brief.bars:
            body.append(f"<figure>{bar_chart(brief.bars)}<figcaption>{html.escape(brief.bars_title)}"
                        "</figcaption></figure>")
        if heading.startswith("一") and len(brief.line) >= 2:
            body.append(f"<figure>{line_chart(brief.line)}<figcaption>{html.escape(brief.line_title)}"
                        "</figcaption></figure>")
    return (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{html.escape(brief.title)}'
            f"</title><style>{STYLE}</style></head><body>{''.join(body)}</body></html>")


async def render_pdf(page_html: str) -> bytes:
    """Print the page with chromium; Playwright's async API keeps the event loop free meanwhile."""
    from playwright.async_api import async_playwright

    if not Path(CHROMIUM).exists():
        raise ReportError(f"未安装 chromium（{CHROMIUM}），无法生成 PDF", 503)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                   args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            page = await browser.new_page()
            await page.set_content(page_html)
            return await page.pdf(format="A4", print_background=True,
                                  margin={"top": "15mm", "bottom": "15mm", "left": "15mm", "right": "15mm"})
        finally:
            await browser.close()


async def render(service: Service, entity: str, period: str, fmt: str) -> bytes:
    page = render_html(await build(service, entity, period), service.today())
    return await render_pdf(page) if fmt == "pdf" else page.encode()


# ---------------------------------------------------------------------- delivery


def digest(brief: Brief, receiver: str, link_base: str) -> Message:
    link = f"{link_base.rstrip('/')}/api/v1/reports/brief?entity={brief.entity}&period={brief.period}"
    body = "\n".join([*brief.headlines, f"全文：{link}"])
    key = f"brief:{brief.entity}:{brief.period}:{receiver}"
    return Message(receiver=receiver, group_key=f"brief:{brief.entity}:{brief.period}", title=brief.title,
                   body=body, body_format="text", dedup_key=key, alert_ids=(), severity="info")


async def send_brief(service: Service, entity: str, period: str, receivers: list[str], link_base: str) -> int:
    """Queue the brief's digest for each named receiver; returns how many messages were new to the outbox."""
    from server.notify.outbox import enqueue

    brief = await build(service, entity, period)
    return await enqueue([digest(brief, name, link_base) for name in receivers])


def due_month(now: datetime.datetime) -> Period | None:
    """The month whose briefs go out now: the previous month, from the 3rd at 09:00 Beijing time."""
    local = now.astimezone(BEIJING)
    if local.day != 3 or local.hour < 9:
        return None
    return Period.of("monthly", local.year, local.month) - 1


async def monthly_briefs(service: Service, now: datetime.datetime, link_base: str = "") -> int:
    """The scheduled delivery: each enabled receiver gets the brief of every region at the roots of its scope
    (the whole tree's root when it has none). Safe to call every minute: the dedup key sends each once."""
    month = due_month(now)
    if month is None or service.model is None:
        return 0
    roots = [e for e, d in service.model.entities.items() if d.parent is None and d.kind == "city"]
    briefs: dict[str, Brief | None] = {}
    messages = []
    for receiver in await Receiver.filter(enabled=True).order_by("name"):
        for entity in receiver.scope or roots:
            if entity not in briefs:
                briefs[entity] = await _maybe_brief(service, entity, str(month))
            if briefs[entity] is not None:
                messages.append(digest(briefs[entity], receiver.name, link_base))
    from server.notify.outbox import enqueue

    return await enqueue(messages)


async def _maybe_brief(service: Service, entity: str, period: str) -> Brief | None:
    try:
        return await build(service, entity, period)
    except ReportError:  # a region without data that month has no brief to send
        return None


# ---------------------------------------------------------------------- the CLI


async def report_command(settings: Settings, entity: str, period: str, out: str | None, fmt: str) -> int:
    from tortoise.exceptions import BaseORMException

    from server.store import close_store, open_store

    if settings.db.startswith("sqlite://") and not Path(settings.db.removeprefix("sqlite://").split("?")[0]).exists():
        return _fail(f"找不到数据库 {settings.db}：请先运行 taishan demo 或导入数据")
    try:
        await open_store(settings.db)
    except (OSError, BaseORMException) as error:
        return _fail(f"无法打开数据库 {settings.db}：{error}")
    try:
        service = Service(list(settings.rules), settings.horizon_months)
        await service.start()
        content = await render(service, entity, period, fmt)
    except ReportError as error:
        return _fail(error.message)
    finally:
        await close_store()
    path = Path(out or f"var/reports/{entity}-{period}.{fmt}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    print(path)
    return 0


def _fail(message: str) -> int:
    print(f"错误：{message}", file=sys.stderr)
    return 1
