"""PTF smoke: p4sim forwards by ingress port on veths, programmed over
P4Runtime. Run by `make ptf-smoke` (ptf_tests/run_smoke.py), which starts
p4sim with smoke.p4 and passes grpc_addr as a test parameter."""

import queue

import grpc
import ptf
import ptf.testutils as tu
from finsy.proto import p4r, p4r_grpc
from ptf.base_tests import BaseTest


class PortForwardTest(BaseTest):
    def setUp(self):
        BaseTest.setUp(self)
        self.dataplane = ptf.dataplane_instance
        self.dataplane.flush()
        self.channel = grpc.insecure_channel(tu.test_params_get()["grpc_addr"])
        self.stub = p4r_grpc.P4RuntimeStub(self.channel)
        get = p4r.GetForwardingPipelineConfigRequest
        self.p4info = self.stub.GetForwardingPipelineConfig(
            get(device_id=0, response_type=get.P4INFO_AND_COOKIE)
        ).config.p4info
        # The primary's stream stays open for the whole test: a queue feeds it.
        self.outbox = queue.Queue()
        arbitration = p4r.MasterArbitrationUpdate(device_id=0, election_id=p4r.Uint128(low=1))
        self.outbox.put(p4r.StreamMessageRequest(arbitration=arbitration))
        self.stream = self.stub.StreamChannel(iter(self.outbox.get, None))
        reply = next(self.stream)
        assert reply.arbitration.status.code == 0, reply

    def tearDown(self):
        self.outbox.put(None)
        self.channel.close()
        BaseTest.tearDown(self)

    def _forward(self, ingress, egress):
        table = next(t for t in self.p4info.tables if t.preamble.name.endswith("port_fwd"))
        action = next(a for a in self.p4info.actions if a.preamble.name.endswith("forward"))
        entry = p4r.TableEntry(table_id=table.preamble.id)
        entry.match.add(field_id=table.match_fields[0].id).exact.value = bytes([ingress])
        entry.action.action.action_id = action.preamble.id
        entry.action.action.params.add(param_id=action.params[0].id, value=bytes([egress]))
        request = p4r.WriteRequest(device_id=0, election_id=p4r.Uint128(low=1))
        request.updates.add(type=p4r.Update.INSERT).entity.table_entry.CopyFrom(entry)
        self.stub.Write(request)

    def runTest(self):
        self._forward(0, 1)
        pkt = tu.simple_udp_packet(eth_dst="02:00:00:00:00:02", eth_src="02:00:00:00:00:01")
        tu.send_packet(self, 0, pkt)
        tu.verify_packet(self, pkt, 1)
        tu.send_packet(self, 1, pkt)  # port 1 has no entry: dropped
        tu.verify_no_other_packets(self, timeout=0.5)
