"""Refuses parse trees nested deeper than p4sim's passes can walk.

The type checker and the code generator recurse once per nested expression,
statement or type argument, and the generated Python has bounds of its own,
so `x = 1 + 1 + ... + 1` with a thousand terms must be an error at its
position, not a RecursionError. The walk here is iterative and runs before
anything recursive sees the tree; the bounds are in p4sim/limits.py.
"""

from __future__ import annotations

from lark import Token, Tree

from p4sim import limits
from p4sim.errors import UnsupportedError
from p4sim.frontend.transform import Locate

# Rule names (after p4.lark's aliases) that add one level of each kind.
_EXPRESSIONS = frozenset([
    "ternary", "binary", "shift_right", "unary", "cast", "member", "index", "slice", "call",
    "generic_call", "ctor_call", "list_expr", "struct_init", "mask_keyset", "range_keyset",
])
_STATEMENTS = frozenset(["if_statement", "switch_statement", "for_statement"])
_TYPES = frozenset(["specialized_type", "tuple_type", "header_stack_type"])
# A block is a statement of its own only inside a statement list; as the
# body of an if, a case, an action or an apply it belongs to its owner.
_STATEMENT_LISTS = frozenset(["block", "parser_state"])



def check_nesting(tree: Tree[Token], locate: Locate) -> None:
    """Raise UnsupportedError at the first construct past a nesting bound."""
    kinds = (
        (_EXPRESSIONS, limits.MAX_EXPRESSION_DEPTH, "expression"),
        (_STATEMENTS, limits.MAX_STATEMENT_DEPTH, "statements"),
        (_TYPES, limits.MAX_TYPE_DEPTH, "type arguments"),
    )
    stack: list[tuple[Tree[Token], tuple[int, int, int], str]] = [(tree, (0, 0, 0), "")]
    while stack:
        node, depths, parent = stack.pop()
        data = str(node.data)
        counted = list(depths)
        for k, (rules, bound, what) in enumerate(kinds):
            is_block = k == 1 and data == "block" and parent in _STATEMENT_LISTS
            if data in rules or is_block:
                counted[k] += 1
                if counted[k] > bound:
                    meta = node.meta
                    pos = locate(getattr(meta, "line", 1), getattr(meta, "column", 1))
                    raise UnsupportedError(pos, f"{what} nested more than {bound} levels "
                                           "deep")
        below = (counted[0], counted[1], counted[2])
        stack.extend((child, below, data) for child in node.children
                     if isinstance(child, Tree))
