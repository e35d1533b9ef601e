"""Periodic timers that fire a random 0-25% early (docs/PROTOCOL.md §6, "Timers").

Peers that started in the same second (a fleet restarted, a network that came back, the
simulator's join storm) would otherwise run their periodic rounds in the same second for
ever. At 10,000 simulated peers every peer's first JOIN re-announce landed within 3 s (49 JOIN
datagrams a peer a second), the newcomers' seeks came in waves 10 s apart, and each minute
every peer re-pinged the bootstrap peers it missed in the same instant. Early, never late: a
bound that counts on the period (a member learnt only through relayed JOINs is kept
member_ttl, 3 x join_interval) still holds.
"""
from __future__ import annotations

from random import Random

TIMER_JITTER = 0.25


def early(interval: float, rng: Random) -> float:
    """``interval`` less a random 0-25% (TIMER_JITTER): the wait until a periodic round."""
    return interval * (1.0 - TIMER_JITTER * rng.random())
