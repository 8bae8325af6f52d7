"""The syntax tree of a rule file. Every node keeps the span it was parsed from."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Span:
    path: str
    line: int
    column: int
    end_line: int
    end_column: int

    @staticmethod
    def unknown(path: str = "<unknown>") -> Span:
        return Span(path, 1, 1, 1, 1)


# ----------------------------------------------------------------------------- expressions


@dataclass(frozen=True)
class Expr:
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True)
class Number(Expr):
    value: float


@dataclass(frozen=True)
class Ref(Expr):
    """A name: an indicator, a derived series, or an indicator variable bound by the rule scope."""

    name: str


@dataclass(frozen=True)
class EntitySet:
    """`taian`, `taian.children`, `children` (relative to the evaluated entity), `taian.descendants`."""

    base: str
    relation: str | None
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True)
class At(Expr):
    """`expr@target`: the value of an expression at another entity (`taian`, `parent`, `province`)."""

    operand: Expr
    target: str


@dataclass(frozen=True)
class Call(Expr):
    function: str
    args: tuple[Expr, ...]
    over: tuple[EntitySet, ...] | None = None  # `sum(gdp over taian.children)`


@dataclass(frozen=True)
class Unary(Expr):
    op: str  # "-" or "not"
    operand: Expr


@dataclass(frozen=True)
class Binary(Expr):
    op: str  # + - * / > < >= <= == != and or
    left: Expr
    right: Expr


# ----------------------------------------------------------------------------- definitions


@dataclass
class Node:
    span: Span = field(compare=False, repr=False)


@dataclass
class Import(Node):
    path: str


@dataclass
class EntityDef(Node):
    id: str
    name: str
    kind: str
    parent: str | None
    attrs: dict[str, object] = field(default_factory=dict)  # industry, size, above_scale, overlay


@dataclass
class IndicatorDef(Node):
    id: str
    name: str
    unit: str = ""
    frequency: str = "monthly"
    form: str = "period"
    jan_feb: str = "separate"  # "merged": 1–2月 published together
    prices: str = "current"
    additive: bool = False
    tags: tuple[str, ...] = ()
    parts: tuple[str, ...] = ()
    department: str = ""
    release_day: int | None = None
    attr_spans: dict[str, Span] = field(default_factory=dict, compare=False, repr=False)


@dataclass
class SeriesDef(Node):
    """A derived series: a named expression that rules share."""

    id: str
    name: str
    expr: Expr
    unit: str | None = None


@dataclass(frozen=True)
class TargetValue:
    entity: str
    value: float
    span: Span = field(compare=False, repr=False)


@dataclass
class TargetDef(Node):
    indicator: str
    year: int
    growth: bool
    values: tuple[TargetValue, ...]


@dataclass
class Scope(Node):
    """`each county in taian` or `each entity in taian, taian.children`."""

    kind: str
    sets: tuple[EntitySet, ...]


@dataclass
class IndicatorScope(Node):
    """`each indicator x tagged 工业, 投资`: the rule runs once per indicator bound to `x`."""

    variable: str
    tags: tuple[str, ...]


@dataclass
class Condition(Node):
    expr: Expr
    severity: str | None  # None: the rule's severity


@dataclass
class RuleDef(Node):
    id: str
    title: str
    severity: str = "warning"
    scope: Scope | None = None
    indicator_scope: IndicatorScope | None = None
    conditions: list[Condition] = field(default_factory=list)
    for_periods: int = 1
    of_periods: int | None = None  # `for k of n periods`
    keep_periods: int = 0
    recover: Expr | None = None
    guard: Expr | None = None
    message: str | None = None
    message_span: Span | None = field(default=None, compare=False, repr=False)
    hint: str | None = None
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class Balance(Node):
    left: Expr
    right: Expr
    tolerance: float
    relative: bool


@dataclass
class Completeness(Node):
    indicators: tuple[str, ...]
    last_periods: int


@dataclass
class CheckDef(Node):
    id: str
    title: str
    severity: str = "warning"
    scope: Scope | None = None
    balance: Balance | None = None
    completeness: Completeness | None = None
    missing: str = "non_null"
    message: str | None = None
    message_span: Span | None = field(default=None, compare=False, repr=False)
    hint: str | None = None


@dataclass
class Given(Node):
    indicator: str
    entity: str
    start: str
    end: str
    values: tuple[float | None, ...]


@dataclass
class Expect(Node):
    rule: str
    state: str
    entity: str
    period: str
    indicator: str | None = None
    severity: str | None = None


@dataclass
class TestDef(Node):
    name: str
    as_of: str | None = None
    givens: list[Given] = field(default_factory=list)
    expects: list[Expect] = field(default_factory=list)


@dataclass
class Matcher(Node):
    field_name: str  # severity, entity, tag, rule, label:<name>
    op: str
    value: object


@dataclass
class RouteDef(Node):
    id: str
    matchers: list[Matcher] = field(default_factory=list)
    receivers: tuple[str, ...] = ()
    group_by: tuple[str, ...] = ()
    group_wait: str | None = None
    group_interval: str | None = None
    repeat_interval: str | None = None
    continue_: bool = False
    quiet: tuple[str, str] | None = None
    quiet_breakthrough: str | None = None


@dataclass
class InhibitDef(Node):
    mode: str  # hierarchy | severity
    rules: tuple[str, ...] = ()


@dataclass
class PanelDef(Node):
    id: str
    title: str
    chart: str = "line"
    show: tuple[Expr, ...] = ()
    entities: tuple[EntitySet, ...] = ()
    window: int | None = None


@dataclass
class DashboardDef(Node):
    id: str
    title: str
    panels: list[PanelDef] = field(default_factory=list)


Item = (
    Import | EntityDef | IndicatorDef | SeriesDef | TargetDef | RuleDef | CheckDef | TestDef | RouteDef
    | InhibitDef | DashboardDef
)


@dataclass
class Comment:
    line: int
    column: int
    text: str


@dataclass
class RuleFile:
    path: str
    items: list[Item]
    comments: list[Comment] = field(default_factory=list)


def walk(expr: Expr):
    """Yield an expression and all its sub-expressions, parents first."""
    yield expr
    if isinstance(expr, Binary):
        yield from walk(expr.left)
        yield from walk(expr.right)
    elif isinstance(expr, Unary | At):
        yield from walk(expr.operand)
    elif isinstance(expr, Call):
        for arg in expr.args:
            yield from walk(arg)
