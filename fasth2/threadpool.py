"""The bounded pool of threads that run the WSGI application.

Strategy: ``concurrent.futures.ThreadPoolExecutor`` would do, except for three things a
server needs. Its threads are joined at interpreter exit, so one app call stuck past
the graceful deadline would keep the process alive forever; ours are daemon threads.
It builds a Future per call that nobody reads. And it wakes a thread per call: ours
hands the calls of one loop iteration over as one batch, run by one thread, which
saves a thread wake-up and a GIL hand-off per request. A batch that is still running
after ``SPREAD_AFTER`` (a slow app, a request waiting for its body) gives its unstarted
calls to other threads, so nothing waits long behind a slow call. Threads start
lazily, up to ``size``, when no idle thread is waiting. When every thread is busy,
new calls wait in a backlog that threads take newest first (adaptive LIFO): under a
flood of calls that hold threads (clients that never read, see Server.watch_threads)
a new client's call is the next to run instead of waiting behind the whole flood.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
from collections import deque
from typing import Callable

log = logging.getLogger("fasth2.error")

SPREAD_AFTER = 0.001  # seconds a batch may run before its unstarted calls move on


class ThreadPool:
    """At most ``size`` daemon threads taking calls from one queue."""

    __slots__ = ("_loop", "on_starved", "_batch", "_size", "_name", "_queue", "_backlog",
                 "newest_queued_at", "_lock", "_threads", "_idle", "_closed")

    def __init__(self, loop, size: int, name: str = "fasth2-app",
                 on_starved: Callable[[], None] | None = None) -> None:
        self._loop = loop
        #: Called (on the loop) when calls must queue because every thread is busy.
        self.on_starved = on_starved
        self._batch: list = []
        self._size = size
        self._name = name
        # Each batch put here is promised to one thread (an idle one, or a new one).
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._backlog: list = []  # batches no thread was free for (newest last)
        #: When (loop time) the newest of them was queued.
        self.newest_queued_at = 0.0
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._closed = False

    def submit(self, function: Callable, *args) -> None:
        """Run ``function(*args)`` on an app thread; never blocks.

        Called on the event loop: calls submitted in one loop iteration go to the
        threads together, as one batch, at the end of the iteration.
        """
        if self._closed:
            raise RuntimeError("the thread pool is shut down")
        self._batch.append((function, args))
        if len(self._batch) == 1:
            self._loop.call_soon(self._dispatch)

    def _dispatch(self) -> None:
        batch, self._batch = self._batch, []
        if not batch:
            return
        calls = deque(batch)
        if len(batch) > 1:  # (not len(calls) after _put: a thread may have taken one)
            self._loop.call_later(SPREAD_AFTER, self._spread, calls)
        self._put(calls)

    def _spread(self, calls: deque) -> None:
        """A batch is still running: its unstarted calls go to other threads.

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
            starved = False
            if self._idle:
                self._idle -= 1  # a waiting thread will take it
                self._queue.put(calls)
            elif len(self._threads) < self._size:
                self._queue.put(calls)
                thread = threading.Thread(target=self._work, daemon=True,
                                          name=f"{self._name}-{len(self._threads)}")
                self._threads.append(thread)
                thread.start()
            else:  # every thread is busy: the next one free takes the newest batch
                self._backlog.append(calls)
                self.newest_queued_at = self._loop.time()
                starved = True
        if starved and self.on_starved is not None:
            self.on_starved()

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
        return len(self._threads) - self._idle

    def _work(self) -> None:
        get = self._queue.get
        backlog = self._backlog
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
            with self._lock:
                if backlog:
                    calls = backlog.pop()
                    continue
                self._idle += 1
            calls = get()

    def shutdown(self) -> None:
        """Let idle threads exit; threads still busy finish (or die with the process)."""
        self._closed = True
        for _ in self._threads:
            self._queue.put(None)


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
        self._lock = threading.Lock()
        self._waiting: list = []  # a heap of (order, arrival, function, args)
        self._arrivals = itertools.count()
        #: Calls running (including those of streams since reset) on the pool.
        self.running = 0
        #: False while no new call may start (set on the loop; threads read it).
        self.open = True

    def start(self, function: Callable, *args, order: tuple = ()) -> bool:
        """Run ``function(*args)`` on the pool now (True), or once the share has room
        (False; the waiting calls lowest ``order`` first, then first come)."""
        with self._lock:
            if self.running >= self._limit or not self._may_start(self.running):
                heapq.heappush(self._waiting, (order, next(self._arrivals), function, args))
                return False
            self.running += 1
        self._pool.submit(self._run, function, args)
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
                _, _, function, args = heapq.heappop(self._waiting)
            self._pool.submit(self._run, function, args)

    def _run(self, function: Callable, args: tuple) -> None:
        while True:
            function(*args)
            with self._lock:
                if not (self._waiting and self._may_start(self.running - 1)):
                    self.running -= 1
                    return
                _, _, function, args = heapq.heappop(self._waiting)
