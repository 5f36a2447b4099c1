"""The C-style preprocessor P4 programs are written for, with a map back to the source.

P4 sources lean on cpp (`#include <v1model.p4>`, include guards, `#define`
constants, `#ifdef` feature switches), and p4sim must run them without a
compiler toolchain, so this module does that part itself. Its output is one
text for the lexer plus a `LineMap`, so that every later error and every IR
node names the original `file:line:col`, also inside included files and
after a macro expanded on the same line.

Supported: `#include "f"` / `#include <f>`, object-like and function-like
`#define` (with `#` and `##`), `#undef`, `#if`/`#elif` with integer
expressions and `defined`, `#ifdef`, `#ifndef`, `#else`, `#endif`, `#error`,
`#pragma once`; other `#pragma`s, `#line` and `#warning` are ignored.
"""

from __future__ import annotations

import bisect
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from p4sim import limits
from p4sim.errors import PreprocessorError, SourcePos

BUILTIN_INCLUDE_DIR = Path(__file__).resolve().parent.parent / "p4include"

# p4c's bmv2 back end defines __TARGET_BMV2__; p4sim runs the same v1model
# programs with bmv2's semantics, so programs take their bmv2 branches here too.
PREDEFINED_MACROS: Mapping[str, str] = {"__TARGET_BMV2__": "1", "__P4SIM__": "1"}

_MAX_INCLUDE_DEPTH = 64  # each level is a few frames of recursion
# cpp's #if arithmetic is intmax_t: 64-bit two's complement.
_INTMAX_BITS = 64

# ---------------------------------------------------------------------- line map


@dataclass(frozen=True, slots=True)
class _Segment:
    """A run of output columns that came from one place.

    `exact` runs were copied, so column k of the run is `col + k`; a macro
    expansion is not exact and every column maps to the macro's name.
    """

    out_col: int  # 0-based column in the output line
    line: int
    col: int  # 1-based column in the original line
    exact: bool


@dataclass(frozen=True, slots=True)
class _OutLine:
    file: str
    segments: tuple[_Segment, ...]
    starts: tuple[int, ...]  # out_col of each segment, for bisect


class LineMap:
    """Maps a (line, column) of the preprocessed text back to the source.

    A program whose text preprocesses to nothing still has a place for its
    errors ("no main"): line 1 of `main_file`.
    """

    def __init__(self, main_file: str = "<empty>") -> None:
        self._lines: list[_OutLine] = []
        self._main_file = main_file

    def __len__(self) -> int:
        return len(self._lines)

    def _add(self, file: str, segments: list[_Segment]) -> None:
        self._lines.append(
            _OutLine(file, tuple(segments), tuple(s.out_col for s in segments))
        )

    def lookup(self, line: int, col: int) -> SourcePos:
        """`line` and `col` are 1-based positions in the preprocessed text."""
        if not self._lines:
            return SourcePos(self._main_file, 1, 1)
        if line > len(self._lines):
            last = self._lines[-1]
            seg = last.segments[-1]
            return SourcePos(last.file, seg.line, seg.col)
        out = self._lines[max(line, 1) - 1]
        index = max(bisect.bisect_right(out.starts, col - 1) - 1, 0)
        seg = out.segments[index]
        if not seg.exact:
            return SourcePos(out.file, seg.line, seg.col)
        return SourcePos(out.file, seg.line, seg.col + (col - 1 - seg.out_col))


@dataclass(frozen=True)
class PreprocessedSource:
    text: str
    line_map: LineMap
    files: tuple[str, ...] = field(default=())  # every file read, in order


# ---------------------------------------------------------------- logical lines


@dataclass(slots=True)
class _LogicalLine:
    """One line after `\\` splicing, with comments blanked out.

    `pieces` holds (logical column, physical line) where each spliced physical
    line starts; columns inside a piece are the physical columns.
    """

    text: str
    pieces: list[tuple[int, int]]

    def locate(self, col0: int) -> tuple[int, int]:
        """Physical (line, 1-based col) of 0-based logical column `col0`."""
        index = 0
        for i, (start, _) in enumerate(self.pieces):
            if start <= col0:
                index = i
        start, line = self.pieces[index]
        return line, col0 - start + 1


_COMMENT_OR_STRING = re.compile(r'"(?:[^"\\]|\\.)*"?|//|/\*')
_BLOCK_END = re.compile(r"\*/")


def _logical_lines(text: str, file: str) -> Iterator[_LogicalLine]:
    physical = text.split("\n")
    in_comment_since: SourcePos | None = None
    i = 0
    while i < len(physical):
        pieces: list[tuple[int, int]] = []
        parts: list[str] = []
        length = 0
        while True:
            raw = physical[i].rstrip("\r")
            pieces.append((length, i + 1))
            i += 1
            if raw.endswith("\\") and i < len(physical):
                parts.append(raw[:-1])
                length += len(raw) - 1
                continue
            parts.append(raw)
            break
        line = "".join(parts)
        out: list[str] = []
        pos = 0
        while pos < len(line):
            if in_comment_since is not None:
                end = _BLOCK_END.search(line, pos)
                if end is None:
                    pos = len(line)
                    break
                out.append(" " * (end.end() - pos))
                pos = end.end()
                in_comment_since = None
                continue
            match = _COMMENT_OR_STRING.search(line, pos)
            if match is None:
                out.append(line[pos:])
                break
            out.append(line[pos : match.start()])
            token = match.group()
            if token == "//":
                break
            if token == "/*":
                phys_line, phys_col = _LogicalLine(line, pieces).locate(match.start())
                in_comment_since = SourcePos(file, phys_line, phys_col)
                out.append("  ")
                pos = match.end()
                continue
            out.append(token)
            pos = match.end()
        yield _LogicalLine("".join(out).rstrip(), pieces)
    if in_comment_since is not None:
        raise PreprocessorError(in_comment_since, "unterminated comment")


# ------------------------------------------------------------------- tokenizing

_PP_TOKEN = re.compile(
    r'(?P<str>"(?:[^"\\]|\\.)*")'
    r"|(?P<num>[0-9][0-9A-Za-z_]*)"
    r"|(?P<id>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<ws>\s+)"
    r"|(?P<op>##|&&|\|\||==|!=|<=|>=|<<|>>|.)"
)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DIRECTIVE = re.compile(r"\s*#\s*([A-Za-z_]*)(.*)$")


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # "str", "num", "id", "ws", "op"
    text: str
    col: int  # 0-based column in the logical line (-1 inside expansions)


def _tokenize(text: str, base_col: int = 0) -> list[_Tok]:
    return [
        _Tok(str(m.lastgroup), m.group(), base_col + m.start())
        for m in _PP_TOKEN.finditer(text)
    ]


@dataclass(frozen=True)
class _Macro:
    name: str
    params: tuple[str, ...] | None  # None: object-like
    body: tuple[_Tok, ...]


# -------------------------------------------------------------- the preprocessor


@dataclass
class _Cond:
    """One open `#if` group."""

    pos: SourcePos
    parent_active: bool
    taken: bool  # some branch of this group was (or is) active
    active: bool
    seen_else: bool = False


class _Preprocessor:
    def __init__(
        self,
        main_file: str,
        include_dirs: Sequence[str | os.PathLike[str]],
        defines: Mapping[str, str | None] | None,
    ) -> None:
        self.include_dirs = [Path(d) for d in include_dirs]
        self.macros: dict[str, _Macro] = {}
        # A define of None undefines (cpp's -U), predefined macros included.
        for name, body in {**PREDEFINED_MACROS, **(defines or {})}.items():
            if body is not None:
                self.macros[name] = _Macro(name, None, tuple(_tokenize(body.strip())))
        self.out_lines: list[str] = []
        self.line_map = LineMap(main_file)
        self.once: set[str] = set()
        self.files: list[str] = []
        self.expanded_tokens = 0  # produced by every macro expansion so far

    # ----------------------------------------------------------------- files

    def run_file(self, path: str, text: str, depth: int = 0) -> None:
        self.files.append(path)
        conds: list[_Cond] = []
        for logical in _logical_lines(text, path):
            line_no = logical.pieces[0][1]
            active = not conds or conds[-1].active
            directive = _DIRECTIVE.match(logical.text)
            if directive is not None:
                name = directive.group(1)
                rest = directive.group(2)
                rest_col = directive.start(2)
                pos = SourcePos(path, line_no, logical.text.index("#") + 1)
                if self._conditional(name, rest, pos, conds):
                    continue
                if not active:
                    continue
                self._directive(name, rest, pos, logical, rest_col, path, depth)
                continue
            if active and logical.text.strip():
                self._emit(path, logical)
        if conds:
            raise PreprocessorError(conds[-1].pos, "unterminated conditional directive")

    def _conditional(self, name: str, rest: str, pos: SourcePos, conds: list[_Cond]) -> bool:
        """Handles the #if family; returns False for any other directive."""
        active = not conds or conds[-1].active
        if name in ("if", "ifdef", "ifndef"):
            value = False
            if active:
                if name == "if":
                    value = self._eval_condition(rest, pos)
                else:
                    value = (self._macro_name(rest, pos, name) in self.macros) == (
                        name == "ifdef"
                    )
            conds.append(_Cond(pos, active, value, active and value))
            return True
        if name in ("elif", "else", "endif"):
            if not conds:
                raise PreprocessorError(pos, f"#{name} without #if")
            top = conds[-1]
            if name == "endif":
                conds.pop()
                return True
            if top.seen_else:
                raise PreprocessorError(pos, f"#{name} after #else")
            if name == "else":
                top.seen_else = True
                top.active = top.parent_active and not top.taken
                top.taken = True
                return True
            if top.parent_active and not top.taken:
                value = self._eval_condition(rest, pos)
                top.active = value
                top.taken = value
            else:
                top.active = False
            return True
        return False

    def _directive(
        self,
        name: str,
        rest: str,
        pos: SourcePos,
        logical: _LogicalLine,
        rest_col: int,
        path: str,
        depth: int,
    ) -> None:
        if name == "include":
            self._include(rest, pos, logical, rest_col, path, depth)
        elif name == "define":
            self._define(rest, pos)
        elif name == "undef":
            self.macros.pop(self._macro_name(rest, pos, "undef"), None)
        elif name == "error":
            raise PreprocessorError(pos, f"#error {rest.strip()}".rstrip())
        elif name == "pragma":
            if rest.split() == ["once"]:
                self.once.add(os.path.realpath(path))
        elif name in ("line", "warning", ""):
            return
        else:
            raise PreprocessorError(pos, f"unknown preprocessor directive #{name}")

    def _macro_name(self, rest: str, pos: SourcePos, directive: str) -> str:
        match = _IDENT.match(rest.strip())
        if match is None:
            raise PreprocessorError(pos, f"#{directive} needs a macro name")
        return match.group()

    # -------------------------------------------------------------- includes

    def _include(
        self,
        rest: str,
        pos: SourcePos,
        logical: _LogicalLine,
        rest_col: int,
        path: str,
        depth: int,
    ) -> None:
        stripped = rest.strip()
        lead = len(rest) - len(rest.lstrip())
        name_pos = SourcePos(pos.file, *logical.locate(rest_col + lead))
        quoted = re.fullmatch(r'"([^"]+)"', stripped)
        angled = re.fullmatch(r"<([^>]+)>", stripped)
        if quoted is None and angled is None:
            raise PreprocessorError(name_pos, '#include expects "file" or <file>')
        target = (quoted or angled).group(1)  # type: ignore[union-attr]
        dirs: list[Path] = []
        if quoted is not None and not path.startswith("<"):
            dirs.append(Path(path).parent)
        dirs.extend(self.include_dirs)
        dirs.append(BUILTIN_INCLUDE_DIR)
        for directory in dirs:
            candidate = directory / target
            if candidate.is_file():
                break
        else:
            raise PreprocessorError(name_pos, f"cannot find include file '{target}'")
        if depth >= _MAX_INCLUDE_DEPTH:
            raise PreprocessorError(name_pos, f"#include nested too deeply (at '{target}')")
        if os.path.realpath(candidate) in self.once:
            return
        try:
            text = candidate.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PreprocessorError(name_pos, f"cannot read '{candidate}': {exc}") from exc
        self.run_file(os.path.normpath(str(candidate)), text, depth + 1)

    # ---------------------------------------------------------------- macros

    def _define(self, rest: str, pos: SourcePos) -> None:
        match = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)(\()?", rest)
        if match is None:
            raise PreprocessorError(pos, "#define needs a macro name")
        name = match.group(1)
        params: tuple[str, ...] | None = None
        body = rest[match.end() :]
        if match.group(2):
            close = body.find(")")
            if close < 0:
                raise PreprocessorError(pos, f"missing ')' in parameters of macro '{name}'")
            names = [p.strip() for p in body[:close].split(",")]
            if names == [""]:
                names = []
            for param in names:
                if not _IDENT.fullmatch(param):
                    raise PreprocessorError(
                        pos, f"bad parameter '{param}' in macro '{name}'"
                    )
            params = tuple(names)
            body = body[close + 1 :]
        self.macros[name] = _Macro(name, params, tuple(_tokenize(body.strip())))

    def _emit(self, path: str, logical: _LogicalLine) -> None:
        """Expands macros in one active line and appends it with its segments."""
        out: list[str] = []
        runs: list[tuple[int, int, bool]] = []  # (out_col, logical col, exact)
        length = 0
        tokens = _tokenize(logical.text)
        copy_start: int | None = None
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            macro = self.macros.get(tok.text) if tok.kind == "id" else None
            if macro is not None:
                anchor = SourcePos(path, *logical.locate(tok.col))
                invocation = self._invoke(macro, tokens, i, frozenset(), anchor)
                if invocation is not None:
                    expansion, i = invocation
                    if copy_start is not None:
                        runs.append((length, copy_start, True))
                        out.append(logical.text[copy_start : tok.col])
                        length += tok.col - copy_start
                        copy_start = None
                    # Spaces keep the expansion apart from the tokens around it.
                    text = " " + "".join(t.text for t in expansion) + " "
                    runs.append((length, tok.col, False))
                    out.append(text)
                    length += len(text)
                    continue
            if copy_start is None:
                copy_start = tok.col
            i += 1
        if copy_start is not None:
            runs.append((length, copy_start, True))
            out.append(logical.text[copy_start:])
            length += len(logical.text) - copy_start
        segments: list[_Segment] = []
        for k, (out_col, col, exact) in enumerate(runs):
            if not exact:
                segments.append(_Segment(out_col, *logical.locate(col), False))
                continue
            run_length = (runs[k + 1][0] if k + 1 < len(runs) else length) - out_col
            # A copied run may cross a `\` splice: start a segment at each piece.
            cuts = [col] + [s for s, _ in logical.pieces if col < s < col + run_length]
            for cut in cuts:
                segments.append(_Segment(out_col + cut - col, *logical.locate(cut), True))
        self.out_lines.append("".join(out))
        self.line_map._add(path, segments)

    def _invoke(
        self,
        macro: _Macro,
        tokens: Sequence[_Tok],
        i: int,
        disabled: frozenset[str],
        anchor: SourcePos,
    ) -> tuple[list[_Tok], int] | None:
        """Expands the macro named at tokens[i]; returns (expansion, next index),
        or None when a function-like macro's name is not followed by `(`.
        `anchor` is where errors are reported: the outermost macro's name."""
        if len(disabled) >= limits.MAX_MACRO_DEPTH:
            raise PreprocessorError(anchor, f"macro '{macro.name}' nests too deeply (more than "
                                    f"{limits.MAX_MACRO_DEPTH} macros inside macros)")
        inner = disabled | {macro.name}
        if macro.params is None:
            return self._count(self._expand(list(macro.body), inner, anchor), anchor), i + 1
        j = _next_non_ws(tokens, i + 1)
        if j is None or tokens[j].text != "(":
            return None
        args, end = self._collect_args(tokens, j, macro, anchor)
        if len(args) != len(macro.params) and not (not macro.params and args == [[]]):
            raise PreprocessorError(
                anchor,
                f"macro '{macro.name}' takes {len(macro.params)} argument(s), "
                f"got {len(args)}",
            )
        body = self._substitute(macro, args, disabled, anchor)
        return self._count(self._expand(body, inner, anchor), anchor), end

    def _count(self, expansion: list[_Tok], anchor: SourcePos) -> list[_Tok]:
        """Macros expanding to macros can double at each level: bound the total."""
        self.expanded_tokens += len(expansion)
        if self.expanded_tokens > limits.MAX_MACRO_TOKENS:
            raise PreprocessorError(anchor, "macro expansion produces more than "
                                    f"{limits.MAX_MACRO_TOKENS} tokens")
        return expansion

    def _collect_args(
        self, tokens: Sequence[_Tok], open_index: int, macro: _Macro, anchor: SourcePos
    ) -> tuple[list[list[_Tok]], int]:
        args: list[list[_Tok]] = [[]]
        depth = 0
        for j in range(open_index + 1, len(tokens)):
            tok = tokens[j]
            if tok.text == ")" and depth == 0:
                return [_strip_ws(a) for a in args], j + 1
            if tok.text == "," and depth == 0:
                args.append([])
                continue
            if tok.text == "(":
                depth += 1
            elif tok.text == ")":
                depth -= 1
            args[-1].append(tok)
        raise PreprocessorError(
            anchor, f"unterminated argument list invoking macro '{macro.name}'"
        )

    def _substitute(
        self,
        macro: _Macro,
        args: list[list[_Tok]],
        disabled: frozenset[str],
        anchor: SourcePos,
    ) -> list[_Tok]:
        """The macro body with its parameters replaced: `#p` becomes a string,
        operands of `##` stay unexpanded, other arguments are expanded first."""
        assert macro.params is not None
        index = {name: k for k, name in enumerate(macro.params)}
        body = macro.body
        result: list[_Tok] = []
        k = 0
        while k < len(body):
            tok = body[k]
            if tok.text == "#":
                nxt = _next_non_ws(body, k + 1)
                if nxt is not None and body[nxt].text in index:
                    text = "".join(t.text for t in args[index[body[nxt].text]])
                    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
                    result.append(_Tok("str", f'"{escaped}"', -1))
                    k = nxt + 1
                    continue
            if tok.kind == "id" and tok.text in index:
                arg = args[index[tok.text]]
                if _is_paste_operand(body, k):
                    result.extend(arg)
                else:
                    result.extend(self._expand(list(arg), disabled, anchor))
            else:
                result.append(tok)
            k += 1
        return result

    def _expand(
        self, tokens: list[_Tok], disabled: frozenset[str], anchor: SourcePos
    ) -> list[_Tok]:
        tokens = _paste(tokens)
        result: list[_Tok] = []
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            macro = self.macros.get(tok.text) if tok.kind == "id" else None
            if macro is not None and tok.text not in disabled:
                invocation = self._invoke(macro, tokens, i, disabled, anchor)
                if invocation is not None:
                    expansion, i = invocation
                    result.extend(expansion)
                    continue
            result.append(tok)
            i += 1
        return result

    # ------------------------------------------------------------ conditions

    def _eval_condition(self, rest: str, pos: SourcePos) -> bool:
        tokens = _tokenize(rest)
        # `defined X` and `defined(X)` are resolved before macro expansion.
        resolved: list[_Tok] = []
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            if tok.text == "defined":
                j = _next_non_ws(tokens, i + 1)
                paren = j is not None and tokens[j].text == "("
                if paren:
                    assert j is not None
                    j = _next_non_ws(tokens, j + 1)
                if j is None or tokens[j].kind != "id":
                    raise PreprocessorError(pos, "'defined' needs a macro name")
                value = "1" if tokens[j].text in self.macros else "0"
                if paren:
                    close = _next_non_ws(tokens, j + 1)
                    if close is None or tokens[close].text != ")":
                        raise PreprocessorError(pos, "missing ')' after 'defined('")
                    j = close
                resolved.append(_Tok("num", value, tok.col))
                i = j + 1
                continue
            resolved.append(tok)
            i += 1
        expanded = self._expand(resolved, frozenset(), pos)
        values = [t for t in expanded if t.kind != "ws"]
        if not values:
            raise PreprocessorError(pos, "#if with no expression")
        return _CondEvaluator(values, pos).evaluate() != 0


def _strip_ws(tokens: list[_Tok]) -> list[_Tok]:
    start, end = 0, len(tokens)
    while start < end and tokens[start].kind == "ws":
        start += 1
    while end > start and tokens[end - 1].kind == "ws":
        end -= 1
    return tokens[start:end]


def _next_non_ws(tokens: Sequence[_Tok], i: int) -> int | None:
    while i < len(tokens):
        if tokens[i].kind != "ws":
            return i
        i += 1
    return None


def _is_paste_operand(body: Sequence[_Tok], k: int) -> bool:
    before = k - 1
    while before >= 0 and body[before].kind == "ws":
        before -= 1
    after = _next_non_ws(body, k + 1)
    return (before >= 0 and body[before].text == "##") or (
        after is not None and body[after].text == "##"
    )


def _paste(tokens: list[_Tok]) -> list[_Tok]:
    """Applies `##`: joins its neighbours into one token."""
    if not any(t.text == "##" for t in tokens):
        return tokens
    result: list[_Tok] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.text == "##":
            while result and result[-1].kind == "ws":
                result.pop()
            j = _next_non_ws(tokens, i + 1)
            left = result.pop().text if result else ""
            right = tokens[j].text if j is not None else ""
            joined = _tokenize(left + right)
            result.extend(joined)
            i = (j + 1) if j is not None else len(tokens)
            continue
        result.append(tok)
        i += 1
    return result


# ---------------------------------------------------------- #if expressions

_BINARY_PRECEDENCE: dict[str, int] = {
    "||": 1, "&&": 2, "|": 3, "^": 4, "&": 5, "==": 6, "!=": 6,
    "<": 7, ">": 7, "<=": 7, ">=": 7, "<<": 8, ">>": 8,
    "+": 9, "-": 9, "*": 10, "/": 10, "%": 10,
}


class _CondEvaluator:
    """Precedence climbing over the tokens of a `#if` line, as cpp evaluates it:
    64-bit integers only, unknown identifiers are 0."""

    def __init__(self, tokens: list[_Tok], pos: SourcePos) -> None:
        self.tokens = tokens
        self.pos = pos
        self.i = 0
        self.depth = 0  # nested parentheses, unary operators and conditionals

    def evaluate(self) -> int:
        value = self._ternary()
        if self.i < len(self.tokens):
            self._fail(f"unexpected '{self.tokens[self.i].text}' in #if expression")
        return value

    def _fail(self, message: str) -> None:
        raise PreprocessorError(self.pos, message)

    def _peek(self) -> str | None:
        return self.tokens[self.i].text if self.i < len(self.tokens) else None

    def _nested(self, parse: Callable[[], int]) -> int:
        self.depth += 1
        if self.depth > limits.MAX_EXPRESSION_DEPTH:
            self._fail(f"#if expression nested more than {limits.MAX_EXPRESSION_DEPTH} "
                       "levels deep")
        value = parse()
        self.depth -= 1
        return value

    def _ternary(self) -> int:
        cond = self._binary(1)
        if self._peek() == "?":
            self.i += 1
            then = self._nested(self._ternary)
            if self._peek() != ":":
                self._fail("missing ':' in #if expression")
            self.i += 1
            otherwise = self._nested(self._ternary)
            return then if cond else otherwise
        return cond

    def _binary(self, min_prec: int) -> int:
        left = self._unary()
        while True:
            op = self._peek()
            prec = _BINARY_PRECEDENCE.get(op or "")
            if op is None or prec is None or prec < min_prec:
                return left
            self.i += 1
            right = self._binary(prec + 1)
            left = _intmax(self._apply(op, left, right))

    def _apply(self, op: str, a: int, b: int) -> int:
        if op in ("/", "%") and b == 0:
            self._fail("division by zero in #if expression")
        result: dict[str, int] = {
            "||": int(bool(a) or bool(b)), "&&": int(bool(a) and bool(b)),
            "==": int(a == b), "!=": int(a != b), "<": int(a < b), ">": int(a > b),
            "<=": int(a <= b), ">=": int(a >= b),
        }
        if op in result:
            return result[op]
        if op == "|":
            return a | b
        if op == "^":
            return a ^ b
        if op == "&":
            return a & b
        if op in ("<<", ">>") and b < 0:
            self._fail("shift by a negative amount in #if expression")
        if op == "<<":
            return a << min(b, _INTMAX_BITS)
        if op == ">>":
            return a >> min(b, _INTMAX_BITS)
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        quotient = abs(a) // abs(b) * (1 if (a >= 0) == (b >= 0) else -1)
        return quotient if op == "/" else a - quotient * b

    def _unary(self) -> int:
        op = self._peek()
        if op is None:
            self._fail("#if expression ends early")
        self.i += 1
        if op == "!":
            return int(not self._nested(self._unary))
        if op == "~":
            return ~self._nested(self._unary)
        if op == "-":
            return _intmax(-self._nested(self._unary))
        if op == "+":
            return self._nested(self._unary)
        if op == "(":
            value = self._nested(self._ternary)
            if self._peek() != ")":
                self._fail("missing ')' in #if expression")
            self.i += 1
            return value
        tok = self.tokens[self.i - 1]
        if tok.kind == "num":
            return self._number(tok.text)
        if tok.kind == "id":
            return 0
        self._fail(f"unexpected '{tok.text}' in #if expression")
        return 0

    def _number(self, text: str) -> int:
        digits = text.rstrip("uUlL")
        base, body = 10, digits
        if digits[:2] in ("0x", "0X"):
            base, body = 16, digits[2:]
        elif digits[:2] in ("0b", "0B"):
            base, body = 2, digits[2:]
        elif len(digits) > 1 and digits[0] == "0":
            base, body = 8, digits[1:]
        try:
            value = int(body, base)
        except ValueError:
            self._fail(f"bad number '{text[:40]}' in #if expression")
            return 0
        if value >> _INTMAX_BITS:
            self._fail(f"integer '{text[:40]}' in #if expression is too large for 64 bits")
        return _intmax(value)


def _intmax(value: int) -> int:
    """`value` wrapped to cpp's 64-bit two's-complement `intmax_t`."""
    sign = 1 << (_INTMAX_BITS - 1)
    return ((value & ((1 << _INTMAX_BITS) - 1)) ^ sign) - sign


# ------------------------------------------------------------------- entry points


def preprocess_text(
    text: str,
    filename: str = "<string>",
    include_dirs: Sequence[str | os.PathLike[str]] = (),
    defines: Mapping[str, str | None] | None = None,
) -> PreprocessedSource:
    """Preprocesses `text` as if read from `filename` (whose directory is searched
    first for `#include "..."` unless the name is like `<string>`)."""
    pre = _Preprocessor(filename, include_dirs, defines)
    pre.run_file(filename, text)
    return PreprocessedSource("\n".join(pre.out_lines) + "\n", pre.line_map, tuple(pre.files))


def preprocess_file(
    path: str | os.PathLike[str],
    include_dirs: Sequence[str | os.PathLike[str]] = (),
    defines: Mapping[str, str | None] | None = None,
) -> PreprocessedSource:
    name = os.fspath(path)
    try:
        text = Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PreprocessorError(None, f"cannot read '{name}': {exc}") from exc
    return preprocess_text(text, name, include_dirs, defines)
