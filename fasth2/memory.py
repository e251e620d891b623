"""The response-memory budget: unsent response bytes, per connection and per process.

Strategy: an app's response lives in memory from the moment the app hands it over until
the client's windows and socket take it. A client that does not read (CVE-2019-9517),
opens windows a byte at a time (CVE-2019-9511) or holds streams at window 0 could make
every stream's response sit there, so what is held is counted, on the app's thread as
the output is handed over (the thread pool must see it before it starts the next call)
and on the loop as it is sent or dropped. Past ``per_connection`` the connection starts
no new app calls (its share of the pool closes); past ``limit`` no connection does (the
process-wide gate closes), and the server sheds the connections that hold the most
without taking any of it. The bound is therefore the budget plus what the calls already
running produce: it grows with the threads, never with the streams clients open.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

from .speedups import Lock

#: Allocations from this size are served by mmap: see ``tune_allocator``.
MMAP_THRESHOLD = 512 * 1024
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def tune_allocator() -> bool:
    """On glibc, serve allocations of MMAP_THRESHOLD and more from mmap; True if done.

    A response made whole (a 1 MiB page, say) is freed by whichever thread drops it last;
    glibc's default raises its mmap threshold after the first such free, so later ones
    come from per-thread arenas and stay resident after they are freed: RSS then keeps
    the peak of an attack that made many of them. Fixed at 512 KiB, they are unmapped
    when freed, while the 256 KiB read buffers stay on the heap (a threshold at 128 KiB
    halved upload throughput). A MALLOC_MMAP_THRESHOLD_ set by the user wins.
    """
    if os.environ.get("MALLOC_MMAP_THRESHOLD_") is not None:
        return False
    mallopt = _mallopt()
    return mallopt is not None and bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))


@functools.cache  # (finding libc runs ldconfig: 1-2 ms, once is enough)
def _mallopt():
    """glibc's ``mallopt``, or None (no libc found, or not glibc)."""
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        return ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc
        return None


class ResponseMemory:
    """Counts held response bytes and opens or closes the pool's shares and gate.

    An *account* is a connection: it has ``held`` (bytes), ``apps`` (its side of the
    gateway, whose ``open`` says whether its app calls may start and ``waiting`` whether
    some wait) and ``resume_app_calls()``.
    """

    __slots__ = ("per_connection", "limit", "total", "open", "_accounts", "_held_back", "_lock")

    def __init__(self, per_connection: int, limit: int) -> None:
        self.per_connection = per_connection
        self.limit = limit
        #: Bytes held by every connection together.
        self.total = 0
        #: The process-wide gate that every ThreadShare reads: False past ``limit``.
        self.open = True
        self._accounts: set = set()
        self._held_back: set = set()  # accounts whose own share is closed
        self._lock = Lock()

    def register(self, account) -> None:
        """A new connection that will hold responses."""
        with self._lock:
            self._accounts.add(account)

    def forget(self, account) -> None:
        """The connection is gone (its streams' ends released what it held)."""
        with self._lock:
            self._accounts.discard(account)
            self._held_back.discard(account)

    def hold(self, account, size: int) -> bool:
        """*Any thread*: ``account`` holds ``size`` more bytes. True if this closed the
        process-wide gate (the caller then has the loop shed, see Server)."""
        # (acquire and release, not ``with``: compiled, two C calls, see speedups.Lock)
        self._lock.acquire()
        try:
            account.held += size
            self.total += size
            if account.apps.open and account.held >= self.per_connection:
                account.apps.open = False
                self._held_back.add(account)
            if self.open and self.total >= self.limit:
                self.open = False
                return True
        finally:
            self._lock.release()
        return False

    def release(self, account, size: int) -> None:
        """*Loop*: ``size`` held bytes were sent or dropped; reopen what has room again."""
        self._lock.acquire()
        try:
            account.held -= size
            self.total -= size
            if not self.open and self.total < self.limit:
                self.open = True  # every connection's waiting calls may go
                candidates = [a for a in self._accounts
                              if a.apps.waiting or a in self._held_back]
            elif self.open and account in self._held_back and account.held < self.per_connection:
                candidates = [account]
            else:
                return
            for candidate in candidates:
                if candidate in self._held_back and candidate.held < self.per_connection:
                    self._held_back.discard(candidate)
                    candidate.apps.open = True
        finally:
            self._lock.release()
        for candidate in candidates:
            candidate.resume_app_calls()

    def largest(self) -> list:
        """The accounts holding anything, the largest first."""
        with self._lock:
            return sorted((a for a in self._accounts if a.held), key=lambda a: a.held, reverse=True)
