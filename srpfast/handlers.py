"""Event handlers by name, as the public API runs them (srpfast.api, srpfast.subcluster).

A handler may be a plain function or a coroutine function (its coroutine runs as a task); an
exception in one is logged and never stops the others, the network or the loop (docs/EVENTS.md).
"""
from __future__ import annotations

import asyncio
import logging
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from srpfast.errors import ArgumentTypeError, CapacityError
from srpfast.wire.envelope import check_event_name

log = logging.getLogger("srpfast")

Handler = Callable[..., Any]


@contextmanager
def naming(call: str) -> Iterator[None]:
    """A CapacityError raised inside names the call it came from (which event, which
    value), before the engine's own reason and advice."""
    try:
        yield
    except CapacityError as exc:
        raise CapacityError(f"{call}: {exc}") from None


def check_handler(name: object, handler: object) -> str:
    """The event name of ``on(name, handler)`` once both arguments are usable, else
    ArgumentError naming the bad one."""
    check_event_name(name)
    if not callable(handler):
        raise ArgumentTypeError(f"on({name!r}, handler): handler must be callable (a function "
                                f"or coroutine function), got {type(handler).__name__}")
    return str(name)


class Emitter:
    """Event handlers by name: ``on(name, handler)`` adds one (returned, so it can be used
    as a decorator), ``off(name, handler)`` removes it. A handler may be a coroutine
    function (it runs as a task; its exceptions are logged). One failing handler never
    stops the others or the network."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}

    def on(self, name: str, handler: Handler) -> Handler:
        self._handlers.setdefault(check_handler(name, handler), []).append(handler)
        return handler

    def off(self, name: str, handler: Handler) -> None:
        if handler in self._handlers.get(name, []):
            self._handlers[name].remove(handler)

    def _fire(self, name: str, *args: Any) -> None:
        for handler in list(self._handlers.get(name, ())):
            call_handler(handler, name, *args)


def call_handler(handler: Handler, name: str, *args: Any) -> None:
    """One handler call: a coroutine it returns runs as a task; an exception is logged (one
    bad handler must not silence the others or the loop)."""
    try:
        result = handler(*args)
        if result is not None and asyncio.iscoroutine(result):  # (None: a plain def)
            spawn(result, name)
    except Exception:
        log.exception("handler for %r failed", name)


# Tasks of async handlers: referenced until done (the loop keeps only weak references), and
# their exceptions logged like those of plain handlers instead of vanishing with the task.
TASKS: set[asyncio.Task[Any]] = set()


def spawn(coro: Any, name: str) -> None:
    task = asyncio.ensure_future(coro)
    TASKS.add(task)

    def done(t: asyncio.Task[Any]) -> None:
        TASKS.discard(t)
        if not t.cancelled() and t.exception() is not None:
            log.error("async handler for %r failed", name, exc_info=t.exception())

    task.add_done_callback(done)
