"""The bounded pool of threads that run the WSGI application.

Strategy: ``concurrent.futures.ThreadPoolExecutor`` would do, except for two things a
server needs. Its threads are joined at interpreter exit, so one app call stuck past
the graceful deadline would keep the process alive forever; ours are daemon threads.
And it builds a Future per call that nobody reads; ours queues a plain tuple. Threads
start lazily, up to ``size``, when no idle thread is waiting.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Callable

log = logging.getLogger("fasth2.error")


class WorkerPool:
    """At most ``size`` daemon threads taking calls from one queue."""

    def __init__(self, size: int, name: str = "fasth2-app") -> None:
        self._size = size
        self._name = name
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._closed = False

    def submit(self, function: Callable, *args) -> None:
        """Run ``function(*args)`` on a worker thread; never blocks."""
        if self._closed:
            raise RuntimeError("the worker pool is shut down")
        self._queue.put((function, args))
        with self._lock:
            if self._idle:
                self._idle -= 1  # a waiting thread will take it
            elif len(self._threads) < self._size:
                thread = threading.Thread(target=self._work, daemon=True,
                                          name=f"{self._name}-{len(self._threads)}")
                self._threads.append(thread)
                thread.start()
            # else: every thread is busy; the call waits in the queue.

    def _work(self) -> None:
        get = self._queue.get
        while True:
            item = get()
            if item is None:
                return
            function, args = item
            try:
                function(*args)
            except BaseException:  # run_app handles app errors; this is a last resort
                log.exception("uncaught error in a worker thread")
            with self._lock:
                self._idle += 1

    def shutdown(self) -> None:
        """Let idle threads exit; threads still busy finish (or die with the process)."""
        self._closed = True
        for _ in self._threads:
            self._queue.put(None)
