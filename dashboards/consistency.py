"""核算平衡: for every balance check of the active rules (parts add up to the total, counties to the city), both
sides at each region's newest period, the imbalance and whether it is within the check's tolerance. The sides are
the very plan nodes the engine's checks compare, so this view and the alerts cannot disagree.
"""

from __future__ import annotations

import math

import numpy as np
from bokeh.layouts import column
from bokeh.models import ColumnDataSource, FactorRange, HoverTool, Span
from bokeh.plotting import figure

from dashboards import expressions, theme
from dashboards.common import Context, div, escape
from engine.operators import Frame

HEADER = ("<tr><th>核对</th><th>地区</th><th>期别</th><th>左边</th><th>右边</th><th>差额</th><th>差率</th>"
          "<th>容差</th></tr>")


def build(ctx: Context) -> None:
    rows = balances(ctx)
    table = "".join(_row(ctx, r) for r in rows)
    bad = sum(not r["ok"] for r in rows)
    summary = f'<h3>核算平衡（{len(rows)} 项，<span class="{"flag" if bad else ""}">不平衡 {bad} 项</span>）</h3>'
    ctx.doc.add_root(column(div(summary + f'<table class="grid" id="balances">{HEADER}{table}</table>',
                                name="balances"), _chart(ctx, rows), sizing_mode="stretch_width",
                            name="consistency"))
    ctx.doc.title = "核算平衡"


def balances(ctx: Context) -> list[dict]:
    data = ctx.data
    assert data.plan is not None and data.engine is not None
    panel = data.engine.panel
    found: list[dict] = []
    for inst in data.plan.instances:
        check = inst.definition
        if inst.kind != "check" or check is None or getattr(check, "balance", None) is None:
            continue
        axis = panel.axes.get(inst.freq)
        if axis is None:
            continue
        left, right = inst.values["左边"], inst.values["右边"]
        values = expressions.compute(data.plan, [left, right], Frame(panel, axis, 0))
        for entity in ctx.viewer.visible(inst.entities):
            row = panel.entity_index[entity]
            lefts = np.broadcast_to(values[left], (len(panel.entities), axis.length))[row]
            rights = np.broadcast_to(values[right], (len(panel.entities), axis.length))[row]
            known = np.flatnonzero(np.isfinite(lefts) & np.isfinite(rights))
            if not len(known):
                continue
            column_ = int(known[-1])
            found.append(_balance(check, entity, str(axis.periods[column_]), float(lefts[column_]),
                                  float(rights[column_])))
    return found


def _balance(check: object, entity: str, period: str, left: float, right: float) -> dict:
    balance = check.balance  # type: ignore[attr-defined]
    gap = left - right
    rate = gap / right * 100 if right else math.nan
    ok = (abs(rate) <= balance.tolerance) if balance.relative else abs(gap) <= balance.tolerance
    return {"check": check.id, "title": check.title, "entity": entity, "period": period,  # type: ignore
            "left": left, "right": right, "gap": gap, "rate": rate, "ok": bool(ok),
            "tolerance": f"{balance.tolerance:g}{'%' if balance.relative else ''}"}


def _row(ctx: Context, r: dict) -> str:
    mark = "" if r["ok"] else ' class="flag"'
    return (f'<tr data-check="{r["check"]}" data-entity="{r["entity"]}"{mark}><td>{escape(r["title"])}</td>'
            f'<td>{escape(ctx.name(r["entity"]))}</td><td>{escape(r["period"])}</td>'
            f'<td>{theme.number(r["left"], 2)}</td><td>{theme.number(r["right"], 2)}</td>'
            f'<td>{theme.signed(r["gap"], 2)}</td><td>{theme.signed(r["rate"], 2)}%</td>'
            f'<td>{escape(r["tolerance"])}</td></tr>')


def _chart(ctx: Context, rows: list[dict]) -> figure:
    labels = [f'{ctx.name(r["entity"])}·{r["title"][:10]}' for r in rows]
    source = ColumnDataSource({"label": labels, "rate": [r["rate"] for r in rows],
                               "color": [theme.ACCENT if r["ok"] else theme.RED for r in rows]})
    fig = theme.plot("不平衡率（%，红色超出容差）", height=80 + 18 * max(len(rows), 1),
                     y_range=FactorRange(*labels[::-1]), name="imbalance")
    fig.hbar(y="label", right="rate", height=0.7, color="color", source=source)
    fig.add_layout(Span(dimension="height", location=0, line_color=theme.MUTED))
    fig.add_tools(HoverTool(tooltips=[("", "@label"), ("不平衡率", "@rate{+0.00}%")]))
    return fig
