"""The app thread pool on a real event loop: batches, their spreading, the backlog."""

from __future__ import annotations

import asyncio
import sys
import threading
import time

import pytest
import uvloop

from fasth2.twins import ThreadPool

ROUNDS = 200


@pytest.fixture
def loop():
    loop = uvloop.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture
def eager_thread_switches():
    """Python hands the GIL over at (almost) every chance: a new thread then often runs
    its first call before the loop thread's next line, the order a loaded machine makes."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


async def _until(event: threading.Event, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not event.is_set() and time.monotonic() < deadline:
        await asyncio.sleep(0.001)
    return event.is_set()


def test_a_call_batched_behind_a_blocked_one_moves_to_another_thread(loop, eager_thread_switches):
    """Calls submitted in one loop iteration go to one thread as a batch; when its first
    call blocks, the second must still run (on another thread), however soon the
    first thread started. It once did not when that thread took its first call before
    the loop looked at the batch's length: the second waited for the first to end."""
    async def round_trip() -> bool:
        pool = ThreadPool(loop, 2)
        release, ran = threading.Event(), threading.Event()
        try:
            pool.submit(release.wait)
            pool.submit(ran.set)  # (same iteration: one batch)
            return await _until(ran, timeout=5)
        finally:
            release.set()
            pool.shutdown()

    for attempt in range(ROUNDS):
        assert loop.run_until_complete(round_trip()), f"round {attempt}: the call waited"
