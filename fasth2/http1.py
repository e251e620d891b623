"""HTTP/1.1 (and 1.0) on the same port, parsed by httptools, feeding the same gateway.

Strategy: httptools calls us back per request; each request becomes an ``Exchange``
(exchange.py, as an HTTP/2 stream does) with an ``H1Response`` as its wire, and goes
to the same gateway. Requests on one connection are answered strictly in
order: pipelined requests wait in a queue (bounded: reading pauses when it is full).
There is no flow control in HTTP/1.1, so reading also pauses while request bodies the
app has not consumed pass ``stream_window_size``. A request asking to upgrade to h2c
(RFC 7540 §3.2) is answered with 101 and handed, body included, to HTTP/2 as stream 1.

This module is also compiled as it is, as ``fasth2._http1_c``, where H1Protocol and
H1Response are extension types with the fields _http1_c.pxd declares (an attribute
added here must be declared there); twins.py picks the build's.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from http import HTTPStatus
from typing import TYPE_CHECKING, Callable

import httptools

from .errors import BadRequest, StreamAborted
from .events import CONNECTION_CLOSED, SERVER_RESET
from .twins import ConnectionInfo, Exchange
from .files import send_with_sendfile
from .h1checks import check_head, host_is_valid, origin_form
from .h1framing import RequestFraming, UpgradeRequested
from .limits import DRAIN_BYTES, DRAIN_SECONDS, LINGER_SECONDS, declared_too_large
from .speedups import (FRAMING_CHUNKED, FRAMING_CLOSE, http1_response_head, lone_head,
                       parse_plain_head)

if TYPE_CHECKING:
    from .server import Server

#: ``(server, transport, HTTP2-Settings, h2-style request headers, request body, bytes
#: after, PROXY protocol client)``: what an HTTP/1.1 connection hands to HTTP/2 when it
#: upgrades to h2c.
UpgradeToH2c = Callable[["Server", asyncio.Transport, bytes, list, bytes, bytes,
                         "tuple[str, int] | None"], None]

log = logging.getLogger("fasth2.error")

MAX_PIPELINED = 16  # parsed requests waiting for their turn before reading pauses
MAX_UPGRADE_BODY = 1024 * 1024  # a larger h2c upgrade request is served over HTTP/1.1

_LAST_CHUNK = b"0\r\n\r\n"
_REASONS = {status.value: status.phrase.encode("latin-1") for status in HTTPStatus}
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_FIELDS_WE_USE = frozenset((b"content-length", b"transfer-encoding", b"connection", b"expect",
                            b"upgrade", b"http2-settings", b"te"))
# ... and Host, kept apart: every request has one, and the usual head needs no more.
_FIELDS_WATCHED = _FIELDS_WE_USE | {b"host"}
_NO_FIELDS: dict = {}  # (a plain head's: parse_plain_head refuses heads with any of them)


def error_response(status: int, text: str, fields: list) -> bytes:
    """A complete, connection-closing HTTP/1.1 error response (with ``fields``: the
    server's Date and Server)."""
    body = (text + "\n").encode()
    return (b"HTTP/1.1 %d %s\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n"
            b"%sconnection: close\r\n\r\n" % (status, _REASONS[status], len(body),
                                                  _field_lines(fields))) + body


def _field_lines(fields: list) -> bytes:
    """``name: value`` lines, each ending in CRLF (a head's or a trailer section's)."""
    return b"".join(name + b": " + value + b"\r\n" for name, value in fields)


class _HeadersTooLarge(Exception):
    """Raised inside a parser callback; becomes a 431."""


class H1Response:
    """The HTTP/1.x *wire* of one exchange (exchange.py): its response, framed."""

    __slots__ = ("protocol", "stream_id", "exchange", "version", "head", "keep_alive",
                 "_chunked", "_finished", "responded", "trailers", "_expect_continue",
                 "_te_trailers", "ends_with_close")

    def __init__(self, protocol: "H1Protocol", number: int, headers: list, version: str,
                 head: bool, keep_alive: bool, expect_continue: bool, te_trailers: bool) -> None:
        self.protocol = protocol
        self.stream_id = number  # the request's number on its connection
        #: What the gateway sees of this request and its response (None once the
        #: response is finished: see H1Protocol._detach).
        # (self.protocol, typed when compiled: its info is read without a lookup)
        self.exchange: Exchange | None = Exchange(self, self.protocol.info, number, version,
                                                  headers)
        self.version = version
        self.head = head
        self.keep_alive = keep_alive
        self._expect_continue = expect_continue
        self._te_trailers = te_trailers  # the client said "TE: trailers"
        self._chunked = False
        self._finished = False
        self.responded = False  # the status line has gone out
        self.trailers: list | None = None  # for the last chunk (see end_with_trailers)
        self.ends_with_close = False  # HTTP/1.0 body without a length: the close ends it

    def start(self, has_body: bool | None = None) -> None:
        """Its turn has come: run the app (after a 100 Continue, if asked for).
        ``has_body`` given: the gateway's ``begin`` too, in the same call (a request
        nothing is queued ahead of, the usual case)."""
        apps = self.protocol.apps
        if self._expect_continue:
            if has_body is not None:  # (the receiver first: it says if the body is in)
                apps.begin(self.exchange, has_body)
                has_body = None
            if not self.exchange.request_ended:
                self.protocol.write(_CONTINUE)
        apps.run(self.exchange, (), has_body)

    def reserve(self, size: int) -> None:
        """*Any thread*: nothing to count (HTTP/1.1 writes what it is given)."""

    def credit(self, size: int) -> None:
        """The app consumed ``size`` bytes of the request body."""
        self.protocol.body_consumed(size)

    def respond(self, headers: list | None, data: bytes, end: bool) -> None:
        """Response headers (the first time) and/or body bytes; ``end``: the last."""
        protocol = self.protocol
        if self._finished or protocol.closed:
            return
        if headers is not None:
            out = self._head_block(headers, data)  # (the data in it, unless chunked)
            self.responded = True
            if data and self._chunked:
                out += b"%x\r\n%s\r\n" % (len(data), data)
        elif data:
            out = b"%x\r\n%s\r\n" % (len(data), data) if self._chunked else data
        else:
            out = b""
        if end and self._chunked:
            out += _LAST_CHUNK if self.trailers is None else self._trailer_section()
        protocol.write(out)
        exchange = self.exchange
        exchange.bytes_sent += len(data)
        if end:
            self._finished = True
            exchange.complete()
            protocol.exchange_finished(self)
        elif data:
            protocol.drained_when_writable(exchange, len(data))

    def end_with_trailers(self, trailers: list) -> None:
        """Trailers go out in a chunked body's trailer section, to a client that said
        ``TE: trailers``; otherwise (or with a Content-Length) they are dropped."""
        if self._te_trailers:
            self.trailers = trailers
        self.respond(None, b"", True)

    def _trailer_section(self) -> bytes:
        return b"0\r\n" + _field_lines(self.trailers) + b"\r\n"

    def inform(self, headers: list) -> None:
        """A 1xx response ahead of the final one: HTTP/1.1 clients only (RFC 9110
        §15.2: a server must not send one to an HTTP/1.0 client)."""
        if self.version != "1.1" or self.responded or self._finished or self.protocol.closed:
            return
        status = headers[0][1]
        self.protocol.write(b"HTTP/1.1 " + status + b" " + _REASONS.get(int(status), b"Informational")
                            + b"\r\n" + _field_lines(headers[1:]) + b"\r\n")

    def _head_block(self, headers: list, data: bytes = b"") -> bytes:
        """Status line and headers, choosing the body framing (compiled: see
        speedups.http1_response_head); then ``data`` unless the framing is chunked."""
        block, framing = http1_response_head(headers, self.protocol.server.default_fields,
                                             self.head, self.version, self.keep_alive, data)
        if framing == FRAMING_CHUNKED:
            self._chunked = True
        elif framing == FRAMING_CLOSE:
            self.keep_alive = False  # HTTP/1.0: the body ends with the connection
            self.ends_with_close = True
        return block

    @property
    def can_sendfile(self) -> bool:
        """Cleartext: the socket takes the file's bytes as they are."""
        return not self.protocol.config.tls

    def send_file(self, handoff, headers: list, fd: int, offset: int, count: int) -> None:
        """*App thread* (through ``handoff``, handoff.py): the response head, then
        ``count`` bytes of the file ``fd`` from ``offset`` with os.sendfile (see
        files.py); the exchange then ends."""
        ready = threading.Event()
        socket_fd: list[int] = []
        handoff._hand(self._head_for_sendfile, headers, ready, socket_fd)
        stall = self.protocol.config.write_stall_timeout
        if not ready.wait(stall) or not socket_fd:
            raise StreamAborted("the connection closed before the file could be sent")
        exchange = handoff.exchange
        try:
            calls = send_with_sendfile(socket_fd[0], fd, offset, count, stall,
                                       lambda: exchange.aborted)
        except StreamAborted:
            handoff.reset(0)  # part of the body went out: close the connection
            raise
        log.debug("sendfile: %d bytes in %d calls", count, calls)
        handoff._hand(self._file_sent, count)

    def _head_for_sendfile(self, headers: list, ready: threading.Event, socket_fd: list) -> None:
        if self._finished or self.protocol.closed:
            ready.set()
            return
        self.protocol.write(self._head_block(headers))
        self.responded = True
        self._when_flushed(ready, socket_fd)

    def _when_flushed(self, ready: threading.Event, socket_fd: list) -> None:
        """Let the app's thread write to the socket once the transport holds nothing."""
        transport = self.protocol.transport
        if self._finished or self.protocol.closed or transport.is_closing():
            ready.set()
        elif transport.get_write_buffer_size() == 0:
            socket_fd.append(transport.get_extra_info("socket").fileno())
            ready.set()
        else:
            self.protocol.loop.call_later(0.001, self._when_flushed, ready, socket_fd)

    def _file_sent(self, count: int) -> None:
        """The app's thread wrote ``count`` body bytes to the socket: the response is
        complete."""
        if not self._finished:
            self.exchange.bytes_sent += count
            self.respond(None, b"", True)

    def reset(self, error_code: int) -> None:
        """The app failed mid-body: the only honest signal left is closing the connection."""
        if not self._finished:
            self._finished = True
            self.exchange.abort(SERVER_RESET)
            self.protocol.exchange_failed(self)

    def abort(self) -> None:
        """The connection went away: stop the app's work."""
        if not self._finished:
            self._finished = True
            self.exchange.abort(CONNECTION_CLOSED)
            self.exchange = None  # (see H1Protocol._detach)


class H1Protocol:
    """One client connection speaking HTTP/1.x (an asyncio protocol, not derived from
    ``asyncio.Protocol``: compiled, it is an extension type, see _http1_c.pxd)."""

    # Slots: past 30 attributes an instance dict stops sharing its keys, and CPython
    # 3.11+ then reads every attribute the slow way (measured: 7 % more instructions).
    __slots__ = ("server", "config", "loop", "transport", "framing", "parser", "streams",
                 "closed", "closing", "write_paused", "_queue", "_current", "_receiving",
                 "_count", "_unreleased", "_body_buffered", "_reading_paused",
                 "_last_activity", "_request_started", "_paused_since", "apps", "info", "peer",
                 "_upgrade_buffer", "_upgrade_to_h2c", "_drop_left", "_drop_until", "_lingering",
                 "_url", "_good_host", "_headers", "_fields", "_hosts", "_header_bytes",
                 "_upgrade", "_replay", "_clock", "_max_header_bytes", "_max_requests",
                 "_transport_write", "_transport_closing", "request_count")

    def __init__(self, server: "Server", upgrade_to_h2c: UpgradeToH2c | None = None) -> None:
        self.server = server
        self.config = server.config
        self.loop: asyncio.AbstractEventLoop = server.loop
        self.transport: asyncio.Transport | None = None
        # Read once, not through two lookups a request: the loop's clock, two limits and
        # (with the transport) its write and is_closing.
        self._clock = server.loop.time
        self._max_header_bytes = server.config.max_header_list_size
        self._max_requests = server.config.max_requests_per_connection
        self._transport_write = self._transport_closing = None
        #: The process's request count (requestcount.py), which each request adds to.
        self.request_count = server.request_count
        # The head limit: a head whose fields pass max_header_list_size (counted with
        # 32 bytes an entry) is shorter than that plus its request line's words.
        self.framing = RequestFraming(None, self._max_header_bytes + 64)
        self.parser = self._new_parser()
        #: Responses in progress, by number (graceful shutdown waits for them).
        self.streams: dict[int, H1Response] = {}
        self.closed = False
        self.closing = False
        self.write_paused = False
        self._queue: deque[H1Response] = deque()  # parsed, waiting for their turn
        self._current: H1Response | None = None
        self._receiving: H1Response | None = None  # the one whose body is arriving
        self._count = 0
        self._unreleased: list[tuple[Exchange, int]] = []  # delivered once writable
        self._body_buffered = 0
        self._reading_paused = False
        self._last_activity = server.loop.time()
        self._request_started = 0.0  # when the current request's first bytes came
        self._paused_since = 0.0
        #: The gateway's side of this connection (gateway.py), made with the transport.
        self.apps = None
        #: Addresses and TLS, shared by the exchanges (made with the transport).
        self.info: ConnectionInfo | None = None
        #: The client a PROXY protocol header named (set before connection_made).
        self.peer: tuple[str, int] | None = None
        self._upgrade_buffer: bytearray | None = None  # after an h2c upgrade request
        #: Hands the transport to HTTP/2 (see selector.py); None: no h2c upgrades.
        self._upgrade_to_h2c = upgrade_to_h2c
        self._good_host = b"\0"  # the last Host value found valid (none yet)
        #: Bytes still to drop of a body the app left unread (None: not dropping).
        self._drop_left: int | None = None
        self._drop_until = 0.0  # ... and until when
        self._lingering = False  # closed for requests, reading until the client is done
        self._reset_request()

    def _new_parser(self) -> httptools.HttpRequestParser:
        parser = httptools.HttpRequestParser(self)
        # Bytes after a request that ends the connection (Connection: close, HTTP/1.0)
        # are ignored, not an error that would cost that request its response (§9.6).
        parser.set_dangerous_leniencies(lenient_data_after_close=True)
        self.framing.reset()
        self.framing.feed = parser.feed_data
        return parser

    def _reset_request(self) -> None:
        """A new request head begins: the parser's callbacks fill these in."""
        self._url = b""
        # h2-style list for build_environ; the pseudo-headers are filled in at the end.
        self._headers: list[tuple[bytes, bytes]] = [(b":method", b""), (b":path", b"")]
        self._fields: dict[bytes, bytes] = {}  # the headers this module acts on
        self._hosts: list[bytes] = []  # its Host fields' values
        self._header_bytes = 0
        self._upgrade: tuple[bytes, list, int] | None = None  # settings, headers, body length
        self._replay: bytes | None = None  # an upgrade request's head, to parse again plain

    # -- transport callbacks ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Remember the transport and the connection's constant environ keys."""
        self.transport = transport  # type: ignore[assignment]
        self._transport_write = transport.write  # type: ignore[attr-defined]
        self._transport_closing = transport.is_closing
        transport.set_write_buffer_limits(high=self.config.write_buffer_high)  # type: ignore[attr-defined]
        self.info = ConnectionInfo(transport, self.config.tls, self.server.exchange_ended,
                                   self.peer)
        self.apps = self.server.gateway.for_connection(self.info)
        self.server.connections.add(self)

    def data_received(self, data: bytes) -> None:
        """Parse; a malformed request gets 400, oversized headers 431."""
        if self.closed:
            if self._lingering:
                self._linger_on(len(data))
            return
        self._last_activity = self._clock()
        if self._upgrade_buffer is not None:
            self._upgrade_buffer += data
            self._try_upgrade()
            return
        try:
            framing = self.framing
            # The usual read is one whole head of the usual kind: no parser callbacks.
            head = parse_plain_head(data, _FIELDS_WE_USE) if framing.idle else None
            if head is not None and head[4] <= self._max_header_bytes:
                # What the parser's callbacks would do with it, from on_message_begin to
                # on_message_complete (it has no body, and no field but Host to act on).
                self._head_complete(head[0], "1.1", None, head[1], head[2], head[3], _NO_FIELDS)
                if not self.closed:
                    self._drop_left = None
            elif head is not None or (framing.idle and lone_head(data)):
                self.parser.feed_data(data)  # one head, nothing more: no framing to do
            elif framing.take(data) and not self._request_started:
                self._request_started = self._last_activity  # for header_timeout (408)
        except BadRequest as exc:
            self._fail(exc.status, exc.reason)
        except UpgradeRequested as exc:
            self._after_upgrade_request(exc.rest)
        except httptools.HttpParserUpgrade as exc:
            self._after_upgrade_request(data[exc.args[0]:])
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, _HeadersTooLarge):
                self._fail(431, "Request Header Fields Too Large")
            else:
                log.exception("internal error parsing a request")
                self._fail(500, "Internal Server Error")
        except httptools.HttpParserError as exc:
            log.debug("malformed HTTP/1.x request: %s", exc)
            self._fail(400, "Bad Request")

    def eof_received(self) -> None:
        """The client half-closed: the transport closes itself (asyncio's default)."""

    def pause_writing(self) -> None:
        """The transport's buffer is full: app threads wait for it to drain."""
        self.write_paused = True
        self._paused_since = self._clock()

    def resume_writing(self) -> None:
        """Drained: what was written meanwhile has left the buffer; wake the app threads."""
        self.write_paused = False
        held, self._unreleased = self._unreleased, []
        for exchange, size in held:
            exchange.drained(size)

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop every app call this connection started."""
        self._abort_all()
        self.server.connections.discard(self)

    # -- httptools callbacks ------------------------------------------------------

    def on_message_begin(self) -> None:
        self._reset_request()
        self._request_started = self._clock()

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._header_bytes += len(url)
        if self._header_bytes > self._max_header_bytes:
            raise _HeadersTooLarge()

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if self._receiving is not None:  # after a chunked body: a trailer field
            self._receiving.exchange.request_trailers([(name, value)])
            self._count_header_bytes(len(name) + len(value) + 32)
            return
        self._headers.append((name, value))
        if name in _FIELDS_WATCHED:
            if name == b"host":
                self._hosts.append(value)
            else:
                self._fields[name] = value
        # Counted as HTTP/2 counts a header list: 32 is RFC 7541's entry overhead.
        # (Inline: a helper call per field was 3 % of a request.)
        self._header_bytes += len(name) + len(value) + 32
        if self._header_bytes > self._max_header_bytes:
            raise _HeadersTooLarge()

    def _count_header_bytes(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self._max_header_bytes:
            raise _HeadersTooLarge()

    def on_headers_complete(self) -> None:
        if self.closed:
            # A request refused earlier in this same read (a 400 from a callback) closed
            # the connection while httptools goes on parsing what follows it: no more
            # exchanges start (fuzz/corpus/http1/regression-request-after-a-400).
            return
        parser = self.parser
        method = self.framing.method
        if method is None:
            method = parser.get_method()
        else:  # a method llhttp was shown a stand-in for
            self.framing.method = None
        self._head_complete(method, parser.get_http_version(), parser, self._url,
                            self._headers, self._hosts, self._fields)

    def _head_complete(self, method: bytes, version: str, parser, url: bytes, headers: list,
                       hosts: list, fields: dict) -> None:
        """The request head is in: its target, h2-style ``headers``, Host values and the
        ``fields`` this module acts on (empty for most requests: nothing special to do).
        ``parser``: httptools' parser that read it; None for a head parse_plain_head
        read, which keeps the connection open and asks for no upgrade."""
        headers[0] = (b":method", method)
        self._request_started = 0.0
        # 47 is b"/", 35 b"#": an int is searched with memchr, while ``b"#" in url`` first
        # tries the needle as an int and raises and clears a TypeError (CPython 3.11-3.13).
        if fields or version != "1.1" or url[0] != 47 or 35 in url:
            try:  # not the usual head: every rule of h1checks.py
                check_head(version, hosts, fields)
                if url[0] != 47 or 35 in url:
                    url, authority = origin_form(method, url)
                    if authority is not None:  # it replaces Host (RFC 9112 §3.2.2)
                        headers.append((b":authority", authority))
            except BadRequest as exc:
                log.debug("refused HTTP/1.x request head: %s", exc.reason)
                self._fail(exc.status, exc.reason)
                return
        elif len(hosts) != 1 or hosts[0] != self._good_host:  # the same as before, mostly
            if len(hosts) != 1 or not host_is_valid(hosts[0]):
                self._fail(400, "Bad Request: invalid, repeated or missing Host field")
                return
            self._good_host = hosts[0]
        headers[1] = (b":path", url)
        has_body = expect_continue = te_trailers = False
        if fields:
            if b"upgrade" in fields and parser.should_upgrade() and self._divert_upgrade(fields, headers):
                return
            if declared_too_large(fields.get(b"content-length"), self.config.max_body_size):
                self._fail(413, "Content Too Large")
                return
            chunked = b"transfer-encoding" in fields
            length = int(fields.get(b"content-length", 0))
            if chunked or length:
                has_body = True
                self.framing.body_follows(chunked, length)
            expect_continue = fields.get(b"expect", b"").lower() == b"100-continue"
            te_trailers = b"trailers" in fields.get(b"te", b"").lower()
        self._count += 1
        self.request_count.add()
        if self._max_requests and self._count >= self._max_requests:
            self.closing = True  # this response says "connection: close"
        keep_alive = parser is None or parser.should_keep_alive()
        response = H1Response(self, self._count, headers, version, method == b"HEAD",
                              keep_alive and not self.closing, expect_continue, te_trailers)
        if has_body:  # (a request without one ended with its head: nothing to receive)
            self._receiving = response
        self.streams[response.stream_id] = response
        if self._current is None:
            self._current = response
            response.start(has_body)
        else:
            self.apps.begin(response.exchange, has_body)
            self._queue.append(response)
            if len(self._queue) >= MAX_PIPELINED:
                self._pause_reading()

    def _divert_upgrade(self, fields: dict, headers: list) -> bool:
        """An Upgrade request: True if it is not to be served as a plain request yet.

        llhttp stops at the end of an upgrade request's headers and leaves any body
        unparsed. An h2c upgrade whose body fits ``MAX_UPGRADE_BODY`` collects the body
        itself. Any other upgrade with a body is served over HTTP/1.1, as RFC 9110 §7.8
        lets a server ignore Upgrade: its head, without the upgrade fields, is parsed
        again by a fresh parser, which then streams the body as for any request.
        """
        length = fields.get(b"content-length", b"0")
        if self._can_upgrade_to_h2c(fields, length):
            self._upgrade = (fields[b"http2-settings"], [(b":scheme", b"http")] + headers,
                             int(length))
            return True
        if b"transfer-encoding" in fields or length != b"0":
            self._replay = self._head_without_upgrade(headers)
            return True
        return False

    def _head_without_upgrade(self, headers: list) -> bytes:
        """The request's head as bytes again, without ``Upgrade`` and ``HTTP2-Settings``."""
        lines = [b"%s %s HTTP/%s" % (headers[0][1], headers[1][1],
                                      self.parser.get_http_version().encode())]
        lines += [name + b": " + value for name, value in headers[2:]
                  if name != b"upgrade" and name != b"http2-settings" and name[:1] != b":"]
        return b"\r\n".join(lines) + b"\r\n\r\n"

    def _can_upgrade_to_h2c(self, fields: dict, length: bytes) -> bool:
        """RFC 7540 §3.2: cleartext, ``Upgrade: h2c``, HTTP2-Settings, a sized body."""
        return (self._upgrade_to_h2c is not None and not self.config.tls
                and b"http2-settings" in fields
                and fields.get(b"upgrade", b"").strip().lower() == b"h2c"
                and b"transfer-encoding" not in fields
                and length.isdigit() and int(length) <= MAX_UPGRADE_BODY
                and self._current is None and not self._queue)

    def on_body(self, body: bytes) -> None:
        receiving = self._receiving
        if receiving is None:  # (a finished or abandoned one is _receiving no more)
            if self._drop_left is not None:
                self._drop_left -= len(body)
                if self._drop_left < 0:
                    log.info("client still sending past %d bytes of a body nobody reads; "
                             "closing", DRAIN_BYTES)
                    self._close()
            return
        if not receiving.exchange.request_data(body, len(body), self.config.max_body_size):
            log.info("request body over max_body_size; closing the connection")
            self._fail(413, "Content Too Large")
            return
        self._body_buffered += len(body)
        if self._body_buffered > self.config.stream_window_size:
            self._pause_reading()

    def on_message_complete(self) -> None:
        if self.closed:
            return  # (see on_headers_complete; _drop_left is the lingering's budget now)
        if self._upgrade is not None or self._replay is not None:
            return  # HttpParserUpgrade follows
        if self._receiving is not None:
            self._receiving.exchange.request_end()
            self._receiving = None
        self._drop_left = None

    # -- flow of exchanges --------------------------------------------------------

    def body_consumed(self, size: int) -> None:
        """The app consumed ``size`` body bytes: read again once below half the limit."""
        self._body_buffered -= size
        if self._body_buffered <= self.config.stream_window_size // 2:
            self._resume_reading()

    def write(self, data: bytes) -> None:
        """Write to the client unless the connection is gone."""
        if data and not self.closed and not self._transport_closing():
            self._transport_write(data)

    def drained_when_writable(self, exchange: Exchange, size: int) -> None:
        """Tell ``exchange`` that ``size`` written bytes left the buffer: now, or once
        the transport drains."""
        if self.write_paused:
            self._unreleased.append((exchange, size))
        else:
            exchange.drained(size)

    def can_retire(self, now: float, quiet: float) -> bool:
        """True during a request (its response then says ``connection: close``, and
        the client comes back on a new connection) or after ``quiet`` seconds without
        one (closing sooner could cross a request already on its way)."""
        if self._current is not None or self._drop_left is not None:
            return True
        return now - self._last_activity >= quiet

    def stuck_for(self, now: float) -> float:
        """Seconds the running app call has waited on the client (see
        Exchange.stuck_on_client); 0 if it does not."""
        current = self._current
        if current is None or self.closed:
            return 0.0
        last_sent = self._paused_since if self.write_paused else now
        return current.exchange.stuck_on_client(now, last_sent, self._last_activity)

    def shed(self, why: str) -> None:
        """End this connection now (out of app threads, and this client is why)."""
        log.warning("closing connection from %s: %s", self.info.client, why)
        self._close()
        self.transport.abort()

    def check_timeouts(self, now: float) -> None:
        """Called every second or so: slow headers get 408; idle and stalled ones close."""
        if self._lingering:
            if now - self._last_activity > LINGER_SECONDS or now > self._drop_until:
                self.transport.close()
            return
        if self.closed:
            return
        config = self.config
        if self.write_paused and now - self._paused_since > config.write_stall_timeout:
            log.warning("closing connection from %s: it has not read for %.0f s",
                        self.info.client, now - self._paused_since)
            self._close()
        elif self._drop_left is not None and now > self._drop_until:
            log.info("client still sending a body nobody reads after %.0f s; closing",
                     DRAIN_SECONDS)
            self._close()
        elif self._request_started and now - self._request_started > config.header_timeout:
            log.info("request headers from %s took too long (408)", self.info.client)
            self._fail(408, "Request Timeout")
        elif (self._current is None and not self._queue and not self._request_started
              and now - self._last_activity > config.idle_timeout):
            self._close()

    def exchange_finished(self, response: H1Response) -> None:
        """A response is complete: start the next, or close."""
        self.streams.pop(response.stream_id, None)
        self._current = None
        self._last_activity = self._clock()
        # Its body is all in unless it is still the one receiving (on_message_complete
        # lets go of it): exchange.request_ended, without two property calls.
        request_ended = self._receiving is not response
        self._detach(response)
        if not response.keep_alive:
            self._linger(response.ends_with_close)
        elif not request_ended:
            self._drop_rest_of_body()  # the next request comes after that body
        elif self._queue:
            self._current = self._queue.popleft()
            self._current.start()
            self._resume_reading()
        elif self.closing:
            self._close()

    def exchange_failed(self, response: H1Response) -> None:
        """The app failed after the response began: cut the connection."""
        self.streams.pop(response.stream_id, None)
        self._detach(response)
        self._close()

    def _fail(self, status: int, reason: str) -> None:
        """A protocol-level error: answer it (if no response has begun) and close."""
        if self._current is None or not self._current.responded:
            self.write(error_response(status, reason, self.server.default_fields))
            self._linger()
        else:
            self._close()

    def _detach(self, response: H1Response) -> None:
        """The response is finished: it lets go of its exchange (a cycle between them
        would leave every request's objects to the cyclic garbage collector), and a
        body still arriving for it is dropped from now on (``_receiving`` None)."""
        if self._receiving is response:
            self._receiving = None
            response.exchange.discard_body()
        response.exchange = None

    def _drop_rest_of_body(self) -> None:
        """The app answered without reading the whole body (a 401 or 413 to an upload):
        parse the rest and drop it (see DRAIN_BYTES), then go on with the connection."""
        self._drop_left = DRAIN_BYTES - self._body_buffered
        self._drop_until = self._clock() + DRAIN_SECONDS
        self._body_buffered = 0
        self._resume_reading()

    def _linger(self, at_once: bool = False) -> None:
        """Close for requests, lingering (RFC 9112 §9.6): half-close where the transport
        can, then read and drop what the client still sends (see DRAIN_BYTES), closing
        when it closes, goes quiet for LINGER_SECONDS, or passes the drain limits. A
        client still sending a body thus reads our response instead of a TCP reset.
        ``at_once``: the response ends with the close itself, so a transport that cannot
        half-close (TLS) closes now."""
        self._abort_all()
        transport = self.transport
        if transport.is_closing():
            return
        if transport.can_write_eof():
            transport.write_eof()
        elif at_once:
            transport.close()
            return
        self._lingering = True
        self._drop_left = DRAIN_BYTES
        self._drop_until = self._clock() + DRAIN_SECONDS
        self._last_activity = self._clock()
        if self._reading_paused:
            self._reading_paused = False
            transport.resume_reading()

    def _linger_on(self, size: int) -> None:
        """``size`` more bytes came while lingering: drop them, or close past the limit."""
        self._last_activity = self._clock()
        self._drop_left -= size
        if self._drop_left < 0:
            self.transport.close()

    def _pause_reading(self) -> None:
        if not self._reading_paused and not self.closed:
            self._reading_paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._reading_paused and not self.closed and len(self._queue) < MAX_PIPELINED:
            self._reading_paused = False
            self.transport.resume_reading()

    def _close(self) -> None:
        self._abort_all()
        self.transport.close()

    def _abort_all(self) -> None:
        """The connection is done: stop every app call it started; parsing may go on to
        the end of the current read, but feeds no exchange."""
        self.closed = True
        for response in list(self.streams.values()):  # (the queued ones among them)
            response.abort()
        self.streams.clear()
        self._queue.clear()
        self._receiving = None

    # -- h2c upgrade (RFC 7540 §3.2) ----------------------------------------------

    def _after_upgrade_request(self, rest: bytes) -> None:
        """The parser stopped after a request asking to upgrade the connection."""
        if self._upgrade is not None:
            self._upgrade_buffer = bytearray(rest)
            self._try_upgrade()
            return
        # Served over HTTP/1.1: a request with a body is parsed again from its head; one
        # without (a websocket upgrade we do not speak...) was served as it stands. Either
        # way a fresh parser reads what follows.
        self.parser = self._new_parser()
        if self._replay is not None:
            rest = self._replay + rest
        if rest:
            self.data_received(rest)

    def _try_upgrade(self) -> None:
        """Once the upgrade request's body is in: 101, then HTTP/2 takes the transport."""
        settings, headers, length = self._upgrade
        buffered = self._upgrade_buffer
        if len(buffered) < length:
            return  # wait for the rest of the body (at most MAX_UPGRADE_BODY)
        body, rest = bytes(buffered[:length]), bytes(buffered[length:])
        self.write(b"HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: h2c\r\n\r\n")
        self.server.connections.discard(self)
        self.closed = True  # this object is done; the transport now belongs to HTTP/2
        self._upgrade_to_h2c(self.server, self.transport, settings, headers, body, rest,
                             self.peer)

    # -- graceful shutdown --------------------------------------------------------

    def shutdown(self) -> None:
        """Finish the response in progress (with ``connection: close``), then close."""
        self.closing = True
        for exchange in self._queue:
            exchange.keep_alive = False
        if self._current is not None:
            self._current.keep_alive = False
        elif self._drop_left is not None:
            self._linger()  # a client still sending a body nobody reads: let it finish
        else:
            self._close()

    def abort(self) -> None:
        """The graceful deadline passed: close now."""
        if not self.closed:
            self._close()
