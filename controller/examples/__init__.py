"""Example applications built on the handoff library; not part of the product.

`demo_backend` is the lab's HTTP back-end (`handoff backend`): it takes
migrated connections like accepted ones. Imports: handoff only.
"""
