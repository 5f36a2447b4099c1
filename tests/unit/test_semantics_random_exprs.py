"""Random expression trees: the generated run-time code and the compile-time
folding must agree bit for bit on every one (two independent implementations
of P4's width rules)."""

from __future__ import annotations

import random

from semantics_harness import pack, switch, unpack

OPERANDS = {"bit<8>": ["hdr.h.a", "hdr.h.b"], "bit<16>": ["hdr.h.w"], "int<8>": ["hdr.h.s"]}
CONSTS = {"hdr.h.a": "A", "hdr.h.b": "B", "hdr.h.w": "W", "hdr.h.s": "S"}
WIDTH = {"bit<8>": 8, "bit<16>": 16, "int<8>": 8}


def _expr(rng: random.Random, t: str, depth: int) -> str:
    if depth == 0 or rng.random() < 0.25:
        if rng.random() < 0.2:
            return f"{WIDTH[t]}{'s' if t.startswith('int') else 'w'}{rng.randrange(0, 100)}"
        return rng.choice(OPERANDS[t])
    kind = rng.randrange(7)
    a = _expr(rng, t, depth - 1)
    b = _expr(rng, t, depth - 1)
    if kind == 0:
        op = rng.choice(["+", "-", "*", "&", "|", "^", "|+|", "|-|"])
        return f"({a} {op} {b})"
    if kind == 1:
        return f"({a} {rng.choice(['<<', '>>'])} {rng.randrange(0, WIDTH[t] + 2)})"
    if kind == 2:
        cmp = rng.choice(["<", "<=", ">", ">=", "==", "!="])
        c = _expr(rng, t, depth - 1)
        return f"({a} {cmp} {b} ? {c} : {a})"
    if kind == 3:
        return f"({rng.choice(['~', '-'])}{a})"
    if kind == 4:
        src = rng.choice(list(WIDTH))
        return f"(({t})({_expr(rng, src, depth - 1)}))"
    if kind == 5 and t == "bit<16>":
        return f"({_expr(rng, 'bit<8>', depth - 1)} ++ {_expr(rng, 'bit<8>', depth - 1)})"
    if kind == 6 and t == "bit<8>":
        lo = rng.randrange(0, 8)
        return f"(bit<8>)(hdr.h.w[{lo + 7}:{lo}])"
    return a


FIELDS = ("bit<8> a; bit<8> b; bit<16> w; int<8> s; "
          + " ".join(f"bit<16> r{i};" for i in range(24)))


def test_run_time_and_folded_results_agree_on_random_expressions() -> None:
    rng = random.Random(2024)
    exprs = [_expr(rng, rng.choice(list(WIDTH)), 3) for _ in range(24)]
    ingress = "\n".join(f"hdr.h.r{i} = (bit<16>)({e});" for i, e in enumerate(exprs))
    values = [(0xC3, 0x5A, 0xBEEF, 0x85), (0, 255, 1, 0x7F), (17, 17, 0x8000, 0x80)]
    run_time = switch(FIELDS, ingress)
    for a, b, w, s in values:
        consts = f"const bit<8> A = {a}; const bit<8> B = {b}; const bit<16> W = {w};" \
                 f" const int<8> S = {s - 256 if s & 0x80 else s};"
        folded_ingress = ingress
        for field, name in CONSTS.items():
            folded_ingress = folded_ingress.replace(field, name)
        folded = switch(FIELDS, folded_ingress, decls=consts)
        packet = pack(FIELDS, [a, b, w, s] + [0] * 24)
        got = unpack(FIELDS, run_time.process(0, packet)[0][1])
        want = unpack(FIELDS, folded.process(0, packet)[0][1])
        for i, e in enumerate(exprs):
            assert got[f"r{i}"] == want[f"r{i}"], (e, (a, b, w, s))
