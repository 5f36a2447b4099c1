"""Runs the lark LALR parser over preprocessed text and reports errors like a compiler.

The parser is built once per process (and its tables cached on disk by lark,
so a new process does not pay the LALR construction again). Every lark error
becomes a `ParseError` at the original `file:line:col`; a lark traceback never
reaches the user.
"""

from __future__ import annotations

import functools
from pathlib import Path

from lark import Lark, Token, Tree
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from p4sim.errors import P4SimError, ParseError, SourcePos
from p4sim.frontend import ir
from p4sim.frontend.lexer import TypeNameClassifier
from p4sim.frontend.nesting import check_nesting
from p4sim.frontend.preprocess import PreprocessedSource
from p4sim.frontend.transform import IRBuilder, Locate

_GRAMMAR = Path(__file__).with_name("p4.lark")
_MAX_EXPECTED_SHOWN = 6

# How terminals read in "expected ..." lists; string terminals show their text.
_NAME_TERMINALS = frozenset(["IDENTIFIER", "TYPE_IDENTIFIER"])
_TERMINAL_NAMES = {
    "IDENTIFIER": "identifier",
    "TYPE_IDENTIFIER": "type name",
    "INTEGER": "integer",
    "STRING_LITERAL": "string",
    "ANNOTATION": "annotation",
    "LANGLE_ARGS": "'<'",
    "RANGLE_SHIFT": "'>'",
    "$END": "end of file",
}

@functools.cache
def _lark() -> Lark:
    return Lark(
        _GRAMMAR.read_text(encoding="utf-8"),
        parser="lalr",
        lexer="basic",
        start=["program", "annotation_args"],
        postlex=TypeNameClassifier(),
        maybe_placeholders=True,
        propagate_positions=True,
        cache=True,
    )


def parse_preprocessed(source: PreprocessedSource) -> ir.Program:
    """Parses preprocessed text into an `ir.Program` positioned in the original files."""
    tree = _parse(source.text, "program", source.line_map.lookup)
    result = _build(tree, source.line_map.lookup)
    assert isinstance(result, ir.Program)
    return result


def _parse(text: str, start: str, locate: Locate) -> Tree[Token]:
    parser = _lark()
    try:
        return parser.parse(text, start=start)
    except UnexpectedInput as error:
        raise _syntax_error(error, text, locate) from None


def _build(tree: Tree[Token], locate: Locate) -> object:
    check_nesting(tree, locate)
    try:
        return IRBuilder(locate, _parse_annotation_args).transform(tree)
    except VisitError as error:
        # A RecursionError goes on as itself: the compiler answers a caller
        # short of stack (limits.py keeps the rest of the tree walk flat).
        if isinstance(error.orig_exc, P4SimError | RecursionError):
            raise error.orig_exc from None
        raise


def _parse_annotation_args(body: str, locate: Locate) -> list[ir.Expr] | None:
    """An annotation body as an expression list, or None when it is not one
    (P4 leaves annotation bodies free-form)."""
    try:
        tree = _parse(body, "annotation_args", locate)
        result = _build(tree, locate)
    except P4SimError:
        return None
    assert isinstance(result, list)
    return result


def _token_pos(token: Token, locate: Locate) -> SourcePos:
    return locate(token.line or 1, token.column or 1)


def _describe(terminal: str) -> str:
    if terminal in _TERMINAL_NAMES:
        return _TERMINAL_NAMES[terminal]
    try:
        pattern = _lark().get_terminal(terminal).pattern
    except KeyError:
        return terminal
    if pattern.type == "str":
        return f"'{pattern.value}'"
    return terminal.lower()


def _syntax_error(error: UnexpectedInput, text: str, locate: Locate) -> ParseError:
    if isinstance(error, UnexpectedToken):
        token = error.token
        if token.type == "$END":
            lines = text.rstrip("\n").split("\n")
            pos = locate(len(lines), len(lines[-1]) + 1)
            found = "end of file"
        else:
            pos = _token_pos(token, locate)
            found = f"'{token.value}'"
            if token.type not in _NAME_TERMINALS and token.value.isidentifier():
                found = f"keyword {found}"
        message = f"syntax error: unexpected {found}"
        wanted = set(error.expected)
        if token.type == "IDENTIFIER" and "TYPE_IDENTIFIER" in wanted - {"IDENTIFIER"}:
            # The usual cause: a type used before (or without) its declaration.
            return ParseError(pos, f"{message}: not a type declared before this point")
        expected = sorted({_describe(name) for name in wanted})
        if expected and len(expected) <= _MAX_EXPECTED_SHOWN:
            message += f", expected {' or '.join(expected)}"
        return ParseError(pos, message)
    if isinstance(error, UnexpectedCharacters):
        pos = locate(error.line, error.column)
        return ParseError(pos, f"syntax error: unexpected character '{error.char}'")
    if isinstance(error, UnexpectedEOF):
        lines = text.rstrip("\n").split("\n")
        return ParseError(
            locate(len(lines), len(lines[-1]) + 1), "syntax error: unexpected end of file"
        )
    return ParseError(locate(error.line, error.column), f"syntax error: {error}")
