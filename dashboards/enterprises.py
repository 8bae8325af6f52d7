"""企业监测: the enterprises of each county in each watch category, with their size and how they are doing, and a
link to each one's drill-down. Redrawn when data or alerts arrive.

A category is any rule that carries a `category` label (rules/taian/rules_enterprises.rules): an enterprise is
in it while that rule fires at it, so this view lists exactly what the alerts say, and a new category needs only
a new rule. Figures are each enterprise's newest YTD output, its growth and its share of the county's output.
"""

from __future__ import annotations

from dataclasses import dataclass

from bokeh.layouts import column

from dashboards import theme
from dashboards.common import Context, div, escape, link, refused

OUTPUT = "ent_output"  # the figure the bureau ranks and watches enterprises by
REDRAW_MS = 2000
SIZES = {"large": "大型", "medium": "中型", "small": "小型", "micro": "微型"}
# GB/T 4754-2017 divisions of mining, manufacturing and utilities: the sections 规上工业 enterprises belong to.
INDUSTRY_NAMES = {
    "B06": "煤炭开采和洗选业", "B07": "石油和天然气开采业", "B08": "黑色金属矿采选业", "B09": "有色金属矿采选业",
    "B10": "非金属矿采选业", "B11": "开采专业及辅助性活动", "B12": "其他采矿业", "C13": "农副食品加工业",
    "C14": "食品制造业", "C15": "酒、饮料和精制茶制造业", "C16": "烟草制品业", "C17": "纺织业",
    "C18": "纺织服装、服饰业", "C19": "皮革、毛皮、羽毛及其制品和制鞋业", "C20": "木材加工和木、竹、藤、棕、草制品业",
    "C21": "家具制造业", "C22": "造纸和纸制品业", "C23": "印刷和记录媒介复制业",
    "C24": "文教、工美、体育和娱乐用品制造业", "C25": "石油、煤炭及其他燃料加工业", "C26": "化学原料和化学制品制造业",
    "C27": "医药制造业", "C28": "化学纤维制造业", "C29": "橡胶和塑料制品业", "C30": "非金属矿物制品业",
    "C31": "黑色金属冶炼和压延加工业", "C32": "有色金属冶炼和压延加工业", "C33": "金属制品业",
    "C34": "通用设备制造业", "C35": "专用设备制造业", "C36": "汽车制造业",
    "C37": "铁路、船舶、航空航天和其他运输设备制造业", "C38": "电气机械和器材制造业",
    "C39": "计算机、通信和其他电子设备制造业", "C40": "仪器仪表制造业", "C41": "其他制造业",
    "C42": "废弃资源综合利用业", "C43": "金属制品、机械和设备修理业", "D44": "电力、热力生产和供应业",
    "D45": "燃气生产和供应业", "D46": "水的生产和供应业",
}
HEADER = ("<tr><th>企业</th><th>行业</th><th>规模</th><th>累计产值（万元）</th><th>增速（%）</th>"
          "<th>占县区比重（%）</th><th>列入期别</th></tr>")


@dataclass(frozen=True)
class Member:
    entity: str
    county: str
    category: str
    since: str  # the period the enterprise entered the category


def build(ctx: Context) -> None:
    counties, problem = chosen_counties(ctx)
    wanted = ctx.args.get("category", "")
    if not problem and wanted and wanted not in categories(ctx).values():
        problem = f"没有「{wanted}」这类企业"
    if problem:
        ctx.doc.add_root(refused(problem))
        return
    shown = [wanted] if wanted else list(dict.fromkeys(categories(ctx).values()))
    counts, lists = div(name="counts"), div(name="enterprises")
    drawn = {"at": -1.0}

    def draw() -> None:
        if drawn["at"] == ctx.data.changed_at:
            return
        drawn["at"] = ctx.data.changed_at
        found = members(ctx, counties)
        counts.text = counts_html(ctx, counties, shown, found)
        lists.text = lists_html(ctx, counties, shown, found)

    draw()
    ctx.doc.add_periodic_callback(draw, REDRAW_MS)
    ctx.doc.add_root(column(counts, lists, sizing_mode="stretch_width", name="enterprise-watch"))
    ctx.doc.title = "重点企业监测"


def categories(ctx: Context) -> dict[str, str]:
    """Rule id → category, in the rule set's order."""
    return {rule.id: rule.labels["category"] for rule in ctx.model.rules.values() if "category" in rule.labels}


def chosen_counties(ctx: Context) -> tuple[list[str], str]:
    """The counties the view lists (those the viewer sees, or the one asked for), or why there are none."""
    model = ctx.model
    entity = ctx.args.get("entity") or ctx.city()
    if entity not in model.entities or not ctx.viewer.sees(entity):
        return [], f"无权查看「{ctx.name(entity)}」的数据"
    if entity == ctx.city():
        return [c for c in ctx.counties() if _enterprises_of(ctx, c)], ""
    if not _enterprises_of(ctx, entity):
        return [], f"「{ctx.name(entity)}」下没有企业"
    return [entity], ""


def _enterprises_of(ctx: Context, county: str) -> list[str]:
    model = ctx.model
    return ctx.viewer.visible(e for e in model.children(county) if model.entities[e].kind == "enterprise")


def members(ctx: Context, counties: list[str]) -> list[Member]:
    """The enterprises of these counties whose category rule fires now, as the alerts record it."""
    by_rule = categories(ctx)
    model = ctx.model
    found = [Member(a["entity"], model.entities[a["entity"]].parent or "", by_rule[a["rule"]], a["period"])
             for a in ctx.data.alerts_for(ctx.viewer) if a["rule"] in by_rule and a["entity"] in model.entities]
    return [m for m in found if m.county in counties]


def counts_html(ctx: Context, counties: list[str], shown: list[str], found: list[Member]) -> str:
    if not counties:
        return '<h3>重点企业监测</h3><p class="muted">没有可查看的县区。</p>'
    head = "".join(f"<th>{escape(c)}</th>" for c in shown)
    rows = []
    for county in counties:
        cells = "".join(f'<td data-county="{county}" data-category="{escape(c)}"><a href="'
                        f'{escape(link("enterprises", entity=county, category=c))}">'
                        f'{sum(m.county == county and m.category == c for m in found)}</a></td>' for c in shown)
        rows.append(f'<tr><td><a href="{escape(link("enterprises", entity=county))}">{escape(ctx.name(county))}'
                    f'</a></td>{cells}</tr>')
    period = ctx.data.latest(OUTPUT).period if OUTPUT in ctx.model.indicators else None
    chips = _category_chips(ctx)
    return (f'<h3>重点企业监测 <span class="muted">数据期：{escape(period or "暂无数据")}</span></h3>{chips}'
            f'<table class="grid" id="category-counts"><tr><th>县区</th>{head}</tr>{"".join(rows)}</table>')


def _category_chips(ctx: Context) -> str:
    everything = list(dict.fromkeys(categories(ctx).values()))
    entity, chosen = ctx.args.get("entity"), ctx.args.get("category", "")
    chips = [f'<a class="{"" if chosen else "red"}" href="{escape(link("enterprises", entity=entity))}">全部</a>']
    chips += [f'<a class="{"red" if chosen == c else ""}" '
              f'href="{escape(link("enterprises", entity=entity, category=c))}">{escape(c)}</a>' for c in everything]
    return f'<div class="chips" id="categories">{"".join(chips)}</div>'


def lists_html(ctx: Context, counties: list[str], shown: list[str], found: list[Member]) -> str:
    figures = _figures(ctx)
    sections = []
    for county in counties:
        parts = [f'<h3 data-county="{county}">{escape(ctx.name(county))}</h3>']
        for category in shown:
            mine = [m for m in found if m.county == county and m.category == category]
            mine.sort(key=lambda m: -(figures.get(m.entity, {}).get("value") or 0.0))
            rows = "".join(_row(ctx, m, figures.get(m.entity, {}), figures.get(county, {})) for m in mine)
            body = f'<table class="grid">{HEADER}{rows}</table>' if rows else '<p class="muted">无</p>'
            parts.append(f"<h4>{escape(category)}（{len(mine)}家）</h4>{body}")
        sections.append("".join(parts))
    return "".join(sections)


def _figures(ctx: Context) -> dict[str, dict]:
    """Entity → its newest YTD output and growth (enterprises and their counties alike)."""
    if OUTPUT not in ctx.model.indicators:
        return {}
    return {r["entity"]: r for r in ctx.data.latest(OUTPUT).rows}


def _row(ctx: Context, member: Member, mine: dict, county: dict) -> str:
    attrs = ctx.model.entities[member.entity].attrs
    industry = str(attrs.get("industry", ""))
    value, total = mine.get("value"), county.get("value")
    share = value / total * 100 if value is not None and total else None
    drill = link("drill", entity=member.entity, indicator=OUTPUT)
    return (f'<tr data-entity="{member.entity}" data-category="{escape(member.category)}"><td><a '
            f'href="{escape(drill)}">{escape(ctx.name(member.entity))}</a></td>'
            f'<td>{escape(INDUSTRY_NAMES.get(industry, industry))}</td>'
            f'<td>{escape(SIZES.get(str(attrs.get("size", "")), "—"))}</td><td>{theme.number(value, 1)}</td>'
            f'<td>{theme.signed(mine.get("growth"))}</td><td>{theme.number(share, 1)}</td>'
            f'<td>{escape(member.since)}</td></tr>')
