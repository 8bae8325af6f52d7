"""预警: the alerts the viewer may see, filtered by state, severity, region and workflow; choosing one shows its
story. A statistician (the `alerts:write` permission) acknowledges, explains or marks a data error from here.

The actions go through the API from the browser, with the user's own session cookie and CSRF token: the API
checks the permission, records the note and audits it under the user's name, and this process stays read-only.
It re-reads the alert as soon as the browser reports the action done.
"""

from __future__ import annotations

import datetime
from functools import partial

from bokeh.layouts import column, row
from bokeh.models import (
    Button,
    ColumnDataSource,
    CustomJS,
    DataTable,
    HTMLTemplateFormatter,
    LayoutDOM,
    Select,
    TableColumn,
    TextInput,
)

from dashboards.common import SEVERITY_NAMES, STATE_NAMES, WORKFLOW_NAMES, Context, div, escape, link
from dashboards.drill import _rule_title, notes_html
from server import queries
from server.store.models import Alert

COLUMNS = ("id", "region", "rule", "period", "state", "severity", "workflow", "message")
ALL = "全部"
# The browser posts the action with the session's CSRF token, then tells the server it is done.
ACT = """
const index = source.selected.indices[0];
if (index === undefined) { status.text = "请先在表中选择一条预警"; return; }
const id = source.data.id[index];
const csrf = (document.cookie.split("; ").find((c) => c.startsWith("taishan_csrf=")) || "").split("=")[1] || "";
const body = {action: action, note: note.value};
if (action === "explain") body.expires = expires.value;
fetch(`/api/v1/alerts/${id}/actions`, {method: "POST", credentials: "same-origin",
  headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf}, body: JSON.stringify(body)})
  .then((r) => r.json().then((answer) => {
    status.text = r.ok ? "已保存" : (answer.message || "操作失败");
    if (r.ok) done.text = String(Date.now());
  }))
  .catch(() => { status.text = "网络错误，请重试"; });
"""


def build(ctx: Context) -> None:
    view = AlertList(ctx)
    ctx.doc.add_root(view.layout)
    ctx.doc.title = "预警列表"


class AlertList:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        args = ctx.args
        self.state = Select(title="状态", value=args.get("state", "firing"), name="state",
                            options=[(ALL, ALL), *STATE_NAMES.items()], width=110)
        self.severity = Select(title="级别", value=args.get("severity", ALL), name="severity",
                               options=[(ALL, ALL), *SEVERITY_NAMES.items()], width=110)
        self.region = Select(title="地区", value=args.get("entity", ALL), name="entity",
                             options=[(ALL, ALL), *[(e, ctx.name(e)) for e in ctx.regions()]], width=130)
        self.workflow = Select(title="处理", value=args.get("workflow", ALL), name="workflow",
                               options=[(ALL, ALL), *WORKFLOW_NAMES.items()], width=110)
        for widget in (self.state, self.severity, self.region, self.workflow):
            widget.on_change("value", lambda _a, _o, _n: self.redraw())
        self.source = ColumnDataSource({k: [] for k in COLUMNS})
        self.source.selected.on_change("indices", lambda _a, _o, _n: self.pick())
        flag = '<span style="color:<%= state == \'报警中\' ? \'#d93025\' : \'inherit\' %>"><%= value %></span>'
        self.table = DataTable(source=self.source, columns=[
            TableColumn(field="id", title="编号", width=50),
            TableColumn(field="region", title="地区", width=80),
            TableColumn(field="rule", title="规则", width=200),
            TableColumn(field="period", title="期别", width=70),
            TableColumn(field="state", title="状态", width=60, formatter=HTMLTemplateFormatter(template=flag)),
            TableColumn(field="severity", title="级别", width=50),
            TableColumn(field="workflow", title="处理", width=60),
            TableColumn(field="message", title="说明", width=320),
        ], height=320, sizing_mode="stretch_width", index_position=None, name="alerts")
        self.story = div(name="story")
        children = [row(self.state, self.severity, self.region, self.workflow, sizing_mode="stretch_width",
                        styles={"flex-wrap": "wrap"}), self.table, self.story]
        if ctx.viewer.can_act:
            children.append(self._actions())
        self.layout = column(*children, sizing_mode="stretch_width", name="alertlist")
        self.redraw()

    def _actions(self) -> LayoutDOM:
        note = TextInput(title="说明", placeholder="研判意见或情况说明", name="note", sizing_mode="stretch_width")
        expires = TextInput(title="说明有效期至", value=str(datetime.date.today() + datetime.timedelta(days=30)),
                            name="expires", width=140)
        status = div(name="action-status")
        done = div(visible=False, name="action-done")
        done.on_change("text", lambda _a, _o, _n: self.ctx.doc.add_next_tick_callback(self._after_action))
        buttons = []
        for action, label, kind in (("acknowledge", "确认", "primary"), ("explain", "情况说明", "default"),
                                    ("data_error", "数据有误", "danger")):
            button = Button(label=label, button_type=kind, name=f"act-{action}", width=100)
            button.js_on_click(CustomJS(args={"source": self.source, "note": note, "expires": expires,
                                              "status": status, "done": done, "action": action}, code=ACT))
            buttons.append(button)
        return column(row(note, expires, sizing_mode="stretch_width", styles={"flex-wrap": "wrap"}),
                      row(*buttons), status, done, sizing_mode="stretch_width", name="actions")

    def _chosen(self, name: str) -> str | None:
        value = getattr(self, name).value
        return None if value == ALL else value

    def redraw(self) -> None:
        ctx = self.ctx
        state, severity, entity, workflow = (self._chosen(n) for n in ("state", "severity", "region", "workflow"))
        rows = [a for a in ctx.data.alerts_for(ctx.viewer, state)
                if (severity is None or a["severity"] == severity) and (entity is None or a["entity"] == entity)
                and (workflow is None or a["workflow"] == workflow)]
        rows.sort(key=lambda a: a["updated_at"], reverse=True)
        self.source.data = {
            "id": [a["id"] for a in rows], "region": [ctx.name(a["entity"]) for a in rows],
            "rule": [_rule_title(ctx, a["rule"]) for a in rows], "period": [a["period"] for a in rows],
            "state": [STATE_NAMES.get(a["state"], a["state"]) for a in rows],
            "severity": [SEVERITY_NAMES.get(a["severity"], a["severity"]) for a in rows],
            "workflow": [WORKFLOW_NAMES.get(a["workflow"], a["workflow"]) for a in rows],
            "message": [a["message"] for a in rows]}
        self.source.selected.indices = []
        self.story.text = f'<p class="muted">共 {len(rows)} 条。点选一条查看经过与说明。</p>'

    def pick(self) -> None:
        indices = self.source.selected.indices
        if indices:
            self.ctx.doc.add_next_tick_callback(partial(self._load, self.source.data["id"][indices[0]]))

    async def _load(self, alert_id: int) -> None:
        alert = await Alert.get_or_none(id=alert_id)
        if alert is None or not self.ctx.viewer.sees(alert.entity):
            return
        story = await queries.alert_story(alert)
        drill = link("alert", alert=alert.id)
        moves = "".join(f'<li>{escape(t["period"])} {escape(STATE_NAMES.get(t["old"], t["old"]))} → '
                        f'{escape(STATE_NAMES.get(t["new"], t["new"]))} {escape(t["message"])}</li>'
                        for t in story["transitions"][-8:])
        self.story.text = (f'<h3>#{alert.id} {escape(_rule_title(self.ctx, alert.rule))} · '
                           f'{escape(self.ctx.name(alert.entity))} · <a href="{escape(drill)}">查看走势</a></h3>'
                           f'<ul class="list">{moves}</ul>{notes_html(self.ctx, [story])}')

    async def _after_action(self) -> None:
        await self.ctx.data.refresh()
        chosen = self.source.selected.indices
        chosen_id = self.source.data["id"][chosen[0]] if chosen else None
        if chosen_id is not None:
            await self._load(chosen_id)
