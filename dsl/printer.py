"""Print an expression back as canonical source text (labels, provenance, messages)."""

from __future__ import annotations

from collections.abc import Mapping

from dsl import ast

_PRECEDENCE = {"or": 1, "and": 2, "not": 3, ">": 4, "<": 4, ">=": 4, "<=": 4, "==": 4, "!=": 4,
               "+": 5, "-": 5, "*": 6, "/": 6}


def format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))


def format_expr(expr: ast.Expr, rename: Mapping[str, str] | None = None) -> str:
    return _print(expr, rename or {}, 0)


def _print(expr: ast.Expr, rename: Mapping[str, str], parent: int) -> str:
    if isinstance(expr, ast.Number):
        return format_number(expr.value)
    if isinstance(expr, ast.Ref):
        return rename.get(expr.name, expr.name)
    if isinstance(expr, ast.At):
        return f"{_print(expr.operand, rename, 9)}@{expr.target}"
    if isinstance(expr, ast.Call):
        args = ", ".join(_print(a, rename, 0) for a in expr.args)
        if expr.over is not None:
            sets = ", ".join(s.base + (f".{s.relation}" if s.relation else "") for s in expr.over)
            args = f"{args} over {sets}"
        return f"{expr.function}({args})"
    if isinstance(expr, ast.Unary):
        level = _PRECEDENCE["not"] if expr.op == "not" else 7
        text = f"not {_print(expr.operand, rename, level)}" if expr.op == "not" else \
            f"-{_print(expr.operand, rename, level)}"
        return f"({text})" if level < parent else text
    assert isinstance(expr, ast.Binary)
    level = _PRECEDENCE[expr.op]
    # Left-associative: the right operand of an equal-precedence operator needs parentheses.
    text = f"{_print(expr.left, rename, level)} {expr.op} {_print(expr.right, rename, level + 1)}"
    return f"({text})" if level < parent else text
