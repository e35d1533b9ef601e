from typing import Any, Callable

def decode_events(
    payloads: list[bytes], scan: Callable[[str, int], tuple[Any, int]],
    loads: Callable[[str], Any]
) -> tuple[dict[bytes, tuple[list[int], list[Any]]], int]: ...
