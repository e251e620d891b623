"""The response events a gateway sends through an ``Exchange`` (exchange.py).

Strategy: HTTP/2 and HTTP/1.1 answer a request with the same five kinds of event, so a
gateway (WSGI today, ASGI later) speaks to both protocols the same way and each
protocol turns them into frames or bytes in one place. Events are small and built once
per hand-off: the usual response (a list body) is a single ``Response`` carrying its
headers, its whole body and the end, so it costs one event and one trip to the loop.

The request side of the vocabulary runs the other way, as calls on the exchange that
the protocol makes (``request_data``, ``request_trailers``, ``request_end``, ``abort``).

Header lists are the encoded form ``encode_response_headers`` makes: ``(name, value)``
byte pairs with ``:status`` first.
"""

from __future__ import annotations


class Response:
    """The final response's head; it may carry the first body bytes and the end."""

    __slots__ = ("headers", "data", "end")

    def __init__(self, headers: list, data: bytes = b"", end: bool = False) -> None:
        self.headers = headers
        self.data = data
        self.end = end

    def __repr__(self) -> str:
        return f"Response({self.headers[0][1]!r}, {len(self.data)} bytes, end={self.end})"


class Informational:
    """A 1xx response ahead of the final one (103 Early Hints)."""

    __slots__ = ("headers",)

    def __init__(self, headers: list) -> None:
        self.headers = headers


class Data:
    """Body bytes after the head; ``end`` closes the response."""

    __slots__ = ("data", "end")

    def __init__(self, data: bytes, end: bool = False) -> None:
        self.data = data
        self.end = end

    def __repr__(self) -> str:
        return f"Data({len(self.data)} bytes, end={self.end})"


class Trailers:
    """Trailer fields (no ``:status``); they close the response after the body."""

    __slots__ = ("fields",)

    def __init__(self, fields: list) -> None:
        self.fields = fields


class Reset:
    """Abandon the response: RST_STREAM ``code`` on HTTP/2, closing HTTP/1.1."""

    __slots__ = ("code",)

    def __init__(self, code: int) -> None:
        self.code = code


#: How an exchange ended (``Exchange.outcome``): the access log and metrics say it.
COMPLETE = "complete"  # the whole response went out
CLIENT_RESET = "client reset"  # the client reset the stream
SERVER_RESET = "server reset"  # we reset it (the app failed mid-body, a limit)
CONNECTION_CLOSED = "connection closed"  # the connection ended before the response did
