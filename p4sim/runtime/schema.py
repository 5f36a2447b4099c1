"""The control-plane view of a compiled program: every object a controller can
name, with fully qualified names and bit widths.

The lowering pass fills a `ProgramSchema` from the typed IR; the P4Info
generator turns it into a P4Info message (adding ids); the switch runtime and
the P4Runtime server use it to map names and ids to runtime objects. Keeping it
separate from both the IR and the protobufs lets each side be tested alone.

Names follow p4c's P4Info conventions: objects declared inside a control are
`Control.object` (the control's *type* name, e.g. `MyIngress.ipv4_lpm`), an
`@name` annotation replaces the local part (a leading `.` makes it global),
top-level actions keep their bare name (`NoAction`).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class MatchFieldInfo:
    """One key of a table: `name` is the `@name` of the key or p4c's rendering
    of the key expression (`hdr.ipv4.dstAddr`, `hdr.ipv4.isValid()`)."""

    name: str
    match_type: str  # "exact", "lpm", "ternary", "range", "optional", or another match_kind
    bitwidth: int
    annotations: tuple[str, ...] = ()
    type_name: str | None = None  # a `type` (new type) the key has: P4Info's type_name


@dataclass(frozen=True)
class ActionParamInfo:
    name: str
    bitwidth: int
    annotations: tuple[str, ...] = ()
    type_name: str | None = None  # a `type` (new type): P4Info's type_name


@dataclass(frozen=True)
class ActionInfo:
    name: str
    params: tuple[ActionParamInfo, ...]
    annotations: tuple[str, ...] = ()
    explicit_id: int | None = None  # from @id


@dataclass(frozen=True)
class ActionRefInfo:
    """An action a table may run. `scope` is "TABLE_AND_DEFAULT", "TABLE_ONLY"
    (`@tableonly`) or "DEFAULT_ONLY" (`@defaultonly`)."""

    action: str
    scope: str = "TABLE_AND_DEFAULT"
    annotations: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableInfo:
    name: str
    match_fields: tuple[MatchFieldInfo, ...]
    action_refs: tuple[ActionRefInfo, ...]
    size: int
    const_default_action: str | None = None
    default_action: str | None = None
    default_action_args: tuple[int, ...] = ()  # P4Info's initial_default_action
    idle_timeout: bool = False  # `support_timeout = true`
    is_const_table: bool = False  # `const entries`
    has_initial_entries: bool = False
    direct_counter: str | None = None
    direct_meter: str | None = None
    implementation: str | None = None  # action profile / selector name
    annotations: tuple[str, ...] = ()
    explicit_id: int | None = None


@dataclass(frozen=True)
class CounterInfo:
    """A `counter` (direct_table None) or `direct_counter`.
    `unit` is "PACKETS", "BYTES" or "BOTH"."""

    name: str
    unit: str
    size: int
    direct_table: str | None = None
    annotations: tuple[str, ...] = ()
    explicit_id: int | None = None


@dataclass(frozen=True)
class MeterInfo:
    """A `meter` or `direct_meter`; `unit` is "PACKETS" or "BYTES"."""

    name: str
    unit: str
    size: int
    direct_table: str | None = None
    annotations: tuple[str, ...] = ()
    explicit_id: int | None = None


@dataclass(frozen=True)
class RegisterInfo:
    name: str
    bitwidth: int
    size: int
    annotations: tuple[str, ...] = ()
    explicit_id: int | None = None
    signed: bool = False  # register<int<W>>: P4Info's `int { bitwidth }`


@dataclass(frozen=True)
class StructMemberInfo:
    name: str
    bitwidth: int
    varbit: bool = False  # a varbit<bitwidth>: P4Info's `varbit { max_bitwidth }`
    enum: str | None = None  # a serializable enum's name: P4Info's `serializable_enum`
    new_type: str | None = None  # a `type`'s name: P4Info's `new_type`


@dataclass(frozen=True)
class DigestInfo:
    """A `digest<T>(...)` call site's type. p4c names the digest after the
    struct type `T`; `members` are T's fields in order."""

    name: str
    members: tuple[StructMemberInfo, ...]
    explicit_id: int | None = None
    # The name `digest<T>` wrote when T is a typedef of the struct: P4Info's
    # digest takes it (its type_spec still names the struct).
    p4info_name: str | None = None


@dataclass(frozen=True)
class ControllerHeaderInfo:
    """A header annotated `@controller_header("packet_in")` or
    `("packet_out")`; `metadata` lists its fields with p4c's ids (1, 2, ...
    in declaration order unless a field has `@id`).

    `name` is the annotation's argument ("packet_in"), which P4Info shows;
    `type_name` is the header type's control-plane name
    ("packet_in_header_t"), which p4c hashes for the id (empty: use `name`)."""

    name: str
    metadata: tuple[tuple[int, str, int], ...]  # (id, field name, bitwidth)
    annotations: tuple[str, ...] = ()
    type_name: str = ""
    # Per metadata field: the `type` (new type) it has, else None.
    metadata_type_names: tuple[str | None, ...] = ()


@dataclass(frozen=True)
class ValueSetInfo:
    name: str
    size: int
    match_fields: tuple[MatchFieldInfo, ...]


@dataclass(frozen=True)
class ActionProfileInfo:
    name: str
    table_names: tuple[str, ...]
    size: int
    with_selector: bool = False
    max_group_size: int = 0
    annotations: tuple[str, ...] = ()
    explicit_id: int | None = None
    # @selector_size_semantics("sum_of_weights" | "sum_of_members"), with
    # @max_member_weight(N) for the latter; "" when not given.
    size_semantics: str = ""
    max_member_weight: int = 0


@dataclass(frozen=True)
class NewTypeInfo:
    """A `type T name;`: `bitwidth` is T's. With `@p4runtime_translation(uri,
    bit<W> or string)`, P4Runtime sees the translated type: `uri`, and
    `translated_bitwidth` W (None: an SDN string)."""

    name: str
    bitwidth: int
    uri: str | None = None
    translated_bitwidth: int | None = None

    @property
    def p4info_bitwidth(self) -> int:
        """The width P4Info gives a field of this type (0: a string)."""
        if self.uri is None:
            return self.bitwidth
        return self.translated_bitwidth or 0


@dataclass
class ProgramSchema:
    arch: str = "v1model"
    tables: list[TableInfo] = field(default_factory=list)
    actions: list[ActionInfo] = field(default_factory=list)
    counters: list[CounterInfo] = field(default_factory=list)
    meters: list[MeterInfo] = field(default_factory=list)
    registers: list[RegisterInfo] = field(default_factory=list)
    digests: list[DigestInfo] = field(default_factory=list)
    controller_headers: list[ControllerHeaderInfo] = field(default_factory=list)
    value_sets: list[ValueSetInfo] = field(default_factory=list)
    action_profiles: list[ActionProfileInfo] = field(default_factory=list)
    # p4c writes P4Info's `type_info` (empty if nothing goes in it) once it
    # meets a table, an extern instance, or an extern function called in a
    # control's apply block or in an action declared in a control.
    has_type_info: bool = False
    # Serializable enums P4Info describes in `type_info` (p4c: those a table
    # key uses): name -> (underlying width, ((member, value), ...) in order).
    serializable_enums: dict[str, tuple[int, tuple[tuple[str, int], ...]]] = field(
        default_factory=dict)
    # Every `type` (new type) the program declares; P4Info's `type_info`
    # describes those its tables, actions, digests and controller headers use.
    new_types: dict[str, NewTypeInfo] = field(default_factory=dict)
