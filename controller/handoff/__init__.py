"""The handoff mechanism, as a library every process uses: the sealed blob
(`blob`), its keys (`keys`) and freshness check (`replay`), the agent protocol
(`agent_protocol`), the kernel TCP state and `TCP_REPAIR` (`tcpstate`,
`tcprepair`), the nftables rules (`nft`) and the SCM_RIGHTS hand-over to an
application (`handover`).

It also holds the little the processes share beyond the mechanism, because
the agent may import nothing but this package (see DESIGN's layout table) and
one more package for three small modules would be one more place to look:
TLS files and certificates (`tls`), command-line argument types (`cliargs`)
and the numbers behind the Stats RPC (`stats`, the one module here that uses
controller.proto).

Imports: its own modules and controller.proto only; never p4rt, a process
package (switch, classifier, agent) or lab (tests/unit/test_layout.py).
"""
