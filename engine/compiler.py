"""Compile checked rules into a plan: a deduplicated graph of vectorized operations.

Every distinct sub-expression becomes one node, so a sub-expression shared by many rules is computed
once. Each rule (and each indicator an `each indicator` rule binds) becomes a `RuleInstance` that points
at its condition nodes. The plan also keeps the dependency index from indicator to rule instances, and
for each node how many periods back it looks, so an update re-runs only what it can affect.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field

from dsl import ast
from dsl.model import Model
from dsl.parser import parse_expression
from dsl.printer import format_expr

SEVERITY_LEVEL = {"info": 1, "warning": 2, "critical": 3}
SEVERITY_NAME = {level: name for name, level in SEVERITY_LEVEL.items()}
FULL_HISTORY = 10**6  # lookback of nodes that read the whole history (history, changepoint)


@dataclass(frozen=True)
class Node:
    op: str
    inputs: tuple[int, ...]
    param: object
    freq: str


@dataclass
class RuleInstance:
    """One rule or check, for one bound indicator, ready to evaluate."""

    id: str
    kind: str  # "rule" | "check"
    indicator: str | None  # the indicator bound by `each indicator`, else None
    freq: str
    entities: tuple[str, ...]
    conditions: tuple[tuple[int, int], ...]  # (node, severity level)
    guard: int | None
    recover: int | None
    for_periods: int
    of_periods: int | None
    keep_periods: int
    severity: int
    inputs: frozenset[str]  # indicators read
    lookback: int  # periods of input before a period that its conditions read
    cross_entity: bool  # reads other entities' values (@, aggregates, peers)
    values: dict[str, int] = field(default_factory=dict)  # provenance: label -> node
    thresholds: tuple[float, ...] = ()
    definition: ast.RuleDef | ast.CheckDef | None = None


@dataclass
class Plan:
    model: Model
    nodes: list[Node] = field(default_factory=list)
    instances: list[RuleInstance] = field(default_factory=list)
    by_indicator: dict[str, list[int]] = field(default_factory=dict)  # indicator -> instance positions
    lookback: list[int] = field(default_factory=list)  # per node
    node_inputs: list[frozenset[str]] = field(default_factory=list)  # per node
    node_cross: list[bool] = field(default_factory=list)  # per node


CROSS_ENTITY_OPS = ("at", "at_parent", "peer_z", "rank", "share", "agg", "agg_children", "pull", "contribution")


class _Builder:
    def __init__(self, plan: Plan):
        self.plan = plan
        self.index: dict[Node, int] = {}
        self.binding: dict[str, str] = {}
        self.freq = "monthly"
        self.strict = True  # aggregates are missing when any member is; checks may relax this

    def add(self, op: str, inputs: tuple[int, ...], param: object, lookback: int = 0) -> int:
        node = Node(op, inputs, param, self.freq)
        found = self.index.get(node)
        if found is not None:
            return found
        plan = self.plan
        plan.nodes.append(node)
        reach = max((plan.lookback[i] for i in inputs), default=0)
        plan.lookback.append(min(FULL_HISTORY, reach + lookback))
        read = frozenset().union(*(plan.node_inputs[i] for i in inputs)) if inputs else frozenset()
        if op in ("load", "first", "progress", "history_of"):
            read = read | {param if isinstance(param, str) else param[0]}
        plan.node_inputs.append(read)
        plan.node_cross.append(op in CROSS_ENTITY_OPS or any(plan.node_cross[i] for i in inputs))
        self.index[node] = len(plan.nodes) - 1
        return len(plan.nodes) - 1

    # ---------------------------------------------------------------- expressions

    def expr(self, expr: ast.Expr) -> int:
        return getattr(self, f"_{type(expr).__name__.lower()}")(expr)

    def _number(self, expr: ast.Number) -> int:
        return self.add("const", (), float(expr.value))

    def _ref(self, expr: ast.Ref) -> int:
        name = self.binding.get(expr.name, expr.name)
        model = self.plan.model
        if name in model.series:
            return self.expr(model.series[name].expr)
        return self.add("load", (), name)

    def _at(self, expr: ast.At) -> int:
        operand = self.expr(expr.operand)
        if expr.target == "parent":
            return self.add("at_parent", (operand,), None)
        target = self.plan.model.province() if expr.target == "province" else expr.target
        return self.add("at", (operand,), target)

    def _unary(self, expr: ast.Unary) -> int:
        return self.add("not" if expr.op == "not" else "neg", (self.expr(expr.operand),), None)

    def _binary(self, expr: ast.Binary) -> int:
        return self.add("bin", (self.expr(expr.left), self.expr(expr.right)), expr.op)

    def _call(self, expr: ast.Call) -> int:
        if expr.over is not None:
            return self._aggregate(expr)
        name = expr.function
        if name in ("lag", "diff", "mean", "std", "min", "max", "median", "mad", "zscore"):
            k = int(expr.args[1].value)  # type: ignore[attr-defined]
            operand = self.expr(expr.args[0])
            if name in ("mean", "std"):
                # `mean(x, k)` and `std(x, k)` come from the same window sums: one node computes both.
                moments = self.add("moments", (operand,), k, k)
                return self.add(f"pick_{name}", (moments,), k)
            return self.add(name, (operand,), k, k if name != "zscore" else k + 1)
        if name in ("yoy", "mom", "yoy2", "single", "ytd"):
            return self._period_transform(expr)
        if name in ("progress", "target"):
            return self._target(expr)
        if name in ("time_progress", "year", "above_scale"):
            return self.add(name, (), None)
        if name in ("pull", "contribution"):
            # Both compare with the same period a year back: the increment, and the parent's base.
            args = tuple(self.expr(a) for a in expr.args)
            return self.add(name, args, self._per_year(), self._per_year())
        if name in ("history", "changepoint"):
            return self.add(name, (self.expr(expr.args[0]),), None, FULL_HISTORY)
        if name == "revision":
            operand = self.expr(expr.args[0])
            return self.add("revision", (operand, self._first_vintage(expr.args[0])), None)
        args = tuple(self.expr(a) for a in expr.args)
        return self.add(name, args, None)

    def _period_transform(self, expr: ast.Call) -> int:
        form, merged = self._form_of(expr.args[0])
        per_year = {"monthly": 12, "quarterly": 4, "annual": 1}[self.freq]
        lookback = {"yoy": per_year, "yoy2": 2 * per_year, "mom": per_year + 1, "single": per_year,
                    "ytd": per_year}[expr.function]
        return self.add(expr.function, (self.expr(expr.args[0]),), (form, merged), lookback)

    def _form_of(self, expr: ast.Expr) -> tuple[str, bool]:
        """The published form of an expression, as the checker typed it (levels keep their form)."""
        model = self.plan.model
        if isinstance(expr, ast.Ref):
            name = self.binding.get(expr.name, expr.name)
            if name in model.indicators:
                ind = model.indicators[name]
                return ind.form, ind.jan_feb == "merged"
            return self._form_of(model.series[name].expr)
        if isinstance(expr, ast.At):
            return self._form_of(expr.operand)
        if isinstance(expr, ast.Call):
            if expr.function in ("single",):
                return "period", self._form_of(expr.args[0])[1]
            if expr.function == "ytd":
                inner, merged = self._form_of(expr.args[0])
                return ("index" if inner == "index" else "ytd"), merged
            if expr.function in ("yoy", "mom", "yoy2"):
                return "rate", False
            if expr.args:
                return self._form_of(expr.args[0])
        if isinstance(expr, ast.Binary):
            return self._form_of(expr.left)
        return "period", False

    def _first_vintage(self, expr: ast.Expr) -> int:
        name = self.binding.get(expr.name, expr.name) if isinstance(expr, ast.Ref) else None
        return self.add("first", (), name) if name else self.add("const", (), float("nan"))

    def _target(self, expr: ast.Call) -> int:
        arg = expr.args[0]
        name = self.binding.get(arg.name, arg.name)  # type: ignore[attr-defined]
        ind = self.plan.model.indicators[name]
        targets = {}
        for target in self.plan.model.targets_for(name):
            for value in target.values:
                targets[(value.entity, target.year)] = (value.value, target.growth)
        param = (name, ind.form, ind.jan_feb == "merged", tuple(sorted(targets.items())))
        if expr.function == "target":
            return self.add("target", (), param)
        return self.add("progress", (self.add("load", (), name),), param, self._per_year())

    def _per_year(self) -> int:
        return {"monthly": 12, "quarterly": 4, "annual": 1}[self.freq]

    def _aggregate(self, expr: ast.Call) -> int:
        operand = self.expr(expr.args[0])
        model = self.plan.model
        relative = [s for s in expr.over or () if s.base == "children" and s.relation is None]
        if relative:
            return self.add("agg_children", (operand,), (expr.function, self.strict))
        members: list[str] = []
        for entity_set in expr.over or ():
            # Functional zones overlap the counties: they never add up with them.
            members.extend(e for e in model.expand_set(entity_set, subtree_default=False)
                           if e not in members and not model.entities[e].attrs.get("overlay"))
        return self.add("agg", (operand,), (expr.function, tuple(members), self.strict))


# ----------------------------------------------------------------------------- rules and checks


def compile_model(model: Model) -> Plan:
    plan = Plan(model)
    builder = _Builder(plan)
    for rule in model.rules.values():
        bound = model.rule_bindings.get(rule.id) if rule.indicator_scope else None
        for indicator in bound if bound is not None else (None,):
            variable = rule.indicator_scope.variable if rule.indicator_scope else None
            builder.binding = {variable: indicator} if variable and indicator else {}
            plan.instances.append(_compile_rule(builder, rule, indicator))
    builder.binding = {}
    for check in model.checks.values():
        plan.instances.append(_compile_check(builder, check))
    for position, inst in enumerate(plan.instances):
        for indicator in inst.inputs:
            plan.by_indicator.setdefault(indicator, []).append(position)
    return plan


def compile_expression(model: Model, expr: ast.Expr, freq: str) -> tuple[Plan, int]:
    """One expression outside any rule (a dashboard panel's `show`, say) as a plan of its own, and its node."""
    plan = Plan(model)
    builder = _Builder(plan)
    builder.freq = freq
    return plan, builder.expr(expr)


def _rule_freq(builder: _Builder, exprs: list[ast.Expr]) -> str:
    model = builder.plan.model
    for expr in exprs:
        for sub in ast.walk(expr):
            if isinstance(sub, ast.Ref):
                name = builder.binding.get(sub.name, sub.name)
                if name in model.indicators:
                    return model.indicators[name].frequency
                if name in model.series:
                    return _rule_freq(builder, [model.series[name].expr])
    return "monthly"


def _compile_rule(builder: _Builder, rule: ast.RuleDef, indicator: str | None) -> RuleInstance:
    exprs = [c.expr for c in rule.conditions]
    builder.freq = _rule_freq(builder, exprs)
    default = SEVERITY_LEVEL[rule.severity]
    conditions = tuple((builder.expr(c.expr), SEVERITY_LEVEL[c.severity] if c.severity else default)
                       for c in rule.conditions)
    guard = builder.expr(rule.guard) if rule.guard is not None else None
    recover = builder.expr(rule.recover) if rule.recover is not None else None
    nodes = [n for n, _ in conditions] + [n for n in (guard, recover) if n is not None]
    values = _provenance(builder, exprs) | _message_values(builder, rule.message, rule.message_span)
    return RuleInstance(
        id=rule.id, kind="rule", indicator=indicator, freq=builder.freq,
        entities=tuple(builder.plan.model.scope_entities(rule.scope)),
        conditions=conditions, guard=guard, recover=recover,
        for_periods=rule.for_periods, of_periods=rule.of_periods, keep_periods=rule.keep_periods,
        severity=default, **_reach(builder.plan, nodes + list(values.values())),
        values=values, thresholds=_thresholds(exprs), definition=rule,
    )


def _compile_check(builder: _Builder, check: ast.CheckDef) -> RuleInstance:
    model = builder.plan.model
    if check.balance is not None:
        builder.freq = _rule_freq(builder, [check.balance.left, check.balance.right])
        balance = check.balance
        condition, left, right = _balance_node(builder, balance, check.missing)
        values = {"左边": left, "右边": right}
    else:
        completeness = check.completeness
        builder.freq = model.indicators[completeness.indicators[0]].frequency
        loads = tuple(builder.add("load", (), name) for name in completeness.indicators)
        releases = tuple(model.indicators[name].release_day or 20 for name in completeness.indicators)
        merged = tuple(model.indicators[name].jan_feb == "merged" for name in completeness.indicators)
        until = tuple(sorted((e.id, str(e.attrs["until"])) for e in model.entities.values() if "until" in e.attrs))
        condition = builder.add("missing", loads, (completeness.last_periods, releases, merged, until))
        values = {}
    level = SEVERITY_LEVEL[check.severity]
    builder.strict = check.missing == "non_null"  # the message shows sums the way the check counts them
    values |= _message_values(builder, check.message, check.message_span)
    builder.strict = True
    return RuleInstance(
        id=check.id, kind="check", indicator=None, freq=builder.freq,
        entities=tuple(model.scope_entities(check.scope)), conditions=((condition, level),), guard=None,
        recover=None, for_periods=1, of_periods=None, keep_periods=0, severity=level,
        **_reach(builder.plan, [condition, *values.values()]),
        values=values, definition=check,
    )


def _balance_node(builder: _Builder, balance: ast.Balance, mode: str) -> tuple[int, int, int]:
    """The balance node; with a relaxed missing mode, missing operands count as zero."""
    leaves = _leaves(balance.left) + _leaves(balance.right)
    strict_leaves = tuple(builder.expr(leaf) for leaf in leaves)
    builder.strict = mode == "non_null"
    lenient_leaves = tuple(builder.expr(leaf) for leaf in leaves)
    if mode == "non_null":
        left, right = builder.expr(balance.left), builder.expr(balance.right)
    else:
        left, right = _zero_filled(builder, balance.left), _zero_filled(builder, balance.right)
    builder.strict = True
    param = (balance.tolerance, balance.relative, mode, len(leaves))
    node = builder.add("balance", (left, right, *lenient_leaves, *strict_leaves), param)
    return node, left, right


def _zero_filled(builder: _Builder, expr: ast.Expr) -> int:
    if isinstance(expr, ast.Binary) and expr.op in ("+", "-", "*", "/"):
        left, right = _zero_filled(builder, expr.left), _zero_filled(builder, expr.right)
        return builder.add("bin", (left, right), expr.op)
    if isinstance(expr, ast.Unary):
        return builder.add("neg", (_zero_filled(builder, expr.operand),), None)
    if isinstance(expr, ast.Number):
        return builder.expr(expr)
    return builder.add("fill0", (builder.expr(expr),), None)


def _reach(plan: Plan, nodes: list[int]) -> dict:
    return {
        "inputs": frozenset().union(*(plan.node_inputs[n] for n in nodes)),
        "lookback": max(plan.lookback[n] for n in nodes),
        "cross_entity": any(plan.node_cross[n] for n in nodes),
    }


def _leaves(expr: ast.Expr) -> list[ast.Expr]:
    """The operands a missing-value mode applies to: indicators, values at entities, aggregates."""
    if isinstance(expr, ast.Binary) and expr.op in ("+", "-", "*", "/"):
        return _leaves(expr.left) + _leaves(expr.right)
    if isinstance(expr, ast.Unary):
        return _leaves(expr.operand)
    if isinstance(expr, ast.Number):
        return []
    return [expr]


def _provenance(builder: _Builder, exprs: list[ast.Expr]) -> dict[str, int]:
    """The inputs a finding reports: every indicator and value at another entity the rule reads."""
    values: dict[str, int] = {}
    for expr in exprs:
        for sub in ast.walk(expr):
            if isinstance(sub, ast.Ref | ast.At) and _label(builder, sub) not in values:
                if isinstance(sub, ast.At) and not isinstance(sub.operand, ast.Ref):
                    continue
                values[_label(builder, sub)] = builder.expr(sub)
            elif isinstance(sub, ast.Call) and sub.function in ("yoy", "mom", "peer_z", "progress", "zscore"):
                values[_label(builder, sub)] = builder.expr(sub)
    return values


def _label(builder: _Builder, expr: ast.Expr) -> str:
    return format_expr(expr, builder.binding)


def _message_values(builder: _Builder, text: str | None, span: ast.Span | None) -> dict[str, int]:
    """Placeholders of a message template are expressions too: compile them as value nodes."""
    values: dict[str, int] = {}
    for name in _template_fields(text):
        path, line, column = (span.path, span.line, span.column) if span else ("<message>", 1, 1)
        values[name] = builder.expr(parse_expression(name, path, line, column))
    return values


def _template_fields(text: str | None) -> list[str]:
    if not text:
        return []
    words = ("entity", "period", "indicator", "rule", "severity")
    return [name for _, name, _, _ in string.Formatter().parse(text) if name and name not in words]


def _thresholds(exprs: list[ast.Expr]) -> tuple[float, ...]:
    found: list[float] = []
    for expr in exprs:
        for sub in ast.walk(expr):
            if isinstance(sub, ast.Binary) and sub.op in (">", "<", ">=", "<=") and \
                    isinstance(sub.right, ast.Number):
                found.append(sub.right.value)
    return tuple(found)
