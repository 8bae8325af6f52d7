"""Resolve names, imports, scopes, frequencies and units; catch cycles and rules that can never fire.

`check(files)` turns parsed files into a `Model` or raises one `DslError` with every problem found.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from dsl import ast
from dsl.errors import Diagnostic, DslError, did_you_mean
from dsl.model import ENTITY_KINDS, RELATIONS, SCOPE_KINDS, Model
from dsl.parser import parse_expression

FREQUENCIES = ("monthly", "quarterly", "annual")
FORMS = ("ytd", "period", "stock", "rate", "index")
LEVEL_FORMS = ("ytd", "period", "stock")
MISSING_MODES = ("non_null", "partial_null", "always_zero", "fail")
ENTITY_WORDS = ("parent", "province")
CHART_KINDS = ("line", "bar", "area", "scatter", "heatmap", "table", "kpi", "sparkline", "pie", "band")
PLACEHOLDER_WORDS = ("entity", "period", "indicator", "rule", "severity")
GROUP_BY_FIELDS = ("rule", "entity", "indicator", "severity", "period", "label", "tag")


@dataclass(frozen=True)
class ExprType:
    kind: str  # "num" | "bool"
    unit: str | None = None  # None: dimensionless or unknown, compatible with any unit
    freq: str | None = None  # None: frequency-free (a constant, time_progress())
    form: str | None = None  # published form of a level, when it is still known
    const: float | None = None


NUM = ExprType("num")
PERCENT = "%"

# name: (min args, max args, positions that must be integer literals)
FUNCTIONS: dict[str, tuple[int, int, tuple[int, ...]]] = {
    "yoy": (1, 1, ()), "mom": (1, 1, ()), "yoy2": (1, 1, ()), "single": (1, 1, ()), "ytd": (1, 1, ()),
    "lag": (2, 2, (1,)), "diff": (2, 2, (1,)),
    "mean": (2, 2, (1,)), "std": (2, 2, (1,)), "min": (2, 2, (1,)), "max": (2, 2, (1,)),
    "median": (2, 2, (1,)), "mad": (2, 2, (1,)), "zscore": (2, 2, (1,)),
    "abs": (1, 1, ()), "sign": (1, 1, ()), "sqrt": (1, 1, ()), "least": (2, 2, ()), "greatest": (2, 2, ()),
    "peer_z": (1, 1, ()), "rank": (1, 1, ()), "share": (1, 1, ()),
    "changepoint": (1, 1, ()), "progress": (1, 1, ()), "target": (1, 1, ()), "time_progress": (0, 0, ()),
    "history": (1, 1, ()), "revision": (1, 1, ()),
    "pull": (1, 2, ()), "contribution": (1, 2, ()), "above_scale": (0, 0, ()), "year": (0, 0, ()),
}
AGGREGATES = ("sum", "mean", "count", "min", "max")
MAX_WINDOW = 120


class _Problems:
    def __init__(self, broken: set[str] | None = None) -> None:
        self.errors: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []
        self.broken = broken or set()

    def error(self, span: ast.Span, message: str, suggestion: str | None = None) -> None:
        self.errors.append(Diagnostic(span, message, suggestion))

    def unknown(self, span: ast.Span, what: str, name: str, candidates) -> None:
        if name in self.broken:
            return  # its definition has a syntax error, reported already
        self.error(span, f"unknown {what} `{name}`", did_you_mean(name, candidates))

    def warn(self, span: ast.Span, message: str, suggestion: str | None = None) -> None:
        self.warnings.append(Diagnostic(span, message, suggestion, severity="warning"))


def check(files: list[ast.RuleFile], sources: dict[str, str] | None = None,
          broken: set[str] | None = None) -> Model:
    """Check parsed files together (imports already resolved). Raises DslError with every problem.

    `broken` names items that failed to parse: references to them are not reported again."""
    problems = _Problems(broken or set())
    model = Model(sources=dict(sources or {}))
    _collect(files, model, problems)
    checker = _Checker(model, problems)
    checker.run()
    if problems.errors:
        raise DslError(problems.errors + problems.warnings, model.sources)
    model.warnings = problems.warnings
    return model


# ----------------------------------------------------------------------------- collection


def _collect(files: list[ast.RuleFile], model: Model, problems: _Problems) -> None:
    seen: dict[str, ast.Span] = {}
    tables = {
        ast.EntityDef: model.entities, ast.IndicatorDef: model.indicators, ast.SeriesDef: model.series,
        ast.RuleDef: model.rules, ast.CheckDef: model.checks, ast.RouteDef: model.routes,
        ast.DashboardDef: model.dashboards,
    }
    for rule_file in files:
        for item in rule_file.items:
            if isinstance(item, ast.TargetDef):
                model.targets.append(item)
            elif isinstance(item, ast.TestDef):
                model.tests.append(item)
            elif isinstance(item, ast.InhibitDef):
                model.inhibits.append(item)
            elif type(item) in tables:
                _register(item, tables[type(item)], seen, problems)


def _register(item, table: dict, seen: dict[str, ast.Span], problems: _Problems) -> None:
    # Expressions name indicators and series; tests name rules and checks: those share one name space.
    namespace = {ast.EntityDef: "entity", ast.RouteDef: "route", ast.DashboardDef: "dashboard"}.get(
        type(item), "definition")
    key = f"{namespace}:{item.id}"
    if key in seen:
        first = seen[key]
        problems.error(item.span, f"`{item.id}` is defined twice",
                       f"the first definition is at {first.path}:{first.line}:{first.column}")
        return
    seen[key] = item.span
    table[item.id] = item


# ----------------------------------------------------------------------------- checking


class _Checker:
    def __init__(self, model: Model, problems: _Problems):
        self.model = model
        self.problems = problems
        self.series_state: dict[str, str] = {}
        self.series_types: dict[str, ExprType] = {}
        self.binding: dict[str, str] = {}
        # (rule or check id, bound indicator or None) -> the frequency it runs at
        self.frequencies: dict[tuple[str, str | None], str] = {}

    def run(self) -> None:
        self._entities()
        self._indicators()
        for series in self.model.series.values():
            self._series_type(series.id, series.span)
        self._targets()
        for rule in self.model.rules.values():
            self._rule(rule)
        for check in self.model.checks.values():
            self._check(check)
        for test in self.model.tests:
            self._test(test)
        for route in self.model.routes.values():
            self._route(route)
        for inhibit in self.model.inhibits:
            self._inhibit(inhibit)
        for dashboard in self.model.dashboards.values():
            self._dashboard(dashboard)

    # ---------------------------------------------------------------- helpers

    def error(self, span: ast.Span, message: str, suggestion: str | None = None) -> None:
        self.problems.error(span, message, suggestion)

    def _choice(self, span: ast.Span, what: str, value: str, allowed: tuple[str, ...]) -> bool:
        if value in allowed:
            return True
        hint = did_you_mean(value, allowed) or "one of: " + ", ".join(allowed)
        self.error(span, f"unknown {what} `{value}`", hint)
        return False

    def _entity_ref(self, span: ast.Span, name: str, extra: tuple[str, ...] = ()) -> bool:
        if name in self.model.entities or name in extra:
            return True
        self.problems.unknown(span, "entity", name, [*self.model.entities, *extra])
        return False

    def _indicator_ref(self, span: ast.Span, name: str) -> bool:
        if name in self.model.indicators:
            return True
        self.problems.unknown(span, "indicator", name, self.model.indicators)
        return False

    def _entity_sets(self, sets: tuple[ast.EntitySet, ...], relative_ok: bool = False) -> None:
        for entity_set in sets:
            if entity_set.base == "children" and entity_set.relation is None:
                if not relative_ok:
                    self.error(entity_set.span, "`children` needs an entity here", "write `taian.children`")
                continue
            if self._entity_ref(entity_set.span, entity_set.base) and entity_set.relation is not None:
                self._choice(entity_set.span, "entity relation", entity_set.relation, RELATIONS)

    # ---------------------------------------------------------------- definitions

    def _entities(self) -> None:
        for entity in self.model.entities.values():
            self._choice(entity.span, "entity kind", entity.kind, ENTITY_KINDS)
            if entity.parent is not None:
                self._entity_ref(entity.span, entity.parent)
            if "until" in entity.attrs:
                self._period(entity.span, str(entity.attrs["until"]))
        for entity in self.model.entities.values():
            seen = {entity.id}
            current = entity.parent
            while current in self.model.entities:
                if current in seen:
                    self.error(entity.span, f"entity `{entity.id}` is its own ancestor (a cycle in `in`)")
                    break
                seen.add(current)
                current = self.model.entities[current].parent

    def _indicators(self) -> None:
        for ind in self.model.indicators.values():
            spans = ind.attr_spans
            self._choice(spans.get("frequency", ind.span), "frequency", ind.frequency, FREQUENCIES)
            self._choice(spans.get("form", ind.span), "form", ind.form, FORMS)
            self._choice(spans.get("prices", ind.span), "price basis", ind.prices, ("current", "comparable"))
            if self._choice(spans.get("jan_feb", ind.span), "jan_feb mode", ind.jan_feb, ("merged", "separate")) \
                    and ind.jan_feb == "merged" and ind.frequency != "monthly":
                self.error(spans["jan_feb"], "`jan_feb merged` applies to monthly indicators only")
            if ind.release_day is not None and not 1 <= ind.release_day <= 31:
                self.error(spans["release_day"], "release day must be between 1 and 31")
            if ind.form == "rate" and ind.unit not in ("%", ""):
                self.error(spans.get("unit", ind.span), f"a `rate` indicator is a growth in %, not `{ind.unit}`")
            self._parts(ind)
        self._part_cycles()

    def _parts(self, ind: ast.IndicatorDef) -> None:
        span = ind.attr_spans.get("parts", ind.span)
        for part in ind.parts:
            if not self._indicator_ref(span, part):
                continue
            other = self.model.indicators[part]
            if other.frequency != ind.frequency:
                self.error(span, f"part `{part}` is {other.frequency} but `{ind.id}` is {ind.frequency}")
            elif other.unit != ind.unit:
                self.error(span, f"part `{part}` is in {other.unit or 'no unit'} but `{ind.id}` is in "
                                 f"{ind.unit or 'no unit'}")

    def _part_cycles(self) -> None:
        def visit(name: str, path: list[str]) -> None:
            ind = self.model.indicators.get(name)
            if ind is None:
                return
            for part in ind.parts:
                if part in path:
                    cycle = " → ".join([*path[path.index(part):], part])
                    self.error(ind.attr_spans.get("parts", ind.span), f"indicator parts form a cycle: {cycle}")
                    continue
                visit(part, [*path, part])

        for name in self.model.indicators:
            visit(name, [name])

    def _series_type(self, name: str, span: ast.Span) -> ExprType:
        state = self.series_state.get(name)
        if state == "done":
            return self.series_types[name]
        series = self.model.series[name]
        if state == "active":
            self.error(span, f"series `{name}` depends on itself (a cycle)")
            return NUM
        self.series_state[name] = "active"
        kind = self.expr(series.expr)
        if kind.kind != "num":
            self.error(series.expr.span, f"series `{name}` must be a number, not a condition")
        if series.unit is not None:
            kind = ExprType("num", series.unit or None, kind.freq, None)
        self.series_state[name] = "done"
        self.series_types[name] = kind
        return kind

    def _targets(self) -> None:
        for target in self.model.targets:
            if not self._indicator_ref(target.span, target.indicator):
                continue
            ind = self.model.indicators[target.indicator]
            if not target.growth and ind.form in ("rate", "index"):
                self.error(target.span, f"`{ind.id}` is a {ind.form}: its target must be a `growth` target")
            for value in target.values:
                self._entity_ref(value.span, value.entity)

    def _period(self, span: ast.Span, text: str, freq: str | None = None) -> bool:
        pattern = {"monthly": r"\d{4}-(0[1-9]|1[0-2])", "quarterly": r"\d{4}Q[1-4]", "annual": r"\d{4}"}
        if not any(re.fullmatch(p, text) for p in pattern.values()):
            self.error(span, f"`{text}` is not a period", "write 2026-03, 2026Q1 or 2026")
            return False
        if not 1900 <= int(text[:4]) <= 2200:
            self.error(span, f"`{text}` is outside the years 1900–2200")
            return False
        if freq in pattern and not re.fullmatch(pattern[freq], text):
            self.error(span, f"`{text}` is not a {freq} period", f"a {freq} period looks like "
                       f"{ {'monthly': '2026-03', 'quarterly': '2026Q1', 'annual': '2026'}[freq] }")
            return False
        return True

    # ---------------------------------------------------------------- rules

    def _scope(self, scope: ast.Scope | None, owner: ast.Node, what: str) -> list[str]:
        if scope is not None:
            if not self._choice(scope.span, "scope kind", scope.kind, tuple(SCOPE_KINDS)):
                return []
            self._entity_sets(scope.sets)
        entities = self.model.scope_entities(scope)
        if not entities and not self._has_errors_in(scope):
            self.error((scope or owner).span, f"{what} can never fire: its scope has no entities")
        return entities

    def _has_errors_in(self, scope: ast.Scope | None) -> bool:
        return scope is not None and any(d.span.line == scope.span.line for d in self.problems.errors)

    def _rule(self, rule: ast.RuleDef) -> None:
        self._scope(rule.scope, rule, f"rule `{rule.id}`")
        if not rule.conditions:
            self.error(rule.span, f"rule `{rule.id}` has no `when` condition")
        if rule.for_periods < 1:
            self.error(rule.span, "`for` needs at least 1 period")
        if rule.of_periods is not None and rule.for_periods > rule.of_periods:
            self.error(rule.span, f"rule `{rule.id}` can never fire: `for {rule.for_periods} of "
                                  f"{rule.of_periods} periods` asks for more periods than the window has")
        bindings = self._bindings(rule)
        for indicator in bindings:
            self.binding = {rule.indicator_scope.variable: indicator} if rule.indicator_scope else {}
            self._rule_exprs(rule)
        self.binding = {}

    def _bindings(self, rule: ast.RuleDef) -> list[str | None]:
        scope = rule.indicator_scope
        if scope is None:
            return [None]
        for tag in scope.tags:
            if not self.model.tagged((tag,)):
                known = {t for i in self.model.indicators.values() for t in i.tags}
                self.error(scope.span, f"no indicator is tagged `{tag}`", did_you_mean(tag, known))
        fitting = [i for i in self.model.tagged(scope.tags) if self._fits(rule, scope.variable, i)]
        if self.model.tagged(scope.tags) and not fitting:
            self.error(scope.span, f"rule `{rule.id}` can never fire: its conditions fit none of the "
                                   f"indicators tagged {', '.join(scope.tags)}")
        self.model.rule_bindings[rule.id] = tuple(fitting)
        return list(fitting)

    def _fits(self, rule: ast.RuleDef, variable: str, indicator: str) -> bool:
        """Type-check quietly: a tagged rule skips the indicators its expressions do not suit."""
        trial = _Problems(self.problems.broken)
        saved, self.problems, self.binding = self.problems, trial, {variable: indicator}
        try:
            self._rule_exprs(rule)
        finally:
            self.problems, self.binding = saved, {}
        return not trial.errors

    def _rule_exprs(self, rule: ast.RuleDef) -> None:
        freqs: set[str] = set()
        for condition in rule.conditions:
            kind = self._condition(condition.expr, "`when`")
            if kind.freq:
                freqs.add(kind.freq)
        for extra, clause in ((rule.recover, "`recover when`"), (rule.guard, "`guard`")):
            if extra is not None:
                kind = self._condition(extra, clause)
                if kind.freq:
                    freqs.add(kind.freq)
        if len(freqs) > 1:
            self.error(rule.span, f"rule `{rule.id}` mixes frequencies: {', '.join(sorted(freqs))}")
        elif freqs:
            self.frequencies[(rule.id, next(iter(self.binding.values()), None))] = freqs.pop()
        self._template(rule.message, rule.message_span)

    def _condition(self, expr: ast.Expr, clause: str) -> ExprType:
        kind = self.expr(expr)
        if kind.kind != "bool":
            self.error(expr.span, f"{clause} needs a condition, not a number", "compare it: `... > 5`")
        elif kind.const == 0.0:
            self.error(expr.span, f"this condition can never hold, so the {clause} clause never fires")
        return kind

    def _template(self, text: str | None, span: ast.Span | None) -> None:
        if text is None or span is None:
            return
        try:
            fields = list(string.Formatter().parse(text))
        except ValueError as error:
            self.error(span, f"bad message template: {error}", "write literal braces as {{ and }}")
            return
        offset = 1
        for literal, field_name, spec, _conversion in fields:
            offset += len(literal)
            if field_name is None:
                continue
            column = span.column + offset + 1
            offset += len(field_name) + (len(spec) + 1 if spec else 0) + 2
            if field_name in PLACEHOLDER_WORDS:
                continue
            try:
                expr = parse_expression(field_name, span.path, span.line, column)
            except DslError as error:
                self.problems.errors.extend(error.diagnostics)
                continue
            self.expr(expr)
            if spec:
                try:
                    format(1.0, spec)
                except ValueError:
                    self.error(span, f"bad number format `{spec}` in the message", "for example `.1f`")

    # ---------------------------------------------------------------- checks

    def _check(self, check: ast.CheckDef) -> None:
        self._scope(check.scope, check, f"check `{check.id}`")
        self._choice(check.span, "missing mode", check.missing, MISSING_MODES)
        if (check.balance is None) == (check.completeness is None):
            self.error(check.span, f"check `{check.id}` needs exactly one of `a = b within …` or `complete …`")
        if check.balance is not None:
            self._balance(check.balance)
        if check.completeness is not None:
            freqs = {self.model.indicators[name].frequency for name in check.completeness.indicators
                     if self._indicator_ref(check.completeness.span, name)}
            if len(freqs) > 1:
                self.error(check.completeness.span, f"`complete` mixes frequencies: {', '.join(sorted(freqs))}",
                           "write one check per frequency")
            elif freqs:
                self.frequencies[(check.id, None)] = freqs.pop()
        self._template(check.message, check.message_span)

    def _balance(self, balance: ast.Balance) -> None:
        left, right = self.expr(balance.left), self.expr(balance.right)
        freq = self._same_freq(balance.left, left, right)
        if freq and self.model.checks:
            owner = next(c.id for c in self.model.checks.values() if c.balance is balance)
            self.frequencies[(owner, None)] = freq
        for side in (left, right):
            if side.kind != "num":
                self.error(balance.span, "both sides of a balance must be numbers")
                return
        self._compatible(balance.span, left, right, "=")
        if balance.tolerance < 0:
            self.error(balance.span, "a tolerance cannot be negative")

    # ---------------------------------------------------------------- tests, routes, dashboards

    def _test(self, test: ast.TestDef) -> None:
        for given in test.givens:
            if not (self._indicator_ref(given.span, given.indicator) and self._entity_ref(given.span, given.entity)):
                continue
            freq = self.model.indicators[given.indicator].frequency
            if freq not in FREQUENCIES:
                continue  # reported with the indicator
            if self._period(given.span, given.start, freq) and self._period(given.span, given.end, freq):
                self._given_length(given, freq)
        for expect in test.expects:
            self._expect(expect)

    def _given_length(self, given: ast.Given, freq: str) -> None:
        start, end = _ordinal(given.start, freq), _ordinal(given.end, freq)
        if end < start:
            self.error(given.span, f"the range {given.start}..{given.end} runs backwards")
            return
        expected = end - start + 1
        if expected != len(given.values):
            self.error(given.span, f"{given.start}..{given.end} has {expected} periods but {len(given.values)} "
                                   f"values are given")

    def _expect(self, expect: ast.Expect) -> None:
        if expect.rule in self.model.rules:
            if expect.state in ("ok", "violated"):
                self.error(expect.span, f"`{expect.state}` is a check state; rules are inactive, pending, "
                                        f"firing or resolved")
        elif expect.rule in self.model.checks:
            if expect.state not in ("ok", "violated", "inactive", "firing", "resolved"):
                self.error(expect.span, f"a check is `ok` or `violated`, not `{expect.state}`")
        else:
            self.problems.unknown(expect.span, "rule or check", expect.rule, [*self.model.rules, *self.model.checks])
        self._entity_ref(expect.span, expect.entity)
        found = {f for (rule, bound), f in self.frequencies.items()
                 if rule == expect.rule and (expect.indicator is None or bound in (None, expect.indicator))}
        self._period(expect.span, expect.period, found.pop() if len(found) == 1 else None)
        if expect.indicator is not None:
            self._indicator_ref(expect.span, expect.indicator)

    def _route(self, route: ast.RouteDef) -> None:
        if not route.receivers:
            self.error(route.span, f"route `{route.id}` has no receivers")
        for matcher in route.matchers:
            if matcher.field_name == "entity":
                self._entity_sets(matcher.value)
            elif matcher.field_name == "rule" and matcher.value not in self.model.rules \
                    and matcher.value not in self.model.checks:
                self.problems.unknown(matcher.span, "rule", matcher.value, [*self.model.rules, *self.model.checks])
            elif matcher.field_name == "tag":
                known = {t for i in self.model.indicators.values() for t in i.tags}
                if matcher.value not in known:
                    self.error(matcher.span, f"no indicator is tagged `{matcher.value}`",
                               did_you_mean(matcher.value, known))
        for name in route.group_by:
            self._choice(route.span, "group_by field", name, GROUP_BY_FIELDS)
        if route.quiet is not None:
            for moment in route.quiet:
                hours, minutes = (int(x) for x in moment.split(":"))
                if hours > 23 or minutes > 59:
                    self.error(route.span, f"`{moment}` is not a time of day")

    def _inhibit(self, inhibit: ast.InhibitDef) -> None:
        self._choice(inhibit.span, "inhibition", inhibit.mode, ("hierarchy", "severity"))
        for name in inhibit.rules:
            if name not in self.model.rules and name not in self.model.checks:
                self.problems.unknown(inhibit.span, "rule", name, [*self.model.rules, *self.model.checks])

    def _dashboard(self, dashboard: ast.DashboardDef) -> None:
        seen: set[str] = set()
        for panel in dashboard.panels:
            if panel.id in seen:
                self.error(panel.span, f"panel `{panel.id}` appears twice in dashboard `{dashboard.id}`")
            seen.add(panel.id)
            self._choice(panel.span, "chart kind", panel.chart, CHART_KINDS)
            if not panel.show:
                self.error(panel.span, f"panel `{panel.id}` shows nothing: add `show …`")
            for expr in panel.show:
                self.expr(expr)
            self._entity_sets(panel.entities)

    # ---------------------------------------------------------------- expressions

    def expr(self, expr: ast.Expr) -> ExprType:
        handler = getattr(self, f"_expr_{type(expr).__name__.lower()}")
        return handler(expr)

    def _expr_number(self, expr: ast.Number) -> ExprType:
        return ExprType("num", const=expr.value)

    def _expr_ref(self, expr: ast.Ref) -> ExprType:
        name = self.binding.get(expr.name, expr.name)
        if name in self.model.indicators:
            ind = self.model.indicators[name]
            return ExprType("num", ind.unit or None, ind.frequency, ind.form)
        if name in self.model.series:
            return self._series_type(name, expr.span)
        candidates = [*self.model.indicators, *self.model.series, *self.binding]
        self.problems.unknown(expr.span, "indicator or series", expr.name, candidates)
        return NUM

    def _expr_at(self, expr: ast.At) -> ExprType:
        self._entity_ref(expr.span, expr.target, ENTITY_WORDS)
        if expr.target == "province" and self.model.province() is None:
            self.error(expr.span, "`@province` needs an entity of kind `province`")
        return self.expr(expr.operand)

    def _expr_unary(self, expr: ast.Unary) -> ExprType:
        operand = self.expr(expr.operand)
        if expr.op == "not":
            if operand.kind != "bool":
                self.error(expr.span, "`not` needs a condition")
            return ExprType("bool", freq=operand.freq)
        if operand.kind != "num":
            self.error(expr.span, "`-` needs a number")
        const = -operand.const if operand.const is not None else None
        return ExprType("num", operand.unit, operand.freq, None, const)

    def _expr_binary(self, expr: ast.Binary) -> ExprType:
        left, right = self.expr(expr.left), self.expr(expr.right)
        freq = self._same_freq(expr, left, right)
        if expr.op in ("and", "or"):
            if left.kind != "bool" or right.kind != "bool":
                self.error(expr.span, f"`{expr.op}` joins conditions, not numbers")
            return ExprType("bool", freq=freq, const=_logic_const(expr, left, right))
        if left.kind != "num" or right.kind != "num":
            self.error(expr.span, f"`{expr.op}` needs numbers on both sides")
            return ExprType("bool" if expr.op in _COMPARISONS else "num", freq=freq)
        if expr.op in _COMPARISONS:
            self._compatible(expr.span, left, right, expr.op)
            return ExprType("bool", freq=freq, const=_compare_const(expr, left, right))
        if expr.op in ("+", "-"):
            unit = self._compatible(expr.span, left, right, expr.op)
            form = left.form if left.form == right.form and left.form in LEVEL_FORMS else None
            return ExprType("num", unit, freq, form)
        return ExprType("num", None, freq, None)

    def _same_freq(self, expr: ast.Expr, left: ExprType, right: ExprType) -> str | None:
        if left.freq and right.freq and left.freq != right.freq:
            self.error(expr.span, f"cannot combine a {left.freq} value with a {right.freq} one")
        return left.freq or right.freq

    def _compatible(self, span: ast.Span, left: ExprType, right: ExprType, op: str) -> str | None:
        if left.unit and right.unit and left.unit != right.unit:
            self.error(span, f"unit mismatch: `{op}` between {left.unit} and {right.unit}",
                       "convert one side, or compare growth rates with yoy()")
        return left.unit or right.unit

    def _expr_call(self, expr: ast.Call) -> ExprType:
        if expr.over is not None:
            return self._aggregate(expr)
        spec = FUNCTIONS.get(expr.function)
        if spec is None:
            self.error(expr.span, f"unknown function `{expr.function}`", did_you_mean(expr.function, FUNCTIONS))
            return NUM
        low, high, integer_positions = spec
        if not low <= len(expr.args) <= high:
            count = str(low) if low == high else f"{low} to {high}"
            self.error(expr.span, f"`{expr.function}` takes {count} argument(s), got {len(expr.args)}")
            return NUM
        for position in integer_positions:
            self._window(expr, expr.args[position])
        args = [self.expr(a) for a in expr.args if not _is_int_literal(a)] if integer_positions else \
            [self.expr(a) for a in expr.args]
        for arg in args:
            if arg.kind != "num":
                self.error(expr.span, f"`{expr.function}` needs a number, not a condition")
                return NUM
        return _FUNCTION_TYPES.get(expr.function, _same_as_first)(self, expr, args)

    def _window(self, expr: ast.Call, arg: ast.Expr) -> None:
        if not _is_int_literal(arg):
            self.error(arg.span, f"the second argument of `{expr.function}` is a number of periods "
                                 "(a whole number)")
            return
        value = int(arg.value)  # type: ignore[attr-defined]
        minimum = 0 if expr.function == "lag" else 1
        if not minimum <= value <= MAX_WINDOW:
            self.error(arg.span, f"a window of {value} periods is out of range ({minimum}..{MAX_WINDOW})")

    def _aggregate(self, expr: ast.Call) -> ExprType:
        if expr.function not in AGGREGATES:
            self.error(expr.span, f"`{expr.function}(… over …)` is not an aggregate",
                       did_you_mean(expr.function, AGGREGATES) or "use sum, mean, count, min or max")
        self._entity_sets(expr.over or (), relative_ok=True)
        if len(expr.args) != 1:
            self.error(expr.span, "an aggregate takes one expression")
            return NUM
        arg = self.expr(expr.args[0])
        unit = None if expr.function == "count" else arg.unit
        return ExprType("num", unit, arg.freq, arg.form if expr.function == "sum" else None)


_COMPARISONS = (">", "<", ">=", "<=", "==", "!=")


def _ordinal(text: str, freq: str) -> int:
    """Position of a checked period on its frequency's axis (engine.periods owns the full arithmetic)."""
    year = int(text[:4])
    if freq == "monthly":
        return year * 12 + int(text[5:7]) - 1
    if freq == "quarterly":
        return year * 4 + int(text[5]) - 1
    return year


def _is_int_literal(expr: ast.Expr) -> bool:
    return isinstance(expr, ast.Number) and float(expr.value).is_integer()


def _same_as_first(checker: _Checker, expr: ast.Call, args: list[ExprType]) -> ExprType:
    first = args[0] if args else NUM
    return ExprType("num", first.unit, first.freq, None)


def _growth(checker: _Checker, expr: ast.Call, args: list[ExprType]) -> ExprType:
    arg = args[0]
    if arg.form == "rate" and expr.function != "yoy2":  # yoy2 of published growths is the 2021 measure
        checker.error(expr.span, f"`{expr.function}` of a `rate` indicator: it is already a published growth",
                      "use the indicator itself; rates must not be recomputed from levels")
    elif arg.form is None and expr.function != "yoy2":
        checker.error(expr.span, f"`{expr.function}` needs a level or an index (an indicator, or a sum of "
                                 "indicators of the same form)")
    if expr.function == "mom" and arg.form in ("stock", "period", "ytd", "index") and arg.freq == "annual":
        checker.error(expr.span, "`mom` of an annual series is `yoy`")
    return ExprType("num", PERCENT, arg.freq, "rate")


def _level_transform(checker: _Checker, expr: ast.Call, args: list[ExprType]) -> ExprType:
    arg = args[0]
    wanted = {"single": ("ytd",), "ytd": ("period", "index")}[expr.function]
    if arg.form not in wanted:
        checker.error(expr.span, f"`{expr.function}` needs a {' or '.join(wanted)} series, "
                                 f"got {arg.form or 'a derived value'}")
    form = "period" if expr.function == "single" else ("index" if arg.form == "index" else "ytd")
    return ExprType("num", arg.unit, arg.freq, form)


def _keeps_form(checker: _Checker, expr: ast.Call, args: list[ExprType]) -> ExprType:
    return ExprType("num", args[0].unit, args[0].freq, args[0].form)


def _unitless(checker: _Checker, expr: ast.Call, args: list[ExprType]) -> ExprType:
    return ExprType("num", None, args[0].freq if args else None, None)


def _percent(checker: _Checker, expr: ast.Call, args: list[ExprType]) -> ExprType:
    return ExprType("num", PERCENT, args[0].freq if args else None, None)


def _progress(checker: _Checker, expr: ast.Call, args: list[ExprType]) -> ExprType:
    arg = expr.args[0]
    name = checker.binding.get(arg.name, arg.name) if isinstance(arg, ast.Ref) else None
    if name not in checker.model.indicators:
        checker.error(expr.span, f"`{expr.function}` needs an indicator name")
    elif not checker.model.targets_for(name):
        checker.error(expr.span, f"`{expr.function}({name})` needs a `target {name} YEAR {{…}}`")
    elif expr.function == "progress" and checker.model.indicators[name].form not in ("ytd", "period"):
        checker.error(expr.span, "`progress` needs a ytd or period level with a level target")
    growth_targets = name in checker.model.indicators and any(t.growth for t in checker.model.targets_for(name))
    unit = PERCENT if expr.function == "progress" or growth_targets else args[0].unit
    return ExprType("num", unit, args[0].freq, None)


def _contribution(checker: _Checker, expr: ast.Call, args: list[ExprType]) -> ExprType:
    level = args[0]
    if level.form not in LEVEL_FORMS:
        checker.error(expr.span, f"`{expr.function}` needs a level (ytd, period or stock), "
                                 f"got {level.form or 'a derived value'}")
    if len(args) == 2 and args[1].unit not in (PERCENT, None):
        checker.error(expr.span, f"the second argument of `{expr.function}` is a growth in %, not {args[1].unit}")
    if len(args) == 2 and args[1].freq and level.freq and args[1].freq != level.freq:
        checker.error(expr.span, f"cannot combine a {level.freq} level with a {args[1].freq} growth")
    return ExprType("num", PERCENT, level.freq, None)


def _changepoint(checker: _Checker, expr: ast.Call, args: list[ExprType]) -> ExprType:
    return ExprType("num", None, args[0].freq, None)


def _time_progress(checker: _Checker, expr: ast.Call, args: list[ExprType]) -> ExprType:
    return ExprType("num", PERCENT, None, None)


_FUNCTION_TYPES = {
    "yoy": _growth, "mom": _growth, "yoy2": _growth, "single": _level_transform, "ytd": _level_transform,
    "lag": _keeps_form, "abs": _same_as_first, "sign": _unitless, "sqrt": _unitless,
    "peer_z": _unitless, "rank": _unitless, "zscore": _unitless, "share": _percent, "revision": _percent,
    "history": _unitless, "changepoint": _changepoint, "progress": _progress, "target": _progress,
    "time_progress": _time_progress, "pull": _contribution, "contribution": _contribution,
    "above_scale": _unitless, "year": _unitless,
}


def _compare_const(expr: ast.Binary, left: ExprType, right: ExprType) -> float | None:
    """Fold comparisons that can be decided without data: constants, and `abs(…) < 0`."""
    if left.const is not None and right.const is not None:
        return float(_COMPARE[expr.op](left.const, right.const))
    never = right.const is not None and (
        (expr.op == "<" and right.const <= 0) or (expr.op in ("<=", "==") and right.const < 0))
    if isinstance(expr.left, ast.Call) and expr.left.function == "abs" and never:
        return 0.0
    return None


def _logic_const(expr: ast.Binary, left: ExprType, right: ExprType) -> float | None:
    if expr.op == "and":
        if left.const == 0.0 or right.const == 0.0:
            return 0.0
        return 0.0 if _contradictory(expr.left, expr.right) else None
    if left.const == 0.0 and right.const == 0.0:
        return 0.0
    return None


def _contradictory(a: ast.Expr, b: ast.Expr) -> bool:
    """`x > 5 and x < 3`: an empty interval on the same expression."""
    bounds = [_bound(a), _bound(b)]
    if None in bounds or bounds[0][0] != bounds[1][0]:  # type: ignore[index]
        return False
    (_, low_a, high_a), (_, low_b, high_b) = bounds  # type: ignore[misc]
    low, high = max(low_a, low_b), min(high_a, high_b)
    return low > high


def _bound(expr: ast.Expr) -> tuple[ast.Expr, float, float] | None:
    if not (isinstance(expr, ast.Binary) and expr.op in ("<", ">", "<=", ">=")):
        return None
    if not isinstance(expr.right, ast.Number):
        return None
    value = expr.right.value
    if expr.op in (">", ">="):
        return (expr.left, value, float("inf"))
    return (expr.left, float("-inf"), value)


_COMPARE = {
    ">": lambda a, b: a > b, "<": lambda a, b: a < b, ">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
}
