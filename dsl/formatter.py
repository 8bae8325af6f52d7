"""`taishan fmt`: rewrite a rule file in canonical layout, keeping every comment.

The formatter lays out the token stream of the parse tree (lark, `keep_all_tokens`); the tree only says
where clauses start and which `-` is unary. Comments are the `#...` in the gaps between tokens: the
grammar ignores nothing else but whitespace, so a `#` inside a string is never taken for a comment.

Layout:
- each item starts a line at column 1; an item on several lines is separated from its neighbours by
  one blank line; between one-line items (imports, entities, series, inhibits...) the author's blank
  lines are kept, at most one;
- indicator / rule / check / test / route / dashboard / panel blocks: one clause per line, two spaces
  of indentation per level, `}` on its own line; blank lines between clauses kept (at most one);
- entity bodies stay on one line (`{ overlay }`) and target values too (`{ taian 6.0  xintai 6.5 }`),
  unless the line would be longer than `INLINE_LIMIT` or a comment is inside: then entity attributes go
  one per line and target values fill lines of at most `INLINE_LIMIT` characters;
- in a line: one space between tokens; none around `@`, `.`, `..`, after `(` and a unary `-`, before
  `,`, `)`, `:`, `%` and the `(` of a call; two spaces between target values;
- a long clause may be wrapped by the author before a binary operator or after a comma: that line
  break is kept, the continuation indented two levels deeper; any other line break inside a clause
  is removed;
- a comment on its own line stays on its own line, indented like the code that follows; a comment after
  code stays at the end of that line (two spaces before `#`); a comment inside a clause makes the
  clause go on in a continuation line;
- strings and numbers are copied byte for byte.

`format_source` checks its own output (same tokens, same comments, in order) and raises
`FormatterError` rather than return text that would mean something else.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from itertools import pairwise

from lark import Lark, Token, Tree
from lark.exceptions import LarkError

from dsl.ast import Span
from dsl.errors import Diagnostic, DslError
from dsl.parser import GRAMMAR, parse

__all__ = ["INLINE_LIMIT", "FormatterError", "format_source"]

INDENT = 2
CONTINUATION = 2 * INDENT
INLINE_LIMIT = 100

_ONE_LINE_BLOCKS = frozenset({"entity_body", "target_def"})
_FILLED_BLOCKS = frozenset({"target_def"})
_UNARY_MINUS = frozenset({"neg", "target_negative", "negative_value"})
_CALLS = frozenset({"call", "aggregate"})
_GLUE_BEFORE = frozenset({",", ")", "@", ".", "..", ":"})
_GLUE_AFTER = frozenset({"(", "@", ".", ".."})
_WRAP_BEFORE = frozenset({"ADD_OP", "MUL_OP", "COMPARE", "AND", "OR", "PLUS"})
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
    separator: str = " "  # before the token, when it continues a line and neither side is glued
    wrap: bool = False  # a line break the author put before the token is kept
    depth: int | None = None  # not None: the token starts a line at this depth
    boundary: bool = False  # between clauses or items: the author's blank lines are kept (at most one)
    forced_blank: bool = False  # between items, one of them on several lines
    closing: bool = False  # a `}` on its own line


@dataclass(frozen=True)
class _Mark:
    """Layout of the next token of the walk (the first token of a block entry, or a `}`)."""

    depth: int | None = None
    boundary: bool = False
    closing: bool = False
    glue_before: bool = False
    separator: str = " "


_Visit = tuple["Tree | Token | _Mark", int, str]  # node, depth, the rule it belongs to


# ----------------------------------------------------------------------------- entry point


def format_source(text: str, path: str = "<string>") -> str:
    """The canonical form of a rule file. Raises DslError if the file does not parse."""
    parse(text, path)
    text = text.removeprefix("\ufeff")  # should the parser accept a byte-order mark, the output has none
    tree = _tree(text, path)
    tokens = list(_iter_tokens(tree))
    comments = _comment_positions(text, tokens)
    result = _Writer(text).render(_layout(text, tree, comments))
    _verify(text, result, tokens)
    return result


def _tree(text: str, path: str) -> Tree:
    try:
        return _lark().parse(text)
    except LarkError as error:  # pragma: no cover - `parse` accepted the same grammar
        raise DslError([Diagnostic(Span.unknown(path), f"cannot format: {error}")], {path: text}) from None


def _iter_tokens(tree: Tree) -> Iterator[Token]:
    """The tokens of a tree in source order (iterative: expressions may nest deeply)."""
    stack: list[object] = [tree]
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


def _layout(text: str, tree: Tree, comments: list[int]) -> list[_Piece]:
    """Pieces for every token of the file; items start lines at depth 0."""
    pieces: list[_Piece] = []
    previous_multiline = False
    for index, item in enumerate(tree.children):
        item_pieces = _item_pieces(item, comments)
        multiline = _is_multiline(text, item_pieces, comments)
        head = item_pieces[0]
        head.depth, head.boundary = 0, True
        head.forced_blank = index > 0 and (multiline or previous_multiline)
        pieces.extend(item_pieces)
        previous_multiline = multiline
    return pieces


def _item_pieces(item: Tree, comments: list[int]) -> list[_Piece]:
    pieces = _walk(item, comments, expand=False)
    if _line_width(pieces) > INLINE_LIMIT:
        pieces = _walk(item, comments, expand=True)
    return pieces


def _is_multiline(text: str, pieces: list[_Piece], comments: list[int]) -> bool:
    if any(piece.depth is not None or _kept_break(text, previous, piece)
           for previous, piece in pairwise(pieces)):
        return True
    return _has_comment(comments, pieces[0].token.start_pos, pieces[-1].token.end_pos)


def _kept_break(text: str, previous: _Piece, piece: _Piece) -> bool:
    """The author wrapped a long clause here (before an operator or after a comma)."""
    if piece.depth is not None or not (piece.wrap or str(previous.token) == ","):
        return False
    return "\n" in text[previous.token.end_pos:piece.token.start_pos]


def _line_width(pieces: list[_Piece]) -> int:
    """Width of the first line of some pieces, laid out without comments or wrapping."""
    width = 0
    for index, piece in enumerate(pieces):
        if index and piece.depth is not None:
            break
        width += len(piece.token) + (len(_separator(pieces[index - 1], piece)) if index else 0)
    return width


def _separator(previous: _Piece, piece: _Piece) -> str:
    if str(previous.token) == "-" == str(piece.token):
        return " "  # `- -3`, not `--3`
    return "" if previous.glue_after or piece.glue_before else piece.separator


def _walk(root: Tree, comments: list[int], expand: bool) -> list[_Piece]:
    """Pieces for the tokens of a tree, in source order (iterative: expressions may nest deeply)."""
    out: list[_Piece] = []
    mark: _Mark | None = None
    stack: list[_Visit] = [(root, 0, "")]
    while stack:
        node, depth, parent = stack.pop()
        if isinstance(node, _Mark):
            mark = node
        elif isinstance(node, Token):
            out.append(_piece(node, parent, mark))
            mark = None
        else:
            stack.extend(reversed(_children(node, depth, comments, expand)))
    return out


def _children(node: Tree, depth: int, comments: list[int], expand: bool) -> list[_Visit]:
    """The children of a node to visit; a block gets layout marks before its entries and its `}`."""
    children = [child for child in node.children if child is not None]
    opening = next((i for i, child in enumerate(children) if _is(child, "{")), None)
    if opening is None:
        return [(child, depth, node.data) for child in children]
    close = children[-1]
    entries = children[opening + 1:-1]
    commented = _has_comment(comments, children[opening].end_pos, close.start_pos)
    one_line = node.data in _ONE_LINE_BLOCKS and not (expand or commented)
    multiline = not one_line and (bool(entries) or commented)
    visits = [(child, depth, node.data) for child in children[:opening + 1]]
    marks = _entry_marks(node.data, entries, depth + 1, comments, multiline)
    for mark, entry in zip(marks, entries, strict=True):
        visits += [(mark, depth + 1, node.data), (entry, depth + 1, node.data)]
    if multiline:
        visits.append((_Mark(depth=depth, boundary=True, closing=True), depth, node.data))
    elif not entries:
        visits.append((_Mark(glue_before=True), depth, node.data))
    return [*visits, (close, depth, node.data)]


def _entry_marks(kind: str, entries: list, depth: int, comments: list[int], multiline: bool) -> list[_Mark]:
    """How each entry of a block starts: on its own line, or after a space on the same line."""
    separator = "  " if kind in _FILLED_BLOCKS else " "
    if not multiline:
        return [_Mark(separator=separator if number else " ") for number in range(len(entries))]
    if kind not in _FILLED_BLOCKS:
        return [_Mark(depth=depth, boundary=number > 0) for number in range(len(entries))]
    marks, width = [], INLINE_LIMIT
    for number, entry in enumerate(entries):
        entry_width = _line_width(_walk(entry, [], expand=False))
        follows_comment = number > 0 and _has_comment(comments, _end(entries[number - 1]), _start(entry))
        if follows_comment or width + len(separator) + entry_width > INLINE_LIMIT:
            marks.append(_Mark(depth=depth, boundary=number > 0))
            width = depth * INDENT + entry_width
        else:
            marks.append(_Mark(separator=separator))
            width += len(separator) + entry_width
    return marks


def _start(tree: Tree) -> int:
    return next(_iter_tokens(tree)).start_pos


def _end(tree: Tree) -> int:
    return list(_iter_tokens(tree))[-1].end_pos


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
    piece = _Piece(token, glue_before=glue_before, glue_after=glue_after, wrap=token.type in _WRAP_BEFORE)
    if mark is not None:
        piece.depth, piece.boundary, piece.closing = mark.depth, mark.boundary, mark.closing
        piece.glue_before = piece.glue_before or mark.glue_before
        piece.separator = mark.separator
    return piece


# ----------------------------------------------------------------------------- rendering


class _Writer:
    """Lays pieces, and the comments between them, out in lines."""

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
            space = self._gap(self.text[start:piece.token.start_pos], piece)
            self._token(piece, previous, space)
            previous = piece
        self._gap(self.text[previous.token.end_pos if previous else 0:], _Piece(None, depth=0, boundary=True))
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
        indent = self.base + CONTINUATION if piece.depth is None else (piece.depth + piece.closing) * INDENT
        self._start_line(" " * indent + comment, self._blank_lines(space, piece))
        self._flush()

    def _token(self, piece: _Piece, previous: _Piece | None, space: str) -> None:
        text = str(piece.token)
        if piece.depth is not None:
            self._flush()
            blank = self._blank_lines(space, piece)
            self.base = piece.depth * INDENT
            self._start_line(" " * self.base + text, 0 if piece.closing else blank)
            return
        if previous is not None and _kept_break(self.text, previous, piece):
            self._flush()
        if self.current is None:  # after a comment or a kept line break: a continuation line
            self._start_line(" " * (self.base + CONTINUATION) + text, 0)
        else:
            self.current += (_separator(previous, piece) if previous else "") + text

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
