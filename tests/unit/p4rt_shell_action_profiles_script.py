"""Runs inside .venv-p4rt-shell (p4runtime-shell 0.0.6): members, groups and
one-shot entries of p4runtime_programs/action_profiles.p4 programmed the way
a p4runtime-shell user does. Prints one JSON object with what it saw;
tests/unit/test_p4rt_shell_action_profiles.py checks it. Never imported by our code.

usage: python p4rt_shell_action_profiles_script.py GRPC_ADDR P4INFO_TXT DEVICE_CONFIG_BIN
"""

import json
import sys

import p4runtime_sh.shell as sh
from p4runtime_sh.p4runtime import P4RuntimeWriteException

SELECTOR = "MyIngress.ecmp_selector"


def next_hop(port):
    action = sh.Action("MyIngress.set_nhop")
    action["port"] = str(port)
    action["dmac"] = f"00:00:00:00:aa:0{port}"
    return action


def error_of(write):
    try:
        write()
    except P4RuntimeWriteException as error:
        return str(error)
    return "accepted"


def main():
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
        for member_id, port in ((1, 2), (2, 3)):
            member = sh.ActionProfileMember(SELECTOR)(
                member_id=member_id, action="MyIngress.set_nhop"
            )
            member.action["port"] = str(port)
            member.action["dmac"] = f"00:00:00:00:aa:0{port}"
            member.insert()
        group = sh.ActionProfileGroup(SELECTOR)(group_id=10)
        group.add(1)
        group.add(2, weight=2)
        group.insert()
        route = sh.TableEntry("MyIngress.routes")
        route.match["hdr.ipv4.dstAddr"] = "10.0.0.0/8"
        route.group_id = 10
        route.insert()
        result["members"] = sorted(
            (m.member_id, m.action["port"].value.hex())
            for m in sh.ActionProfileMember(SELECTOR).read()
        )
        result["groups"] = [
            (g.group_id, [(m.member_id, m.weight) for m in g.members])
            for g in sh.ActionProfileGroup(SELECTOR).read()
        ]
        result["route_group"] = [e.group_id for e in sh.TableEntry("MyIngress.routes").read()]
        result["duplicate"] = error_of(lambda: sh.ActionProfileMember(SELECTOR)(
            member_id=1, action="MyIngress.drop").insert())
        result["in_use"] = error_of(lambda: sh.ActionProfileMember(SELECTOR)(member_id=1).delete())
        route.delete()
        group.delete()
        for member_id in (1, 2):
            sh.ActionProfileMember(SELECTOR)(member_id=member_id).delete()
        oneshot_route = sh.TableEntry("MyIngress.routes")
        oneshot_route.match["hdr.ipv4.dstAddr"] = "10.0.0.0/8"
        oneshot = sh.Oneshot("MyIngress.routes")
        oneshot.add(next_hop(4), weight=1)
        oneshot.add(next_hop(5), weight=3)
        oneshot_route.oneshot = oneshot
        oneshot_route.insert()
        result["oneshot"] = [
            [(a.action["port"].value.hex(), a.weight) for a in e.oneshot.actions]
            for e in sh.TableEntry("MyIngress.routes").read()
        ]
    finally:
        sh.teardown()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
