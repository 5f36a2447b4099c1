"""Token classification between lark's lexer and the LALR parser.

P4_16, like C, cannot be parsed without knowing which identifiers name types:
`(T) x` is a cast or a parenthesised name, `T x;` a declaration or nonsense.
p4c's lexer asks the parser's symbol table; here a streaming pass over the
tokens keeps its own table of type names and retags identifiers that name a
type in scope as TYPE_IDENTIFIER:

- names declared by `header`, `header_union`, `struct`, `enum`, `typedef`,
  `type`, `extern` (object types), `parser`, `control` and `package` are types
  from the next token on, program wide;
- type parameters (`extern register<T>`, `T lookahead<T>()`, `parser P<H>`)
  are types until the end of the declaration that introduces them;
- a variable or instance declared inside braces under a type's name
  (`Sub() packet_out;`, `bit<8> meta = 0;`) is a value, not that type, until
  its block closes, as in p4c's lexer.

It also retags the `<` that opens the type arguments of a generic call
(`pkt.lookahead<bit<8>>()`, `hash<bit<16>, ...>(...)`) as LANGLE_ARGS, so the
grammar keeps `a < b` a comparison without a conflict.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from lark import Token
from lark.lark import PostLex

_TYPE_DECL_KEYWORDS = frozenset(
    ["header", "header_union", "struct", "parser", "control", "package"]
)
# Tokens that can end a type, so that `<type> name <` opens type parameters.
_TYPE_END_KEYWORDS = frozenset(
    ["void", "bool", "bit", "int", "varbit", "string", "error", "match_kind"]
)
# Tokens that can appear inside the type arguments of a generic call.
_TYPE_ARG_KEYWORDS = frozenset(
    ["bit", "int", "varbit", "bool", "string", "error", "tuple", "void", "match_kind", "_"]
)
_LOOKAHEAD_LIMIT = 64


def _is_keyword(token: Token | None, *words: str) -> bool:
    return token is not None and token.type != "IDENTIFIER" and token.value in words


@dataclass
class _Scope:
    names: frozenset[str]
    depth: int  # brace depth of the declaration that opened it


@dataclass
class _Classifier:
    stream: Iterator[Token]
    buffer: deque[Token] = field(default_factory=deque)
    types: set[str] = field(default_factory=set)
    scopes: list[_Scope] = field(default_factory=list)
    # (name, brace depth): values declared in a block under a type's name.
    shadows: list[tuple[str, int]] = field(default_factory=list)
    braces: int = 0
    parens: int = 0
    extern_bodies: list[int] = field(default_factory=list)
    pending_extern_body: bool = False
    mode: str | None = None  # "typedef" or "enum": waiting for the declared name
    type_params_next: bool = False
    type_args_next: bool = False
    prev: Token | None = None
    prev2: Token | None = None

    def peek(self, k: int) -> Token | None:
        """The k-th token after the current one (k >= 1)."""
        while len(self.buffer) < k:
            token = next(self.stream, None)
            if token is None:
                return None
            self.buffer.append(token)
        return self.buffer[k - 1]

    def run(self) -> Iterator[Token]:
        while True:
            token = self.buffer.popleft() if self.buffer else next(self.stream, None)
            if token is None:
                return
            token = self.handle(token)
            self.prev2, self.prev = self.prev, token
            yield token

    # ------------------------------------------------------------------ tokens

    def handle(self, token: Token) -> Token:
        kind, value = token.type, token.value
        if kind == "IDENTIFIER":
            return self.identifier(token)
        if kind == "LANGLE":
            if self.type_params_next:
                self.type_params_next = False
                self.open_type_params()
            elif self.type_args_next:
                self.type_args_next = False
                return Token.new_borrow_pos("LANGLE_ARGS", value, token)
        elif value == "{":
            self.braces += 1
            if self.pending_extern_body:
                self.extern_bodies.append(self.braces)
                self.pending_extern_body = False
            if self.mode == "enum":
                self.mode = None
        elif value == "}":
            if self.extern_bodies and self.extern_bodies[-1] == self.braces:
                self.extern_bodies.pop()
            self.braces = max(self.braces - 1, 0)
            while self.scopes and self.scopes[-1].depth >= self.braces:
                self.scopes.pop()
            while self.shadows and self.shadows[-1][1] > self.braces:
                self.shadows.pop()
        elif value == "(":
            self.parens += 1
        elif value == ")":
            self.parens = max(self.parens - 1, 0)
        elif value == ";":
            self.mode = None
            self.pending_extern_body = False
            while self.scopes and self.scopes[-1].depth == self.braces and self.parens == 0:
                self.scopes.pop()
        elif _is_keyword(token, "typedef") or (
            _is_keyword(token, "type") and self.at_declaration_start()
        ):
            self.mode = "typedef"
        elif _is_keyword(token, "enum"):
            self.mode = "enum"
        return token

    def identifier(self, token: Token) -> Token:
        name = token.value
        nxt = self.peek(1)
        nxt_value = nxt.value if nxt is not None else None
        if self.declares_type(nxt_value):
            # The declared name itself stays an IDENTIFIER (a redeclaration,
            # `extern X;` then `extern X<T> {...}`, must parse the same way).
            self.types.add(name)
            if nxt is not None and nxt.type == "LANGLE":
                self.type_params_next = True
            return token
        is_type = self.is_type_name(token)
        if is_type and self.declares_value(nxt_value):
            self.shadows.append((name, self.braces))
            return token
        if nxt is not None and nxt.type == "LANGLE" and not is_type:
            if self.at_member_declaration_level() and self.prev_ends_type():
                self.type_params_next = True  # generic function or method declaration
            elif self.type_args_follow():
                self.type_args_next = True
        if is_type:
            return Token.new_borrow_pos("TYPE_IDENTIFIER", name, token)
        return token

    def declares_type(self, nxt_value: str | None) -> bool:
        if _is_keyword(self.prev, *_TYPE_DECL_KEYWORDS):
            return True
        if _is_keyword(self.prev, "extern") and nxt_value in ("<", "{", ";"):
            self.pending_extern_body = nxt_value != ";"
            return True
        if self.mode == "enum" and nxt_value == "{":
            return True
        return self.mode == "typedef" and nxt_value == ";"

    # ---------------------------------------------------------------- context

    def at_declaration_start(self) -> bool:
        prev = self.prev
        return (
            self.braces == 0
            and self.parens == 0
            and (prev is None or prev.value in (";", "}") or prev.type == "ANNOTATION")
        )

    def at_member_declaration_level(self) -> bool:
        """Top level or directly inside an extern body, outside parentheses:
        where `<type> name<...>` declares a generic function or method."""
        if self.parens != 0:
            return False
        return self.braces == 0 or (
            bool(self.extern_bodies) and self.extern_bodies[-1] == self.braces
        )

    def prev_ends_type(self) -> bool:
        prev = self.prev
        if prev is None:
            return False
        if prev.type in ("IDENTIFIER", "TYPE_IDENTIFIER"):
            return True
        if prev.type == "RANGLE":
            # `bit<8> f<T>` ends a type; `a >> b < c` does not.
            return self.prev2 is None or self.prev2.type != "RANGLE_SHIFT"
        return _is_keyword(prev, *_TYPE_END_KEYWORDS)

    def is_type_name(self, token: Token) -> bool:
        name = token.value
        if any(name == shadowed for shadowed, _ in self.shadows):
            return False
        return name in self.types or any(name in s.names for s in self.scopes)

    def declares_value(self, nxt_value: str | None) -> bool:
        """Whether the current identifier is the name a variable or instance
        declaration inside a block declares: after a type (or an instance's
        constructor arguments) and before `;` or `=`."""
        if self.braces == 0 or self.parens != 0 or nxt_value not in (";", "="):
            return False
        return self.prev is not None and (self.prev.value == ")" or self.prev_ends_type())

    def type_args_follow(self) -> bool:
        """Whether the `<` after the current identifier opens type arguments:
        only types up to the matching `>`, then `(`."""
        depth = 0
        k = 0
        while k < _LOOKAHEAD_LIMIT:
            k += 1
            token = self.peek(k)
            if token is None:
                return False
            if self.is_width(k):
                # `bit<W>` or `bit<(W + 1)>`: a width may be any constant expression.
                if token.value == "(":
                    k = self.skip_parens(k)
                    if k == 0:
                        return False
                elif token.type not in ("IDENTIFIER", "INTEGER"):
                    return False
            elif token.type == "LANGLE":
                depth += 1
            elif token.type in ("RANGLE", "RANGLE_SHIFT"):
                depth -= 1
                if depth == 0:
                    after = self.peek(k + 1)
                    return after is not None and after.value == "("
            elif token.value == "," or token.type == "INTEGER":
                continue
            elif token.type == "IDENTIFIER":
                if not self.is_type_name(token):
                    return False
            elif not _is_keyword(token, *_TYPE_ARG_KEYWORDS):
                return False
        return False

    def is_width(self, k: int) -> bool:
        """Whether lookahead token k is the width of `bit<`, `int<` or `varbit<`."""
        if k < 3:
            return False
        opener, keyword = self.peek(k - 1), self.peek(k - 2)
        return (
            opener is not None
            and opener.type == "LANGLE"
            and _is_keyword(keyword, "bit", "int", "varbit")
        )

    def skip_parens(self, k: int) -> int:
        """The index of the `)` matching the `(` at lookahead k, or 0 if none."""
        depth = 0
        for j in range(k, k + _LOOKAHEAD_LIMIT):
            token = self.peek(j)
            if token is None:
                return 0
            if token.value == "(":
                depth += 1
            elif token.value == ")":
                depth -= 1
                if depth == 0:
                    return j
        return 0

    def open_type_params(self) -> None:
        """Called on the `<` of a type parameter list: its names are types until
        the declaration ends."""
        names: set[str] = set()
        for k in range(1, _LOOKAHEAD_LIMIT):
            token = self.peek(k)
            if token is None or token.type in ("RANGLE", "RANGLE_SHIFT"):
                break
            if token.type == "IDENTIFIER":
                names.add(token.value)
            elif token.value != ",":
                break
        self.scopes.append(_Scope(frozenset(names), self.braces))


class TypeNameClassifier(PostLex):
    """lark post-lexer: one fresh classifier per parse, so parses are independent."""

    always_accept = ()

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        return _Classifier(iter(stream)).run()
