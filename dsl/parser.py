"""Text to AST. Syntax errors are collected item by item, so one pass reports all of them."""

from __future__ import annotations

import re
import sys
import threading
from functools import cache
from pathlib import Path

from lark import Lark, Transformer, v_args
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, VisitError

from dsl import ast
from dsl.errors import Diagnostic, DslError, did_you_mean

GRAMMAR = Path(__file__).with_name("taishan.lark")
TOP_LEVEL = ("import", "entity", "indicator", "series", "target", "rule", "check", "test", "route",
             "inhibit", "dashboard")
_ITEM_START = re.compile(r"^[ \t]*(" + "|".join(TOP_LEVEL) + r")\b", re.MULTILINE)

_TERMINAL_NAMES = {
    "NAME": "a name", "STRING": 'a string ("...")', "NUMBER": "a number", "PERIOD": "a period (2026-03, 2026Q1)",
    "DATE": "a date (2026-03-15)", "DURATION": "a duration (30s, 5m, 4h)", "TIME": "a time (22:00)",
    "COMPARE": "a comparison", "ADD_OP": "`+` or `-`", "MUL_OP": "`*` or `/`", "SEVERITY": "a severity",
    "STATE": "an alert state", "PERIODS": "`periods`", "GROWTH": "`growth`", "PERCENT": "`%`",
    "$END": "end of file",
}


@cache
def _lark() -> Lark:
    cache_dir = Path(__file__).parent / "taishan.lark.cache"
    return Lark(
        GRAMMAR.read_text(encoding="utf-8"),
        parser="lalr",
        start=["start", "expr"],
        propagate_positions=True,
        maybe_placeholders=True,
        strict=True,
        cache=str(cache_dir),
        lexer_callbacks={"COMMENT": _collect_comment},
    )


def _span(path: str, meta_or_token) -> ast.Span:
    if getattr(meta_or_token, "empty", False) or getattr(meta_or_token, "line", None) is None:
        return ast.Span.unknown(path)
    return ast.Span(path, meta_or_token.line, meta_or_token.column,
                    meta_or_token.end_line, meta_or_token.end_column)


def unquote(token: str) -> str:
    body = token[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def _number(token: str) -> float:
    return float(token)


@v_args(meta=True, inline=True)
class _ToAst(Transformer):
    """Builds the dataclasses of `dsl.ast` from lark's parse tree."""

    def __init__(self, path: str, line: int = 1, column: int = 1):
        super().__init__()
        self.path = path
        self.line, self.column = line, column  # where the text starts in its file (message placeholders)

    def whole(self, token) -> int:
        """Counts, days and years are whole numbers of a sensible size."""
        if "." in str(token) and not float(token).is_integer():
            raise _BadNumber(self.sp(token), f"`{token}` must be a whole number")
        if len(str(token).split(".")[0]) > 6:
            raise _BadNumber(self.sp(token), f"number too large: `{str(token)[:12]}…`")
        return int(float(token))

    def sp(self, meta) -> ast.Span:
        span = _span(self.path, meta)
        if (self.line, self.column) == (1, 1) or span.line < 1:
            return span
        shift = self.column - 1
        return ast.Span(span.path, span.line + self.line - 1, span.column + shift, span.end_line + self.line - 1,
                        span.end_column + shift)

    # ---- top level
    def start(self, meta, *items):
        return list(items)

    def import_stmt(self, meta, path):
        return ast.Import(self.sp(meta), unquote(path))

    def entity_def(self, meta, id_, name, kind, parent, body):
        attrs = dict(body or [])
        return ast.EntityDef(self.sp(meta), str(id_), unquote(name), str(kind),
                             str(parent) if parent else None, attrs)

    def entity_body(self, meta, *attrs):
        return list(attrs)

    def attr_industry(self, meta, value):
        return ("industry", unquote(value))

    def attr_size(self, meta, value):
        return ("size", str(value))

    def attr_above_scale(self, meta, value):
        return ("above_scale", self.whole(value))

    def attr_overlay(self, meta):
        return ("overlay", True)

    def attr_until(self, meta, period):
        return ("until", period)

    def indicator_def(self, meta, id_, name, *attrs):
        node = ast.IndicatorDef(self.sp(meta), str(id_), unquote(name))
        for key, value, span in attrs:
            setattr(node, key, value)
            node.attr_spans[key] = span
        return node

    def attr_unit(self, meta, value):
        return ("unit", unquote(value), self.sp(meta))

    def attr_frequency(self, meta, value):
        return ("frequency", str(value), self.sp(value))

    def attr_form(self, meta, value):
        return ("form", str(value), self.sp(value))

    def attr_jan_feb(self, meta, value):
        return ("jan_feb", str(value), self.sp(value))

    def attr_prices(self, meta, value):
        return ("prices", str(value), self.sp(value))

    def attr_additive(self, meta):
        return ("additive", True, self.sp(meta))

    def attr_tags(self, meta, names):
        return ("tags", names, self.sp(meta))

    def attr_parts(self, meta, *names):
        return ("parts", tuple(str(n) for n in names), self.sp(meta))

    def attr_department(self, meta, value):
        return ("department", unquote(value), self.sp(meta))

    def attr_release(self, meta, day):
        return ("release_day", self.whole(day), self.sp(day))

    def series_def(self, meta, id_, name, unit, expr):
        return ast.SeriesDef(self.sp(meta), str(id_), unquote(name), expr, unquote(unit) if unit else None)

    def target_def(self, meta, indicator, year, growth, *values):
        return ast.TargetDef(self.sp(meta), str(indicator), self.whole(year), growth is not None, tuple(values))

    def target_value(self, meta, entity, value):
        return ast.TargetValue(str(entity), _number(value), self.sp(meta))

    def target_negative(self, meta, entity, value):
        return ast.TargetValue(str(entity), -_number(value), self.sp(meta))

    # ---- rules
    def rule_def(self, meta, id_, title, *clauses):
        rule = ast.RuleDef(self.sp(meta), str(id_), unquote(title))
        for apply in clauses:
            apply(rule)
        return rule

    def severity_clause(self, meta, value):
        def apply(node):
            node.severity = str(value)
        return apply

    def scope_clause(self, meta, kind, sets):
        scope = ast.Scope(self.sp(meta), str(kind), sets)

        def apply(node):
            node.scope = scope
        return apply

    def indicator_scope(self, meta, variable, tags):
        scope = ast.IndicatorScope(self.sp(meta), str(variable), tags)

        def apply(node):
            node.indicator_scope = scope
        return apply

    def when_clause(self, meta, severity, expr):
        condition = ast.Condition(self.sp(meta), expr, str(severity) if severity else None)

        def apply(node):
            node.conditions.append(condition)
        return apply

    def for_clause(self, meta, count, of):
        whole_count, whole_of = self.whole(count), self.whole(of) if of is not None else None

        def apply(node):
            node.for_periods = whole_count
            node.of_periods = whole_of
        return apply

    def keep_clause(self, meta, count):
        whole_count = self.whole(count)

        def apply(node):
            node.keep_periods = whole_count
        return apply

    def recover_clause(self, meta, expr):
        def apply(node):
            node.recover = expr
        return apply

    def guard_clause(self, meta, expr):
        def apply(node):
            node.guard = expr
        return apply

    def message_clause(self, meta, text):
        span = self.sp(text)

        def apply(node):
            node.message = unquote(text)
            node.message_span = span
        return apply

    def hint_clause(self, meta, text):
        def apply(node):
            node.hint = unquote(text)
        return apply

    def labels_clause(self, meta, *labels):
        def apply(node):
            node.labels.update(labels)
        return apply

    def label(self, meta, key, value):
        return (str(key), unquote(value))

    # ---- checks
    def check_def(self, meta, id_, title, *clauses):
        check = ast.CheckDef(self.sp(meta), str(id_), unquote(title))
        for apply in clauses:
            apply(check)
        return check

    def balance_clause(self, meta, left, right, tolerance, percent):
        balance = ast.Balance(self.sp(meta), left, right, _number(tolerance), percent is not None)

        def apply(node):
            node.balance = balance
        return apply

    def complete_clause(self, meta, names, last):
        completeness = ast.Completeness(self.sp(meta), names, self.whole(last) if last else 3)

        def apply(node):
            node.completeness = completeness
        return apply

    def missing_clause(self, meta, mode):
        def apply(node):
            node.missing = str(mode)
        return apply

    def entity_sets(self, meta, *sets):
        return tuple(sets)

    def entity_set(self, meta, base, relation):
        return ast.EntitySet(str(base), str(relation) if relation else None, self.sp(meta))

    def name_list(self, meta, *names):
        return tuple(str(n) for n in names)

    # ---- expressions
    def or_(self, meta, left, right):
        return ast.Binary(self.sp(meta), "or", left, right)

    def and_(self, meta, left, right):
        return ast.Binary(self.sp(meta), "and", left, right)

    def not_(self, meta, operand):
        return ast.Unary(self.sp(meta), "not", operand)

    def compare(self, meta, left, op, right):
        return ast.Binary(self.sp(meta), str(op), left, right)

    def arith(self, meta, left, op, right):
        return ast.Binary(self.sp(meta), str(op), left, right)

    def neg(self, meta, operand):
        if isinstance(operand, ast.Number):
            return ast.Number(self.sp(meta), -operand.value)
        return ast.Unary(self.sp(meta), "-", operand)

    def at(self, meta, operand, target):
        return ast.At(self.sp(meta), operand, str(target))

    def number(self, meta, token):
        return ast.Number(self.sp(meta), _number(token))

    def ref(self, meta, name):
        return ast.Ref(self.sp(meta), str(name))

    def call(self, meta, name, args):
        return ast.Call(self.sp(meta), str(name), tuple(args or ()))

    def aggregate(self, meta, name, operand, sets):
        return ast.Call(self.sp(meta), str(name), (operand,), sets)

    def args(self, meta, *exprs):
        return list(exprs)

    # ---- tests
    def test_def(self, meta, name, *stmts):
        test = ast.TestDef(self.sp(meta), unquote(name))
        for stmt in stmts:
            if isinstance(stmt, ast.Given):
                test.givens.append(stmt)
            elif isinstance(stmt, ast.Expect):
                test.expects.append(stmt)
            else:
                test.as_of = stmt
        return test

    def given(self, meta, indicator, entity, start, end, *values):
        return ast.Given(self.sp(meta), str(indicator), str(entity), start, end or start, tuple(values))

    def given_value(self, meta, token):
        return _number(token)

    def negative_value(self, meta, token):
        return -_number(token)

    def missing_value(self, meta):
        return None

    def severity(self, meta, token):
        return str(token)

    def state(self, meta, token):
        return str(token)

    def growth(self, meta, token):
        return True

    def period(self, meta, token):
        return str(token)

    def expect(self, meta, rule, state, entity, period, indicator, severity):
        return ast.Expect(self.sp(meta), str(rule), str(state), str(entity), period,
                          str(indicator) if indicator else None, str(severity) if severity else None)

    def as_of(self, meta, date):
        return str(date)

    # ---- routes, inhibition, dashboards
    def route_def(self, meta, id_, *clauses):
        route = ast.RouteDef(self.sp(meta), str(id_))
        for apply in clauses:
            apply(route)
        return route

    def match_clause(self, meta, *matchers):
        def apply(node):
            node.matchers.extend(matchers)
        return apply

    def severity_matcher(self, meta, op, value):
        return ast.Matcher(self.sp(meta), "severity", str(op), str(value))

    def entity_matcher(self, meta, sets):
        return ast.Matcher(self.sp(meta), "entity", "in", sets)

    def tag_matcher(self, meta, name):
        return ast.Matcher(self.sp(meta), "tag", "==", str(name))

    def rule_matcher(self, meta, name):
        return ast.Matcher(self.sp(meta), "rule", "==", str(name))

    def label_matcher(self, meta, name, value):
        return ast.Matcher(self.sp(meta), f"label:{name}", "==", unquote(value))

    def receivers_clause(self, meta, names):
        return _setter("receivers", names)

    def group_by_clause(self, meta, names):
        return _setter("group_by", names)

    def group_wait_clause(self, meta, value):
        return _setter("group_wait", str(value))

    def group_interval_clause(self, meta, value):
        return _setter("group_interval", str(value))

    def repeat_interval_clause(self, meta, value):
        return _setter("repeat_interval", str(value))

    def continue_clause(self, meta):
        return _setter("continue_", True)

    def quiet_clause(self, meta, start, end, severity):
        def apply(node):
            node.quiet = (str(start), str(end))
            node.quiet_breakthrough = str(severity) if severity else None
        return apply

    def inhibit_def(self, meta, mode, rules):
        return ast.InhibitDef(self.sp(meta), str(mode), tuple(rules or ()))

    def dashboard_def(self, meta, id_, title, *panels):
        return ast.DashboardDef(self.sp(meta), str(id_), unquote(title), list(panels))

    def panel_def(self, meta, id_, title, *clauses):
        panel = ast.PanelDef(self.sp(meta), str(id_), unquote(title))
        for apply in clauses:
            apply(panel)
        return panel

    def chart_clause(self, meta, kind):
        return _setter("chart", str(kind))

    def show_clause(self, meta, *exprs):
        return _setter("show", tuple(exprs))

    def entities_clause(self, meta, sets):
        return _setter("entities", sets)

    def window_clause(self, meta, count):
        return _setter("window", self.whole(count))


def _setter(attribute: str, value):
    def apply(node):
        setattr(node, attribute, value)
    return apply


# ----------------------------------------------------------------------------- error reporting


def _describe_expected(expected: set[str]) -> str:
    names = sorted({_TERMINAL_NAMES.get(t, _literal(t)) for t in expected if not t.startswith("_")})
    if len(names) > 8:
        names = [*names[:8], "…"]
    return ", ".join(names)


def _literal(terminal: str) -> str:
    pattern = _lark().get_terminal(terminal).pattern if terminal in _terminal_names() else None
    if pattern is not None and pattern.type == "str":
        return f"`{pattern.value}`"
    return terminal.lower()


@cache
def _terminal_names() -> frozenset[str]:
    return frozenset(t.name for t in _lark().terminals)


def _keywords_of(expected: set[str]) -> list[str]:
    words = []
    for name in expected:
        if name in _terminal_names():
            pattern = _lark().get_terminal(name).pattern
            if pattern.type == "str" and pattern.value.isidentifier():
                words.append(pattern.value)
    return words


def _syntax_diagnostic(path: str, text: str, error: UnexpectedInput) -> Diagnostic:
    line, column = max(error.line, 1), max(error.column, 1)
    if isinstance(error, UnexpectedCharacters):
        char = error.char
        span = ast.Span(path, line, column, line, column + 1)
        hint = "strings use straight double quotes: \"...\"" if char in "“”'‘’" else None
        return Diagnostic(span, f"unexpected character `{char}`", hint)
    expected = _expected(error)
    if isinstance(error, UnexpectedEOF):
        return Diagnostic(ast.Span(path, line, column, line, column + 1),
                          f"unexpected end of file, expected {_describe_expected(expected)}")
    token = error.token
    previous = _previous_word(text, _offset(text, line, column))
    if previous is not None and error.token.type != "$END":
        found = _misread_keyword(path, text, previous, expected)
        if found is not None:
            return found
    shown = "end of file" if token.type == "$END" else f"`{token}`"
    span = ast.Span(path, line, column, line, column + max(len(str(token)), 1))
    suggestion = None
    if token.type == "NAME" or str(token).isidentifier():
        suggestion = did_you_mean(str(token), _keywords_of(expected))
    if suggestion is None and "RBRACE" in expected and token.type == "$END":
        suggestion = "a block is not closed: add `}`"
    return Diagnostic(span, f"unexpected {shown}, expected {_describe_expected(expected)}", suggestion)


def _expected(error: UnexpectedInput) -> set[str]:
    """Tokens that really fit here: simulate the parse rather than trust merged LALR lookaheads."""
    parser = getattr(error, "interactive_parser", None)
    if parser is not None:
        try:
            return set(parser.accepts())
        except LarkError:
            pass  # the plain lookahead set below is still a good answer
    return set(getattr(error, "expected", None) or getattr(error, "accepts", None) or ())


def _previous_word(text: str, position: int) -> tuple[str, int] | None:
    """The identifier right before `position` (skipping blanks), with its offset."""
    match = re.search(r"([^\W\d]\w*)\s*$", text[:position])
    return (match.group(1), match.start(1)) if match else None


def _misread_keyword(path: str, text: str, previous: tuple[str, int], expected: set[str]) -> Diagnostic | None:
    """A keyword read as a name, or a misspelled clause keyword read as a name, is the real culprit."""
    word, offset = previous
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    span = ast.Span(path, line, column, line, column + len(word))
    starts_line = not text[text.rfind("\n", 0, offset) + 1:offset].strip()
    if not starts_line:
        return None
    if word in TOP_LEVEL:
        return Diagnostic(span, f"unexpected `{word}`: the item before it is incomplete",
                          f"finish the previous item before this `{word}`")
    if word in _all_keywords():
        return None
    suggestion = did_you_mean(word, _all_keywords())
    if suggestion is None:
        return None
    return Diagnostic(span, f"unknown clause `{word}`", suggestion)


@cache
def _all_keywords() -> tuple[str, ...]:
    return tuple(sorted({t.pattern.value for t in _lark().terminals
                         if t.pattern.type == "str" and t.pattern.value.isidentifier()}))


def _blank(text: str, start: int, end: int) -> str:
    return text[:start] + re.sub(r"[^\n]", " ", text[start:end]) + text[end:]


def _offset(text: str, line: int, column: int) -> int:
    lines = text.split("\n")
    return sum(len(x) + 1 for x in lines[: line - 1]) + column - 1


class _BadNumber(Exception):
    def __init__(self, span: ast.Span, text: str):
        super().__init__(text)
        self.span = span


_COMMENTS = threading.local()  # each thread's comments, filled by the lexer callback during a parse


def _collect_comment(token) -> None:
    _COMMENTS.found.append(token)


# A generated register of enterprises runs to hundreds of uniform entity lines. Such a file (only
# full-line comments, imports and one-line entities) is read line by line: through lark it would
# double the load time of the whole rule set. Anything else in the file takes the full parser.
_REGISTER_LINE = re.compile(
    r'entity ([^\W\d]\w*) "([^"\\\n]*)" ([^\W\d]\w*)(?: in ([^\W\d]\w*))?'
    r'(?: \{ industry "([^"\\\n]*)" size ([^\W\d]\w*) above_scale (\d{1,6}) \})?'
    r'|import "([^"\\\n]*)"')


def _parse_register(text: str, path: str) -> ast.RuleFile | None:
    """The AST lark would build for a file of entity lines, or None when the file is anything else."""
    items: list[ast.Item] = []
    comments: list[ast.Comment] = []
    keywords = _all_keywords()
    for number, line in enumerate(text.split("\n"), start=1):
        body = line.rstrip()
        if not body or body.startswith("#"):
            if body:
                comments.append(ast.Comment(number, 1, body))
            continue
        match = _REGISTER_LINE.fullmatch(body)
        if match is None or any(name in keywords for name in match.group(1, 3, 4, 6) if name):
            return None
        span = ast.Span(path, number, 1, number, len(body) + 1)
        if match.group(8) is not None:
            items.append(ast.Import(span, match.group(8)))
            continue
        entity, name, kind, parent, industry, size, year = match.groups()[:7]
        attrs: dict[str, object] = {"industry": industry, "size": size, "above_scale": int(year)} \
            if industry is not None else {}
        items.append(ast.EntityDef(span, entity, name, kind, parent, attrs))
    return ast.RuleFile(path, items, comments)


def parse(text: str, path: str = "<string>") -> ast.RuleFile:
    """Parse one rule file. Raises DslError with every syntax error found."""
    text = text.removeprefix("\ufeff")  # a byte-order mark from Windows editors is not content
    register = _parse_register(text, path)  # gives up at the first line that is not a simple entity
    if register is not None:
        return register
    diagnostics: list[Diagnostic] = []
    broken: set[str] = set()  # names defined by items that failed to parse
    working = text
    for _ in range(len(text) + 1):
        _COMMENTS.found = []
        try:
            tree = _lark().parse(working, start="start")
            break
        except UnexpectedInput as error:
            diagnostics.append(_syntax_diagnostic(path, working, error))
            working, failed = _skip_failed_item(working, error, diagnostics[-1])
            broken.update(_FAILED_NAME.findall(failed))
    else:  # pragma: no cover - every round blanks at least one character
        raise DslError(diagnostics, {path: text})
    comments = [ast.Comment(t.line, t.column, str(t)) for t in _COMMENTS.found]
    if diagnostics:
        # The items that did parse still get checked, so one pass reports their errors too.
        error = DslError(diagnostics, {path: text})
        error.partial = _partial(tree, path, comments)
        error.broken_names = broken
        raise error
    try:
        items = _ToAst(path).transform(tree)
    except VisitError as error:
        if isinstance(error.orig_exc, _BadNumber):
            raise DslError([Diagnostic(error.orig_exc.span, str(error.orig_exc))], {path: text}) from None
        items = None
    except RecursionError:
        items = None
    too_deep = _too_deep(items) if items is not None else ast.Span.unknown(path)
    if too_deep is not None:
        raise DslError([Diagnostic(too_deep, f"expression nested too deeply (more than {MAX_DEPTH} levels)",
                                   "split it into named `series`")], {path: text})
    return ast.RuleFile(path, items, comments)


_FAILED_NAME = re.compile(r"^\s*(?:entity|indicator|series|rule|check|route|dashboard)\s+([^\W\d]\w*)")


def _partial(tree, path: str, comments: list[ast.Comment]) -> ast.RuleFile | None:
    try:
        items = _ToAst(path).transform(tree)
    except (VisitError, RecursionError):
        return None
    return ast.RuleFile(path, items, comments) if _too_deep(items) is None else None


# The checker and compiler walk expressions recursively, a few frames per level; a long flat sum of
# enterprises is a legitimate, deep left-leaning tree.
MAX_DEPTH = 600
sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * MAX_DEPTH + 1000))


def _too_deep(items: list) -> ast.Span | None:
    """The span of the first expression nested deeper than the checker and compiler may recurse."""
    for item in items:
        for value in vars(item).values():
            for expr in _expressions(value):
                if _depth(expr) > MAX_DEPTH:
                    return expr.span
    return None


def _expressions(value: object) -> list[ast.Expr]:
    if isinstance(value, ast.Expr):
        return [value]
    if isinstance(value, list | tuple):
        return [e for v in value for e in _expressions(v)]
    if isinstance(value, ast.Condition | ast.Balance | ast.PanelDef):
        return [e for v in vars(value).values() for e in _expressions(v)]
    return []


def _depth(expr: ast.Expr) -> int:
    deepest, stack = 0, [(expr, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        children = [node.left, node.right] if isinstance(node, ast.Binary) else \
            [node.operand] if isinstance(node, ast.Unary | ast.At) else \
            list(node.args) if isinstance(node, ast.Call) else []
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _item_starts(text: str) -> list[int]:
    """Offsets of top-level keywords that begin a line at brace depth 0, outside strings and comments."""
    depth_at: dict[int, int] = {}
    depth, in_string, in_comment, escaped = 0, False, False, False
    candidates = {m.start(1) for m in _ITEM_START.finditer(text)}
    for offset, char in enumerate(text):
        if offset in candidates:
            depth_at[offset] = -1 if (in_string or in_comment) else depth
        if in_comment:
            in_comment = char != "\n"
        elif in_string:
            in_string = escaped or char != '"'
            in_string = in_string and char != "\n"
            escaped = char == "\\" and not escaped
        elif char == "#":
            in_comment = True
        elif char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth = max(0, depth - 1)
    return sorted(o for o, d in depth_at.items() if d == 0)


def _skip_failed_item(text: str, error: UnexpectedInput, diagnostic: Diagnostic) -> tuple[str, str]:
    """Blank out the item that failed, from its first keyword to the next top-level keyword.

    Returns the new text and the text that was blanked."""
    position = _offset(text, max(error.line, 1), max(error.column, 1)) if error.line > 0 else len(text)
    if diagnostic.message.endswith("the item before it is incomplete"):
        # The error surfaced inside the next, valid item: the failed item ends where the keyword starts.
        position = _offset(text, diagnostic.span.line, diagnostic.span.column) - 1
    starts = _item_starts(text)
    begin = max((s for s in starts if s <= position), default=0)
    following = [s for s in starts if s > position]
    end = following[0] if following else len(text)
    if end <= begin:
        end = len(text)
    if not text[begin:end].strip():
        return text[:begin], ""
    return _blank(text, begin, end), text[begin:end]


@cache
def parse_expression(text: str, path: str, line: int, column: int) -> ast.Expr:
    """Parse a template placeholder, reporting positions inside the enclosing file."""
    try:
        tree = _lark().parse(text, start="expr")
        return _ToAst(path, line, column).transform(tree)
    except UnexpectedInput as error:
        diagnostic = _syntax_diagnostic(path, text, error)
        shifted = ast.Span(path, line, column + diagnostic.span.column - 1, line,
                           column + diagnostic.span.end_column - 1)
        raise DslError([Diagnostic(shifted, diagnostic.message, diagnostic.suggestion)]) from None
