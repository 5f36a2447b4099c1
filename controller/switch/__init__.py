"""The switch controller process (`handoff controller`): the P4Runtime primary of
the forwarder and the owner of the flow table.

`core` is its logic (`Controller`: pipeline push, reconcile, flow ids, digests,
idle timeouts), `tables` what the forwarder's tables should hold,
`flowstore` the durable flow table, `flow_writer` the coalescing writer,
`agent_release` the release notices to agents, `pipeline` the pipeline it
pushes; `service` serves its gRPC API and `main` is the process.

Imports: p4rt, handoff, config and proto (tests/unit/test_layout.py).
"""
