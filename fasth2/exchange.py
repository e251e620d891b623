"""The hand-off of one response from the app's thread to the event loop.

Strategy: the app's thread hands each piece of output (headers, a body chunk, the end)
to the loop with one ``call_soon_threadsafe`` and counts it as buffered; past the
buffer limit it waits until the loop has sent enough, so a slow client slows the app
instead of growing memory. HTTP/2 streams and HTTP/1.1 exchanges share this and differ
only in how ``_on_output`` puts the pieces on the wire.
"""

from __future__ import annotations

import threading

from .errors import StreamAborted


class Exchange:
    """One request/response exchange, shared by the loop and the app thread.

    Methods marked *app thread* may be called from the WSGI worker; every other method
    runs on the event loop.
    """

    __slots__ = ("protocol", "stream_id", "body", "aborted", "_limit", "_buffered",
                 "_drained", "_waiting", "_received")

    #: True where ``send_file`` can hand a file to the kernel (HTTP/1.1 cleartext).
    can_sendfile = False

    def __init__(self, protocol, stream_id: int, body, limit: int) -> None:
        self.protocol = protocol
        #: The HTTP/2 stream id (HTTP/1.1: the request's number on its connection).
        self.stream_id = stream_id
        #: The request body (``wsgi.input``).
        self.body = body
        #: Set when the client reset the stream or the connection went away.
        self.aborted = False
        self._limit = limit
        self._buffered = 0  # streamed bytes handed over by the app and not yet sent
        # Created by the app thread on its first streamed (non-final) piece: most
        # responses are one final piece and never need it.
        self._drained: threading.Condition | None = None
        self._waiting = False  # the app thread sleeps on _drained
        self._received = 0  # request body bytes so far

    # -- the app thread's side ----------------------------------------------------

    def submit(self, headers: list | None, data: bytes, end: bool) -> None:
        """*App thread*: hand response headers and/or body bytes to the loop.

        Blocks while more than the buffer limit is waiting to be sent; raises
        StreamAborted if the exchange was abandoned. The final piece (``end``) never
        blocks.
        """
        if self.aborted:
            raise StreamAborted("the client went away")
        if data:
            self._produced(len(data))
        if end:  # the final piece is not counted: nobody waits for it to drain
            self.protocol.call_from_thread(self._on_output, headers, data, True)
            return
        drained = self._drained
        if drained is None:
            drained = self._drained = threading.Condition(threading.Lock())
        with drained:
            self._buffered += len(data)
        self.protocol.call_from_thread(self._on_output, headers, data, False)
        if self._buffered <= self._limit:
            return
        with drained:
            self._waiting = True
            while self._buffered > self._limit and not self.aborted:
                self._drained.wait()
            self._waiting = False
        if self.aborted:
            raise StreamAborted("the client went away")

    def finish_with_trailers(self, headers: list | None, data: bytes, trailers: list) -> None:
        """*App thread*: the final piece, followed by trailer fields."""
        if self.aborted:
            raise StreamAborted("the client went away")
        if data:
            self._produced(len(data))
        self.protocol.call_from_thread(self._on_end_with_trailers, headers, data, trailers)

    def inform(self, headers: list) -> None:
        """*App thread*: send an informational (1xx) response ahead of the final one."""
        if self.aborted:
            raise StreamAborted("the client went away")
        self.protocol.call_from_thread(self._on_informational, headers)

    def reset_from_app(self, error_code: int) -> None:
        """*App thread*: the app failed mid-body; abandon the response on the wire."""
        self.protocol.call_from_thread(self.reset, error_code)

    # -- the loop's side ----------------------------------------------------------

    def body_allowed(self, size: int, limit: int | None) -> bool:
        """Count ``size`` more request body bytes; False once past ``limit``."""
        self._received += size
        return limit is None or self._received <= limit

    def _produced(self, size: int) -> None:
        """*App thread*: the app handed over ``size`` more bytes (before the loop has
        them). Nothing to do by default; HTTP/2 counts them against its budgets."""

    def _on_output(self, headers: list | None, data: bytes, end: bool) -> None:
        raise NotImplementedError

    def _on_end_with_trailers(self, headers: list | None, data: bytes, trailers: list) -> None:
        """The final piece, then the trailers (where the protocol and client take them)."""
        raise NotImplementedError

    def _on_informational(self, headers: list) -> None:
        """Put a 1xx response on the wire (if the protocol and the client take one)."""
        raise NotImplementedError

    def reset(self, error_code: int) -> None:
        """Abandon the response towards the client (RST_STREAM, or closing HTTP/1.1)."""
        raise NotImplementedError

    def _release(self, size: int) -> None:
        """Count ``size`` streamed bytes as sent; wake the app thread below the limit.

        Callers pass only bytes of non-final pieces (see ``submit``).
        """
        drained = self._drained
        with drained:
            self._buffered -= size
            if self._waiting and self._buffered <= self._limit:
                drained.notify()

    def stuck_on_client(self, now: float, last_sent: float, last_received: float) -> float:
        """Seconds the app thread has waited on the client: to read what was sent
        (blocked sending, since ``last_sent``) or to send the body (blocked reading,
        since ``last_received``); 0 if it waits on neither. Read on the loop without
        the locks: a stale answer only shifts a shedding decision by one check."""
        if self._waiting:
            return now - last_sent
        if self.body.reader_waiting:
            return now - last_received
        return 0.0

    def _abandon(self) -> None:
        """Mark the exchange aborted and wake an app thread waiting to send."""
        self.aborted = True  # set first: an app thread creating _drained now sees it
        drained = self._drained
        if drained is not None:
            with drained:
                self._buffered = 0
                drained.notify_all()
