"""Evaluate a rule-language expression over the engine's in-memory panel, for some entities and a window.

Panels' `show` clauses, the drill-down's references and the consistency view all need "this expression, for
these entities, over the last n periods". The expression compiles with the engine's own compiler into a small
plan of its own, and its nodes run with the engine's operators over the whole axis of its frequency (so
`yoy`, `lag` and rolling windows see the history they need); the window is cut afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsl import ast
from dsl.model import Model
from dsl.parser import parse_expression
from dsl.printer import format_expr
from engine.compiler import Plan, compile_expression
from engine.operators import Frame, evaluate_node
from engine.panel import Panel
from engine.periods import Axis


@dataclass(frozen=True)
class Result:
    label: str
    freq: str
    periods: list[str]  # the window, oldest first
    entities: list[str]
    values: np.ndarray  # (entities × periods); NaN where unknown


def frequency(model: Model, expr: ast.Expr) -> str:
    """The frequency of the first indicator an expression reads (monthly when it reads none)."""
    for sub in ast.walk(expr):
        if isinstance(sub, ast.Ref):
            if sub.name in model.indicators:
                return model.indicators[sub.name].frequency
            if sub.name in model.series:
                return frequency(model, model.series[sub.name].expr)
    return "monthly"


def reads_data(model: Model, expr: ast.Expr) -> bool:
    return any(isinstance(s, ast.Ref) and (s.name in model.indicators or s.name in model.series)
               for s in ast.walk(expr))


def parse(text: str) -> ast.Expr:
    return parse_expression(text, "<dashboard>", 1, 1)


def compute(plan: Plan, nodes: list[int], frame: Frame) -> dict[int, np.ndarray]:
    """Every node of `nodes` and its inputs, over the frame (nodes come after their inputs in a plan)."""
    needed: set[int] = set()
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if node not in needed:
            needed.add(node)
            stack.extend(plan.nodes[node].inputs)
    cache: dict[int, np.ndarray] = {}
    with np.errstate(all="ignore"):
        for node_id in sorted(needed):
            node = plan.nodes[node_id]
            cache[node_id] = evaluate_node(frame, node, [cache[i] for i in node.inputs])
    return cache


def full_history(panel: Panel, expr: ast.Expr) -> tuple[Axis | None, np.ndarray]:
    """The expression for every entity of the panel over its frequency's whole axis."""
    freq = frequency(panel.model, expr)
    axis = panel.axes.get(freq)
    if axis is None:
        return None, np.empty((len(panel.entities), 0))
    plan, node = compile_expression(panel.model, expr, freq)
    values = compute(plan, [node], Frame(panel, axis, 0))[node]
    return axis, np.array(np.broadcast_to(values, (len(panel.entities), axis.length)), dtype=float)


def evaluate(panel: Panel, expr: ast.Expr, entities: list[str], window: int | None, end: int | None = None) -> Result:
    """The expression for `entities` over the `window` periods ending at column `end` (default: the newest
    period any of them has a value for)."""
    axis, values = full_history(panel, expr)
    label = format_expr(expr, {})
    if axis is None:
        return Result(label, frequency(panel.model, expr), [], entities, np.empty((len(entities), 0)))
    rows = values[[panel.entity_index[e] for e in entities]] if entities else values[:0]
    if end is None:
        end = last_column(rows) if reads_data(panel.model, expr) else axis.length - 1
    first = 0 if window is None else max(0, end - window + 1)
    periods = [str(p) for p in axis.periods[first:end + 1]]
    return Result(label, axis.freq, periods, entities, rows[:, first:end + 1])


def last_column(rows: np.ndarray) -> int:
    known = np.flatnonzero((~np.isnan(rows)).any(axis=0)) if rows.size else np.array([], dtype=int)
    return int(known[-1]) if len(known) else max(rows.shape[1] - 1, 0)
