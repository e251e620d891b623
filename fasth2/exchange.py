"""One request and its response: the object a protocol and a gateway share.

Strategy: this is the seam between the protocols (HTTP/2 in stream.py, HTTP/1.1 in
http1.py) and the gateway that runs the app (gateway.py). The protocol creates one
``Exchange`` per request, feeds it the request body (``request_data``,
``request_trailers``, ``request_end``) and says when it is abandoned (``abort``); the
gateway answers with the events of events.py through ``send``, which the protocol's
*wire* (its per-request writer) puts into frames or bytes. Everything here runs on the
event loop; nothing assumes a thread, so the WSGI gateway adds its own hand-off
(handoff.py) and an ASGI one could await. On the way the exchange records what the
access log and metrics need: the status, the body bytes delivered and received, when
it started and ended (when they listen: else no clock is read), and how (events.py:
complete, client reset, server reset, connection closed).
"""

from __future__ import annotations

import time
from typing import Callable

from .events import COMPLETE, CONNECTION_CLOSED, Data, Informational, Reset, Response, Trailers

monotonic = time.monotonic


class ConnectionInfo:
    """What the exchanges of one connection share: its addresses, whether it is TLS,
    and who hears of each exchange's end (the access log; None: nobody)."""

    __slots__ = ("client", "client_port", "server", "server_port", "tls", "ssl_object",
                 "on_exchange_end")

    def __init__(self, transport, tls: bool,
                 on_exchange_end: Callable[["Exchange"], None] | None = None,
                 peer: tuple[str, int] | None = None) -> None:
        """``peer``: the client a PROXY protocol header named (else the socket's peer)."""
        server = transport.get_extra_info("sockname")
        if peer is None:
            peer = transport.get_extra_info("peername")
        if not isinstance(server, tuple):
            # A unix socket: no host or port of its own. Clients address it with a Host
            # of their choosing; the default port of the scheme is what it implies.
            server = ("localhost", 443 if tls else 80)
        if not isinstance(peer, tuple):
            peer = ("", "")  # a unix socket's peer is unnamed
        #: The client's address and port, as strings ("" on a unix socket).
        self.client, self.client_port = str(peer[0]), str(peer[1])
        self.server, self.server_port = str(server[0]), str(server[1])
        self.tls = tls
        #: The TLS connection (its peer certificate), None in cleartext.
        self.ssl_object = transport.get_extra_info("ssl_object") if tls else None
        self.on_exchange_end = on_exchange_end


class Exchange:
    """One request/response exchange on an HTTP/2 stream or an HTTP/1.x connection."""

    __slots__ = ("connection", "forwarded_for", "stream_id", "http_version", "headers", "wire", "body",
                 "response_headers",
                 "bytes_sent", "bytes_received", "started", "ended", "outcome", "aborted",
                 "app_waiting", "on_drained", "on_aborted")

    def __init__(self, wire, connection: ConnectionInfo, stream_id: int, http_version: str,
                 headers: list) -> None:
        #: The protocol's writer for this exchange (stream.Stream, http1.H1Response).
        self.wire = wire
        self.connection = connection
        #: The client a trusted proxy named (proxy.py), if one did.
        self.forwarded_for: str | None = None
        #: The HTTP/2 stream id (HTTP/1.x: the request's number on its connection).
        self.stream_id = stream_id
        #: "2", "1.1" or "1.0".
        self.http_version = http_version
        #: The request head, h2-style: ``(name, value)`` bytes, pseudo-headers first.
        self.headers = headers
        #: The gateway's receiver of the request body (feed, end, abort, trailers,
        #: ended, reader_waiting): ``wsgi.input`` for the WSGI gateway.
        self.body = None
        #: The final response's encoded headers once sent (``:status`` first).
        self.response_headers: list | None = None
        self.bytes_sent = 0  # response body bytes handed to the transport
        self.bytes_received = 0  # request body bytes received
        # Only who hears of the end (the access log, metrics) reads the times: without
        # one, no clock is read (two calls a request).
        # (self.connection: typed when compiled, a field read instead of a lookup)
        self.started = monotonic() if self.connection.on_exchange_end is not None else 0.0
        self.ended = 0.0
        #: How it ended (events.py), None while in progress.
        self.outcome: str | None = None
        #: Set (before ``on_aborted`` runs) when the response was abandoned.
        self.aborted = False
        #: Set by the gateway while the app waits for the client to take its output.
        self.app_waiting = False
        #: Called with a byte count as response body bytes leave our buffers.
        self.on_drained: Callable[[int], None] | None = None
        #: Called once if the exchange is abandoned (reset, or the connection ended).
        self.on_aborted: Callable[[], None] | None = None

    @property
    def client(self) -> str:
        """The client's address (as a trusted proxy named it, else the peer's)."""
        return self.forwarded_for or self.connection.client

    @property
    def protocol(self) -> str:
        """``h2`` (over TLS), ``h2c``, or ``HTTP/1.1`` / ``HTTP/1.0``."""
        if self.http_version == "2":
            return "h2" if self.connection.tls else "h2c"
        return "HTTP/" + self.http_version

    @property
    def status(self) -> int:
        """The final response's status code; 0 until it was sent."""
        headers = self.response_headers
        return 0 if headers is None else int(headers[0][1])

    # -- the gateway's side (on the loop) ---------------------------------------

    def send(self, event) -> None:
        """Put a response event (events.py) on the wire. Body bytes must have been
        ``reserve``d by whoever produced them."""
        kind = type(event)
        if kind is Response:
            self.respond(event.headers, event.data, event.end)
        elif kind is Data:
            self.respond(None, event.data, event.end)
        elif kind is Trailers:
            self.wire.end_with_trailers(event.fields)
        elif kind is Informational:
            self.wire.inform(event.headers)
        elif kind is Reset:
            self.wire.reset(event.code)
        else:
            raise TypeError(f"not a response event: {event!r}")

    def respond(self, headers: list | None, data: bytes, end: bool) -> None:
        """``send`` of a ``Response`` (``headers`` given) or a ``Data`` without the
        event: how the WSGI hand-off sends each piece (no object to build on the app
        thread and to take apart here)."""
        if headers is not None:
            self.response_headers = headers
        self.wire.respond(headers, data, end)

    def reserve(self, size: int) -> None:
        """*Any thread*: ``size`` response bytes are about to be handed over (HTTP/2
        counts them against the connection's response memory from this moment)."""
        self.wire.reserve(size)

    def consumed(self, size: int) -> None:
        """The app consumed ``size`` request body bytes: the client may send more."""
        self.wire.credit(size)

    def stuck_on_client(self, now: float, last_sent: float, last_received: float) -> float:
        """Seconds the app has waited on the client: to take what was sent (since
        ``last_sent``) or to send the body (since ``last_received``); 0 if neither.
        Read without locks: a stale answer only shifts a shedding decision by one check."""
        if self.app_waiting:
            return now - last_sent
        if self.body.reader_waiting:
            return now - last_received
        return 0.0

    # -- the protocol's side ------------------------------------------------------

    def request_data(self, data, size: int, limit: int | None) -> bool:
        """Body bytes arrived (bytes, or a list of payloads of ``size`` bytes in all);
        False (and nothing fed) once the body passes ``limit``."""
        self.bytes_received += size
        if limit is not None and self.bytes_received > limit:
            return False
        self.body.feed(data)
        return True

    def request_trailers(self, fields: list) -> None:
        """The request's trailer fields (byte pairs) arrived, before its end."""
        self.body.trailers.extend(
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in fields)

    def request_end(self) -> None:
        """The request body is complete."""
        self.body.end()

    @property
    def request_ended(self) -> bool:
        """True once the whole request body has arrived."""
        return self.body.ended

    def discard_body(self) -> int:
        """Nobody will read the rest of the body (the response is done, or abandoned);
        the unread byte count is returned for the caller to acknowledge."""
        return self.body.abort()

    def delivered(self, size: int) -> None:
        """``size`` response body bytes left our buffers for the transport."""
        self.bytes_sent += size
        drained = self.on_drained
        if drained is not None:
            drained(size)

    def drained(self, size: int) -> None:
        """``size`` body bytes, counted in ``bytes_sent`` as they were written, have
        left the transport's buffer too (HTTP/1.1, whose writes are not windowed)."""
        drained = self.on_drained
        if drained is not None:
            drained(size)

    def complete(self) -> None:
        """The whole response is out."""
        if self.outcome is None:
            self.outcome = COMPLETE
            if self.connection.on_exchange_end is not None:
                self.ended = monotonic()
                self.connection.on_exchange_end(self)
        self.on_drained = self.on_aborted = None  # (they refer back to the gateway's side)

    def abort(self, outcome: str = CONNECTION_CLOSED) -> None:
        """The response is abandoned (``outcome`` says why): stop the app's work."""
        if self.aborted:
            return
        self.aborted = True
        if self.outcome is None:
            self.outcome = outcome
            if self.connection.on_exchange_end is not None:
                self.ended = monotonic()
                self.connection.on_exchange_end(self)
        self.body.abort()
        if self.on_aborted is not None:
            self.on_aborted()
        self.on_drained = self.on_aborted = None
