from typing import Any, Callable

def decode_events(
    payloads: list[bytes], scan: Callable[[str, int], tuple[Any, int]],
    loads: Callable[[str], Any]
) -> tuple[dict[bytes, tuple[list[int], list[Any]]], int]: ...
def pack_events(events: list[bytes], limit: int) -> tuple[list[bytes], list[int]]: ...
