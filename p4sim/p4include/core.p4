/*
 * core.p4 for p4sim: the P4_16 core library.
 *
 * Declares the architecture-independent part of P4_16 (parser errors,
 * packet_in/packet_out, verify, NoAction, the basic match kinds) under the
 * names the language specification gives them, so programs written for any
 * P4_16 compiler include it unchanged. p4sim implements every declaration
 * here itself; this file only tells the type checker their signatures.
 */

#ifndef _CORE_P4_
#define _CORE_P4_

/* Errors the parser signals by itself; programs add their own with more
 * `error { ... }` declarations. */
error {
    NoError,                /* the parser reached accept */
    PacketTooShort,         /* extract or lookahead ran past the packet end */
    NoMatch,                /* no select case matched */
    StackOutOfBounds,       /* .next past the end or .last of an empty stack */
    HeaderTooShort,         /* a varbit extract asked for more than its maximum */
    ParserTimeout,          /* the parser ran for too long */
    ParserInvalidArgument   /* an operation got an argument it cannot use */
}

/* The packet as the parser sees it: a cursor over its bytes. */
extern packet_in {
    /* Copies the next bits into a fixed-size header and makes it valid. */
    void extract<T>(out T hdr);
    /* The same for a header with one varbit field of the given size. */
    void extract<T>(out T variableSizeHeader, in bit<32> variableFieldSizeInBits);
    /* The next bits read as a T, without moving the cursor. */
    T lookahead<T>();
    /* Moves the cursor forward. */
    void advance(in bit<32> sizeInBits);
    /* Length of the whole packet in bytes. */
    bit<32> length();
}

/* The packet as the deparser builds it. */
extern packet_out {
    /* Appends a header if it is valid (structs and stacks: each member in order). */
    void emit<T>(in T hdr);
}

/* Ends parsing with `toSignal` unless `check` holds. */
extern void verify(in bool check, in error toSignal);

/* The action that does nothing: the usual default of a table. */
@noWarn("unused")
action NoAction() {}

/* Match kinds every architecture supports. */
match_kind {
    exact,
    ternary,
    lpm
}

/* Compile-time assertions: they fail compilation when `check` is false. */
extern bool static_assert(bool check, string message);
extern bool static_assert(bool check);

#endif /* _CORE_P4_ */
