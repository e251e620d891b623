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


def test_a_call_joining_a_stuck_batch_moves_to_another_thread(loop):
    """A call submitted while a thread runs the open batch joins that batch (no thread is
    woken for it); when the batch's thread is stuck in a call, the joined call must
    still run, on another thread."""
    async def round_trip() -> bool:
        pool = ThreadPool(loop, 2)
        release, started, ran = threading.Event(), threading.Event(), threading.Event()
        try:
            pool.submit(lambda: (started.set(), release.wait()))
            if not await _until(started, timeout=5):
                return False
            pool.submit(ran.set)  # (a later iteration: joins the open batch)
            return await _until(ran, timeout=5)
        finally:
            release.set()
            pool.shutdown()

    for attempt in range(20):
        assert loop.run_until_complete(round_trip()), f"round {attempt}: the call waited"


def test_the_thread_idle_the_shortest_time_takes_the_next_batch(loop):
    """Three threads go idle one after another; the next call runs on the last of them
    (the one whose state is likeliest still in the CPU's caches), not the first."""
    async def scenario() -> tuple[int, int]:
        pool = ThreadPool(loop, 3)
        releases = [threading.Event() for _ in range(3)]
        threads: list[int] = []
        try:
            for release in releases:  # each blocks its thread: three threads
                started = threading.Event()
                pool.submit(lambda release=release, started=started: (
                    threads.append(threading.get_ident()), started.set(), release.wait()))
                assert await _until(started, timeout=5)
            for count, release in enumerate(releases, 1):  # idle in the order 0, 1, 2
                release.set()
                deadline = time.monotonic() + 5
                while pool.busy > 3 - count and time.monotonic() < deadline:
                    await asyncio.sleep(0.001)
            assert pool.busy == 0
            ran_on: list[int] = []
            done = threading.Event()
            pool.submit(lambda: (ran_on.append(threading.get_ident()), done.set()))
            assert await _until(done, timeout=5)
            return ran_on[0], threads[2]
        finally:
            for release in releases:
                release.set()
            pool.shutdown()

    ran_on, last_idle = loop.run_until_complete(scenario())
    assert ran_on == last_idle


def test_a_thread_that_ends_forgets_its_scheduling_policy(loop):
    """An ident is reused once its thread has ended: a pool thread put under SCHED_BATCH
    must not leave its ident behind, or a new thread given it (which starts under the
    default policy) would be taken for a batch one and never switched."""
    from fasth2.threadpolicy import BATCH_THREADS, use_batch_policy

    async def scenario() -> bool:
        pool = ThreadPool(loop, 1)
        idents: list[int] = []
        done = threading.Event()
        pool.submit(lambda: (use_batch_policy(True), idents.append(threading.get_ident()),
                             done.set()))
        assert await _until(done, timeout=5)
        pool.shutdown()
        deadline = time.monotonic() + 5
        while idents[0] in BATCH_THREADS and time.monotonic() < deadline:
            await asyncio.sleep(0.001)
        return idents[0] in BATCH_THREADS

    assert not loop.run_until_complete(scenario())
