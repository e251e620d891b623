"""In-process protocol tests: a connection driven with bytes in and bytes out.

The server's real protocol objects (selector, HTTP/2, HTTP/1.1) run on a real event
loop, but with no socket and no thread: a ``MemoryTransport`` collects what the server
writes, and an ``InlineGateway`` hands each exchange to a handler on the loop, which
answers with the response events of ``fasth2.events`` at once or whenever the test
says. What a test asserts is therefore the exact bytes or frames for the exact input,
never a race. (The socket tests next to these cover the same paths end to end.)
"""

from __future__ import annotations

import asyncio
from typing import Callable

import h2.config
import h2.connection
import h2.events

from fasth2.config import Config
from fasth2.events import Data, Response
from fasth2.exchange import Exchange
from fasth2.selector import ProtocolSelector
from fasth2.server import Server
from fasth2.speedups import encode_response_headers


class MemoryTransport(asyncio.Transport):
    """A transport whose writes collect in ``written``; the test reads them."""

    def __init__(self, protocol: asyncio.BaseProtocol) -> None:
        super().__init__()
        self._protocol = protocol
        self.written = bytearray()
        #: Each write's bytes, in order (``written`` joins them).
        self.writes: list[bytes] = []
        self.reading = True
        self.closed = False
        self.eof_written = False

    def get_extra_info(self, name: str, default=None):
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    def set_write_buffer_limits(self, high=None, low=None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def write(self, data) -> None:
        if not self.closed:
            self.written += data
            self.writes.append(bytes(data))

    def writelines(self, pieces) -> None:
        if not self.closed:
            joined = b"".join(pieces)
            self.written += joined
            self.writes.append(joined)

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof_written = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        """What the server wrote since the last call."""
        data = bytes(self.written)
        self.written.clear()
        return data


class CollectedBody:
    """The request body's receiver: keeps what arrives for the test to look at."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.ended = False
        self.aborted = False
        self.reader_waiting = False
        self.trailers: list[tuple[str, str]] = []

    def feed(self, data) -> None:
        self.chunks.extend(bytes(piece) for piece in data) if type(data) is list \
            else self.chunks.append(bytes(data))

    def end(self) -> None:
        self.ended = True

    def abort(self) -> int:
        self.aborted = True
        return 0

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)


class InlineGateway:
    """Hands every exchange to ``handler(exchange)`` on the loop (no threads)."""

    def __init__(self, handler: Callable[[Exchange], None] | None = None) -> None:
        self.handler = handler or (lambda exchange: None)
        #: Every exchange whose app call started, in order.
        self.exchanges: list[Exchange] = []

    def for_connection(self, connection, budget_owner=None) -> "InlineGateway":
        return self

    running = 0  # no app call ever runs past its handler
    open = True
    waiting = False

    def begin(self, exchange: Exchange, has_body: bool) -> None:
        exchange.body = CollectedBody()

    def run(self, exchange: Exchange, order: tuple = (), has_body: bool | None = None) -> bool:
        if has_body is not None:
            self.begin(exchange, has_body)
        self.exchanges.append(exchange)
        self.handler(exchange)
        return True

    def resume(self) -> None:
        pass


def respond(exchange: Exchange, status: str = "200 OK", body: bytes = b"",
            headers: list | None = None, end: bool = True) -> None:
    """Answer ``exchange`` with one ``Response`` event (the usual list-body response)."""
    if headers is None:
        headers = [("content-type", "text/plain"), ("content-length", str(len(body)))]
    exchange.reserve(len(body))
    exchange.send(Response(encode_response_headers(status, headers), body, end))


def send_data(exchange: Exchange, body: bytes, end: bool = False) -> None:
    """More body bytes for ``exchange``."""
    exchange.reserve(len(body))
    exchange.send(Data(body, end))


def hello(exchange: Exchange) -> None:
    """The handler of most tests: 200 with a body naming the path."""
    path = dict(exchange.headers)[b":path"]
    respond(exchange, body=b"hello " + path)


class Connection:
    """One server connection in memory: ``feed`` bytes in, ``take`` bytes out."""

    def __init__(self, handler: Callable[[Exchange], None] | None = hello, **config) -> None:
        self.loop = asyncio.new_event_loop()
        self.gateway = InlineGateway(handler)
        config.setdefault("binds", ("127.0.0.1:0",))
        self.config = Config(**config)

        async def make() -> Server:
            return Server(None, self.config, listeners=[], gateway=self.gateway)

        self.server = self.loop.run_until_complete(make())
        #: Every exchange as it ended, in order (what the access log is given).
        self.ended: list[Exchange] = []
        self.server.exchange_ended = self.ended.append
        self.protocol = ProtocolSelector(self.server)
        self.transport = MemoryTransport(self.protocol)
        self.protocol.connection_made(self.transport)

    @property
    def current(self) -> asyncio.BaseProtocol:
        """The protocol serving the connection now (after the selector chose)."""
        return self.transport.get_protocol()

    @property
    def exchanges(self) -> list[Exchange]:
        return self.gateway.exchanges

    def feed(self, data: bytes) -> None:
        """Bytes from the client; then let the loop run what they started.

        A buffered protocol (cleartext HTTP/2) reads them the way uvloop gives them:
        written into its ``get_buffer``, then ``buffer_updated`` (in several reads if
        they do not fit). uvloop's rule for "buffered": it has ``get_buffer`` and is
        not an ``asyncio.Protocol``."""
        protocol = self.transport.get_protocol()
        if hasattr(protocol, "get_buffer") and not isinstance(protocol, asyncio.Protocol):
            while data:
                with memoryview(protocol.get_buffer(len(data))) as buffer:
                    count = min(len(buffer), len(data))
                    buffer[:count] = data[:count]
                protocol.buffer_updated(count)
                data = data[count:]
        else:
            protocol.data_received(data)
        self.settle()

    def settle(self) -> None:
        """Run the loop until nothing is left to do right now (no timers are waited for)."""
        for _ in range(50):
            if not self.loop._ready:  # type: ignore[attr-defined]
                return
            self.loop.run_until_complete(asyncio.sleep(0))
        raise AssertionError("the loop never went quiet")

    def take(self) -> bytes:
        self.settle()
        return self.transport.take()

    def close(self) -> None:
        """The client goes away; the server lets go of the connection (once)."""
        if self.loop.is_closed():
            return
        protocol = self.transport.get_protocol()
        if not self.transport.closed:
            self.transport.close()
        protocol.connection_lost(None)
        self.settle()
        self.server.app_threads.shutdown()
        self.loop.close()


class H2Client:
    """An h2 client connection over a ``Connection``: frames in, events out."""

    def __init__(self, connection: Connection, settings: dict | None = None) -> None:
        self.connection = connection
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=True, header_encoding=None))
        self.conn.initiate_connection()
        if settings:
            self.conn.update_settings(settings)
        self.events: list[h2.events.Event] = []
        self.send()

    def send(self) -> list[h2.events.Event]:
        """Send what the client queued; return the events of the server's answer."""
        data = self.conn.data_to_send()
        if data:
            self.connection.feed(data)
        return self.receive()

    def receive(self) -> list[h2.events.Event]:
        """The events of what the server wrote since the last call."""
        data = self.connection.take()
        events = self.conn.receive_data(data) if data else []
        self.events += events
        return events

    def request(self, path: str = "/", method: str = "GET", body: bytes = b"",
                headers: list | None = None, end: bool = True) -> int:
        """Open a stream with a request (and its body); return its id."""
        stream_id = self.conn.get_next_available_stream_id()
        fields = [(":method", method), (":scheme", "http"), (":authority", "localhost"),
                  (":path", path), *(headers or [])]
        self.conn.send_headers(stream_id, [(n.encode(), v.encode()) for n, v in fields],
                               end_stream=end and not body)
        if body:
            self.conn.send_data(stream_id, body, end_stream=end)
        return stream_id

    def body_of(self, stream_id: int) -> bytes:
        """The response body bytes received so far on ``stream_id`` (acknowledged)."""
        data = b""
        for event in self.events:
            if isinstance(event, h2.events.DataReceived) and event.stream_id == stream_id:
                data += event.data
        return data

    def of(self, kind: type, stream_id: int | None = None) -> list:
        """Events of one type (on one stream)."""
        return [event for event in self.events if isinstance(event, kind)
                and (stream_id is None or getattr(event, "stream_id", None) == stream_id)]
