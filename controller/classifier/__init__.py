"""The classifier process (`handoff classifier`): accepts connections on a VIP
and hands each to a back-end.

`core` is its logic (`Classifier`), `policy` its decisions over the policy
file, `request` the parsing of a connection's first bytes, `agent_pool` its
connections to the agents, `controller_client` the controller's API as it uses
it and `kernel` the kernel steps on its host; `service` serves its gRPC API
and `main` is the process.

Imports: handoff, config and proto (tests/unit/test_layout.py).
"""
