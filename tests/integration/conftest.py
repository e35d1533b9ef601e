"""Fixtures for integration tests."""
import asyncio

import pytest


@pytest.fixture
def run():
    """Run a coroutine on a fresh uvloop loop with a hard time bound."""
    import uvloop

    def runner(coro, timeout: float = 60.0):
        async def bounded():
            return await asyncio.wait_for(coro, timeout)
        loop = uvloop.new_event_loop()
        try:
            return loop.run_until_complete(bounded())
        finally:
            loop.close()
    return runner
