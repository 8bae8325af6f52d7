"""`taishan fmt`: rewrite a rule file in canonical layout, keeping every comment.

The formatter works on the token stream of the parse tree (lark, `keep_all_tokens`) and uses the tree
only to know where clauses start and which `-` is unary. Comments are everything `#...` in the gaps
between tokens (the grammar ignores only whitespace and comments there, so no string is ever mistaken
for a comment).

Layout:
- each item starts on a new line at column 1; an item spanning several lines is separated from its
  neighbours by one blank line; between one-line items (entities, imports, inhibits...) the author's
  blank lines are kept, at most one;
- rule / check / test / route / indicator / dashboard / panel blocks hold one clause per line, indented
  by two spaces per level, `}` on its own line; blank lines between clauses are kept (at most one);
- entity bodies and target values stay on one line (`{ overlay }`) unless they contain a comment or the
  line would be longer than `INLINE_LIMIT`, then they get one entry per line;
- inside a line: one space between tokens, none around `@`, `.`, `..`, after `(` and unary `-`, before
  `,`, `)`, `:`, `%` and the `(` of a call;
- a comment on its own line stays on its own line (indented like the code it precedes); a comment after
  code stays at the end of that line; if a comment sits inside a clause, the clause goes on in a
  continuation line indented two more levels;
- strings and numbers are copied byte for byte.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from functools import cache

from lark import Lark, Token, Tree
from lark.exceptions import LarkError

from dsl.ast import Span
from dsl.errors import Diagnostic, DslError
from dsl.parser import GRAMMAR, parse

__all__ = ["INLINE_LIMIT", "FormatterError", "format_source"]

INDENT = 2
CONTINUATION = 2 * INDENT
INLINE_LIMIT = 100

_INLINE_BLOCKS = frozenset({"entity_body", "target_def"})
_UNARY_MINUS = frozenset({"neg", "target_negative", "negative_value"})
_CALLS = frozenset({"call", "aggregate"})
_GLUE_BEFORE = frozenset({",", ")", "@", ".", "..", ":"})
_GLUE_AFTER = frozenset({"(", "@", ".", ".."})
_COMMENT = re.compile(r"#[^\n]*")


class FormatterError(RuntimeError):
    """The formatted text would not mean the same as the input: a bug in the formatter."""


@cache
def _lark() -> Lark:
    return Lark(GRAMMAR.read_text(encoding="utf-8"), parser="lalr", start="start",
                propagate_positions=True, maybe_placeholders=True, keep_all_tokens=True)


@dataclass
class _Piece:
    """One token and how it is laid out."""

    token: Token | None
    glue_before: bool = False
    glue_after: bool = False
    depth: int | None = None  # not None: the token starts a line at this depth
    boundary: bool = False  # between clauses or items: blank lines the author put are kept (max one)
    forced_blank: bool = False  # between items, one of them on several lines
    closing: bool = False  # a `}` on its own line


@dataclass(frozen=True)
class _Mark:
    """Layout for the next token emitted by the walk."""

    depth: int | None = None
    boundary: bool = False
    closing: bool = False
    glue_before: bool = False


# ----------------------------------------------------------------------------- entry point


def format_source(text: str, path: str = "<string>") -> str:
    """The canonical form of a rule file. Raises DslError if the file does not parse."""
    parse(text, path)
    tree = _tree(text, path)
    tokens = list(_iter_tokens(tree))
    comments = _comment_positions(text, tokens)
    pieces = _layout(tree, comments)
    result = _Writer(text).render(pieces)
    _verify(text, result, tokens)
    return result


def _tree(text: str, path: str) -> Tree:
    try:
        return _lark().parse(text)
    except LarkError as error:  # pragma: no cover - `parse` accepted the same grammar
        raise DslError([Diagnostic(Span.unknown(path), f"cannot format: {error}")], {path: text}) from None


def _iter_tokens(tree: Tree):
    """The tokens of a tree in source order (iterative: expressions may nest deeply)."""
    stack: list[Tree | Token] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Token):
            yield node
        elif isinstance(node, Tree):
            stack.extend(reversed(node.children))


def _comment_positions(text: str, tokens: list[Token]) -> list[int]:
    """Start offsets of all comments: they can only sit in the gaps between tokens."""
    positions: list[int] = []
    previous_end = 0
    for token in [*tokens, None]:
        end = len(text) if token is None else token.start_pos
        positions.extend(match.start() for match in _COMMENT.finditer(text, previous_end, end))
        if token is not None:
            previous_end = token.end_pos
    return positions


def _has_comment(comments: list[int], start: int, end: int) -> bool:
    index = bisect_left(comments, start)
    return index < len(comments) and comments[index] < end


# ----------------------------------------------------------------------------- layout


def _layout(tree: Tree, comments: list[int]) -> list[_Piece]:
    """Pieces for every token of the file, items starting lines at depth 0."""
    pieces: list[_Piece] = []
    previous_multiline = False
    for index, item in enumerate(tree.children):
        item_pieces = _item_pieces(item, comments)
        multiline = _is_multiline(item_pieces, comments)
        head = item_pieces[0]
        head.depth, head.boundary = 0, True
        head.forced_blank = index > 0 and (multiline or previous_multiline)
        pieces.extend(item_pieces)
        previous_multiline = multiline
    return pieces


def _item_pieces(item: Tree, comments: list[int]) -> list[_Piece]:
    pieces = _walk(item, comments, expand=False)
    if item.data in ("entity_def", "target_def") and _first_line_width(pieces) > INLINE_LIMIT:
        pieces = _walk(item, comments, expand=True)
    return pieces


def _is_multiline(pieces: list[_Piece], comments: list[int]) -> bool:
    if any(piece.depth is not None for piece in pieces[1:]):
        return True
    start, end = pieces[0].token.start_pos, pieces[-1].token.end_pos
    return _has_comment(comments, start, end)


def _first_line_width(pieces: list[_Piece]) -> int:
    width = 0
    for index, piece in enumerate(pieces):
        if index and piece.depth is not None:
            break
        width += len(piece.token) + (1 if index and _spaced(pieces[index - 1], piece) else 0)
    return width


def _spaced(previous: _Piece, piece: _Piece) -> bool:
    return not (previous.glue_after or piece.glue_before)


def _walk(root: Tree, comments: list[int], expand: bool) -> list[_Piece]:
    """Pieces for one item, in source order; blocks decide which tokens start lines."""
    out: list[_Piece] = []
    mark: _Mark | None = None
    stack: list[tuple[object, int, str]] = [(root, 0, "")]
    while stack:
        node, depth, parent = stack.pop()
        if isinstance(node, _Mark):
            mark = node
        elif isinstance(node, Token):
            out.append(_piece(node, parent, mark))
            mark = None
        elif isinstance(node, Tree):
            stack.extend(reversed(_children(node, depth, comments, expand)))
    return out


def _children(node: Tree, depth: int, comments: list[int], expand: bool) -> list[tuple[object, int, str]]:
    """The children of a node to visit, with layout marks before the entries of a block."""
    children = [child for child in node.children if child is not None]
    opening = next((i for i, c in enumerate(children) if _is(c, "{")), None)
    if opening is None:
        return [(child, depth, node.data) for child in children]
    closing = len(children) - 1
    entries = children[opening + 1:closing]
    inside = _has_comment(comments, children[opening].end_pos, children[closing].start_pos)
    multiline = inside or (expand if node.data in _INLINE_BLOCKS else bool(entries))
    result = [(child, depth, node.data) for child in children[:opening + 1]]
    for number, entry in enumerate(entries):
        if multiline:
            result.append((_Mark(depth=depth + 1, boundary=number > 0), depth, node.data))
        result.append((entry, depth + 1, node.data))
    if multiline:
        result.append((_Mark(depth=depth, boundary=True, closing=True), depth, node.data))
    elif not entries:
        result.append((_Mark(glue_before=True), depth, node.data))
    result.append((children[closing], depth, node.data))
    return result


def _is(child: object, value: str) -> bool:
    return isinstance(child, Token) and child.type != "STRING" and str(child) == value


def _piece(token: Token, parent: str, mark: _Mark | None) -> _Piece:
    value = str(token)
    plain = token.type in ("STRING", "NAME", "NUMBER")
    glue_before = not plain and (
        value in _GLUE_BEFORE or token.type == "PERCENT"
        or (value == "(" and parent in _CALLS) or (value == "-" and parent == "quiet_clause"))
    glue_after = not plain and (
        value in _GLUE_AFTER or (value == "-" and (parent in _UNARY_MINUS or parent == "quiet_clause")))
    piece = _Piece(token, glue_before=glue_before, glue_after=glue_after)
    if mark is not None:
        piece.depth, piece.boundary, piece.closing = mark.depth, mark.boundary, mark.closing
        piece.glue_before = piece.glue_before or mark.glue_before
    return piece


# ----------------------------------------------------------------------------- rendering


class _Writer:
    """Lays pieces and the comments between them out in lines."""

    def __init__(self, text: str):
        self.text = text
        self.lines: list[str] = []
        self.current: str | None = None  # the line being built
        self.base = 0  # indentation of the current clause's first line
        self.forced = False  # the next line break of this gap needs a blank line

    def render(self, pieces: list[_Piece]) -> str:
        previous: _Piece | None = None
        for piece in pieces:
            start = previous.token.end_pos if previous else 0
            rest = self._gap(self.text[start:piece.token.start_pos], piece)
            self._token(piece, previous, rest)
            previous = piece
        end = _Piece(None, depth=0, boundary=True)
        self._gap(self.text[previous.token.end_pos if previous else 0:], end)
        self._flush()
        return "\n".join(self.lines) + "\n" if self.lines else ""

    def _gap(self, gap: str, piece: _Piece) -> str:
        """Writes the comments of a gap; returns the whitespace after the last one."""
        self.forced = piece.forced_blank
        position = 0
        for match in _COMMENT.finditer(gap):
            self._comment(gap[position:match.start()], match.group().rstrip(), piece, position == 0)
            position = match.end()
        return gap[position:]

    def _comment(self, space: str, comment: str, piece: _Piece, first: bool) -> None:
        if first and self.current is not None and "\n" not in space:
            self.current += "  " + comment
            self._flush()
            return
        self._flush()
        if piece.depth is None:
            indent = self.base + CONTINUATION
        else:
            indent = (piece.depth + piece.closing) * INDENT
        self._start_line(" " * indent + comment, self._blank_lines(space, piece))
        self._flush()

    def _token(self, piece: _Piece, previous: _Piece | None, space: str) -> None:
        text = str(piece.token)
        if piece.depth is not None:
            self._flush()
            blank = self._blank_lines(space, piece)
            self.base = piece.depth * INDENT
            self._start_line(" " * self.base + text, 0 if piece.closing else blank)
        elif self.current is None:  # the clause goes on after a comment
            self._start_line(" " * (self.base + CONTINUATION) + text, 0)
        else:
            separator = " " if previous is None or _spaced(previous, piece) else ""
            self.current += separator + text

    def _blank_lines(self, space: str, piece: _Piece) -> int:
        blank = min(1, max(space.count("\n") - 1, 0)) if piece.boundary else 0
        if self.forced:
            blank, self.forced = 1, False
        return blank if self.lines else 0

    def _start_line(self, line: str, blank: int) -> None:
        self.lines.extend([""] * blank)
        self.current = line

    def _flush(self) -> None:
        if self.current is not None:
            self.lines.append(self.current)
            self.current = None


# ----------------------------------------------------------------------------- safety net


def _verify(text: str, result: str, tokens: list[Token]) -> None:
    """Same tokens and same comments, in the same order: the formatted file means the same."""
    try:
        after = list(_iter_tokens(_lark().parse(result)))
    except LarkError as error:
        raise FormatterError(f"formatted text does not parse: {error}") from None
    if [(t.type, str(t)) for t in after] != [(t.type, str(t)) for t in tokens]:
        raise FormatterError("formatting changed the token stream")
    if _comment_texts(text, tokens) != _comment_texts(result, after):
        raise FormatterError("formatting lost or reordered a comment")


def _comment_texts(text: str, tokens: list[Token]) -> list[str]:
    return [_COMMENT.match(text, position).group().rstrip() for position in _comment_positions(text, tokens)]
