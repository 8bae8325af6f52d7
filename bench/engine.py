"""Engine benchmark at province scale: compile time, full evaluation, memory, pandas baseline, updates, loading.

Run from the repository root (part of `make bench`, not of the test suite):

    python -m bench.engine              # table + bench/results/engine.json
    python -m bench.engine --profile    # also cProfile every phase, not only the ones that miss a target
    python -m bench.engine --quick      # fewer repetitions
    python -m bench.engine --toy        # the toy province of the smoke test: runs the harness in seconds

The province: 1 province, 16 cities and 133 counties (150 entities) defined in generated rule text;
1,000 monthly indicators of every published form (ytd, period, stock, rate; some with 1–2月 merged)
over 240 months of random hierarchical data (cities are sums of their counties, outliers injected,
values missing at random, late starters); 2,000 rule instances of every kind except change points,
plus balance checks. Each figure is the median of several runs (the machine is noisy).

The pandas baseline is what a notebook would do: a loop per rule and per entity over per-entity
Series (yoy through shift(12), rolling windows through .rolling, persistence through run lengths).
It runs on a stratified subset and is extrapolated per rule kind; the engine runs the same subset,
and the two must agree on every (rule, entity, period) cell: the condition and the firing state.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import gc
import io
import json
import pstats
import resource
import signal
import statistics
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import dsl
from dsl import parser as dsl_parser
from dsl.checker import check
from dsl.model import Model
from engine import Engine, Observation, Plan, compile_model
from engine.alerts import FIRING
from engine.compiler import FULL_HISTORY
from engine.panel import Panel
from engine.periods import Axis, Period

if TYPE_CHECKING:
    import pandas as pd

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
RESULTS = ROOT / "results" / "engine.json"
SHIPPED_RULES = REPO / "rules" / "taian"

TARGETS = {"full_eval_s": 2.0, "peak_mb": 2048.0, "speedup": 20.0, "update_ms": 2.0, "load_ms": 200.0}


# ----------------------------------------------------------------------------- scale


@dataclass(frozen=True)
class Scale:
    n_indicators: int
    n_cities: int
    n_counties: int
    n_periods: int
    kind_counts: dict[str, int]  # rule instances per kind
    n_checks: int
    first_year: int
    seed: int = 20260507


FULL_KINDS = {
    "yoy_range": 400, "parent_gap": 250, "province_gap": 150, "swing": 200, "zscore": 250,
    "divergence": 200, "peer_z": 200, "rolling": 200, "tagged": 150,
}
TOY_KINDS = {k: 3 for k in FULL_KINDS} | {"tagged": 4}
FULL = Scale(1000, 16, 133, 240, FULL_KINDS, 12, 2006)
TOY = Scale(60, 3, 12, 48, TOY_KINDS, 2, 2022)
TAG_SIZE = 10  # indicators per tag group of an `each indicator … tagged` rule

CITY_IDS = ["jinan", "qingdao", "zibo", "zaozhuang", "dongying", "yantai", "weifang", "jining", "taian",
            "weihai", "rizhao", "linyi", "dezhou", "liaocheng", "binzhou", "heze"]
CITY_NAMES = ["济南", "青岛", "淄博", "枣庄", "东营", "烟台", "潍坊", "济宁", "泰安", "威海", "日照", "临沂",
              "德州", "聊城", "滨州", "菏泽"]
COUNTY_KINDS = ("district", "county", "county_city")
LEVEL_UNITS = ("亿元", "万元", "万吨", "万千瓦时")


# ----------------------------------------------------------------------------- the province


@dataclass
class Tree:
    ids: list[str]  # definition order = panel row order: province, cities, counties
    names: list[str]
    kinds: list[str]
    parent: dict[str, str]
    cities: list[str]
    counties: list[str]
    children: dict[str, list[str]] = field(default_factory=dict)

    @property
    def province(self) -> str:
        return self.ids[0]


def make_tree(scale: Scale, rng: np.random.Generator) -> Tree:
    sizes = _split(scale.n_counties, scale.n_cities, rng)
    cities = CITY_IDS[: scale.n_cities]
    tree = Tree(["shandong", *cities], ["山东省", *(f"{n}市" for n in CITY_NAMES[: scale.n_cities])],
                ["province"] + ["city"] * scale.n_cities, {c: "shandong" for c in cities}, cities, [])
    tree.children["shandong"] = list(cities)
    for city, name, size in zip(cities, CITY_NAMES, sizes, strict=False):
        tree.children[city] = []
        for k in range(size):
            county = f"{city}_{k + 1:02d}"
            tree.ids.append(county)
            tree.names.append(f"{name}第{k + 1}县区")
            tree.kinds.append(COUNTY_KINDS[k % 3])
            tree.parent[county] = city
            tree.counties.append(county)
            tree.children[city].append(county)
    return tree


def _split(total: int, parts: int, rng: np.random.Generator) -> list[int]:
    weights = rng.uniform(0.6, 1.4, parts)
    sizes = np.maximum(1, np.floor(weights / weights.sum() * total)).astype(int)
    sizes[: total - sizes.sum()] += 1
    return sizes.tolist()


# ----------------------------------------------------------------------------- indicators


@dataclass(frozen=True)
class Indicator:
    id: str
    form: str  # ytd | period | stock | rate
    merged: bool  # jan_feb merged: no January value
    unit: str
    tag: str | None = None


def make_indicators(scale: Scale, rng: np.random.Generator) -> list[Indicator]:
    forms = rng.choice(["ytd", "period", "stock", "rate"], scale.n_indicators, p=[0.35, 0.25, 0.15, 0.25])
    out = []
    for i, form in enumerate(forms):
        merged = form in ("ytd", "period") and rng.random() < 0.3
        unit = "%" if form == "rate" else LEVEL_UNITS[i % len(LEVEL_UNITS)]
        out.append(Indicator(f"i{i:04d}", str(form), bool(merged), unit))
    return _tag_groups(scale, out)


def _tag_groups(scale: Scale, indicators: list[Indicator]) -> list[Indicator]:
    """Tag disjoint groups of level indicators for the `each indicator … tagged` rules."""
    levels = [i for i, ind in enumerate(indicators) if ind.form != "rate"]
    for n, i in enumerate(levels[: scale.kind_counts.get("tagged", 0)]):
        indicators[i] = replace(indicators[i], tag=f"专题{n // TAG_SIZE + 1:02d}")
    return indicators


# ----------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class RuleSpec:
    """One generated rule instance (or balance check): what the text says and what the baseline computes."""

    id: str
    kind: str
    a: str  # the (bound) indicator
    b: str | None  # the second indicator of a divergence, or of a balance
    c: str | None  # the third indicator of a parts balance
    threshold: float
    scope: str  # regions | counties | cities | <city id>
    for_periods: int = 1
    of_periods: int | None = None
    keep: int = 0
    guard: bool = False
    recover: bool = False
    critical: bool = False
    tag: str | None = None  # for `each indicator v tagged TAG`
    is_check: bool = False


SCOPE_TEXT = {"regions": "", "counties": "each county in shandong", "cities": "each city in shandong"}
# kind: (indicator forms it applies to, threshold for levels, threshold for rates, scopes)
KIND_SETUP: dict[str, tuple[tuple[str, ...], float, float, tuple[str, ...]]] = {
    "yoy_range": (("ytd", "period", "stock"), 35.0, 0.0, ("regions", "counties", "city")),
    "tagged": (("ytd", "period", "stock"), 40.0, 0.0, ("regions",)),
    "parent_gap": (("ytd", "period", "stock", "rate"), 25.0, 6.0, ("counties", "regions", "city")),
    "province_gap": (("ytd", "period", "stock", "rate"), 15.0, 4.5, ("cities",)),
    "swing": (("ytd", "period", "stock"), 30.0, 0.0, ("regions", "counties")),
    "zscore": (("period", "rate"), 0.0, 0.0, ("regions", "counties", "city")),
    "divergence": (("ytd", "period", "stock", "rate"), 25.0, 25.0, ("regions", "counties")),
    "peer_z": (("ytd", "period", "stock", "rate"), 5.0, 5.0, ("counties", "regions")),
    "rolling": (("period", "rate"), 2.5, 2.5, ("regions", "counties")),
}
ZSCORE_THRESHOLD = 3.5


def make_rules(scale: Scale, tree: Tree, indicators: list[Indicator], rng: np.random.Generator) -> list[RuleSpec]:
    by_form: dict[str, list[str]] = {}
    for ind in indicators:
        by_form.setdefault(ind.form, []).append(ind.id)
    forms = {ind.id: ind.form for ind in indicators}
    specs: list[RuleSpec] = []
    for kind, count in scale.kind_counts.items():
        if kind == "tagged":
            specs.extend(_tagged_rules(count, indicators, rng))
            continue
        allowed, _, _, _ = KIND_SETUP[kind]
        pool = [i for f in allowed for i in by_form.get(f, [])]
        for n in range(count):
            specs.append(_rule(kind, n, pool, forms, tree, rng))
    return specs + _checks(scale, indicators, rng)


def _rule(kind: str, n: int, pool: list[str], forms: dict[str, str], tree: Tree,
          rng: np.random.Generator) -> RuleSpec:
    _, level_t, rate_t, scopes = KIND_SETUP[kind]
    a = str(rng.choice(pool))
    b = str(rng.choice([p for p in pool if p != a])) if kind == "divergence" else None
    threshold = ZSCORE_THRESHOLD if kind == "zscore" else (rate_t if forms[a] == "rate" else level_t)
    scope = str(rng.choice(scopes))
    if scope == "city":
        scope = str(rng.choice(tree.cities))
    return RuleSpec(f"r_{kind}_{n:04d}", kind, a, b, None, threshold, scope, **_modifiers(rng))


def _modifiers(rng: np.random.Generator) -> dict[str, Any]:
    """Persistence mix: plain, `for 2 periods`, `for 3 of 5 periods`, `keep 1 period`; some guards, recovers."""
    pick = rng.random()
    mods: dict[str, Any] = {}
    if pick < 0.30:
        mods["for_periods"] = 2
    elif pick < 0.50:
        mods["for_periods"], mods["of_periods"] = 3, 5
    elif pick < 0.65:
        mods["keep"] = 1
    elif pick < 0.72:
        mods["for_periods"], mods["keep"] = 2, 1
    mods["guard"] = bool(rng.random() < 0.10)
    mods["recover"] = bool(rng.random() < 0.05)
    mods["critical"] = bool(rng.random() < 0.30)
    return mods


def _tagged_rules(count: int, indicators: list[Indicator], rng: np.random.Generator) -> list[RuleSpec]:
    """`each indicator v tagged 专题NN`: one rule per tag, one instance per tagged indicator."""
    specs: list[RuleSpec] = []
    tags = sorted({ind.tag for ind in indicators if ind.tag})
    for n, tag in enumerate(tags):
        mods = _modifiers(rng)
        for ind in (i for i in indicators if i.tag == tag):
            specs.append(RuleSpec(f"r_tagged_{n:04d}", "tagged", ind.id, None, None, 40.0, "regions",
                                  tag=tag, **mods))
    return specs[:count]


def _checks(scale: Scale, indicators: list[Indicator], rng: np.random.Generator) -> list[RuleSpec]:
    """Balance checks on cities: children sums (non_null) and parts (partial_null)."""
    flows = [i.id for i in indicators if i.form != "rate" and i.unit == "亿元" and not i.tag]
    chosen = [str(x) for x in rng.choice(flows, size=3 * scale.n_checks, replace=False)]
    out = []
    for n in range(scale.n_checks):
        a, b, c = chosen[3 * n:3 * n + 3]
        kind = "balance_children" if n % 2 == 0 else "balance_parts"
        tolerance = 0.5 if kind == "balance_children" else 0.1
        out.append(RuleSpec(f"c_{kind}_{n:03d}", kind, a, b, c, tolerance, "cities", is_check=True))
    return out


def parts_triples(specs: Sequence[RuleSpec]) -> list[tuple[str, str, str]]:
    return [(s.a, s.b, s.c) for s in specs if s.kind == "balance_parts"]  # type: ignore[misc]


# ----------------------------------------------------------------------------- rule text


def _growth(ind: str, forms: dict[str, str]) -> str:
    """The growth of an indicator: yoy() of a level, the published rate itself."""
    return ind if forms[ind] == "rate" else f"yoy({ind})"


def bounds(spec: RuleSpec) -> dict[str, float]:
    """The numbers of a rule, rounded once: the text prints them and the baseline compares with them."""
    t = spec.threshold
    if spec.kind in ("yoy_range", "tagged"):
        raw = {"hi": t, "lo": -t * 0.7, "hi2": t * 1.6, "lo2": -t, "rec_hi": t / 2, "rec_lo": -t * 0.35}
    else:
        raw = {"t": t, "t2": t * 1.6, "rec": t / 2}
    return {k: round(v, 4) for k, v in raw.items()}


def conditions(spec: RuleSpec, forms: dict[str, str], var: str) -> tuple[str, str | None, str]:
    """(warning condition, critical condition or None, recover condition) for a rule instance."""
    n = {k: repr(v) for k, v in bounds(spec).items()}
    g = _growth(var, forms) if spec.kind != "tagged" else f"yoy({var})"
    if spec.kind in ("yoy_range", "tagged"):
        return (f"{g} > {n['hi']} or {g} < {n['lo']}", f"{g} > {n['hi2']} or {g} < {n['lo2']}",
                f"{g} < {n['rec_hi']} and {g} > {n['rec_lo']}")
    if spec.kind == "divergence":
        h = _growth(spec.b or "", forms)
        gap = f"abs({g} - {h})"
        return f"sign({g}) != sign({h}) and {gap} > {n['t']}", f"{gap} > {n['t2']}", f"{gap} < {n['rec']}"
    if spec.kind == "rolling":
        dev = f"abs({var} - mean({var}, 12))"
        return f"{dev} > {n['t']} * std({var}, 12)", None, f"{dev} < std({var}, 12)"
    score = {"parent_gap": f"{g} - {g}@parent", "province_gap": f"{g} - {g}@province",
             "swing": f"diff({g}, 1)", "zscore": f"zscore({var}, 12)", "peer_z": f"peer_z({g})"}[spec.kind]
    return f"abs({score}) > {n['t']}", f"abs({score}) > {n['t2']}", f"abs({score}) < {n['rec']}"


def rule_text(spec: RuleSpec, forms: dict[str, str], name: str) -> str:
    if spec.is_check:
        return _check_text(spec)
    var = "v" if spec.tag else spec.a
    warn, critical, recover = conditions(spec, forms, var)
    scope = SCOPE_TEXT.get(spec.scope, f"each county in {spec.scope}")
    lines = [f'rule {spec.id} "{name}{_TITLES[spec.kind]}" {{', "  severity warning"]
    lines += [f"  {scope}"] if scope else []
    lines += [f"  each indicator v tagged {spec.tag}"] if spec.tag else []
    lines.append(f"  when {warn}")
    if spec.critical and critical:
        lines.append(f"  critical when {critical}")
    if spec.of_periods:
        lines.append(f"  for {spec.for_periods} of {spec.of_periods} periods")
    elif spec.for_periods > 1:
        lines.append(f"  for {spec.for_periods} periods")
    if spec.keep:
        lines.append(f"  keep {spec.keep} period")
    if spec.recover:
        lines.append(f"  recover when {recover}")
    if spec.guard:
        lines.append(f"  guard history({var}) >= 13")
    shown = _growth(var, forms) if not spec.tag else f"yoy({var})"
    lines.append(f'  message "{{entity}}{{period}}{name}增速{{{shown}:.1f}}%"')
    lines.append('  labels area = "基准测试"')
    return "\n".join([*lines, "}"])


_TITLES = {
    "yoy_range": "同比增速超出合理区间", "tagged": "同比增速超出合理区间", "parent_gap": "增速偏离上级",
    "province_gap": "增速偏离全省", "swing": "增速大幅波动", "zscore": "数值异常（z 值）",
    "divergence": "两项指标增速背离", "peer_z": "增速显著偏离同级单位", "rolling": "偏离近一年均值",
}


def _check_text(spec: RuleSpec) -> str:
    if spec.kind == "balance_children":
        body = f"  sum({spec.a} over children) = {spec.a} within {spec.threshold:g}%\n  missing non_null"
    else:
        body = f"  {spec.a} = {spec.b} + {spec.c} within {spec.threshold:g}%\n  missing partial_null"
    return f'check {spec.id} "平衡关系核对" {{\n  each city in shandong\n{body}\n}}'


def model_text(tree: Tree, indicators: list[Indicator], specs: Sequence[RuleSpec]) -> str:
    parts = ["# generated by bench/engine.py"]
    for e, name, kind in zip(tree.ids, tree.names, tree.kinds, strict=True):
        parent = tree.parent.get(e)
        parts.append(f'entity {e} "{name}" {kind}' + (f" in {parent}" if parent else ""))
    tags = {s.a: s.tag for s in specs if s.tag}  # only the tagged indicators these rules bind
    for ind in indicators:
        parts.append(_indicator_text(ind, tags.get(ind.id)))
    names = {ind.id: f"指标{ind.id[1:]}" for ind in indicators}
    emitted: set[str] = set()
    for spec in specs:
        if spec.id not in emitted:  # a tagged rule is one text for several instances
            emitted.add(spec.id)
            parts.append(rule_text(spec, {i.id: i.form for i in indicators}, names[spec.a] if not spec.tag else ""))
    return "\n".join(parts) + "\n"


def _indicator_text(ind: Indicator, tag: str | None) -> str:
    attrs = [f'unit "{ind.unit}"', "frequency monthly", f"form {ind.form}"]
    attrs += ["jan_feb merged"] if ind.merged else []
    attrs += ["prices comparable"] if ind.form == "rate" else ["prices current", "additive"]
    attrs += [f"tags {tag}"] if tag else []
    attrs += ['department "基准测试"', "release day 15"]
    return f'indicator {ind.id} "指标{ind.id[1:]}" {{ {"  ".join(attrs)} }}'


# ----------------------------------------------------------------------------- data


@dataclass
class Dataset:
    scale: Scale
    tree: Tree
    indicators: list[Indicator]
    specs: list[RuleSpec]
    block: np.ndarray  # (indicators, entities, periods)
    axis: Axis

    @property
    def forms(self) -> dict[str, str]:
        return {i.id: i.form for i in self.indicators}

    def index(self) -> dict[str, int]:
        return {ind.id: k for k, ind in enumerate(self.indicators)}


def make_dataset(scale: Scale) -> Dataset:
    rng = np.random.default_rng(scale.seed)
    tree = make_tree(scale, rng)
    indicators = make_indicators(scale, rng)
    specs = make_rules(scale, tree, indicators, rng)
    block = make_block(scale, tree, indicators, parts_triples(specs), rng)
    first = Period.of("monthly", scale.first_year, 1)
    return Dataset(scale, tree, indicators, specs, block, Axis("monthly", first.ordinal, scale.n_periods))


def make_block(scale: Scale, tree: Tree, indicators: list[Indicator], triples: list[tuple[str, str, str]],
               rng: np.random.Generator) -> np.ndarray:
    assert scale.n_periods % 12 == 0, "whole years: the ytd data are cumulated year by year"
    block = np.empty((len(indicators), len(tree.ids), scale.n_periods))
    for form in ("ytd", "period", "stock", "rate"):
        rows = [k for k, ind in enumerate(indicators) if ind.form == form]
        for start in range(0, len(rows), 100):
            chunk = rows[start:start + 100]
            block[chunk] = _rates(rng, len(chunk), tree, scale) if form == "rate" else \
                _levels(rng, len(chunk), tree, scale, form)
    index = {ind.id: k for k, ind in enumerate(indicators)}
    for a, b, c in triples:  # a parts balance: a = b + c, off by more than the tolerance now and then
        block[index[a]] = block[index[b]] + block[index[c]]
        block[index[a]][_sparse(rng, block[index[a]].shape, 0.01)] *= 1.02
    _knock_out(block, indicators, tree, rng)
    return block


def _sparse(rng: np.random.Generator, shape: tuple[int, ...], share: float) -> tuple[np.ndarray, ...]:
    """Indices of about `share` of the cells of an array (drawn without a full-size random array)."""
    size = int(np.prod(shape))
    return np.unravel_index(rng.integers(0, size, rng.binomial(size, share)), shape)


def _aggregate(counties: np.ndarray, tree: Tree, rng: np.random.Generator) -> np.ndarray:
    """Rows for province and cities as sums of their children, mostly exact, sometimes 3% off."""
    n, _, t = counties.shape
    offset = 1 + len(tree.cities)
    out = np.empty((n, len(tree.ids), t))
    out[:, offset:] = counties
    for c, city in enumerate(tree.cities):
        members = [offset + tree.counties.index(k) for k in tree.children[city]]
        out[:, 1 + c] = out[:, members].sum(axis=1)
    out[:, 0] = out[:, 1:offset].sum(axis=1)
    off = _sparse(rng, (n, offset, t), 0.005)
    out[:, :offset][off] *= rng.choice([0.97, 1.03], off[0].size)
    return out


def _levels(rng: np.random.Generator, n: int, tree: Tree, scale: Scale, form: str) -> np.ndarray:
    k, t = len(tree.counties), scale.n_periods
    months = np.arange(t)
    base = rng.lognormal(3, 1, (n, k, 1))
    drift = rng.normal(0.005, 0.002, (n, k, 1))
    if form == "stock":
        values = base * np.exp(np.cumsum(drift + rng.normal(0, 0.012, (n, k, t)), axis=-1))
    else:
        season = rng.normal(0, 0.05, (n, 1, 12))[..., months % 12]
        values = base * np.exp(drift * months + season + rng.normal(0, 0.04, (n, k, t)))
    spikes = _sparse(rng, values.shape, 0.002)
    values[spikes] *= np.exp(rng.choice([-1, 1], spikes[0].size) * rng.uniform(0.4, 0.9, spikes[0].size))
    values = _aggregate(values, tree, rng)
    if form == "ytd":
        years = values.reshape(n, len(tree.ids), t // 12, 12)
        values = np.cumsum(years, axis=-1).reshape(n, len(tree.ids), t)
    return values


def _rates(rng: np.random.Generator, n: int, tree: Tree, scale: Scale) -> np.ndarray:
    t, n_cities = scale.n_periods, len(tree.cities)
    province = 6 + np.cumsum(rng.normal(0, 0.3, (n, 1, t)), axis=-1) * 0.5 + rng.normal(0, 0.8, (n, 1, t))
    cities = province + rng.normal(0, 1, (n, n_cities, 1)) + rng.normal(0, 0.8, (n, n_cities, t))
    parents = np.array([tree.cities.index(tree.parent[k]) for k in tree.counties])
    counties = cities[:, parents] + rng.normal(0, 1.2, (n, len(tree.counties), t))
    out = np.concatenate([province, cities, counties], axis=1)
    spikes = _sparse(rng, out.shape, 0.003)
    out[spikes] += rng.choice([-1, 1], spikes[0].size) * rng.uniform(6, 12, spikes[0].size)
    return out


def _knock_out(block: np.ndarray, indicators: list[Indicator], tree: Tree, rng: np.random.Generator) -> None:
    """Missing values: 1% at random, late starters among counties, no January where 1–2月 are merged."""
    block[_sparse(rng, block.shape, 0.01)] = np.nan
    n, e, t = block.shape
    late = rng.random((n, e)) < 0.05
    late[:, : 1 + len(tree.cities)] = False
    starts = rng.integers(12, max(13, t // 2), (n, e))
    for k, r in zip(*np.nonzero(late), strict=True):
        block[k, r, : starts[k, r]] = np.nan
    merged = np.flatnonzero([ind.merged for ind in indicators])
    block[merged, :, ::12] = np.nan


def make_panel(model: Model, data: Dataset) -> Panel:
    """The panel `build_panel` would make from these observations, built from the arrays directly.

    36 million `Observation` objects would take minutes and gigabytes; the smoke test checks that this
    panel equals `build_panel(validate(rows))` at toy scale.
    """
    entities = list(model.entities)
    assert entities == data.tree.ids, "panel rows follow the entity definition order"
    values = {ind.id: data.block[k] for k, ind in enumerate(data.indicators)}
    as_of = data.axis.last.end_date() + datetime.timedelta(days=20)
    return Panel(model, entities, {"monthly": data.axis}, values, {}, as_of)  # no revisions: no first vintages


def rows_of(data: Dataset) -> list[dict[str, object]]:
    """The data as the rows a user would upload (for the smoke test's build_panel comparison)."""
    periods = [str(p) for p in data.axis.periods]
    out: list[dict[str, object]] = []
    for k, ind in enumerate(data.indicators):
        for r, entity in enumerate(data.tree.ids):
            for c in np.flatnonzero(~np.isnan(data.block[k, r])):
                out.append({"indicator": ind.id, "entity": entity, "period": periods[c],
                            "value": float(data.block[k, r, c])})
    return out


# ----------------------------------------------------------------------------- engine side


def load_model(data: Dataset, specs: Sequence[RuleSpec] | None = None) -> Model:
    return dsl.load_text(model_text(data.tree, data.indicators, data.specs if specs is None else specs),
                         "<bench>")


def engine_cells(engine: Engine) -> dict[tuple[str, str | None], tuple[list[str], np.ndarray, np.ndarray]]:
    """(rule, bound indicator) -> (entities, condition, firing) from a run engine."""
    out = {}
    for position, inst in enumerate(engine.plan.instances):
        state = engine.state[position]
        out[(inst.id, inst.indicator)] = (list(inst.entities), state.condition, state.states == FIRING)
    return out


# ----------------------------------------------------------------------------- the pandas baseline


@dataclass
class Notebook:
    """What a notebook has after loading the data: one wide DataFrame (periods × entities) per indicator."""

    wide: dict[str, pd.DataFrame]
    tree: Tree
    forms: dict[str, str]


def notebook_frames(data: Dataset, indicators: set[str]) -> Notebook:
    """Long DataFrame -> one pivot per indicator, as a notebook would load the data (not timed)."""
    import pandas as pd

    index = data.index()
    periods = [str(p) for p in data.axis.periods]
    pieces = []
    for ind in sorted(indicators):
        frame = pd.DataFrame(data.block[index[ind]].T, index=periods, columns=data.tree.ids)
        pieces.append(frame.stack(future_stack=True).rename("value").reset_index()
                      .rename(columns={"level_0": "period", "level_1": "entity"}).assign(indicator=ind))
    long = pd.concat(pieces, ignore_index=True)
    wide = {ind: g.pivot(index="period", columns="entity", values="value")[data.tree.ids]
            for ind, g in long.groupby("indicator")}
    return Notebook(wide, data.tree, data.forms)


def scope_entities(tree: Tree, scope: str) -> list[str]:
    if scope == "regions":
        return tree.ids[1:]
    if scope == "counties":
        return list(tree.counties)
    if scope == "cities":
        return list(tree.cities)
    return list(tree.children[scope])


def _yoy(s: pd.Series) -> pd.Series:
    base = s.shift(12)
    return ((s / base - 1) * 100).where(base > 0)


def _growth_series(nb: Notebook, ind: str, entity: str) -> pd.Series:
    s = nb.wide[ind][entity]
    return s if nb.forms[ind] == "rate" else _yoy(s)


def _zscore(s: pd.Series) -> pd.Series:
    past = s.shift(1)
    mean = past.rolling(12, min_periods=8).mean()
    std = past.rolling(12, min_periods=8).std()
    return ((s - mean) / std).where(std > 0)


def _peer_z(nb: Notebook, ind: str) -> pd.DataFrame:
    """Robust z-score of each entity's growth among its siblings, period by period (periods × entities)."""
    import pandas as pd

    members = [e for e in nb.tree.ids if e in nb.tree.parent]
    growth = pd.DataFrame({e: _growth_series(nb, ind, e) for e in members})
    groups = growth.T.groupby(nb.tree.parent)
    median = groups.transform("median")
    count = groups.transform("count")
    mad = (growth.T - median).abs().groupby(nb.tree.parent).transform("median")
    z = ((growth.T - median) / (1.4826 * mad)).where((count >= 3) & (mad > 0))
    return z.T


def _score(nb: Notebook, spec: RuleSpec, entity: str, peers: pd.DataFrame | None) -> pd.Series:
    """The quantity `abs(...)` is compared with, for the one-sided kinds."""
    if spec.kind == "zscore":
        return _zscore(nb.wide[spec.a][entity])
    if spec.kind == "peer_z":
        assert peers is not None
        return peers[entity]
    g = _growth_series(nb, spec.a, entity)
    if spec.kind == "parent_gap":
        return g - _growth_series(nb, spec.a, nb.tree.parent[entity])
    if spec.kind == "province_gap":
        return g - _growth_series(nb, spec.a, nb.tree.province)
    return g.diff(1)  # swing


def _either(left: pd.Series, right: pd.Series) -> pd.Series:
    """Three-valued `or` of two conditions held as 1.0 / 0.0 / NaN."""
    out = ((left == 1) | (right == 1)).astype(float)
    return out.where((left == 1) | (right == 1) | (left.notna() & right.notna()))


def _cond(mask: pd.Series, known: pd.Series) -> pd.Series:
    return mask.astype(float).where(known)


def _rule_conditions(nb: Notebook, spec: RuleSpec, entity: str,
                     peers: pd.DataFrame | None) -> tuple[pd.Series, pd.Series]:
    """(condition, recover condition) of one rule for one entity, as float 1 / 0 / NaN."""
    b = bounds(spec)
    crit: pd.Series | None
    if spec.kind in ("yoy_range", "tagged"):
        g = _yoy(nb.wide[spec.a][entity])
        warn = _cond((g > b["hi"]) | (g < b["lo"]), g.notna())
        crit = _cond((g > b["hi2"]) | (g < b["lo2"]), g.notna())
        recover = _cond((g < b["rec_hi"]) & (g > b["rec_lo"]), g.notna())
    elif spec.kind == "divergence":
        g, h = _growth_series(nb, spec.a, entity), _growth_series(nb, spec.b or "", entity)
        known, gap = g.notna() & h.notna(), (g - h).abs()
        warn = _cond((np.sign(g) != np.sign(h)) & (gap > b["t"]), known)
        crit, recover = _cond(gap > b["t2"], known), _cond(gap < b["rec"], known)
    elif spec.kind == "rolling":
        s = nb.wide[spec.a][entity]
        mean, std = s.rolling(12, min_periods=8).mean(), s.rolling(12, min_periods=8).std()
        dev, known = (s - mean).abs(), s.notna() & mean.notna() & std.notna()
        warn, crit, recover = _cond(dev > b["t"] * std, known), None, _cond(dev < std, known)
    else:
        score = _score(nb, spec, entity, peers).abs()
        warn, crit = _cond(score > b["t"], score.notna()), _cond(score > b["t2"], score.notna())
        recover = _cond(score < b["rec"], score.notna())
    condition = _either(warn, crit) if spec.critical and crit is not None else warn
    if spec.guard:
        history = nb.wide[spec.a][entity].notna().cumsum()
        condition = condition.where(history >= 13)
    return condition, recover


def _firing(condition: pd.Series, spec: RuleSpec, recover: pd.Series | None) -> pd.Series:
    """The alert lifecycle over the known periods, held through unknown ones.

    Firing starts once the condition has held `for n periods` (or `k of n`); a firing alert stays firing
    while the condition holds (or the count is still met), and ends `keep` periods after it stops,
    with `recover when` only once the recover condition holds.
    """
    import pandas as pd

    holds = condition.dropna() == 1
    if spec.of_periods:
        persistent = holds.rolling(spec.of_periods, min_periods=1).sum() >= spec.for_periods
    else:
        count = holds.cumsum()  # run length: holds so far minus holds up to the last break
        persistent = count - count.where(~holds).ffill().fillna(0) >= spec.for_periods
    position = pd.Series(np.arange(len(holds)), index=holds.index, dtype=float)
    stopped_for = position - position.where(holds | persistent).ffill().fillna(-1)
    ends = stopped_for > spec.keep
    if recover is not None:
        ends &= recover.reindex(holds.index).fillna(0) == 1
    last_start = position.where(persistent).ffill()
    last_end = position.where(ends).ffill().fillna(-1)
    firing = last_start.notna() & (last_start > last_end)
    return firing.astype(float).reindex(condition.index).ffill().fillna(0) == 1


def _check_condition(nb: Notebook, spec: RuleSpec, city: str) -> pd.Series:
    if spec.kind == "balance_children":
        left = nb.wide[spec.a][nb.tree.children[city]].sum(axis=1, skipna=False)
        right = nb.wide[spec.a][city]
        bad = (left - right).abs() > right.abs() * spec.threshold / 100 + 1e-9
        return _cond(bad, left.notna() & right.notna())
    a, b, c = (nb.wide[x][city] for x in (spec.a, spec.b or "", spec.c or ""))
    left, right = a.fillna(0), b.fillna(0) + c.fillna(0)
    bad = (left - right).abs() > right.abs() * spec.threshold / 100 + 1e-9
    return _cond(bad, a.notna() | b.notna() | c.notna())


def baseline_rule(nb: Notebook, spec: RuleSpec) -> dict[str, tuple[pd.Series, pd.Series]]:
    """entity -> (condition, firing) for one rule instance, a loop over the entities of its scope."""
    out = {}
    peers = _peer_z(nb, spec.a) if spec.kind == "peer_z" else None
    for entity in scope_entities(nb.tree, spec.scope):
        if spec.is_check:
            condition, recover = _check_condition(nb, spec, entity), None
        else:
            condition, recover = _rule_conditions(nb, spec, entity, peers)
        out[entity] = (condition, _firing(condition, spec, recover if spec.recover else None))
    return out


def compare(engine: Engine, nb_results: dict[tuple[str, str | None], dict[str, tuple]],
            specs: Sequence[RuleSpec]) -> dict[str, int]:
    """Count cells where the engine and the baseline disagree on the condition or the firing state."""
    cells = engine_cells(engine)
    counts = Counter()
    for spec in specs:
        key = (spec.id, spec.a if spec.tag else None)
        entities, condition, firing = cells[key]
        for row, entity in enumerate(entities):
            nb_condition, nb_firing = nb_results[key][entity]
            counts["cells"] += condition.shape[1]
            counts["condition_mismatch"] += int(np.sum(~_same(condition[row], nb_condition.to_numpy())))
            counts["firing_mismatch"] += int(np.sum(firing[row] != nb_firing.to_numpy()))
            counts["holds"] += int(np.sum(condition[row] == 1))
            counts["firing"] += int(np.sum(firing[row]))
        counts["entity_mismatch"] += int(set(entities) != set(nb_results[key]))
    return dict(counts)


def _same(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    return (left == right) | (np.isnan(left) & np.isnan(right))


def run_baseline(nb: Notebook, specs: Sequence[RuleSpec]) -> dict[tuple[str, str | None], dict[str, tuple]]:
    return {(s.id, s.a if s.tag else None): baseline_rule(nb, s) for s in specs}


# ----------------------------------------------------------------------------- measuring


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, list[float], Any]:
    times, result = [], None
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, result


def max_rss_mb() -> float:
    """The process's peak resident set so far (ru_maxrss: KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def profile(fn: Callable[[], Any], top: int = 14) -> dict[str, Any]:
    """cProfile one call; the functions with the most own time, with their share of the total."""
    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    stats = pstats.Stats(profiler, stream=io.StringIO())
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = []
    for (path, line, name), (_cc, calls, own, cumulative, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        label = f"{Path(path).name}:{line}({name})" if line else name
        rows.append({"function": label, "calls": calls, "own_s": own, "own_share": own / total,
                     "cumulative_s": cumulative, "cumulative_share": cumulative / total})
    by_own = sorted(rows, key=lambda r: -r["own_s"])[:top]
    by_cumulative = [r for r in sorted(rows, key=lambda r: -r["cumulative_s"]) if _ours(r["function"])][:top]
    return {"total_s": total, "by_own_time": by_own, "by_cumulative_time": by_cumulative}


def _ours(label: str) -> bool:
    return label.split(":")[0] in {f"{p.name}" for d in ("engine", "dsl") for p in (REPO / d).glob("*.py")}


# ----------------------------------------------------------------------------- phases


def measure_loading(runs: int) -> dict[str, Any]:
    """Parse + check of the shipped rule set: the process's first (cold) load, then warm and cache-cleared."""
    if not SHIPPED_RULES.is_dir():
        return {"skipped": f"{SHIPPED_RULES} not present"}
    paths = [str(SHIPPED_RULES)]
    lark_cache = dsl_parser.Path(dsl_parser.__file__).parent / "taishan.lark.cache"
    cache_existed = lark_cache.exists()
    start = time.perf_counter()
    model = dsl.load(paths)
    cold = time.perf_counter() - start
    warm, warm_all, _ = timed(lambda: dsl.load(paths), runs)

    def reload_grammar() -> Model:
        dsl_parser._lark.cache_clear()
        dsl_parser._terminal_names.cache_clear()
        return dsl.load(paths)

    cleared, cleared_all, _ = timed(reload_grammar, max(3, runs // 2))
    size = sum(p.stat().st_size for p in SHIPPED_RULES.rglob("*.rules"))
    return {"files": len(list(SHIPPED_RULES.rglob("*.rules"))), "bytes": size, "rules": len(model.rules),
            "checks": len(model.checks), "indicators": len(model.indicators), "entities": len(model.entities),
            "first_load_s": cold, "lark_cache_file_existed": cache_existed,
            "warm_median_s": warm, "warm_all_s": warm_all,
            "grammar_rebuilt_median_s": cleared, "grammar_rebuilt_all_s": cleared_all}


def measure_compile(text: str, runs: int) -> tuple[dict[str, Any], Model, Plan]:
    parse_s, parse_all, parsed = timed(lambda: dsl_parser.parse(text, "<bench>"), runs)
    check_s, check_all, model = timed(lambda: check([parsed], {"<bench>": text}), runs)
    compile_s, compile_all, plan = timed(lambda: compile_model(model), runs)
    return ({"text_bytes": len(text.encode()), "parse_median_s": parse_s, "check_median_s": check_s,
             "compile_median_s": compile_s, "total_median_s": parse_s + check_s + compile_s,
             "parse_all_s": parse_all, "check_all_s": check_all, "compile_all_s": compile_all,
             "plan_nodes": len(plan.nodes), "instances": len(plan.instances)}, model, plan)


class OverBudget(Exception):
    """A timed call ran past its budget (raised from SIGALRM)."""


@contextmanager
def budget(seconds: float) -> Iterator[None]:
    def expire(signum: int, frame: object) -> None:
        raise OverBudget

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _run(plan: Plan, panel: Panel) -> tuple[Engine, Any]:
    engine = Engine(plan, panel)
    return engine, engine.run()


def states_only(plan: Plan, panel: Panel) -> Engine:
    """A full run with transition reporting switched off (bench-side): the numeric core of an evaluation.

    Shadows `Engine._report` on the instance; used as a diagnostic, for the consistency check (which
    compares states only), and to get an engine with state when a full run does not fit the budget.
    """
    engine = Engine(plan, panel)
    if hasattr(engine, "_report"):
        engine._report = lambda *args, **kwargs: None  # type: ignore[method-assign]
    engine.run()
    return engine


def measure_full(plan: Plan, panel: Panel, runs: int, seconds: float) -> tuple[dict[str, Any], Engine]:
    """Full evaluations within a time budget: as many runs (up to `runs`) as fit, at least one attempt."""
    out: dict[str, Any] = {"instances": len(plan.instances), "budget_s": seconds,
                           "cells": sum(len(i.entities) for i in plan.instances) * panel.axes["monthly"].length,
                           "panel_mb": _panel_mb(panel), "max_rss_before_eval_mb": max_rss_mb()}
    done, times, current, report = None, [], Engine(plan, panel), None
    try:
        with budget(seconds):
            while len(times) < runs and sum(times) + (times[0] if times else 0) <= seconds:
                done = report = current = None  # one engine and one report alive at a time, as in service
                gc.collect()
                current = Engine(plan, panel)
                start = time.perf_counter()
                report = current.run()
                times.append(time.perf_counter() - start)
                done = current
    except OverBudget:
        report = None
    out["max_rss_after_eval_mb"] = max_rss_mb()
    if report is not None:
        out |= _read_findings(report)
    report = None
    if times:
        out |= {"median_s": statistics.median(times), "all_s": times}
    else:  # not even one run fitted: say how far it got
        finished = len(current.state) if current is not None else 0
        out |= {"median_s": None, "aborted_after_s": seconds, "instances_done": finished,
                "linear_estimate_s": seconds * len(plan.instances) / max(1, finished)}
    current = None
    # The updates need an engine with every instance's state: the last complete run, or a states-only run.
    engine = done if done is not None else states_only(plan, panel)
    out["engine_state_mb"] = _state_mb(engine)
    out["firing_cells"] = int(sum(np.sum(s.states == FIRING) for s in engine.state.values()))
    if times and statistics.median(times) < 10:
        out |= _traced_peak(plan, panel)
    return out, engine


def _read_findings(report: Any) -> dict[str, Any]:
    """Reading a full run's findings: the report may defer building them until they are read."""
    start = time.perf_counter()
    counts = {"transitions": len(report.transitions), "check_results": len(report.check_results)}
    return counts | {"read_findings_s": time.perf_counter() - start, "max_rss_after_reading_mb": max_rss_mb()}


def _panel_mb(panel: Panel) -> float:
    return (sum(a.nbytes for a in panel.values.values()) + sum(a.nbytes for a in panel.first.values())) / 2**20


def _state_mb(engine: Engine) -> float:
    """What an engine keeps between updates: per instance the states, levels, condition and severity."""
    arrays = [a for s in engine.state.values() for a in vars(s).values() if isinstance(a, np.ndarray)]
    return sum(a.nbytes for a in arrays) / 2**20


def _traced_peak(plan: Plan, panel: Panel) -> dict[str, Any]:
    """tracemalloc's peak over one more full run: what the evaluation allocates on top of the panel."""
    gc.collect()
    tracemalloc.start()
    _run(plan, panel)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"tracemalloc_eval_peak_mb": peak / 2**20}


def measure_updates(engine: Engine, data: Dataset, n: int, seed: int = 11) -> dict[str, Any]:
    """`n` single-observation updates, half at the latest period and half in the middle of the history."""
    rng = np.random.default_rng(seed)
    periods = data.axis.periods
    out: dict[str, Any] = {}
    classes: dict[str, list[float]] = {}
    for label, period in (("latest", periods[-1]), ("mid_history", periods[len(periods) // 2])):
        times, read, transitions, reruns = [], [], 0, 0
        for _ in range(n // 2):
            obs = _random_observation(data, period, rng)
            positions = engine.plan.by_indicator.get(obs.indicator, ())
            reruns += len(positions)
            start = time.perf_counter()
            report = engine.update([obs])
            times.append(time.perf_counter() - start)
            transitions += len(report.transitions)  # a service reads them to notify
            read.append(time.perf_counter() - start)
            classes.setdefault(f"{label}, {_update_class(engine.plan, positions)}", []).append(times[-1] * 1e3)
        out[label] = {"median_ms": statistics.median(times) * 1e3, "p90_ms": float(np.percentile(times, 90)) * 1e3,
                      "max_ms": max(times) * 1e3, "n": len(times), "transitions": transitions,
                      "median_with_reading_transitions_ms": statistics.median(read) * 1e3,
                      "instances_rerun_mean": reruns / len(times), "all_ms": [t * 1e3 for t in times]}
    out["median_ms"] = statistics.median(out["latest"]["all_ms"] + out["mid_history"]["all_ms"])
    out["by_class"] = {k: {"n": len(v), "median_ms": statistics.median(v)} for k, v in sorted(classes.items())}
    read = [t for k, v in classes.items() if not k.endswith("read by no rule") for t in v]
    out["median_ms_read_by_a_rule"] = statistics.median(read) if read else None
    out["n_read_by_a_rule"] = len(read)
    return out


def _update_class(plan: Plan, positions: Sequence[int]) -> str:
    """What an update has to recompute: nothing, own rows only, all rows, or the whole history."""
    instances = [plan.instances[p] for p in positions]
    if not instances:
        return "read by no rule"
    if any(i.lookback >= FULL_HISTORY or i.recover is not None for i in instances):
        return "whole history (history() guard or recover)"
    return "all rows (cross-entity)" if any(i.cross_entity for i in instances) else "own rows"


def _random_observation(data: Dataset, period: Period, rng: np.random.Generator) -> Observation:
    ind = data.indicators[int(rng.integers(len(data.indicators)))]
    entity = data.tree.ids[int(rng.integers(1, len(data.tree.ids)))]
    if ind.merged and period.sub == 1:
        period = period + 1
    value = float(rng.normal(6, 3)) if ind.form == "rate" else float(rng.lognormal(4, 1))
    return Observation(ind.id, entity, period, value)


def incremental_consistency(engine: Engine, plan: Plan, panel: Panel) -> dict[str, Any]:
    """After the updates, a fresh run on the updated panel must give the same states (and levels).

    The fresh run has transition reporting off (states do not depend on it); its time is the
    evaluation's numeric core, reported as such.
    """
    start = time.perf_counter()
    fresh = states_only(plan, panel)
    elapsed = time.perf_counter() - start
    bad = []
    for position, inst in enumerate(plan.instances):
        new, old = fresh.state[position], engine.state[position]
        if not (np.array_equal(new.states, old.states) and np.array_equal(new.levels, old.levels)):
            bad.append(f"{inst.id}" + (f"[{inst.indicator}]" if inst.indicator else ""))
    return {"instances_differing": len(bad), "examples": bad[:10], "states_only_s": elapsed}


def subset_specs(specs: Sequence[RuleSpec], per_kind: int, rng: np.random.Generator) -> list[RuleSpec]:
    """A stratified subset: `per_kind` instances of every kind (checks included)."""
    by_kind: dict[str, list[RuleSpec]] = {}
    for spec in specs:
        by_kind.setdefault(_kind(spec), []).append(spec)
    chosen: list[RuleSpec] = []
    for group in by_kind.values():
        # Tagged instances too: the subset's text tags only the chosen indicators, so the engine binds those.
        chosen.extend(group[i] for i in sorted(rng.choice(len(group), min(per_kind, len(group)), replace=False)))
    return chosen


def measure_baseline(data: Dataset, panel: Panel, per_kind: int, runs: int, baseline_runs: int) -> dict[str, Any]:
    subset = subset_specs(data.specs, per_kind, np.random.default_rng(3))
    model = load_model(data, subset)
    plan = compile_model(model)
    used = {x for s in subset for x in (s.a, s.b, s.c) if x}
    start = time.perf_counter()
    nb = notebook_frames(data, used)
    prep = time.perf_counter() - start
    engine_s, engine_all, (engine, _) = timed(lambda: _run(plan, panel), runs)
    core_s, _, _ = timed(lambda: states_only(plan, panel), runs)
    per_kind_times: dict[str, list[float]] = {}
    totals = []
    results: dict = {}
    for _ in range(baseline_runs):
        total, results = _timed_baseline(nb, subset, per_kind_times)
        totals.append(total)
    agreement = compare(engine, results, subset)
    baseline_s = statistics.median(totals)
    # Extrapolate per kind and per (rule, entity) pair: scopes run from 8 counties to 149 regions.
    full_pairs, sub_pairs = _pairs(data.tree, data.specs), _pairs(data.tree, subset)
    per_pair = {k: statistics.median(v) / sub_pairs[k] for k, v in _by_run(per_kind_times, baseline_runs).items()}
    extrapolated = sum(per_pair[k] * full_pairs[k] for k in full_pairs)
    return {"subset_instances": len(subset), "subset_by_kind": dict(Counter(_kind(s) for s in subset)),
            "subset_rule_entity_pairs": sum(sub_pairs.values()), "entities": len(data.tree.ids),
            "notebook_prep_s": prep, "baseline_median_s": baseline_s, "baseline_all_s": totals,
            "engine_subset_median_s": engine_s, "engine_subset_all_s": engine_all,
            "speedup_on_subset": baseline_s / engine_s, "engine_subset_states_only_median_s": core_s,
            "speedup_on_subset_states_only": baseline_s / core_s, "baseline_per_rule_entity_ms": {
                k: v * 1e3 for k, v in per_pair.items()},
            "baseline_extrapolated_full_s": extrapolated, "agreement": agreement}


def _kind(spec: RuleSpec) -> str:
    return "check" if spec.is_check else spec.kind


def _pairs(tree: Tree, specs: Sequence[RuleSpec]) -> Counter:
    """(rule instance, entity) pairs per kind."""
    pairs: Counter = Counter()
    for spec in specs:
        pairs[_kind(spec)] += len(scope_entities(tree, spec.scope))
    return pairs


def _timed_baseline(nb: Notebook, subset: Sequence[RuleSpec],
                    per_kind_times: dict[str, list[float]]) -> tuple[float, dict]:
    results = {}
    gc.collect()
    begin = time.perf_counter()
    for spec in subset:
        start = time.perf_counter()
        results[(spec.id, spec.a if spec.tag else None)] = baseline_rule(nb, spec)
        per_kind_times.setdefault(_kind(spec), []).append(time.perf_counter() - start)
    return time.perf_counter() - begin, results


def _by_run(per_kind_times: dict[str, list[float]], runs: int) -> dict[str, list[float]]:
    """Per kind: the total time of each run (the list holds runs × instances entries, run-major)."""
    out = {}
    for kind, times in per_kind_times.items():
        size = len(times) // runs
        out[kind] = [sum(times[r * size:(r + 1) * size]) for r in range(runs)]
    return out


# ----------------------------------------------------------------------------- report


def run(args: argparse.Namespace) -> dict[str, Any]:
    runs = 3 if args.quick else args.runs
    results: dict[str, Any] = {"machine": _machine(), "runs": runs, "memory_method": _MEMORY_METHOD}
    results["loading"] = measure_loading(5 if args.quick else 11)
    start = time.perf_counter()
    data = make_dataset(TOY if args.toy else FULL)
    text = model_text(data.tree, data.indicators, data.specs)
    results["generate_s"] = time.perf_counter() - start
    results["scale"] = _scale_summary(data)
    results["compile"], model, plan = measure_compile(text, min(runs, 3))
    panel = make_panel(model, data)  # its arrays are views of data.block: updates reach the baseline too
    results["full"], engine = measure_full(plan, panel, runs, args.eval_budget)
    results["updates"] = measure_updates(engine, data, 100 if args.quick else 240)
    results["updates"]["consistency"] = incremental_consistency(engine, plan, panel)
    results["baseline"] = measure_baseline(data, panel, args.per_kind, runs, 2 if args.quick else 3)
    results["max_rss_end_mb"] = max_rss_mb()
    results["profiles"] = _profiles(args, results, plan, panel, engine, data)
    return results


_MEMORY_METHOD = ("ru_maxrss (resource.getrusage, this process's high-water mark, no subprocess), read just after "
                  "the timed full evaluations: one engine and one report alive at a time, pandas not imported yet; "
                  "it also covers data generation and parsing. The panel's arrays and the state an engine keeps "
                  "are counted from nbytes; when a full run takes < 10 s, tracemalloc's peak over one more run "
                  "(Python and numpy allocations of the evaluation itself) is reported too.")


def _machine() -> dict[str, Any]:
    import os
    import platform

    return {"python": platform.python_version(), "numpy": np.__version__, "cpus": os.cpu_count(),
            "platform": platform.platform()}


def _scale_summary(data: Dataset) -> dict[str, Any]:
    kinds = Counter("check" if s.is_check else s.kind for s in data.specs)
    forms = Counter(i.form for i in data.indicators)
    return {"indicators": len(data.indicators), "entities": len(data.tree.ids), "cities": len(data.tree.cities),
            "counties": len(data.tree.counties), "periods": data.axis.length,
            "first_period": str(data.axis.first), "last_period": str(data.axis.last),
            "rule_instances": sum(v for k, v in kinds.items() if k != "check"), "checks": kinds["check"],
            "by_kind": dict(kinds), "forms": dict(forms), "merged": sum(i.merged for i in data.indicators),
            "missing_share": float(np.isnan(data.block).mean())}


def _profiles(args: argparse.Namespace, results: dict[str, Any], plan: Plan, panel: Panel, engine: Engine,
              data: Dataset) -> dict[str, Any]:
    """cProfile the phases that missed a target (all of them with --profile)."""
    out: dict[str, Any] = {}
    full = results["full"]
    if args.profile or full["median_s"] is None or full["median_s"] > TARGETS["full_eval_s"]:
        out |= _profile_evaluation(plan, panel, data, full["median_s"])
    if args.profile or results["updates"]["median_ms"] > TARGETS["update_ms"]:
        rng = np.random.default_rng(5)
        batch = [_random_observation(data, data.axis.periods[p], rng) for p in [-1, data.axis.length // 2] * 50]
        out["updates (100: 50 latest, 50 mid-history)"] = profile(lambda: [engine.update([obs]) for obs in batch])
    loading = results["loading"]
    if "warm_median_s" in loading and (args.profile or loading["warm_median_s"] * 1e3 > TARGETS["load_ms"]):
        out["rule loading (rules/taian, 3 warm loads)"] = profile(
            lambda: [dsl.load([str(SHIPPED_RULES)]) for _ in range(3)])
    if args.profile:
        text = model_text(data.tree, data.indicators, data.specs)
        parsed = dsl_parser.parse(text, "<bench>")
        out["parse (province rules)"] = profile(lambda: dsl_parser.parse(text, "<bench>"))
        out["check (province rules)"] = profile(lambda: check([parsed], {"<bench>": text}))
        out["compile (province rules)"] = profile(lambda: compile_model(plan.model))
    return out


def _profile_evaluation(plan: Plan, panel: Panel, data: Dataset, median: float | None) -> dict[str, Any]:
    """The full run if it is short enough to profile, else a stratified tenth of the rules."""
    if median is not None and median < 20:
        return {"full evaluation": profile(lambda: _run(plan, panel))}
    share = max(1, round(len(data.specs) / 10 / len(KIND_SETUP)))
    subset = subset_specs(data.specs, share, np.random.default_rng(7))
    small = compile_model(load_model(data, subset))
    label = f"evaluation of a stratified subset ({len(small.instances)} instances)"
    return {label: profile(lambda: _run(small, panel))}


def table(results: dict[str, Any]) -> str:
    rows = _scale_rows(results) + _full_rows(results) + _baseline_rows(results) + _update_rows(results)
    rows += _loading_rows(results)
    width = max(len(r[0]) for r in rows)
    lines = [f"{'measure':<{width}}  {'median':<48} {'target':<9} ok", "-" * (width + 66)]
    lines += [f"{a:<{width}}  {b:<48} {c:<9} {d}" for a, b, c, d in rows]
    return "\n".join(lines)


Row = tuple[str, str, str, str]


def _scale_rows(results: dict[str, Any]) -> list[Row]:
    s, comp = results["scale"], results["compile"]
    return [
        ("scale", f"{s['indicators']} ind × {s['entities']} entities × {s['periods']} months", "", ""),
        ("  rules", f"{s['rule_instances']} rule instances + {s['checks']} checks, {comp['plan_nodes']:,} nodes",
         "", ""),
        ("parse (generated text, {:.0f} KB)".format(comp["text_bytes"] / 1024), f"{comp['parse_median_s']:.2f} s",
         "", ""),
        ("check", f"{comp['check_median_s']:.2f} s", "", ""),
        ("compile", f"{comp['compile_median_s']:.2f} s", "", ""),
        ("  parse + check + compile", f"{comp['total_median_s']:.2f} s", "", ""),
    ]


def _full_rows(results: dict[str, Any]) -> list[Row]:
    full = results["full"]
    if full["median_s"] is None:
        timing = (f"> {full['aborted_after_s']:g} s: aborted, {full['instances_done']} of {full['instances']} "
                  f"instances done (linear est. {full['linear_estimate_s']:.0f} s)")
        rows = [("full evaluation", timing, "< 2 s", "MISSED")]
    else:
        rows = [("full evaluation", f"{full['median_s']:.2f} s ({len(full['all_s'])} runs)", "< 2 s",
                 _ok(full["median_s"] < TARGETS["full_eval_s"]))]
    if "read_findings_s" in full:
        rows.append((f"  then reading {full['transitions']:,} transitions + {full['check_results']:,} check "
                     "results", f"{full['read_findings_s']:.2f} s (1 run)", "", ""))
    rows += [
        ("  same, transition reporting off (1 run)", f"{results['updates']['consistency']['states_only_s']:.2f} s",
         "", ""),
        ("peak memory: ru_maxrss after evaluations", f"{full['max_rss_after_eval_mb']:.0f} MB "
         f"(before: {full['max_rss_before_eval_mb']:.0f} MB)", "< 2 GB",
         _ok(full["max_rss_after_eval_mb"] < TARGETS["peak_mb"])),
        ("  panel arrays / engine state kept", f"{full['panel_mb']:.0f} MB / {full['engine_state_mb']:.0f} MB",
         "", ""),
    ]
    if "tracemalloc_eval_peak_mb" in full:
        rows.append(("  tracemalloc peak of one evaluation", f"{full['tracemalloc_eval_peak_mb']:.0f} MB", "", ""))
    return rows


def _baseline_rows(results: dict[str, Any]) -> list[Row]:
    base, full = results["baseline"], results["full"]
    engine_full = full["median_s"] or full.get("linear_estimate_s")
    return [
        (f"pandas baseline, subset ({base['subset_instances']} instances)", f"{base['baseline_median_s']:.2f} s "
         f"({base['subset_rule_entity_pairs']:,} rule × entity loops)", "", ""),
        ("engine, same subset", f"{base['engine_subset_median_s'] * 1e3:.0f} ms", "", ""),
        ("  speedup on the subset", f"{base['speedup_on_subset']:.0f}×", "≥ 20×",
         _ok(base["speedup_on_subset"] >= TARGETS["speedup"])),
        ("  engine with reporting off / speedup", f"{base['engine_subset_states_only_median_s'] * 1e3:.0f} ms / "
         f"{base['speedup_on_subset_states_only']:.0f}×", "", ""),
        ("baseline extrapolated to all rules", f"{base['baseline_extrapolated_full_s']:.0f} s "
         f"(= {base['baseline_extrapolated_full_s'] / engine_full:.0f}× the engine's full run)", "", ""),
        ("engine vs baseline, every cell", _agreement(base["agreement"]), "agree", _ok(_agrees(base["agreement"]))),
    ]


def _update_rows(results: dict[str, Any]) -> list[Row]:
    upd = results["updates"]
    consistent = upd["consistency"]["instances_differing"] == 0
    return [
        ("update, latest period", f"{upd['latest']['median_ms']:.2f} ms (p90 {upd['latest']['p90_ms']:.2f} ms)",
         "", ""),
        ("update, mid-history", f"{upd['mid_history']['median_ms']:.2f} ms "
         f"(p90 {upd['mid_history']['p90_ms']:.2f} ms)", "", ""),
        (f"update, all {upd['latest']['n'] + upd['mid_history']['n']}", f"{upd['median_ms']:.2f} ms", "< 2 ms",
         _ok(upd["median_ms"] < TARGETS["update_ms"])),
        (f"  the {upd['n_read_by_a_rule']} that some rule reads", f"{upd['median_ms_read_by_a_rule'] or 0:.2f} ms",
         "", ""),
        *((f"  {name}", f"{c['median_ms']:.2f} ms ({c['n']} updates)", "", "") for name, c in upd["by_class"].items()),
        ("  incremental states == fresh full run", "yes" if consistent else
         f"NO: {upd['consistency']['instances_differing']} instances differ", "yes", _ok(consistent)),
    ]


def _loading_rows(results: dict[str, Any]) -> list[Row]:
    load = results["loading"]
    if "warm_median_s" not in load:
        return [("load rules/taian", load.get("skipped", "skipped"), "", "")]
    return [
        (f"load rules/taian ({load['files']} files, {load['bytes'] / 1024:.0f} KB)",
         f"{load['warm_median_s'] * 1e3:.0f} ms", "< 200 ms", _ok(load["warm_median_s"] * 1e3 < TARGETS["load_ms"])),
        ("  first load in the process (cold)", f"{load['first_load_s'] * 1e3:.0f} ms", "", ""),
        ("  grammar rebuilt from lark's cache file", f"{load['grammar_rebuilt_median_s'] * 1e3:.0f} ms", "", ""),
    ]


def _agrees(agreement: dict[str, int]) -> bool:
    return not (agreement.get("condition_mismatch") or agreement.get("firing_mismatch")
                or agreement.get("entity_mismatch"))


def _ok(flag: bool) -> str:
    return "yes" if flag else "MISSED"


def _agreement(agreement: dict[str, int]) -> str:
    bad = agreement.get("condition_mismatch", 0) + agreement.get("firing_mismatch", 0)
    verdict = "agree" if bad == 0 and not agreement.get("entity_mismatch") else f"{bad} cells DISAGREE"
    return (f"{verdict} on {agreement['cells']:,} cells ({agreement['holds']:,} hold, "
            f"{agreement['firing']:,} firing)")


def print_profiles(profiles: dict[str, Any]) -> None:
    for name, prof in profiles.items():
        print(f"\nprofile: {name} (cProfile, {prof['total_s']:.2f} s under the profiler)")
        print("  own time:")
        for r in prof["by_own_time"][:10]:
            print(f"    {r['own_share']:6.1%}  {r['own_s']:7.3f} s  {r['calls']:>9,}  {r['function']}")
        print("  cumulative (engine/dsl functions):")
        for r in prof["by_cumulative_time"][:10]:
            print(f"    {r['cumulative_share']:6.1%}  {r['cumulative_s']:7.3f} s  {r['calls']:>9,}  {r['function']}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="repetitions per timed phase (median reported)")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--profile", action="store_true", help="profile every phase, not only missed targets")
    parser.add_argument("--eval-budget", type=float, default=60.0,
                        help="seconds for the timed full evaluations (a run that overruns is aborted)")
    parser.add_argument("--per-kind", type=int, default=3, help="baseline subset: rule instances per kind")
    parser.add_argument("--toy", action="store_true", help="the smoke test's toy province (checks the harness)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results = run(args)
    results["wall_s"] = time.perf_counter() - started
    print(table(results))
    print_profiles(results["profiles"])
    path = RESULTS.with_name("engine_toy.json") if args.toy else RESULTS
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, ensure_ascii=False, default=_jsonable) + "\n", encoding="utf-8")
    print(f"\nwrote {path.relative_to(REPO)} in {results['wall_s']:.0f} s")


def _jsonable(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)  # type: ignore[arg-type]
    return str(value)


if __name__ == "__main__":
    main()
