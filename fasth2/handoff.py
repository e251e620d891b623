"""The hand-off of one response from an app thread to the event loop.

Strategy: a synchronous app (WSGI) runs on a thread of the pool; the exchange it answers
lives on the loop. Each piece of output (a head, a body chunk, the end) crosses through
the server's ``LoopInbox``, counted as buffered; past the buffer limit the thread waits
until the loop has delivered enough, so a slow client slows the app instead of growing
memory. The final piece never waits (nobody waits for it to drain), and a response
that is one piece (a list body) costs one crossing and no lock.

The inbox is one queue for every app thread, so what a thread hands over runs on the
loop in the order it was handed over (a request body's consumption before the response
that follows it, a 103 before the final response). It wakes the loop once for as many
pieces as pile up before the loop gets to them: on a busy server, the responses of a
whole batch of calls (threadpool.py) cost one ``call_soon_threadsafe``, not one each.

This module is also compiled as it is, as ``fasth2._handoff_c``, where LoopInbox and
ThreadHandOff are extension types with the fields _handoff_c.pxd declares (an attribute
added here must be declared there); twins.py picks the build's.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import TYPE_CHECKING, Callable

from .errors import StreamAborted
from .events import Informational, Reset, Trailers

if TYPE_CHECKING:
    from .exchange import Exchange


log = logging.getLogger("fasth2.error")


class LoopInbox:
    """*Any thread*: callbacks for the event loop, run there in the order posted, as
    many per loop wake-up as were posted before the loop got to them."""

    __slots__ = ("_call_soon", "_items", "_append", "_popleft", "_scheduled")

    def __init__(self, call_soon: Callable) -> None:
        self._call_soon = call_soon  # the loop's call_soon_threadsafe
        # (exchange, headers, data, end): a piece of a response; (None, callback, args, None).
        self._items: deque = deque()
        # (bound once: compiled, a call of each costs half a method call's lookup)
        self._append = self._items.append
        self._popleft = self._items.popleft
        # True from the moment a drain is scheduled until it begins: a post in between
        # only appends, and the drain takes it.
        self._scheduled = False

    def post(self, callback: Callable, *args) -> None:
        """``callback(*args)`` on the loop, after everything posted before it;
        StreamAborted if the loop is closed (the server is gone)."""
        self._append((None, callback, args, None))
        if not self._scheduled:
            self._schedule()

    def post_response(self, exchange: "Exchange", headers: list | None, data: bytes,
                      end: bool) -> None:
        """``exchange.respond(headers, data, end)`` on the loop (a ``post`` without a
        bound method and an argument tuple to build)."""
        self._append((exchange, headers, data, end))
        if not self._scheduled:
            self._schedule()

    def _schedule(self) -> None:
        self._scheduled = True
        try:
            self._call_soon(self._drain)
        except RuntimeError:  # the loop is closed
            self._scheduled = False
            raise StreamAborted("the server is shutting down") from None

    def _drain(self) -> None:
        """On the loop: run what was posted, until nothing is left."""
        # Cleared before taking anything: a post from now on schedules another drain,
        # and whatever was posted before is taken below. (Only this drain takes items,
        # so the deque cannot empty between the test and the popleft.)
        self._scheduled = False
        items = self._items
        popleft = self._popleft
        while items:
            exchange, first, second, end = popleft()
            try:
                if exchange is None:
                    first(*second)
                else:
                    exchange.respond(first, second, end)
            except Exception:  # one piece's failure must not strand the rest
                log.exception("error delivering an app's output")


class ThreadHandOff:
    """*App thread*: sends one exchange's response events to the loop."""

    __slots__ = ("exchange", "_inbox", "_limit", "_buffered", "_drained")

    def __init__(self, exchange: "Exchange", inbox: LoopInbox, limit: int) -> None:
        self.exchange = exchange
        self._inbox = inbox
        self._limit = limit
        self._buffered = 0  # bytes of non-final pieces handed over and not yet delivered
        # Made on the first non-final piece: most responses are one piece and never
        # need it.
        self._drained: threading.Condition | None = None

    @property
    def stream_id(self) -> int:
        """The exchange's stream id (for log lines)."""
        return self.exchange.stream_id

    @property
    def aborted(self) -> bool:
        """True once the client went away (or the response was reset)."""
        return self.exchange.aborted

    @property
    def can_sendfile(self) -> bool:
        """True where ``send_file`` hands a file to the kernel (HTTP/1.1 cleartext)."""
        return self.exchange.wire.can_sendfile

    def _hand(self, callback: Callable, *args) -> None:
        self._inbox.post(callback, *args)

    def submit(self, headers: list | None, data: bytes, end: bool) -> None:
        """Hand response headers (the first time) and/or body bytes to the loop.

        Blocks while more than the buffer limit waits to be delivered; raises
        StreamAborted once the exchange was abandoned.
        """
        exchange = self.exchange
        if exchange.aborted:
            raise StreamAborted("the client went away")
        if data:
            exchange.wire.reserve(len(data))  # (Exchange.reserve, a call shorter)
        if end:  # the usual response is this one piece: no lock, no second call
            self._inbox.post_response(exchange, headers, data, True)
            return
        drained = self._drained
        if drained is None:
            drained = self._drained = threading.Condition(threading.Lock())
            exchange.on_drained = self._release
            exchange.on_aborted = self._wake
        with drained:
            self._buffered += len(data)
        self._inbox.post_response(exchange, headers, data, False)
        if self._buffered <= self._limit:
            return
        with drained:
            exchange.app_waiting = True
            while self._buffered > self._limit and not exchange.aborted:
                drained.wait()
            exchange.app_waiting = False
        if exchange.aborted:
            raise StreamAborted("the client went away")

    def finish_with_trailers(self, headers: list | None, data: bytes, trailers: list) -> None:
        """The last body bytes (and the head, if not sent yet), then trailer fields."""
        if headers is not None or data:
            self.submit(headers, data, False)
        self._hand(self.exchange.send, Trailers(trailers))

    def inform(self, headers: list) -> None:
        """An informational (1xx) response ahead of the final one."""
        if self.exchange.aborted:
            raise StreamAborted("the client went away")
        self._hand(self.exchange.send, Informational(headers))

    def reset(self, code: int) -> None:
        """The app failed mid-body: abandon the response on the wire."""
        self._hand(self.exchange.send, Reset(code))

    def send_file(self, headers: list, fd: int, offset: int, count: int) -> None:
        """The head, then ``count`` bytes of file ``fd`` from ``offset`` straight to the
        socket (the wire's ``send_file``), which ends the response."""
        if self.exchange.aborted:
            raise StreamAborted("the client went away")
        self.exchange.response_headers = headers
        self.exchange.wire.send_file(self, headers, fd, offset, count)

    def _release(self, size: int) -> None:
        """On the loop: ``size`` body bytes were delivered; wake the app below the
        limit. Bytes of the final piece come last and find nothing left to count."""
        drained = self._drained
        with drained:
            if self._buffered:
                self._buffered -= min(size, self._buffered)
                if self.exchange.app_waiting and self._buffered <= self._limit:
                    drained.notify()

    def _wake(self) -> None:
        """On the loop: the exchange was abandoned; wake a waiting app thread."""
        drained = self._drained
        with drained:
            self._buffered = 0
            drained.notify_all()
