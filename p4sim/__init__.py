"""p4sim: an embedded P4_16 target that runs v1model programs from source."""
