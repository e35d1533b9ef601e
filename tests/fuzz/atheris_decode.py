"""atheris (coverage-guided) over frame.decode and every control-body decoder.

Invariant (as h11's fuzzing): parse it or raise srpfast's own MalformedPacket; anything else
is a bug. Run by `make fuzz` for a bounded time: tests/fuzz/atheris_decode.py -max_total_time=60
"""
import sys

import atheris

with atheris.instrument_imports():
    from srpfast.wire import bodies
    from srpfast.wire import frame
    from srpfast.errors import MalformedPacket


def one_input(data: bytes) -> None:
    if not data:
        return
    selector, rest = data[0], data[1:]
    try:
        if selector < 128:
            # Give the frame fuzzer a head start: correct magic and size most of the time.
            d = (b"SRP\x00" + rest)[:1158].ljust(1158, b"\x00") if selector & 1 else rest
            f = frame.decode(d)
            assert f.packet_id == frame.packet_id(d)
        else:
            bodies.decode_body(1 + selector % 9, rest)
    except MalformedPacket:
        pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
