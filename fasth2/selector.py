"""Choose HTTP/2 or HTTP/1.1 for each new connection, then hand the connection over.

TLS: ALPN decides (``h2``, else HTTP/1.1, also for clients that offer no ALPN).
Cleartext: the first bytes decide. The 24-byte HTTP/2 preface goes to HTTP/2, and so
does anything starting ``PRI`` (a broken preface then gets HTTP/2's GOAWAY rather than
an HTTP/1.1 400); anything else is HTTP/1.x. While the bytes so far are only a prefix
of the preface, the selector waits for more.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import TYPE_CHECKING

from .twins import BufferedH2Protocol, H1Protocol, H2Protocol

if TYPE_CHECKING:
    from .server import Server

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def switch_to_h2c(server: "Server", transport: asyncio.Transport, settings: bytes,
                  headers: list, body: bytes, rest: bytes,
                  peer: tuple[str, int] | None = None) -> None:
    """An HTTP/1.1 connection upgraded to h2c (RFC 7540 §3.2, after the 101): HTTP/2
    takes the transport, the upgrading request becomes stream 1, and the bytes that
    followed it are HTTP/2's. Here rather than in http1.py, which knows no HTTP/2."""
    h2 = H2Protocol(server)
    h2.peer = peer
    transport.set_protocol(h2)
    if h2.connection_upgraded(transport, settings, headers, body) and rest:
        h2.data_received(rest)


# HTTP/1.x on cleartext, able to upgrade to h2c (made once, not per connection).
_CLEARTEXT_HTTP1 = partial(H1Protocol, upgrade_to_h2c=switch_to_h2c)


class ProtocolSelector(asyncio.Protocol):
    """The first protocol of every connection; replaces itself on the transport."""

    def __init__(self, server: "Server", peer: tuple[str, int] | None = None) -> None:
        self.server = server
        #: The client a PROXY protocol header named, passed on to the protocol chosen.
        self.peer = peer
        self.transport: asyncio.Transport | None = None
        self.streams: dict = {}  # nothing in flight yet (graceful shutdown asks)
        self._buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """TLS connections are decided by ALPN at once; cleartext ones wait for bytes."""
        self.transport = transport  # type: ignore[assignment]
        self._started = self.server.loop.time()
        if len(self.server.connections) >= self.server.config.max_connections:
            transport.close()  # over max_connections: accepted and closed at once
            return
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            if ssl_object.selected_alpn_protocol() == "h2":
                self._hand_over(H2Protocol, b"")
            else:
                self._hand_over(H1Protocol, b"")  # (no h2c over TLS)
        else:
            self.server.connections.add(self)

    def data_received(self, data: bytes) -> None:
        """Decide once enough bytes have arrived."""
        self._buffer += data
        buffered = self._buffer
        if len(buffered) < len(PREFACE) and PREFACE.startswith(buffered):
            return  # still could be either
        if buffered.startswith(b"PRI"):
            self._hand_over(BufferedH2Protocol, buffered)
        else:
            self._hand_over(_CLEARTEXT_HTTP1, buffered)

    def _hand_over(self, protocol_class, data: bytes) -> None:
        self.server.connections.discard(self)
        protocol = protocol_class(self.server)
        protocol.peer = self.peer
        self.transport.set_protocol(protocol)
        protocol.connection_made(self.transport)
        if data:
            protocol.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        """Closed before saying anything."""
        self.server.connections.discard(self)

    def check_timeouts(self, now: float) -> None:
        """A connection that says nothing within ``handshake_timeout`` is closed."""
        if now - self._started > self.server.config.handshake_timeout:
            self.transport.close()

    def stuck_for(self, now: float) -> float:
        """No app call yet: nothing waits on this connection."""
        return 0.0

    def can_retire(self, now: float, quiet: float) -> bool:
        """Its first bytes are on their way: wait for them (see Server.retire)."""
        return False

    def shutdown(self) -> None:
        """Graceful shutdown: a connection that has not spoken yet is simply closed."""
        self.transport.close()

    abort = shutdown
