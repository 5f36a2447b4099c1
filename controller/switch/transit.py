"""A transit switch of a multi-switch topology: routes, no connections.

The clients enter at the entry switch (controller.config.topology), whose
encap_map holds every handed-off connection (controller.switch.core). The
other switches carry packets already tunnelled (addressed to their back-end),
steered packets (still addressed to the VIP: steered alike, every switch has
the same steering buckets) and the back-ends' replies: they need the pipeline,
routes toward every host (by the links for hosts of other switches), the
gateway ARP and NDP answers of their own hosts, and VIP steering. Their
encap_map stays empty; activation deletes anything left in it.

While primary on such a switch the controller keeps it in that state: a
restarted transit switch is rebuilt when its session is re-established, on
its own, without touching the entry switch or the flow table.
"""

from __future__ import annotations

import logging

from controller.config.topology import Topology
from controller.p4rt import P4RuntimeClient, TableEntry
from controller.switch.pipeline import Pipeline
from controller.switch.tables import (
    ENCAP_TABLES,
    VIP_STEERING,
    VIP_STEERING6,
    SyncPlan,
    plan_sync,
    static_entries,
)

log = logging.getLogger("p4handoff.controller")


class TransitSwitch:
    """The controller's part on one transit switch (`switch` must be connected;
    controller.switch.main replaces it when its session is lost)."""

    def __init__(
        self, topology: Topology, name: str, switch: P4RuntimeClient, pipeline: Pipeline | None
    ) -> None:
        self.topology = topology
        self.name = name
        self.switch = switch
        self.pipeline = pipeline
        self.active = False
        self.activations = 0
        self.last_reconcile: dict[str, SyncPlan] = {}

    def activate(self) -> None:
        """Push the pipeline unless it runs already, bring the static tables in
        line and empty encap_map (steering last, as on the entry switch)."""
        if self.pipeline is not None:
            pushed = self.switch.ensure_pipeline(self.pipeline.p4info, self.pipeline.device_config)
            log.info("switch %s: pipeline %s", self.name, "pushed" if pushed else "already running")
        else:
            self.switch.fetch_pipeline()
        static = static_entries(self.topology, self.switch.entities, self.name)
        steering = (VIP_STEERING, VIP_STEERING6)
        plans: dict[str, SyncPlan] = {}
        for table, desired in static.items():
            if table not in steering:
                plans[table] = self._sync(table, desired)
        for table in ENCAP_TABLES:
            plans[table] = self._sync(table, [])
        for table in steering:
            plans[table] = self._sync(table, static[table])
        self.last_reconcile = plans
        self.active = True
        self.activations += 1
        log.info("switch %s: active as primary (transit, election id %d)", self.name,
                 self.switch.election_id)  # fmt: skip

    def deactivate(self) -> None:
        self.active = False

    def _sync(self, table: str, desired: list[TableEntry]) -> SyncPlan:
        plan = plan_sync(self.switch.read_table(table), desired)
        self.switch.write(plan.updates())
        return plan
