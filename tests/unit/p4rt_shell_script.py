"""Runs inside .venv-p4rt-shell (p4runtime-shell 0.0.6, protobuf 3.20): a
third-party client session against p4sim. Prints one JSON object with what
it saw; tests/unit/test_p4rt_shell.py checks it. Never imported by our code.

usage: python p4rt_shell_script.py GRPC_ADDR P4INFO_TXT DEVICE_CONFIG_BIN
"""

import json
import sys

import p4runtime_sh.shell as sh
from p4runtime_sh.p4runtime import P4RuntimeWriteException


def main() -> None:
    addr, p4info, device_config = sys.argv[1:4]
    result = {}
    sh.setup(
        device_id=0,
        grpc_addr=addr,
        election_id=(0, 1),
        config=sh.FwdPipeConfig(p4info, device_config),
        verbose=False,
    )
    try:
        result["api_version"] = sh.client.api_version()
        te = sh.TableEntry("MyIngress.l2_fwd")(action="MyIngress.forward")
        te.match["hdr.ethernet.dstAddr"] = "0a:00:00:00:00:01"
        te.action["port"] = "2"
        te.insert()
        acl = sh.TableEntry("MyIngress.acl")(action="MyIngress.drop")
        acl.match["hdr.ethernet.etherType"] = "0x0800&&&0xffff"
        acl.match["hdr.ipv4.ttl"] = "1..64"
        acl.priority = 7
        acl.insert()
        route = sh.TableEntry("MyIngress.route")(action="MyIngress.metered_forward")
        route.match["hdr.ipv4.dstAddr"] = "10.0.0.0/8"
        route.action["port"] = "3"
        route.insert()
        result["l2"] = [
            {
                "mac": e.match["hdr.ethernet.dstAddr"].exact.value.hex(),
                "port": e.action["port"].value.hex(),
            }
            for e in sh.TableEntry("MyIngress.l2_fwd").read()
        ]
        result["acl_priorities"] = [e.priority for e in sh.TableEntry("MyIngress.acl").read()]
        result["route_prefix"] = [
            e.match["hdr.ipv4.dstAddr"].lpm.prefix_len
            for e in sh.TableEntry("MyIngress.route").read()
        ]
        try:
            te.insert()
            result["duplicate"] = "accepted"
        except P4RuntimeWriteException as error:
            result["duplicate"] = str(error)
        counters = list(sh.CounterEntry("MyIngress.port_counter").read())
        result["counter_cells"] = len(counters)
        te.action["port"] = "3"
        te.modify()
        result["modified_port"] = [
            e.action["port"].value.hex() for e in sh.TableEntry("MyIngress.l2_fwd").read()
        ]
        te.delete()
        result["after_delete"] = len(list(sh.TableEntry("MyIngress.l2_fwd").read()))
    finally:
        sh.teardown()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
