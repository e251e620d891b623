"""``wsgi.input``: the request body, streamed from the event loop to the app's thread.

Strategy: the loop feeds DATA as it arrives and never waits; the app's thread reads and
blocks (only itself) until enough has arrived. Every byte the app consumes is reported
back to the loop, which only then acknowledges it to the client (WINDOW_UPDATE). So the
bytes buffered here never exceed the stream's receive window: a slow app back-pressures
the client instead of growing memory.

This module is also compiled as it is, as ``fasth2._body_c``, where RequestBody is an
extension type with the fields _body_c.pxd declares (an attribute added here must be
declared there); twins.py picks the build's.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Callable, Iterator

from .errors import StreamAborted
from .speedups import Lock


class RequestBody:
    """A file-like, blocking reader over one request's body (PEP 3333 ``wsgi.input``)."""

    __slots__ = ("_run_on_loop", "_on_consumed", "_consumed", "_lock", "_ready", "_chunks",
                 "_size", "_ended", "_aborted", "reader_waiting", "trailers")

    def __init__(self, run_on_loop: Callable[[Callable], None],
                 on_consumed: Callable[[int], None]) -> None:
        #: Runs a callable on the event loop (called from the app's thread).
        self._run_on_loop = run_on_loop
        #: Called on the loop with the byte count the app consumed since the last call.
        self._on_consumed = on_consumed
        # Consumed bytes not yet handed to the loop; one hand-off carries all that pile
        # up before the loop gets to it.
        self._consumed = 0
        # Every critical section takes the lock itself, those of each piece of the
        # body with acquire() and release() (compiled, C calls: see speedups.Lock); the
        # condition is only for waiting, and notified only while a reader waits:
        # threading's Condition methods are Python code, a few thousand instructions a
        # call, and a 1 MiB upload arrives in dozens of pieces.
        self._lock = Lock()
        self._ready = threading.Condition(self._lock)
        self._chunks: deque[bytes | memoryview] = deque()
        self._size = 0
        self._ended = False
        self._aborted = False
        #: True while the app's thread waits for bytes that have not arrived (read on
        #: the loop without the lock: a stale value only delays a nudge, see uploads.py).
        self.reader_waiting = False
        #: The request's trailer fields, ``(name, value)`` strings, filled on the loop
        #: before the body's end is seen (``environ["fasth2.request_trailers"]``).
        self.trailers: list[tuple[str, str]] = []

    # -- the event loop's side ------------------------------------------------------

    def feed(self, data: bytes | list) -> None:
        """Append body bytes that arrived: bytes, or a list of bytes-like payloads."""
        self._lock.acquire()
        try:
            if type(data) is list:
                self._chunks.extend(data)
                self._size += sum(map(len, data))
            else:
                self._chunks.append(data)
                self._size += len(data)
            if self.reader_waiting:  # (set under the lock before the reader waits)
                self._ready.notify()
        finally:
            self._lock.release()

    def end(self) -> None:
        """Mark the end of the body (END_STREAM arrived)."""
        with self._lock:
            self._ended = True
            if self.reader_waiting:
                self._ready.notify()

    def abort(self) -> int:
        """Wake a blocked reader with StreamAborted; return the unread byte count.

        The caller acknowledges those bytes so the connection window does not leak.
        """
        with self._lock:
            self._aborted = True
            unread, self._size = self._size, 0
            self._chunks.clear()
            if self.reader_waiting:
                self._ready.notify_all()
        return unread

    @property
    def ended(self) -> bool:
        """True once the whole body has arrived."""
        return self._ended

    def _deliver_consumed(self) -> None:
        """On the loop: report what the app consumed since the last report."""
        self._lock.acquire()
        try:
            size, self._consumed = self._consumed, 0
        finally:
            self._lock.release()
        if size:
            self._on_consumed(size)

    # -- the application's side -----------------------------------------------------

    def _take(self, limit: int, stop_at_newline: bool) -> bytes:
        """Block until data is available, then take up to ``limit`` bytes (-1: all).

        With ``stop_at_newline`` the result ends at the first b"\\n". Consumption is
        reported after every batch taken, before blocking again, so that the client,
        whose window we hold, can send the rest.
        """
        pieces: list = []
        got = 0
        while True:
            finished = False
            self._lock.acquire()
            try:
                while not self._chunks and not self._ended and not self._aborted:
                    self.reader_waiting = True
                    self._ready.wait()
                self.reader_waiting = False
                if self._aborted:
                    raise StreamAborted("the client reset the stream")
                before = got
                while self._chunks:
                    chunk = self._chunks.popleft()
                    want = len(chunk) if limit < 0 else limit - got
                    if stop_at_newline:
                        if type(chunk) is memoryview:
                            chunk = chunk.tobytes()
                        newline = chunk.find(b"\n", 0, want)
                        if newline != -1:
                            want = newline + 1
                            finished = True
                    if want < len(chunk):
                        # Both parts as views: a big chunk read in small pieces must
                        # not be copied again for every piece.
                        view = memoryview(chunk)
                        self._chunks.appendleft(view[want:])
                        chunk = view[:want]
                    pieces.append(chunk)
                    got += len(chunk)
                    if finished or 0 <= limit <= got:
                        finished = True
                        break
                taken = got - before
                self._size -= taken
                if self._ended and not self._chunks:
                    finished = True
                first = taken and not self._consumed
                self._consumed += taken
            finally:
                self._lock.release()
            if first:
                self._run_on_loop(self._deliver_consumed)
            if finished:
                # One copy at most, from the received payloads to the bytes returned.
                if len(pieces) == 1 and type(pieces[0]) is bytes:
                    return pieces[0]
                return b"".join(pieces)

    def read(self, size: int | None = -1) -> bytes:
        """Read up to ``size`` bytes (all that remains when negative or None)."""
        return self._take(-1 if size is None else size, False) if size != 0 else b""

    def readline(self, size: int | None = -1) -> bytes:
        """Read one line, including its b"\\n", or at most ``size`` bytes."""
        return self._take(-1 if size is None else size, True) if size != 0 else b""

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        """Read lines until the end, or until ``hint`` bytes have been read."""
        lines = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def __iter__(self) -> Iterator[bytes]:
        """Iterate over the body line by line."""
        while True:
            line = self.readline()
            if not line:
                return
            yield line


class EmptyBody:
    """``wsgi.input`` for a request whose HEADERS carried END_STREAM: nothing to read.

    Shared by every such request, since it has no state; saves a lock per GET.
    (Properties, not class attributes: compiled, this is an extension type too, and
    the protocols' calls of ``end`` are C code instead of a Python function's frame.)
    """

    __slots__ = ()

    @property
    def ended(self) -> bool:
        """True: the body ended with the request's head."""
        return True

    @property
    def reader_waiting(self) -> bool:
        """False: nobody waits for a body that has ended."""
        return False

    @property
    def trailers(self) -> tuple:
        """No trailer fields (a tuple, shared: none can come)."""
        return ()

    def read(self, size: int | None = -1) -> bytes:
        """Return b"" (there is no body)."""
        return b""

    def readline(self, size: int | None = -1) -> bytes:
        """Return b"" (there is no body)."""
        return b""

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        """Return [] (there is no body)."""
        return []

    def __iter__(self) -> Iterator[bytes]:
        """Iterate over nothing."""
        return iter(())

    def feed(self, data: bytes) -> None:
        """Never called: h2 rejects DATA after END_STREAM."""

    def end(self) -> None:
        """Nothing to do: the body ended with the headers."""

    def abort(self) -> int:
        """Nothing was buffered."""
        return 0


EMPTY_BODY = EmptyBody()
