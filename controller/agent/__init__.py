"""The migrator agent process (`handoff agent`) of a back-end.

`core` is its logic (`Agent`: check, restore, hand over on commit, withdraw),
`kernel` its real back-ends (nftables, TCP_REPAIR, SCM_RIGHTS) and `main` the
process.

Imports: handoff only (tests/unit/test_layout.py).
"""
