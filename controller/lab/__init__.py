"""The lab: topologies (controller.config.topology) built as network namespaces
and veth pairs, the shipped processes started in them, and the commands for
people (`handoff lab`, `flows`, `stats`, `policy`, `shell`, `make demo`).

Only controller.cli and lab's own modules import it (tests/unit/test_layout.py).
"""
