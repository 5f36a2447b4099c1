"""The project's P4Runtime client: names and readable values in, typed
entities out. See `client.P4RuntimeClient` and `entities.EntityFactory`."""

from controller.p4rt.client import P4RuntimeClient, pipeline_cookie
from controller.p4rt.entities import (
    Action,
    CounterData,
    CounterEntry,
    DigestEntry,
    DigestList,
    DirectCounterEntry,
    EntityFactory,
    Exact,
    IdleTimeout,
    Lpm,
    OptionalMatch,
    PacketIn,
    PacketOut,
    Range,
    TableEntry,
    Ternary,
    Update,
)
from controller.p4rt.errors import (
    NotPrimaryError,
    P4RuntimeError,
    RpcError,
    UnknownNameError,
    UpdateFailure,
    ValueFormatError,
    WriteError,
)
from controller.p4rt.p4info import P4InfoIndex, load_p4info

__all__ = [
    "Action",
    "CounterData",
    "CounterEntry",
    "DigestEntry",
    "DigestList",
    "DirectCounterEntry",
    "EntityFactory",
    "Exact",
    "IdleTimeout",
    "Lpm",
    "NotPrimaryError",
    "OptionalMatch",
    "P4InfoIndex",
    "P4RuntimeClient",
    "P4RuntimeError",
    "PacketIn",
    "PacketOut",
    "Range",
    "RpcError",
    "TableEntry",
    "Ternary",
    "UnknownNameError",
    "Update",
    "UpdateFailure",
    "ValueFormatError",
    "WriteError",
    "load_p4info",
    "pipeline_cookie",
]
