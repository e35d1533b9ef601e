"""The C data plane's Python face: the relay/delivery batch engine and the bounded cache (PROTOCOL.md §6-7)."""
