from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Connection(_message.Message):
    __slots__ = ("client_ip", "client_port", "vip", "vip_port")
    CLIENT_IP_FIELD_NUMBER: _ClassVar[int]
    CLIENT_PORT_FIELD_NUMBER: _ClassVar[int]
    VIP_FIELD_NUMBER: _ClassVar[int]
    VIP_PORT_FIELD_NUMBER: _ClassVar[int]
    client_ip: str
    client_port: int
    vip: str
    vip_port: int
    def __init__(self, client_ip: _Optional[str] = ..., client_port: _Optional[int] = ..., vip: _Optional[str] = ..., vip_port: _Optional[int] = ...) -> None: ...

class FlowRef(_message.Message):
    __slots__ = ("forwarder", "backend", "flow_id")
    FORWARDER_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    FLOW_ID_FIELD_NUMBER: _ClassVar[int]
    forwarder: str
    backend: str
    flow_id: int
    def __init__(self, forwarder: _Optional[str] = ..., backend: _Optional[str] = ..., flow_id: _Optional[int] = ...) -> None: ...

class AllocateFlowRequest(_message.Message):
    __slots__ = ("connection", "backend", "classifier", "forwarder")
    CONNECTION_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    CLASSIFIER_FIELD_NUMBER: _ClassVar[int]
    FORWARDER_FIELD_NUMBER: _ClassVar[int]
    connection: Connection
    backend: str
    classifier: str
    forwarder: str
    def __init__(self, connection: _Optional[_Union[Connection, _Mapping]] = ..., backend: _Optional[str] = ..., classifier: _Optional[str] = ..., forwarder: _Optional[str] = ...) -> None: ...

class AllocateFlowResponse(_message.Message):
    __slots__ = ("flow",)
    FLOW_FIELD_NUMBER: _ClassVar[int]
    flow: FlowRef
    def __init__(self, flow: _Optional[_Union[FlowRef, _Mapping]] = ...) -> None: ...

class LeaseFlowIdsRequest(_message.Message):
    __slots__ = ("backend", "classifier", "count", "forwarder")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    CLASSIFIER_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    FORWARDER_FIELD_NUMBER: _ClassVar[int]
    backend: str
    classifier: str
    count: int
    forwarder: str
    def __init__(self, backend: _Optional[str] = ..., classifier: _Optional[str] = ..., count: _Optional[int] = ..., forwarder: _Optional[str] = ...) -> None: ...

class LeaseFlowIdsResponse(_message.Message):
    __slots__ = ("flows",)
    FLOWS_FIELD_NUMBER: _ClassVar[int]
    flows: _containers.RepeatedCompositeFieldContainer[FlowRef]
    def __init__(self, flows: _Optional[_Iterable[_Union[FlowRef, _Mapping]]] = ...) -> None: ...

class InstallFlowRequest(_message.Message):
    __slots__ = ("flow", "handoff_latency_s", "connection")
    FLOW_FIELD_NUMBER: _ClassVar[int]
    HANDOFF_LATENCY_S_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_FIELD_NUMBER: _ClassVar[int]
    flow: FlowRef
    handoff_latency_s: float
    connection: Connection
    def __init__(self, flow: _Optional[_Union[FlowRef, _Mapping]] = ..., handoff_latency_s: _Optional[float] = ..., connection: _Optional[_Union[Connection, _Mapping]] = ...) -> None: ...

class InstallFlowResponse(_message.Message):
    __slots__ = ("batch_size",)
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    batch_size: int
    def __init__(self, batch_size: _Optional[int] = ...) -> None: ...

class InstallFlowsRequest(_message.Message):
    __slots__ = ("flows",)
    FLOWS_FIELD_NUMBER: _ClassVar[int]
    flows: _containers.RepeatedCompositeFieldContainer[InstallFlowRequest]
    def __init__(self, flows: _Optional[_Iterable[_Union[InstallFlowRequest, _Mapping]]] = ...) -> None: ...

class InstallFlowResult(_message.Message):
    __slots__ = ("code", "message", "batch_size")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    batch_size: int
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ..., batch_size: _Optional[int] = ...) -> None: ...

class InstallFlowsResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[InstallFlowResult]
    def __init__(self, results: _Optional[_Iterable[_Union[InstallFlowResult, _Mapping]]] = ...) -> None: ...

class RemoveFlowRequest(_message.Message):
    __slots__ = ("flow", "reason", "release_agent", "connection")
    FLOW_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RELEASE_AGENT_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_FIELD_NUMBER: _ClassVar[int]
    flow: FlowRef
    reason: str
    release_agent: bool
    connection: Connection
    def __init__(self, flow: _Optional[_Union[FlowRef, _Mapping]] = ..., reason: _Optional[str] = ..., release_agent: _Optional[bool] = ..., connection: _Optional[_Union[Connection, _Mapping]] = ...) -> None: ...

class RemoveFlowResponse(_message.Message):
    __slots__ = ("entry_removed",)
    ENTRY_REMOVED_FIELD_NUMBER: _ClassVar[int]
    entry_removed: bool
    def __init__(self, entry_removed: _Optional[bool] = ...) -> None: ...

class ListFlowsRequest(_message.Message):
    __slots__ = ("include_ended", "counters")
    INCLUDE_ENDED_FIELD_NUMBER: _ClassVar[int]
    COUNTERS_FIELD_NUMBER: _ClassVar[int]
    include_ended: bool
    counters: bool
    def __init__(self, include_ended: _Optional[bool] = ..., counters: _Optional[bool] = ...) -> None: ...

class Flow(_message.Message):
    __slots__ = ("ref", "connection", "backend_name", "classifier", "state", "created_at", "ended_at", "on_switch", "packets", "bytes", "end_reason", "switches")
    REF_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_FIELD_NUMBER: _ClassVar[int]
    BACKEND_NAME_FIELD_NUMBER: _ClassVar[int]
    CLASSIFIER_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_FIELD_NUMBER: _ClassVar[int]
    ON_SWITCH_FIELD_NUMBER: _ClassVar[int]
    PACKETS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    END_REASON_FIELD_NUMBER: _ClassVar[int]
    SWITCHES_FIELD_NUMBER: _ClassVar[int]
    ref: FlowRef
    connection: Connection
    backend_name: str
    classifier: str
    state: str
    created_at: float
    ended_at: float
    on_switch: bool
    packets: int
    bytes: int
    end_reason: str
    switches: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, ref: _Optional[_Union[FlowRef, _Mapping]] = ..., connection: _Optional[_Union[Connection, _Mapping]] = ..., backend_name: _Optional[str] = ..., classifier: _Optional[str] = ..., state: _Optional[str] = ..., created_at: _Optional[float] = ..., ended_at: _Optional[float] = ..., on_switch: _Optional[bool] = ..., packets: _Optional[int] = ..., bytes: _Optional[int] = ..., end_reason: _Optional[str] = ..., switches: _Optional[_Iterable[str]] = ...) -> None: ...

class ListFlowsResponse(_message.Message):
    __slots__ = ("flows",)
    FLOWS_FIELD_NUMBER: _ClassVar[int]
    flows: _containers.RepeatedCompositeFieldContainer[Flow]
    def __init__(self, flows: _Optional[_Iterable[_Union[Flow, _Mapping]]] = ...) -> None: ...

class CountFlowsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CountFlowsResponse(_message.Message):
    __slots__ = ("installed_per_backend",)
    class InstalledPerBackendEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    INSTALLED_PER_BACKEND_FIELD_NUMBER: _ClassVar[int]
    installed_per_backend: _containers.ScalarMap[str, int]
    def __init__(self, installed_per_backend: _Optional[_Mapping[str, int]] = ...) -> None: ...

class StatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Latency(_message.Message):
    __slots__ = ("step", "count", "mean_s", "p50_s", "p99_s", "max_s")
    STEP_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    MEAN_S_FIELD_NUMBER: _ClassVar[int]
    P50_S_FIELD_NUMBER: _ClassVar[int]
    P99_S_FIELD_NUMBER: _ClassVar[int]
    MAX_S_FIELD_NUMBER: _ClassVar[int]
    step: str
    count: int
    mean_s: float
    p50_s: float
    p99_s: float
    max_s: float
    def __init__(self, step: _Optional[str] = ..., count: _Optional[int] = ..., mean_s: _Optional[float] = ..., p50_s: _Optional[float] = ..., p99_s: _Optional[float] = ..., max_s: _Optional[float] = ...) -> None: ...

class StatsResponse(_message.Message):
    __slots__ = ("role", "name", "primary", "counters", "latencies")
    class CountersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    ROLE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_FIELD_NUMBER: _ClassVar[int]
    COUNTERS_FIELD_NUMBER: _ClassVar[int]
    LATENCIES_FIELD_NUMBER: _ClassVar[int]
    role: str
    name: str
    primary: bool
    counters: _containers.ScalarMap[str, float]
    latencies: _containers.RepeatedCompositeFieldContainer[Latency]
    def __init__(self, role: _Optional[str] = ..., name: _Optional[str] = ..., primary: _Optional[bool] = ..., counters: _Optional[_Mapping[str, float]] = ..., latencies: _Optional[_Iterable[_Union[Latency, _Mapping]]] = ...) -> None: ...

class GetPolicyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReloadPolicyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PoolBackend(_message.Message):
    __slots__ = ("name", "weight", "live", "active")
    NAME_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    LIVE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    name: str
    weight: int
    live: bool
    active: int
    def __init__(self, name: _Optional[str] = ..., weight: _Optional[int] = ..., live: _Optional[bool] = ..., active: _Optional[int] = ...) -> None: ...

class Pool(_message.Message):
    __slots__ = ("name", "algorithm", "backends")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    BACKENDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    algorithm: str
    backends: _containers.RepeatedCompositeFieldContainer[PoolBackend]
    def __init__(self, name: _Optional[str] = ..., algorithm: _Optional[str] = ..., backends: _Optional[_Iterable[_Union[PoolBackend, _Mapping]]] = ...) -> None: ...

class PolicyResponse(_message.Message):
    __slots__ = ("source", "text", "pools", "on_no_match")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    POOLS_FIELD_NUMBER: _ClassVar[int]
    ON_NO_MATCH_FIELD_NUMBER: _ClassVar[int]
    source: str
    text: str
    pools: _containers.RepeatedCompositeFieldContainer[Pool]
    on_no_match: str
    def __init__(self, source: _Optional[str] = ..., text: _Optional[str] = ..., pools: _Optional[_Iterable[_Union[Pool, _Mapping]]] = ..., on_no_match: _Optional[str] = ...) -> None: ...

class TraceRequest(_message.Message):
    __slots__ = ("client_ip", "client_port", "flow_id", "limit")
    CLIENT_IP_FIELD_NUMBER: _ClassVar[int]
    CLIENT_PORT_FIELD_NUMBER: _ClassVar[int]
    FLOW_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    client_ip: str
    client_port: int
    flow_id: int
    limit: int
    def __init__(self, client_ip: _Optional[str] = ..., client_port: _Optional[int] = ..., flow_id: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class Phase(_message.Message):
    __slots__ = ("step", "seconds")
    STEP_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    step: str
    seconds: float
    def __init__(self, step: _Optional[str] = ..., seconds: _Optional[float] = ...) -> None: ...

class HandoffRecord(_message.Message):
    __slots__ = ("connection", "classifier", "accepted_at", "finished_at", "request", "rule_index", "rule", "pool", "backend_name", "flow", "phases", "outcome", "agent")
    CONNECTION_FIELD_NUMBER: _ClassVar[int]
    CLASSIFIER_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    RULE_INDEX_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    BACKEND_NAME_FIELD_NUMBER: _ClassVar[int]
    FLOW_FIELD_NUMBER: _ClassVar[int]
    PHASES_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    connection: Connection
    classifier: str
    accepted_at: float
    finished_at: float
    request: str
    rule_index: int
    rule: str
    pool: str
    backend_name: str
    flow: FlowRef
    phases: _containers.RepeatedCompositeFieldContainer[Phase]
    outcome: str
    agent: str
    def __init__(self, connection: _Optional[_Union[Connection, _Mapping]] = ..., classifier: _Optional[str] = ..., accepted_at: _Optional[float] = ..., finished_at: _Optional[float] = ..., request: _Optional[str] = ..., rule_index: _Optional[int] = ..., rule: _Optional[str] = ..., pool: _Optional[str] = ..., backend_name: _Optional[str] = ..., flow: _Optional[_Union[FlowRef, _Mapping]] = ..., phases: _Optional[_Iterable[_Union[Phase, _Mapping]]] = ..., outcome: _Optional[str] = ..., agent: _Optional[str] = ...) -> None: ...

class RecentHandoffsResponse(_message.Message):
    __slots__ = ("handoffs", "capacity")
    HANDOFFS_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    handoffs: _containers.RepeatedCompositeFieldContainer[HandoffRecord]
    capacity: int
    def __init__(self, handoffs: _Optional[_Iterable[_Union[HandoffRecord, _Mapping]]] = ..., capacity: _Optional[int] = ...) -> None: ...
