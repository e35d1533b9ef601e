"""The wire format (PROTOCOL.md §2-3): frames, control bodies, fragments, envelopes, constants."""
