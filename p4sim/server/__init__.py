"""p4sim's P4Runtime server: the gRPC service (`grpc_service`), the device
it serves (`device`: pipeline, arbitration, streams, data plane), the
translation of P4Runtime entities (`translate`, `write`, `read`, `pre`) and
the switch process (`main`, the `p4sim [options] PROGRAM` command)."""
