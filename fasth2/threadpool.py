"""The bounded pool of threads that run the WSGI application.

Strategy: ``concurrent.futures.ThreadPoolExecutor`` would do, except for three things a
server needs. Its threads are joined at interpreter exit, so one app call stuck past
the graceful deadline would keep the process alive forever; ours are daemon threads.
It builds a Future per call that nobody reads. And it wakes a thread per call: ours
hands the calls of one loop iteration over as one batch, run by one thread, which
saves a thread wake-up and a GIL hand-off per request.

A batch stays *open* until its thread has run every call in it: the calls of the loop's
next iterations join it instead of waking another thread. On a busy core the loop
reads for several iterations before the thread it woke gets to run; waking a thread a
batch then put every thread of the pool to work on small batches (on HTTP/1.1 hello
requests, 8 threads did 11 % fewer requests a second than one). While the open batch
is running, the pool looks at it every ``SPREAD_AFTER``: if its thread has started and
taken no call since the last look, it is stuck in one (a slow app, a request waiting
for its body), and the batch's unstarted calls go to other threads, so nothing waits
long behind a slow call. A thread that has not started yet is waiting for the CPU,
which another thread would wait for too. Threads start lazily, up to ``size``, when no
idle thread is waiting; the one idle the shortest time takes the next batch (each waits
on a queue of its own), its state still in the CPU's caches. When every thread is busy,
new calls wait in a backlog that threads take newest first (adaptive LIFO): under a
flood of calls that hold threads (clients that never read, see Server.watch_threads)
a new client's call is the next to run instead of waiting behind the whole flood.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections import deque
from heapq import heappop, heappush
from typing import Callable

from .speedups import Lock
from .threadpolicy import forget_policy

log = logging.getLogger("fasth2.error")

SPREAD_AFTER = 0.001  # seconds between looks at the open batch (is its thread stuck?)

# The paths taken for every batch or request hold the lock with acquire() and release()
# in try/finally, not ``with``: compiled, those are two C calls (speedups.Lock), where
# ``with`` looks up and calls two Python methods (about 1,000 instructions).


class ThreadPool:
    """At most ``size`` daemon threads running batches of calls."""

    __slots__ = ("_loop", "on_starved", "_batch", "_size", "_name", "_backlog",
                 "newest_queued_at", "_lock", "_threads", "_idle", "_closed", "_open",
                 "_open_total", "_open_taken")

    def __init__(self, loop, size: int, name: str = "fasth2-app",
                 on_starved: Callable[[], None] | None = None) -> None:
        self._loop = loop
        #: Called (on the loop) when calls must queue because every thread is busy.
        self.on_starved = on_starved
        self._batch: list = []
        self._size = size
        self._name = name
        self._backlog: list = []  # batches no thread was free for (newest last)
        #: When (loop time) the newest of them was queued.
        self.newest_queued_at = 0.0
        self._lock = Lock()
        self._threads: list[queue.SimpleQueue] = []  # each thread's own queue of batches
        #: The queues of the threads waiting for a batch, the latest to wait last.
        self._idle: list[queue.SimpleQueue] = []
        self._closed = False
        #: The batch last handed over while its thread has calls of it to run (None:
        #: the next calls wake a thread); calls put in it, and taken at the last look.
        self._open: deque | None = None
        self._open_total = 0
        self._open_taken = 0

    def submit(self, function: Callable, *args) -> None:
        """Run ``function(*args)`` on an app thread; never blocks.

        Called on the event loop: calls submitted in one loop iteration go to the
        threads together, as one batch, at the end of the iteration.
        """
        self.submit_args(function, args)

    def submit_args(self, function: Callable, args: tuple) -> None:
        """``submit(function, *args)`` with the arguments already a tuple (compiled, a C
        call: the gateway's, a request)."""
        if self._closed:
            raise RuntimeError("the thread pool is shut down")
        self._batch.append((function, args))
        if len(self._batch) == 1:
            self._loop.call_soon(self._dispatch)

    def _dispatch(self) -> None:
        batch, self._batch = self._batch, []
        if not batch:
            return
        self._lock.acquire()
        try:
            if self._open is not None:  # its thread has calls to run still: join them
                self._open.extend(batch)
                self._open_total += len(batch)
                return
            calls = deque(batch)
            starved = self._hand(calls)
            if not starved:  # (a batch in the backlog stays closed: newest first, per batch)
                self._open = calls
                self._open_total = len(batch)
                self._open_taken = 0
        finally:
            self._lock.release()
        if starved:
            if self.on_starved is not None:
                self.on_starved()
        else:
            self._loop.call_later(SPREAD_AFTER, self._look_at_open, calls)

    def _look_at_open(self, calls: deque) -> None:
        """``calls`` was open ``SPREAD_AFTER`` ago: if its thread is stuck in a call, its
        unstarted calls go to other threads; else look again later."""
        if self._open is not calls:
            return  # its thread ran them all
        taken = self._open_total - len(calls)
        if taken == 0 or taken != self._open_taken:  # not started yet, or moving
            self._open_taken = taken
            self._loop.call_later(SPREAD_AFTER, self._look_at_open, calls)
            return
        with self._lock:
            if self._open is calls:
                self._open = None  # new calls go to another thread from now on
        self._spread(calls)

    def _spread(self, calls: deque) -> None:
        """A batch's thread is stuck: its unstarted calls go to other threads.

        Both sides take calls with ``popleft`` (atomic), so each runs exactly once.
        """
        while True:
            try:
                call = calls.popleft()
            except IndexError:
                return
            self._put(deque((call,)))

    def _put(self, calls: deque) -> None:
        with self._lock:
            starved = self._hand(calls)
        if starved and self.on_starved is not None:
            self.on_starved()

    def _hand(self, calls: deque) -> bool:
        """Under the lock: ``calls`` to an idle thread, a new one, or (True) the backlog."""
        if self._idle:
            self._idle.pop().put(calls)  # the thread that waited least takes it
        elif len(self._threads) < self._size:
            own: queue.SimpleQueue = queue.SimpleQueue()
            own.put(calls)
            self._threads.append(own)
            threading.Thread(target=self._work, args=(own,), daemon=True,
                             name=f"{self._name}-{len(self._threads) - 1}").start()
        else:  # every thread is busy: the next one free takes the newest batch
            self._backlog.append(calls)
            self.newest_queued_at = self._loop.time()
            return True
        return False

    @property
    def starved(self) -> bool:
        """True while calls wait for a thread."""
        return bool(self._backlog)

    @property
    def queued(self) -> int:
        """App calls waiting for a thread (for metrics)."""
        with self._lock:
            return sum(len(calls) for calls in self._backlog)

    @property
    def busy(self) -> int:
        """Threads running calls (for metrics)."""
        return len(self._threads) - len(self._idle)

    def _work(self, own: queue.SimpleQueue) -> None:
        get = own.get
        backlog = self._backlog
        idle = self._idle
        calls = get()
        while calls is not None:
            while True:
                try:
                    function, args = calls.popleft()
                except IndexError:
                    break
                try:
                    function(*args)
                except BaseException:  # run_app handles app errors; a last resort
                    log.exception("uncaught error in an app thread")
            self._lock.acquire()
            try:
                if calls:
                    continue  # the loop added calls after the last was taken
                if self._open is calls:
                    self._open = None  # the loop's next calls wake a thread
                if backlog:
                    calls = backlog.pop()
                    continue
                idle.append(own)
            finally:
                self._lock.release()
            calls = get()
        forget_policy()

    def shutdown(self) -> None:
        """Let idle threads exit; threads still busy finish (or die with the process)."""
        self._closed = True
        for own in self._threads:
            own.put(None)


class ThreadShare:
    """A bounded share of a pool for one connection: at most ``limit`` calls running.

    Calls past the share wait here, and so do all new calls while the share is closed
    (``open`` False: the connection holds too much unsent response, see memory.py). While
    the process-wide ``gate`` is closed (all connections together hold too much), a
    connection that holds nothing (``owner.held``) may still run one call at a time, so
    that clients who read are served while those who do not are shed. A thread
    finishing one of this connection's calls takes the next waiting one itself, under
    the same lock, so the share costs no round trip through the event loop. Waiting
    calls start in ``order`` (an HTTP/2 stream's urgency, then its id): a page's HTML
    and CSS do not wait behind the images requested before them.
    """

    __slots__ = ("_pool", "_limit", "_gate", "_owner", "_lock", "_waiting", "_arrivals",
                 "running", "open")

    def __init__(self, pool: ThreadPool, limit: int, gate, owner) -> None:
        self._pool = pool
        self._limit = limit
        self._gate = gate
        self._owner = owner
        self._lock = Lock()
        self._waiting: list = []  # a heap of (order, arrival, function, args)
        self._arrivals = itertools.count()
        #: Calls running (including those of streams since reset) on the pool.
        self.running = 0
        #: False while no new call may start (set on the loop; threads read it).
        self.open = True

    def start(self, function: Callable, *args, order: tuple = ()) -> bool:
        """Run ``function(*args)`` on the pool now (True), or once the share has room
        (False; the waiting calls lowest ``order`` first, then first come)."""
        self._lock.acquire()
        try:
            if self.running >= self._limit or not self._may_start(self.running):
                heappush(self._waiting, (order, next(self._arrivals), function, args))
                return False
            self.running += 1
        finally:
            self._lock.release()
        self._pool.submit_args(self._run, (function, args))
        return True

    def _may_start(self, others: int) -> bool:
        """Whether a call may start now, ``others`` of this share's calls running."""
        return self.open and (self._gate.open or (others == 0 and not self._owner.held))

    @property
    def waiting(self) -> bool:
        """True while calls wait for room."""
        return bool(self._waiting)

    def resume(self) -> None:
        """The share (or the gate) is open again: start waiting calls, up to the limit."""
        while True:
            with self._lock:
                if not (self._waiting and self.running < self._limit
                        and self._may_start(self.running)):
                    return
                self.running += 1
                _, _, function, args = heappop(self._waiting)
            self._pool.submit_args(self._run, (function, args))

    def _run(self, function: Callable, args: tuple) -> None:
        while True:
            function(*args)
            self._lock.acquire()
            try:
                if not (self._waiting and self._may_start(self.running - 1)):
                    self.running -= 1
                    return
                _, _, function, args = heappop(self._waiting)
            finally:
                self._lock.release()
