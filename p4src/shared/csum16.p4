// Incremental update of Internet checksums (RFC 1071 one's-complement sums),
// following RFC 1624 eqn. 3:  HC' = ~(~HC + ~m + m')  for each changed 16-bit
// word m -> m'. Only the changed words are read, never the payload the
// checksum covers, so the same arithmetic fits a hardware pipeline.
//
// A "delta" is a running sum kept in 32 bits; up to 65535 words can be added
// before it could overflow, far more than any rewrite here changes.
#ifndef FORWARDER_SHARED_CSUM16_P4
#define FORWARDER_SHARED_CSUM16_P4

// The delta for one 16-bit word changing from old_word to new_word.
bit<32> csum16_delta16(in bit<16> old_word, in bit<16> new_word) {
    return (bit<32>)(~old_word) + (bit<32>)new_word;
}

// The delta for a 32-bit field (two checksum words) changing value.
bit<32> csum16_delta32(in bit<32> old_value, in bit<32> new_value) {
    return csum16_delta16(old_value[31:16], new_value[31:16])
         + csum16_delta16(old_value[15:0], new_value[15:0]);
}

// The delta for a 128-bit field (an IPv6 address, eight checksum words).
bit<32> csum16_delta128(in bit<128> old_value, in bit<128> new_value) {
    return csum16_delta32(old_value[127:96], new_value[127:96])
         + csum16_delta32(old_value[95:64], new_value[95:64])
         + csum16_delta32(old_value[63:32], new_value[63:32])
         + csum16_delta32(old_value[31:0], new_value[31:0]);
}

// The checksum after applying a delta: fold the carries back into 16 bits
// (twice: the first fold can carry once more) and complement.
bit<16> csum16_apply(in bit<16> checksum, in bit<32> delta) {
    bit<32> sum = (bit<32>)(~checksum) + delta;
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return ~sum[15:0];
}

#endif
