"""P4 Handoff control plane, one subpackage per role (a module's path says where it runs):

`p4rt` the P4Runtime client library, `handoff` the handoff mechanism (blob,
keys, agent protocol, TCP_REPAIR, nftables, SCM_RIGHTS), `switch` the switch
controller process, `classifier` the classifier process, `agent` the
back-ends' migrator agent process, `config` topology and policy files, `proto`
the processes' gRPC API (generated), `examples` the demo back-end, `lab` and
`cli` the lab and the `handoff` command. tests/unit/test_layout.py holds the
import rules.
"""
