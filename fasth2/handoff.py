"""The hand-off of one response from an app thread to the event loop.

Strategy: a synchronous app (WSGI) runs on a thread of the pool; the exchange it answers
lives on the loop. Each piece of output (a head, a body chunk, the end) crosses with
one ``call_soon_threadsafe`` as a response event, counted as buffered; past the buffer
limit the thread waits until the loop has delivered enough, so a slow client slows the
app instead of growing memory. The final piece never waits (nobody waits for it to
drain), and a response that is one piece (a list body) costs one crossing and no lock.

This module is also compiled as it is, as ``fasth2._handoff_c``, where ThreadHandOff
is an extension type with the fields _handoff_c.pxd declares (an attribute added here
must be declared there); twins.py picks the build's.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Callable

from .errors import StreamAborted
from .events import Informational, Reset, Trailers

if TYPE_CHECKING:
    from .exchange import Exchange


def call_on_loop(call_soon: Callable, callback: Callable, *args) -> None:
    """*App thread*: ``call_soon(callback, *args)`` (the loop's call_soon_threadsafe);
    StreamAborted if the loop is closed (the server is gone)."""
    try:
        call_soon(callback, *args)
    except RuntimeError:
        raise StreamAborted("the server is shutting down") from None


class ThreadHandOff:
    """*App thread*: sends one exchange's response events to the loop."""

    __slots__ = ("exchange", "_call_soon", "_limit", "_buffered", "_drained")

    def __init__(self, exchange: "Exchange", call_soon: Callable, limit: int) -> None:
        self.exchange = exchange
        self._call_soon = call_soon  # the loop's call_soon_threadsafe
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
        call_on_loop(self._call_soon, callback, *args)

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
            try:
                self._call_soon(exchange.respond, headers, data, True)
            except RuntimeError:  # the loop is closed: the server is gone
                raise StreamAborted("the server is shutting down") from None
            return
        drained = self._drained
        if drained is None:
            drained = self._drained = threading.Condition(threading.Lock())
            exchange.on_drained = self._release
            exchange.on_aborted = self._wake
        with drained:
            self._buffered += len(data)
        self._hand(exchange.respond, headers, data, False)
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
