/*
 * v1model.p4 for p4sim: the v1model architecture (BMv2 simple_switch).
 *
 * The same public API as the v1model.p4 shipped with p4c - names, type
 * parameters, signatures, enums, standard_metadata_t and V1Switch - so that
 * programs written for BMv2 include it unchanged and p4sim runs them with
 * BMv2's behaviour. p4sim implements every extern itself.
 *
 * Define V1MODEL_VERSION to 20200408 or later before including this file to
 * get the newer API: PortId_t, and counter/meter/register arrays indexed by
 * a type of your choice instead of bit<32>.
 */

#ifndef _V1_MODEL_P4_
#define _V1_MODEL_P4_

#include "core.p4"

#ifndef V1MODEL_VERSION
#define V1MODEL_VERSION 20180101
#endif

match_kind {
    range,      /* low <= key <= high */
    optional,   /* exact match, or don't care */
    selector    /* picks a member of an action selector group */
}

const bit<32> __v1model_version = V1MODEL_VERSION;

#if V1MODEL_VERSION >= 20200408
typedef bit<9> PortId_t;
#endif

/* Per-packet metadata the architecture fills in and reads back. */
@metadata @name("standard_metadata")
struct standard_metadata_t {
#if V1MODEL_VERSION >= 20200408
    PortId_t ingress_port;
    PortId_t egress_spec;      /* set in ingress: the output port */
    PortId_t egress_port;      /* read in egress: the port being sent to */
#else
    bit<9>   ingress_port;
    bit<9>   egress_spec;
    bit<9>   egress_port;
#endif
    bit<32>  instance_type;    /* normal, clone, resubmit, recirculate, ... */
    bit<32>  packet_length;    /* bytes, as received */

    @alias("queueing_metadata.enq_timestamp")            bit<32> enq_timestamp;
    @alias("queueing_metadata.enq_qdepth")               bit<19> enq_qdepth;
    @alias("queueing_metadata.deq_timedelta")            bit<32> deq_timedelta;
    @alias("queueing_metadata.deq_qdepth")               bit<19> deq_qdepth;

    @alias("intrinsic_metadata.ingress_global_timestamp") bit<48> ingress_global_timestamp;
    @alias("intrinsic_metadata.egress_global_timestamp")  bit<48> egress_global_timestamp;
    @alias("intrinsic_metadata.mcast_grp")               bit<16> mcast_grp;
    @alias("intrinsic_metadata.egress_rid")              bit<16> egress_rid;

    bit<1>   checksum_error;   /* 1 when verify_checksum found a mismatch */
    error    parser_error;     /* how the parser ended */
    @alias("intrinsic_metadata.priority")                bit<3>  priority;
}

enum CounterType {
    packets,
    bytes,
    packets_and_bytes
}

enum MeterType {
    packets,
    bytes
}

/* Arrays of state addressed by an index: counters, meters, registers. An
 * index at or beyond the size leaves the state untouched. */
#if V1MODEL_VERSION >= 20200408

extern counter<I> {
    counter(bit<32> size, CounterType type);
    void count(in I index);
}

extern meter<I> {
    meter(bit<32> size, MeterType type);
    /* Writes the colour: 0 green, 1 yellow, 2 red. */
    void execute_meter<T>(in I index, out T result);
}

extern register<T, I> {
    register(bit<32> size);
    @noSideEffects
    void read(out T result, in I index);
    void write(in I index, in T value);
}

#else

extern counter {
    counter(bit<32> size, CounterType type);
    void count(in bit<32> index);
}

extern meter {
    meter(bit<32> size, MeterType type);
    /* Writes the colour: 0 green, 1 yellow, 2 red. */
    void execute_meter<T>(in bit<32> index, out T result);
}

extern register<T> {
    register(bit<32> size);
    @noSideEffects
    void read(out T result, in bit<32> index);
    void write(in bit<32> index, in T value);
}

#endif

/* One counter per entry of the table whose `counters` property names it;
 * counting happens on every hit, count() is optional. */
extern direct_counter {
    direct_counter(CounterType type);
    void count();
}

#define V1MODEL_METER_COLOR_GREEN  0
#define V1MODEL_METER_COLOR_YELLOW 1
#define V1MODEL_METER_COLOR_RED    2

/* One meter per entry of the table whose `meters` property names it; read()
 * gives the colour of the hit entry, inside its action. */
extern direct_meter<T> {
    direct_meter(MeterType type);
    void read(out T result);
}

/* Table `implementation`: entries point at shared action members. */
extern action_profile {
    action_profile(bit<32> size);
}

/* A uniformly random value in [lo, hi]. */
extern void random<T>(out T result, in T lo, in T hi);

/* Sends `data` to the control plane; a named struct type names the digest. */
extern void digest<T>(in bit<32> receiver, in T data);

enum HashAlgorithm {
    crc32,
    crc32_custom,
    crc16,
    crc16_custom,
    random,
    identity,
    csum16,
    xor16
}

@deprecated("Please use mark_to_drop(standard_metadata) instead.")
extern void mark_to_drop();

/* Drops the packet at the end of the current pipeline unless later code
 * sets egress_spec again; also clears mcast_grp. */
@pure
extern void mark_to_drop(inout standard_metadata_t standard_metadata);

/* result = base + (hash of data) % max, or base when max is 0. */
@pure
extern void hash<O, T, D, M>(out O result, in HashAlgorithm algo, in T base, in D data, in M max);

/* Table `implementation`: an action profile whose groups pick a member by a
 * hash of the `selector` keys. */
extern action_selector {
    action_selector(HashAlgorithm algorithm, bit<32> size, bit<32> outputWidth);
}

enum CloneType {
    I2E,    /* a copy of the ingress packet goes to egress */
    E2E     /* a copy of the egress packet goes to egress again */
}

@deprecated("Please use verify_checksum/update_checksum instead.")
extern Checksum16 {
    Checksum16();
    bit<16> get<D>(in D data);
}

/* In the verify-checksum control: when `condition` holds and the checksum of
 * `data` differs from `checksum`, standard_metadata.checksum_error becomes 1. */
extern void verify_checksum<T, O>(in bool condition, in T data, in O checksum, HashAlgorithm algo);

/* In the compute-checksum control: when `condition` holds, `checksum` becomes
 * the checksum of `data`. */
@pure
extern void update_checksum<T, O>(in bool condition, in T data, inout O checksum, HashAlgorithm algo);

/* As above, over `data` followed by the unparsed payload. */
extern void verify_checksum_with_payload<T, O>(in bool condition, in T data, in O checksum, HashAlgorithm algo);

@noSideEffects
extern void update_checksum_with_payload<T, O>(in bool condition, in T data, inout O checksum, HashAlgorithm algo);

/* Replicates the packet to the clone session's ports. */
extern void clone(in CloneType type, in bit<32> session);

@deprecated("Please use 'resubmit_preserving_field_list' instead")
extern void resubmit<T>(in T data);

/* Sends the packet through ingress again, keeping the metadata fields
 * annotated @field_list(index). */
extern void resubmit_preserving_field_list(bit<8> index);

@deprecated("Please use 'recirculate_preserving_field_list' instead")
extern void recirculate<T>(in T data);

/* Sends the deparsed packet back to the ingress parser, keeping the metadata
 * fields annotated @field_list(index). */
extern void recirculate_preserving_field_list(bit<8> index);

@deprecated("Please use 'clone_preserving_field_list' instead")
extern void clone3<T>(in CloneType type, in bit<32> session, in T data);

/* clone() that also keeps the metadata fields annotated @field_list(index). */
extern void clone_preserving_field_list(in CloneType type, in bit<32> session, bit<8> index);

/* Cuts the outgoing packet to `length` bytes. */
extern void truncate(in bit<32> length);

/* Checks for the BMv2 debug build: a false `check` stops the switch. */
extern void assert(in bool check);

/* For formal tools: `check` may be assumed to hold. */
extern void assume(in bool check);

/* Writes a message (and values for its {} placeholders) to the switch log. */
extern void log_msg(string msg);
extern void log_msg<T>(string msg, in T data);

/* The architecture: parser, checksum verification, ingress, egress, checksum
 * update, deparser, in that order. */

parser Parser<H, M>(packet_in b,
                    out H parsedHdr,
                    inout M meta,
                    inout standard_metadata_t standard_metadata);

control VerifyChecksum<H, M>(inout H hdr,
                             inout M meta);

@pipeline
control Ingress<H, M>(inout H hdr,
                      inout M meta,
                      inout standard_metadata_t standard_metadata);

@pipeline
control Egress<H, M>(inout H hdr,
                     inout M meta,
                     inout standard_metadata_t standard_metadata);

control ComputeChecksum<H, M>(inout H hdr,
                              inout M meta);

@deparser
control Deparser<H>(packet_out b, in H hdr);

package V1Switch<H, M>(Parser<H, M> p,
                       VerifyChecksum<H, M> vr,
                       Ingress<H, M> ig,
                       Egress<H, M> eg,
                       ComputeChecksum<H, M> ck,
                       Deparser<H> dep);

#endif /* _V1_MODEL_P4_ */
