"""The scheduling policy of the app's threads (Linux; ``--batch-scheduling``, see
fasth2/threadpolicy.py): an HTTP/1.1 call runs under SCHED_BATCH, so that waking its
thread does not preempt the event loop; an HTTP/2 call, and a call whose request body
is still arriving, under the default policy. The loop's own thread is left alone, and
``--no-batch-scheduling`` leaves every thread alone.

Each request holds its thread a moment, so that concurrent requests start every thread
of the pool and each reports its own policy (tests.apps.policy)."""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest

pytestmark = pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"),
                                reason="Linux scheduling policies")

THREADS = 8  # the server's default pool
HOLD = 0.3  # seconds each call holds its thread


async def policies(url: str, http2: bool, requests: int) -> dict[str, str]:
    """Send ``requests`` concurrent /policy calls; each thread's policy, by thread."""
    limits = httpx.Limits(max_connections=requests)
    async with httpx.AsyncClient(http1=not http2, http2=http2, limits=limits,
                                 timeout=30) as client:
        responses = await asyncio.gather(*(client.get(f"{url}/policy?hold={HOLD}")
                                           for _ in range(requests)))
    seen = {}
    for response in responses:
        assert response.status_code == 200
        policy, thread = response.text.split()
        seen[thread] = policy
    return seen


def test_http1_calls_run_under_sched_batch_and_http2_calls_do_not(fresh_server):
    server = fresh_server()
    http1 = asyncio.run(policies(server.url, False, requests=3 * THREADS))
    assert len(http1) == THREADS  # every thread of the pool ran a call
    assert set(http1.values()) == {"batch"}
    # The same threads, now running HTTP/2 calls (one connection has a share of half
    # the pool, see threadpool.ThreadShare): the default policy again.
    http2 = asyncio.run(policies(server.url, True, requests=3 * THREADS))
    assert len(http2) == THREADS // 2 and set(http2) <= set(http1)
    assert set(http2.values()) == {"other"}
    # The event loop's thread (the process's main thread) is left as it was.
    assert os.sched_getscheduler(server.process.pid) == os.SCHED_OTHER


def test_a_call_reading_a_body_still_arriving_runs_promptly(fresh_server):
    """The app starts on the request's head; its body follows 0.3 s later, so the call
    reads it under the default policy, and its thread is a batch one again after."""
    server = fresh_server()

    async def slow_body():
        yield b"first part, "
        await asyncio.sleep(HOLD)
        yield b"the rest"

    async def exchange() -> list[str]:
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.post(f"{server.url}/policy", content=slow_body())
        assert response.status_code == 200
        return response.text.split()

    policy, thread = asyncio.run(exchange())
    assert policy == "other"
    seen = asyncio.run(policies(server.url, False, requests=3 * THREADS))
    assert len(seen) == THREADS and seen[thread] == "batch"


def test_no_batch_scheduling_leaves_the_threads_alone(fresh_server):
    server = fresh_server("tests.apps:app", "--no-batch-scheduling")
    seen = asyncio.run(policies(server.url, False, requests=3 * THREADS))
    assert len(seen) == THREADS
    assert set(seen.values()) == {"other"}
