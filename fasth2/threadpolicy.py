"""Which Linux scheduling policy an app thread runs a call under (``--batch-scheduling``).

Strategy: the loop hands calls to app threads and each response back, and both sides
need the GIL. Under the default policy (SCHED_OTHER) a woken thread preempts its waker
at once, only to find the GIL held and block on it: two context switches that do
nothing. On HTTP/1.1, one request in flight per connection, that is about one switch a
request. A thread under SCHED_BATCH does not preempt on wake-up: it runs when the loop
next waits (and so releases the GIL), by which time the loop has handed over every
request it read: bigger batches, 0.3 switches a request. Only wake-up preemption
changes; the thread's share of the CPU (its nice value) is the same.

Batch is not always better, so it is chosen per call. An HTTP/2 call stays under the
default policy: there the loop already hands over many requests a wake-up, and an app
thread that runs while the loop is between reads (uvloop releases the GIL there) gets
its responses to the client sooner (h2c 10 x 10: 10 % fewer requests a second with
batch threads). So does a call whose request body is still arriving: each arrival
should be read, and the window it reopens sent, before the loop's next reads (h2c 1 MiB
uploads: 9 % fewer MiB/s). The policy is switched only when a thread's next call needs
the other one.
"""

from __future__ import annotations

import os
from threading import get_ident

#: Whether threads can change their policy here (Linux; not macOS, whose os module has
#: SCHED_OTHER but no sched_setscheduler, nor Windows).
AVAILABLE = hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_BATCH")


#: The threads put under SCHED_BATCH (by ``threading.get_ident``). A set, not a
#: threading.local: a compiled caller tests membership itself, with no Python call
#: (gateway.py), and a threading.local's attribute read costs more. An ident is reused
#: once its thread has ended, so a pool thread forgets its own on the way out
#: (``forget_policy``).
BATCH_THREADS: set = set()


def use_batch_policy(batch: bool) -> None:
    """Put the calling thread under SCHED_BATCH (True) or the default policy (False),
    unless it already is. Where the policy cannot be set (not Linux, or a sandbox that
    forbids it), the thread keeps the one it has."""
    thread = get_ident()
    if not AVAILABLE or (thread in BATCH_THREADS) is batch:
        return
    if batch:
        BATCH_THREADS.add(thread)
    else:
        BATCH_THREADS.discard(thread)
    policy = os.SCHED_BATCH if batch else os.SCHED_OTHER
    try:
        os.sched_setscheduler(0, policy, os.sched_param(0))  # 0: the calling thread
    except OSError:
        pass


def forget_policy() -> None:
    """The calling thread is ending: a new thread given its ident starts out under the
    default policy, as new threads do, and must not be taken for a batch one."""
    BATCH_THREADS.discard(get_ident())
