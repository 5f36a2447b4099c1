"""Where frames enter and leave p4sim: Linux interfaces through AF_PACKET
(`afpacket`), in-memory ports for tests (`memory`), per-port pcap captures
(`pcap`). Every port delivers received frames to one callback on the event
loop and sends synchronously, so frames of a port keep their order."""
