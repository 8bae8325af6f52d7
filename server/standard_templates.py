"""The standard data templates a bureau starts with; `taishan demo` creates them in the store when absent.

- 「县区经济运行月报」 (wide): the monthly table a county statistics office sends the city, one sheet per
  county (or the city) and month. It covers every monthly indicator the counties report, each read from the
  column its published form calls for (1-本月 for year-to-date levels, 本月 for balances and the month's
  own figures, 1-本月同比% for published growth rates). The enterprise indicators are not on it: the
  county's totals of those are the sum of its firms' own reports.
- 「规上工业企业月报」 (wide): one sheet per enterprise and month, four rows in the 1-本月 column.

The definitions go through `templates.define`, the same validation as `POST /api/v1/templates`; entity
lists are read from the rule set, so a firm added to enterprises.rules is covered on a fresh store.
"""

from __future__ import annotations

from dsl import Model
from server import templates
from server.service import audit
from server.store.models import DataTemplate

COUNTY_MONTHLY = "县区经济运行月报"
ENTERPRISE_MONTHLY = "规上工业企业月报"
CITY = "taian"

# In the order of the bureau's table: industry, construction and investment, consumption, fiscal, finance,
# foreign trade, services and transport, market entities.
COUNTY_INDICATORS = (
    "ind_va", "ind_revenue", "ind_profit", "ind_export_delivery", "ind_firms", "high_tech_output", "power_ind",
    "power_total", "energy_use",
    "construction_output", "fixed_invest", "ind_invest", "tech_invest", "infra_invest", "private_invest",
    "re_invest", "re_sales_area", "re_sales",
    "retail", "retail_above", "retail_online", "retail_auto", "catering", "tourists",
    "budget_rev", "tax_rev", "nontax_rev", "budget_exp", "exp_eight", "exp_general", "exp_safety",
    "exp_education", "exp_science", "exp_culture", "exp_social", "exp_health", "exp_community",
    "deposits", "household_deposits", "loans", "loans_manufacturing",
    "trade", "exports", "imports", "fdi",
    "svc_revenue", "svc_forprofit", "svc_nonprofit", "freight", "freight_turnover", "passengers",
    "postal_revenue",
    "new_entities", "new_enterprises",
)

# The firm's own wording on the form; each row is the year-to-date (1-本月) figure.
ENTERPRISE_ROWS = (
    {"label": "工业总产值", "ytd": "ent_output"},
    {"label": "营业收入", "ytd": "ent_revenue"},
    {"label": "用电量", "ytd": "ent_power"},
    {"label": "新签订单金额", "ytd": "ent_orders"},
)


def definitions(model: Model) -> list[dict[str, object]]:
    """The standard templates as `POST /api/v1/templates` bodies, for the regions and firms of `model`; those
    whose indicators or units the rule set lacks (another region's system, say) are left out."""
    regions = [CITY, *(e for e in model.children(CITY) if not model.entities[e].attrs.get("overlay"))] \
        if CITY in model.entities else []
    firms = [e.id for e in model.entities.values() if e.kind == "enterprise"]
    bodies = [
        {"name": COUNTY_MONTHLY, "title": "县（市、区）经济运行主要指标月报", "layout": "wide",
         "indicators": list(COUNTY_INDICATORS), "entities": regions},
        {"name": ENTERPRISE_MONTHLY, "title": "规模以上工业企业生产经营情况月报", "layout": "wide",
         "indicators": [r["ytd"] for r in ENTERPRISE_ROWS], "entities": firms,
         "options": {"rows": [dict(r) for r in ENTERPRISE_ROWS]}},
    ]
    return [b for b in bodies if b["entities"] and all(i in model.indicators for i in b["indicators"])]


async def ensure(model: Model, user: str) -> list[str]:
    """Create the standard templates missing from the store; the names created. One that exists is kept as
    it is: the bureau may have adapted it."""
    created: list[str] = []
    for body in definitions(model):
        template = templates.define(model, body)
        if await DataTemplate.exists(name=template.name):
            continue
        await templates.save(template)
        await audit(user, "template.create", template.name, template.as_dict())
        created.append(template.name)
    return created
