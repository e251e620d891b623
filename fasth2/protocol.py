"""The asyncio (uvloop) Protocol of one HTTP/2 connection.

Strategy: h2 owns the connection and stream state; this class feeds it bytes (the
common frames through ``h2fast``), turns its events into work, and writes what it wants
sent. Every h2 event has a handler (``HANDLERS``, below the class) that says what we do
with it and why (a new request on h2fast's path comes as its values, not as events:
``h2fast.receive``). Writes are coalesced: whatever is queued during one loop iteration goes
out in one ``transport.write`` or ``writelines`` (at the end of ``data_received``, or in
one ``flush_soon`` callback), except that a sender that has queued a lot flushes early
so that ``pause_writing`` can stop it in time.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Callable

import h2.config
import h2.connection
import h2.events as ev
from h2.connection import ConnectionState
from h2.errors import ErrorCodes
from h2.exceptions import H2Error, ProtocolError
from h2.settings import SettingCodes, Settings
from hyperframe.exceptions import InvalidFrameError
from hyperframe.frame import GoAwayFrame

from . import h2fast
from .h2fast import receive  # (a cached global, not a module attribute read a frame run)
from .errors import MalformedHeaders
from .events import CLIENT_RESET, SERVER_RESET
from .limits import DRAIN_BYTES, DRAIN_SECONDS, LINGER_SECONDS, Budget
from .priority import (PRIORITY_UPDATE_FRAME, SETTINGS_NO_RFC7540_PRIORITIES, PendingUpdates,
                       from_rfc7540_weight, parse_priority)
from .scheduler import SendScheduler
from .speedups import FrameScanner, HpackDecoder, HpackEncoder, ReadBuffer, validate_request_headers
# (Stream as twins.Stream, looked up when a stream starts: the compiled Stream's module
# imports this one as it loads, typing its protocol field, while twins is still loading.)
from . import twins
from .twins import ConnectionInfo
from .uploads import UploadWatch

if TYPE_CHECKING:
    from .server import Server

log = logging.getLogger("fasth2.error")

#: The scanner's summed-up runs (the other tuples it yields are whole DATA and HEADERS
#: frames, which cost the budget nothing here).
_SUMMED_RUNS = (h2fast.WINDOW_UPDATE, h2fast.PRIORITY)
NUDGE_PING = b"fasth2nd"  # opaque data of our PINGs (see uploads.py)
# Read sizes of BufferedH2Protocol.
SMALL_READ = 64 * 1024
BIG_READ = 256 * 1024

# h2's header checks and normalisation are replaced by ours: validate_request_headers
# (the same checks, compiled, answered with a stream error as RFC 9113 §8.1.1 says rather
# than h2's connection error), build_environ (joins cookie crumbs) and
# encode_response_headers (stricter than h2's outbound checks); tests prove both claims.
_H2_CONFIG = h2.config.H2Configuration(
    client_side=False, header_encoding=None,
    validate_inbound_headers=False, normalize_inbound_headers=False,
    validate_outbound_headers=False, normalize_outbound_headers=False,
)


#: Closed streams whose ending is remembered, per stream of the limit (see
#: h2fast.forget_closed_streams): twice what h2 itself lets a client have open.
CLOSED_STREAMS_REMEMBERED = 4


def _h2_settings(config, stream_slack: int = 1) -> Settings:
    """Our SETTINGS, from the config's limits."""
    return Settings(client=False, initial_values={
        SettingCodes.MAX_CONCURRENT_STREAMS: config.max_concurrent_streams * stream_slack,
        SettingCodes.MAX_HEADER_LIST_SIZE: config.max_header_list_size,
        SettingCodes.INITIAL_WINDOW_SIZE: config.initial_window_size,
        SettingCodes.MAX_FRAME_SIZE: config.max_frame_size,
        # We schedule by RFC 9218 signals; RFC 7540 ones are only mapped onto them.
        SETTINGS_NO_RFC7540_PRIORITIES: 1,
    })


class H2Protocol:
    """One client connection speaking HTTP/2 (an asyncio protocol, not derived from
    ``asyncio.Protocol``: compiled, it is an extension type, see _protocol_c.pxd)."""

    # Slots: past 30 attributes an instance dict stops sharing its keys, and CPython
    # 3.11+ then reads every attribute the slow way (as measured on H1Protocol).
    __slots__ = ("server", "config", "loop", "transport", "conn", "streams", "write_paused",
                 "closing", "_closed", "_goaway_last", "_flush_scheduled", "_unflushed",
                 "_requests", "_highest_request", "_closed_stream_frames", "held",
                 "apps", "_last_activity", "_last_sent", "_paused_since", "info", "peer",
                 "_upgraded_request", "_draining", "uploads", "pieces", "scheduler",
                 "_budget", "_priority_updates", "_scanner", "memory", "request_count")

    def __init__(self, server: "Server") -> None:
        self.server = server
        self.config = server.config
        self.loop: asyncio.AbstractEventLoop = server.loop
        self.transport: asyncio.Transport | None = None
        self.conn: h2.connection.H2Connection | None = None
        #: Streams whose app work or response is still in progress.
        self.streams: dict[int, twins.Stream] = {}
        #: True while the transport's buffer is above its high-water mark.
        self.write_paused = False
        self.closing = False  # GOAWAY sent: finishing in-flight streams
        self._closed = False  # our side is done: discard input, close when flushed
        self._goaway_last = 0
        self._flush_scheduled = False
        self._unflushed = 0
        self._requests = 0  # requests received on this connection
        self._highest_request = 0  # the last stream id whose HEADERS we handled
        self._closed_stream_frames = 0  # counted during a read, charged after it
        #: Response bytes the apps produced that are not sent yet (see ``hold``).
        self.held = 0
        #: The process's response memory (memory.py) that ``held`` is counted in.
        self.memory = server.response_memory
        #: The process's request count (requestcount.py), which each request adds to.
        self.request_count = server.request_count
        #: The gateway's side of this connection (gateway.py), made with the transport.
        #: It holds the connection to a share of the thread pool: at most half the
        #: pool's threads at once, so one client (one that stopped reading, say) cannot
        #: occupy them all; none while it is over its response budget (memory.py).
        self.apps = None
        self._last_activity = server.loop.time()
        self._last_sent = self._last_activity  # when DATA last went out
        self._paused_since = 0.0
        #: Addresses and TLS, shared by the exchanges (made with the transport).
        self.info: ConnectionInfo | None = None
        #: The client a PROXY protocol header named (set before connection_made).
        self.peer: tuple[str, int] | None = None
        self._upgraded_request: tuple | None = None  # see connection_upgraded
        #: Streams answered before their body ended: [bytes left to drop, deadline].
        self._draining: dict[int, list] = {}
        self.uploads = UploadWatch(self.loop, self.streams, self._nudge)
        #: Frames queued outside h2 (see h2fast.send_data), written before h2's next
        #: bytes. None over TLS: there every piece would become a TLS record of its own.
        self.pieces: list | None = None if server.config.tls else []

    # -- transport callbacks ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Send our preface (SETTINGS, a bigger connection window) right away."""
        self._start(transport, None)
        self.flush()

    def connection_upgraded(self, transport: asyncio.BaseTransport, settings: bytes,
                            headers: list, body: bytes) -> bool:
        """Take over a connection upgraded from HTTP/1.1 (RFC 7540 §3.2).

        ``settings`` is the client's HTTP2-Settings header; the upgrading request
        (h2-style ``headers`` and its complete ``body``) becomes stream 1. False if the
        settings were invalid (the connection is then closed with GOAWAY PROTOCOL_ERROR:
        RFC 7540 §3.2.1 has the header read as a SETTINGS frame's payload).
        """
        try:
            self._start(transport, settings)
        except (ProtocolError, ValueError, InvalidFrameError) as exc:
            # bad base64 (a ValueError), a length that is no multiple of 6 (hyperframe's
            # InvalidFrameError, not one of h2's), or a value out of range (h2's)
            log.info("closing connection from %s: bad HTTP2-Settings in an h2c upgrade (%s)",
                     self.info.client, exc)
            self._connection_error(ErrorCodes.PROTOCOL_ERROR)
            return False
        # Stream 1 starts when the client's preface arrives, that is once it has read
        # the 101: curl (7.88) fails when response frames come in the same read as the 101.
        self._upgraded_request = (headers, body)
        self.flush()
        return True

    def _start(self, transport: asyncio.BaseTransport, upgrade_settings: bytes | None) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.set_write_buffer_limits(high=self.config.write_buffer_high)  # type: ignore[attr-defined]
        self.info = ConnectionInfo(transport, self.config.tls, self.server.exchange_ended,
                                   self.peer)
        self.apps = self.server.gateway.for_connection(self.info, self)
        conn = h2.connection.H2Connection(_H2_CONFIG)
        conn.local_settings = _h2_settings(self.config)
        conn.max_inbound_frame_size = self.config.max_frame_size
        # HPACK in C (the hpack package itself in the pure build); same defaults as h2's.
        conn.encoder = HpackEncoder()
        conn.decoder = HpackDecoder(self.config.max_header_list_size)
        self.conn = conn
        self.scheduler = SendScheduler(self._can_send, self.loop.time)
        self._budget = Budget(self.config.glitch_budget, self.config.glitch_refill)
        h2fast.watch_closed_streams(conn, self._on_closed_stream_frame)
        h2fast.refuse_naked_continuations(conn)
        # How the last streams ended, for frames still in flight on them: a few times
        # the stream limit (h2 keeps 65,536, some 8 MB on a busy connection).
        h2fast.forget_closed_streams(
            conn, CLOSED_STREAMS_REMEMBERED * self.config.max_concurrent_streams)
        # PRIORITY_UPDATEs for streams not opened yet (RFC 9218 §7.1), bounded.
        self._priority_updates = PendingUpdates(2 * self.config.max_concurrent_streams)
        self._scanner = FrameScanner(max_frame_size=self.config.max_frame_size)
        self.server.connections.add(self)
        self.memory.register(self)
        if upgrade_settings is None:
            conn.initiate_connection()
        else:
            conn.initiate_upgrade_connection(upgrade_settings)
        # The SETTINGS above advertise max_concurrent_streams; h2 itself is let go to
        # twice that, so that the extras get RST_STREAM REFUSED_STREAM from us (a stream
        # error) rather than h2's connection error, up to where it is plainly an attack.
        conn.local_settings = _h2_settings(self.config, stream_slack=2)
        extra_window = self.config.connection_window_size - 65535
        if extra_window > 0:
            conn.increment_flow_control_window(extra_window)

    def data_received(self, data: bytes) -> None:
        """Feed h2, handle its events, then write everything it queued at once."""
        if self._closed:
            return
        self._last_activity = self.loop.time()
        self.uploads.arrived()
        scanner = self._scanner
        for item in scanner.feed(data):
            if type(item) is int:
                self._on_zero_window_update(item)
                continue
            if type(item) is tuple and item[0] in _SUMMED_RUNS and not self._charge_run(item):
                return
            if not self._receive(item):
                return
        if scanner.empty_continuations:
            count, scanner.empty_continuations = scanner.empty_continuations, 0
            if not self.glitch("empty CONTINUATION frames", count):
                return
        if self._closed_stream_frames:
            # A quarter token each: DATA already in flight when a stream ended is
            # innocent, a stream of them is not.
            count, self._closed_stream_frames = self._closed_stream_frames, 0
            if not self.glitch("frames on closed streams", count / 4):
                return
        if self._upgraded_request is not None:
            self._start_upgraded_request()
        self.flush()

    def _start_upgraded_request(self) -> None:
        """Stream 1 of an h2c upgrade: the HTTP/1.1 request, its body already whole
        (and never counted by h2's flow control): no DATA follows on the stream."""
        headers, body = self._upgraded_request
        self._upgraded_request = None
        self._start_request(1, headers, None, False, body)

    def _charge_run(self, item: tuple) -> bool:
        """The budget's share of a run the scanner summed up; False if that ended the
        connection. Tiny WINDOW_UPDATEs (a window opened a byte at a time) cost a tenth
        each; PRIORITY frames a tenth each, of which _on_priority charges one per
        stream."""
        kind, _, count, entries = item
        if kind == h2fast.WINDOW_UPDATE and count:
            return self.glitch("tiny WINDOW_UPDATEs", count / 10)
        if kind == h2fast.PRIORITY and count > len(entries):
            return self.glitch("PRIORITY frames", (count - len(entries)) / 10)
        return True

    def _receive(self, item: bytes | tuple) -> bool:
        """Hand bytes (or a whole DATA/HEADERS frame, see FrameScanner) to h2 and
        dispatch its events; False if the connection ended."""
        conn = self.conn
        try:
            if type(item) is bytes:
                events = conn.receive_data(item)
            else:
                events = receive(conn, *item)
        except ProtocolError as exc:
            log.debug("closing connection from %s: %s", self.info.client, exc)
            self._connection_error(exc.error_code or ErrorCodes.PROTOCOL_ERROR)
            return False
        try:
            if type(events) is tuple:  # a new request, without h2's events (see receive)
                stream_id, headers, ended = events
                self._request_received(stream_id, headers, ended, None)
                if ended and not self._closed:
                    self._request_ended(stream_id)
                return not self._closed
            for event in events:
                HANDLERS[type(event)](self, event)
                if self._closed:  # a handler ended the connection
                    return False
        except Exception:
            # A bug of ours: this connection ends, the others are unaffected.
            log.exception("internal error on a connection from %s", self.info.client)
            self._connection_error(ErrorCodes.INTERNAL_ERROR)
            return False
        return True

    def _on_zero_window_update(self, stream_id: int) -> None:
        """A WINDOW_UPDATE of 0 on a stream: a stream error (RFC 9113 §6.9).

        On an idle stream it is a connection error (§5.1); on a closed one it is
        ignored, as h2 ignores every WINDOW_UPDATE there.
        """
        conn = self.conn
        state = conn.streams.get(stream_id)
        if state is not None and not state.closed:
            self.reset_stream(stream_id, ErrorCodes.PROTOCOL_ERROR)
            stream = self.streams.get(stream_id)
            if stream is not None:
                stream.abort(SERVER_RESET)
            self.glitch("zero WINDOW_UPDATEs")
        elif stream_id > conn.highest_inbound_stream_id:
            self._connection_error(ErrorCodes.PROTOCOL_ERROR)

    def eof_received(self) -> bool:
        """The client half-closed: nothing more can arrive, so close."""
        return False

    def pause_writing(self) -> None:
        """The transport's buffer is full: senders wait, and we stop reading.

        Not reading bounds what a client that never reads can make us queue (PING and
        SETTINGS acknowledgements, RST_STREAMs) and pushes back on its requests.
        """
        self.write_paused = True
        self._paused_since = self.loop.time()
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        """The transport drained: read again; the next stream in priority order sends."""
        self.write_paused = False
        if not self._closed:
            self.transport.resume_reading()
        self.scheduler.grant()

    def connection_lost(self, exc: Exception | None) -> None:
        """Cancel everything the connection started and let go of it."""
        self._closed = self.uploads.closed = True
        self._shutdown_streams()
        self.server.connections.discard(self)
        self.memory.forget(self)

    # -- h2 events: one handler per event type (HANDLERS below) ------------------

    def _on_request(self, event: ev.RequestReceived) -> None:
        """New request (see ``_request_received``)."""
        self._request_received(event.stream_id, event.headers, event.stream_ended is not None,
                               event.priority_updated)

    def _request_received(self, stream_id: int, headers: list, ended: bool,
                          priority_updated: ev.PriorityUpdated | None) -> None:
        """New request: an exchange for the gateway, whose app starts at once (or
        when the connection's share of the thread pool has room). ``ended``: END_STREAM
        was on its HEADERS; ``priority_updated``: RFC 7540 priority fields were."""
        self._highest_request = stream_id
        if self.closing and stream_id > self._goaway_last:
            # After our GOAWAY: the client may retry it on a new connection.
            self.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)
            return
        try:
            priority = validate_request_headers(headers)
        except MalformedHeaders as exc:
            log.debug("stream %d: malformed request: %s", stream_id, exc)
            self.reset_stream(stream_id, ErrorCodes.PROTOCOL_ERROR)
            self.glitch("malformed requests")
            return
        limit = self.config.max_concurrent_streams  # (two tests: max() costs 1,000 instructions)
        if self.apps.running >= limit or len(self.streams) >= limit:
            # Reset streams whose app is still running count against the limit too.
            self.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)
            self.glitch("refused streams")
            return
        stream = self._start_request(stream_id, headers, priority, not ended)
        if priority_updated is not None:  # RFC 7540 priority fields in HEADERS
            stream.set_priority(from_rfc7540_weight(priority_updated.weight), False)

    def _start_request(self, stream_id: int, headers: list, priority: bytes | None,
                       has_body: bool, whole_body: bytes | None = None) -> twins.Stream:
        """A new stream's exchange to the gateway; ``has_body``: DATA follows.
        ``whole_body``: the body of an h2c upgrade's request, already complete (and
        never counted by h2's windows)."""
        stream = twins.Stream(self, stream_id, headers)
        self.streams[stream_id] = stream
        self._requests += 1
        self.request_count.add()
        limit = self.config.max_requests_per_connection
        if limit and self._requests >= limit:
            self.shutdown()  # this one is served; the client opens a new connection
        exchange = stream.exchange
        if whole_body is not None:
            self.apps.begin(exchange, True)
            if whole_body:
                exchange.request_data(whole_body, len(whole_body), None)
            exchange.request_end()
        if priority is not None:
            stream.set_priority(parse_priority(priority), True)
        updates = self._priority_updates
        update = updates.take(stream_id) if updates else None
        if update is not None:  # a PRIORITY_UPDATE came first: it is the newer signal
            stream.set_priority(parse_priority(update, stream.priority), True)
        started = self.apps.run(exchange, (stream.priority.urgency, stream_id),
                                None if whole_body is not None else has_body)
        if has_body:
            if started:  # its app runs now: the body gets the big window at once
                self._open_body_window(stream_id)
            self.uploads.watch()
        return stream

    def _open_body_window(self, stream_id: int) -> None:
        """The stream's app reads from now: its window grows to stream_window_size,
        unless the declared body fits the window it has (the frame would buy nothing).
        A client whose declared body is bigger is waiting for this WINDOW_UPDATE: it
        goes out at once, not after the rest of the read (which may be a quarter of a
        megabyte of other streams' DATA: a 1 MiB upload waited that long each)."""
        config = self.config
        declared = h2fast.declared_body_length(self.conn, stream_id)
        if declared is not None and declared <= config.initial_window_size:
            return
        h2fast.grow_stream_window(self.conn, stream_id, config.stream_window_size)
        if declared is not None:
            self.flush()

    def _on_data(self, event: ev.DataReceived) -> None:
        """Request body: hand it to the app; reopen the stream's window as it reads.

        The connection window is credited at once (see ``h2fast.credit_connection``):
        bytes a stream buffers are bounded by its own window, and must never hold the
        connection window shut against the streams whose apps are reading.
        """
        received = event.flow_controlled_length
        conn = self.conn
        h2fast.credit_connection(conn, received)
        if not received and event.stream_ended is None:
            if not self.glitch("empty DATA frames"):
                return
        stream = self.streams.get(event.stream_id)
        if stream is None or stream.exchange.aborted or stream.exchange.request_ended:
            # Nobody will read it (response done or stream abandoned): give it back.
            h2fast.credit_stream(conn, event.stream_id, received)
            self.drained(event.stream_id, received)
            return
        data = event.data  # bytes, or a list of payloads (h2fast.receive)
        size = len(data) if type(data) is not list else received
        if not stream.exchange.request_data(data, size, self.config.max_body_size):
            log.info("stream %d: request body over max_body_size; stream reset", event.stream_id)
            stream.reset(ErrorCodes.CANCEL)
            return
        if received > size:  # padding is never read by anyone: give it back at once
            h2fast.credit_stream(conn, event.stream_id, received - size)

    def _on_stream_ended(self, event: ev.StreamEnded) -> None:
        """END_STREAM (see ``_request_ended``)."""
        self._request_ended(event.stream_id)

    def _request_ended(self, stream_id: int) -> None:
        """END_STREAM: the body is complete; a reader waiting for more gets EOF."""
        stream = self.streams.get(stream_id)
        if stream is not None:
            stream.exchange.request_end()
        else:
            self.stop_draining(stream_id)

    def _on_stream_reset(self, event: ev.StreamReset) -> None:
        """RST_STREAM (or h2 reset it): abort the app's work and the sending."""
        metrics = self.server.metrics
        if metrics is not None:
            (metrics.reset_received if event.remote_reset else metrics.reset_sent)(event.error_code)
        stream = self.streams.get(event.stream_id)
        if stream is not None:
            log.debug("stream %d reset (error %s, by %s)", event.stream_id, event.error_code,
                      "client" if event.remote_reset else "server")
            stream.abort(CLIENT_RESET if event.remote_reset else SERVER_RESET)
        self.stop_draining(event.stream_id)
        self.glitch("stream resets" if event.remote_reset else "stream errors")

    def _on_window_updated(self, event: ev.WindowUpdated) -> None:
        """More window: wake the stream's sender; for stream 0, the next in line."""
        if event.stream_id == 0:
            self.scheduler.grant()
            return
        stream = self.streams.get(event.stream_id)
        if stream is not None:
            stream.wake()

    def _on_settings_changed(self, event: ev.RemoteSettingsChanged) -> None:
        """h2 already acknowledged; a new window or frame size reshapes the senders."""
        if not self.glitch("SETTINGS frames"):
            return
        changed = event.changed_settings
        if SettingCodes.INITIAL_WINDOW_SIZE in changed:
            self._wake_all()  # every stream window moved
        if SettingCodes.INITIAL_WINDOW_SIZE in changed or SettingCodes.MAX_FRAME_SIZE in changed:
            self.scheduler.grant()

    def _on_trailers(self, event: ev.TrailersReceived) -> None:
        """Check the trailers and hand them to the app (``fasth2.request_trailers``);
        StreamEnded, which follows, ends the body."""
        try:
            validate_request_headers(event.headers, True)
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                stream.exchange.request_trailers(event.headers)
        except MalformedHeaders as exc:
            log.debug("stream %d: malformed trailers: %s", event.stream_id, exc)
            self.reset_stream(event.stream_id, ErrorCodes.PROTOCOL_ERROR)
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                stream.abort(SERVER_RESET)
            self.glitch("malformed trailers")

    def _on_connection_terminated(self, event: ev.ConnectionTerminated) -> None:
        """The client sent GOAWAY. h2 will send nothing more, so in-flight work stops."""
        if self.server.metrics is not None:
            self.server.metrics.goaway_received(event.error_code)
        if event.error_code:
            log.debug("client GOAWAY with error %s: %r", event.error_code, event.additional_data)
        self._shutdown_streams()
        self._close_after_flush()

    def _on_priority(self, event: ev.PriorityUpdated) -> None:
        """RFC 7540 PRIORITY: its weight maps onto an urgency (see priority.py)."""
        if not self.glitch("PRIORITY frames", 0.1):  # cheap to handle: a tenth each
            return
        stream = self.streams.get(event.stream_id)
        if stream is not None:
            stream.set_priority(from_rfc7540_weight(event.weight), False)

    def _on_unknown_frame(self, event: ev.UnknownFrameReceived) -> None:
        """Unknown frame types are ignored (RFC 9113 §5.5), but for RFC 9218's."""
        frame = event.frame
        if frame.type != PRIORITY_UPDATE_FRAME:
            return
        payload = frame.body
        if frame.stream_id != 0 or len(payload) < 4:
            self._connection_error(ErrorCodes.PROTOCOL_ERROR if frame.stream_id
                                   else ErrorCodes.FRAME_SIZE_ERROR)
            return
        if not self.glitch("PRIORITY_UPDATE frames", 0.1):
            return
        prioritized = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
        if prioritized == 0:
            self._connection_error(ErrorCodes.PROTOCOL_ERROR)
            return
        stream = self.streams.get(prioritized)
        if stream is not None:
            stream.set_priority(parse_priority(payload[4:], stream.priority), True)
        elif prioritized > self._highest_request:
            # Not opened yet, as far as we are concerned: h2 may already have parsed its
            # HEADERS in this same read, but their event comes after this one.
            self._priority_updates.put(prioritized, bytes(payload[4:]))

    def _on_ping(self, event: ev.PingReceived) -> None:
        """h2 queues the PING ACK itself; each PING costs from the budget."""
        self.glitch("PING frames")

    def _ignore(self, event: ev.Event) -> None:
        """Events that need nothing from us (see the table below for why)."""

    # -- writing ------------------------------------------------------------------

    def flush(self) -> None:
        """Write everything queued (body pieces, then what h2 queued after), in one call."""
        self._flush_scheduled = False
        self._unflushed = 0
        data = self.conn.data_to_send()
        pieces = self.pieces
        writable = not self._closed and not self.transport.is_closing()
        if pieces:
            self.pieces = []
            if data:
                pieces.append(data)
            if writable:
                self.transport.writelines(pieces)
        elif data and writable:
            self.transport.write(data)

    def flush_soon(self) -> None:
        """Flush once, at the next loop iteration (coalescing this one's writes)."""
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush_if_scheduled)

    def _flush_if_scheduled(self) -> None:
        if self._flush_scheduled and self.conn is not None:
            self.flush()

    def queued(self, size: int) -> None:
        """A sender queued ``size`` bytes of DATA; flush now if that is a lot."""
        self._last_sent = self.loop.time()
        self._unflushed += size
        if self._unflushed >= self.config.write_buffer_high:
            self.flush()
        else:
            self.flush_soon()

    def body_consumed(self, stream_id: int, size: int) -> None:
        """The app read ``size`` bytes of a stream's body: reopen the stream's window.

        The first read also grows the window from ``initial_window_size`` to
        ``stream_window_size`` (unless the stream got it as its app started at once):
        streams still waiting for a thread each hold at most the initial window.
        """
        if self._closed:
            return
        h2fast.grow_stream_window(self.conn, stream_id, self.config.stream_window_size)
        h2fast.credit_stream(self.conn, stream_id, size)
        self.flush_soon()
        self.uploads.watch()

    def _nudge(self) -> None:
        """A PING for a client whose uploads stalled (see uploads.py)."""
        if not self._closed:
            self.conn.ping(NUDGE_PING)
            self.flush()

    # -- streams ------------------------------------------------------------------

    def stream_finished(self, stream: twins.Stream) -> None:
        """The stream's response is complete (or abandoned); forget it."""
        self.streams.pop(stream.stream_id, None)
        self._last_activity = self.loop.time()
        exchange = stream.exchange
        stream.exchange = None  # no cycle left between them (see Stream.exchange)
        if not exchange.aborted and not exchange.request_ended and not self._closed:
            # The response is complete before the request: drop the rest of the body
            # as it comes (see DRAIN_BYTES), at full speed.
            exchange.discard_body()
            self._draining[stream.stream_id] = [DRAIN_BYTES, self.loop.time() + DRAIN_SECONDS]
            h2fast.grow_stream_window(self.conn, stream.stream_id, self.config.stream_window_size)
            self.flush_soon()
        if self.closing and not self.streams:
            self._close_after_flush()

    def drained(self, stream_id: int, size: int) -> None:
        """``size`` body bytes of a finished stream were dropped; past DRAIN_BYTES,
        ask the client to stop (RST_STREAM NO_ERROR)."""
        drain = self._draining.get(stream_id)
        if drain is not None:
            drain[0] -= size
            if drain[0] < 0:
                self.stop_draining(stream_id, reset=True)

    def stop_draining(self, stream_id: int, reset: bool = False) -> None:
        """The stream's body ended (or was reset), or draining it went on too long."""
        if self._draining.pop(stream_id, None) is not None and reset:
            self.reset_stream(stream_id, ErrorCodes.NO_ERROR)
            self.flush_soon()

    def reset_stream(self, stream_id: int, code: ErrorCodes) -> None:
        """RST_STREAM, unless h2 already closed the stream (a RST_STREAM of the client's
        may have arrived in the same read)."""
        try:
            h2fast.reset_stream(self.conn, stream_id, code)
        except H2Error:
            return
        if self.server.metrics is not None:
            self.server.metrics.reset_sent(code)

    # -- response memory ----------------------------------------------------------

    def release(self, size: int) -> None:
        """``size`` held response bytes were sent (or dropped)."""
        self.memory.release(self, size)

    def resume_app_calls(self) -> None:
        """The response budgets have room again: start the app calls that waited."""
        if not self._closed:
            self.apps.resume()

    def shed(self, why: str) -> None:
        """End this connection now to free what it holds (the process is over its
        response budget, or out of app threads, and this client has not read for a while)."""
        log.warning("closing connection from %s: %s (ENHANCE_YOUR_CALM)",
                    self.info.client, why)
        self._connection_error(ErrorCodes.ENHANCE_YOUR_CALM)
        self.transport.abort()  # a client that does not read would never take our GOAWAY

    def can_retire(self, now: float, quiet: float) -> bool:
        """True once no stream is open and the client has been quiet for ``quiet``
        seconds: a retiring worker's GOAWAY then interrupts nothing (see
        Server.retire)."""
        return not self.streams and now - self._last_activity >= quiet

    def stuck_for(self, now: float) -> float:
        """Seconds the longest-waiting app call of this connection has waited on the
        client (see Exchange.stuck_on_client); 0 if none does."""
        last_sent, last_received = self._last_sent, self._last_activity
        return max((stream.exchange.stuck_on_client(now, last_sent, last_received)
                    for stream in self.streams.values()), default=0.0)

    @property
    def last_progress(self) -> float:
        """When DATA last went out (or the connection started)."""
        return self._last_sent

    def _can_send(self) -> bool:
        """True while the connection itself can take more DATA."""
        return (not self.write_paused and not self._closed
                and self.conn.outbound_flow_control_window > 0)

    def _wake_all(self) -> None:
        for stream in list(self.streams.values()):
            if stream.blocked:
                stream.wake()

    def _shutdown_streams(self) -> None:
        for stream in list(self.streams.values()):
            stream.abort()
        self.streams.clear()

    # -- limits -------------------------------------------------------------------

    def glitch(self, what: str, cost: float = 1.0) -> bool:
        """Spend from the misbehaviour budget; False if that ended the connection."""
        if self._budget.spend(cost):
            return True
        log.warning("closing connection from %s: too many %s (ENHANCE_YOUR_CALM)",
                    self.info.client, what)
        if self.server.metrics is not None:
            self.server.metrics.budget_exhausted(what)
        self._connection_error(ErrorCodes.ENHANCE_YOUR_CALM)
        return False

    def check_timeouts(self, now: float) -> None:
        """Called every second or so: end idle and stalled connections."""
        if self._closed:
            return
        stall = self.config.write_stall_timeout
        if self.write_paused and now - self._paused_since > stall:
            log.warning("closing connection from %s: it has not read for %.0f s",
                        self.info.client, now - self._paused_since)
            self.abort()
        elif self.scheduler.busy and now - self._last_sent > stall:
            log.warning("closing connection from %s: no connection window for %.0f s",
                        self.info.client, now - self._last_sent)
            self.abort()
        elif not self.streams and now - self._last_activity > self.config.idle_timeout:
            log.debug("closing idle connection from %s", self.info.client)
            self.shutdown()
        else:
            for stream_id, (_, deadline) in list(self._draining.items()):
                if now > deadline:
                    self.stop_draining(stream_id, reset=True)
            for stream in list(self.streams.values()):
                if stream.stalled_since and now - stream.stalled_since > stall:
                    log.warning("stream %d from %s: no window for %.0f s; reset",
                                stream.stream_id, self.info.client, now - stream.stalled_since)
                    stream.reset(ErrorCodes.CANCEL)

    # -- closing ------------------------------------------------------------------

    def shutdown(self) -> None:
        """Begin a graceful close: GOAWAY now, close when in-flight streams finish.

        h2 cannot send on a connection once it has sent GOAWAY itself, so this GOAWAY
        is written directly; new streams after it are refused (see ``_on_request``).
        """
        if self.closing or self._closed:
            return
        self.closing = True
        self._goaway_last = self.conn.highest_inbound_stream_id
        self.flush()
        goaway = GoAwayFrame(0, last_stream_id=self._goaway_last, error_code=ErrorCodes.NO_ERROR)
        self.transport.write(goaway.serialize())
        self._count_goaway(ErrorCodes.NO_ERROR)
        if not self.streams:
            self._close_after_flush()

    def abort(self) -> None:
        """Close now (the graceful deadline has passed): abandon in-flight streams."""
        if not self._closed:
            self.closing = False  # the streams' ends must not start a graceful close
            self._shutdown_streams()
            try:
                self.conn.close_connection(ErrorCodes.NO_ERROR, last_stream_id=self._goaway_last)
                self._count_goaway(ErrorCodes.NO_ERROR)
            except H2Error:
                pass
            self.flush()
            self._closed = True
        self.transport.close()

    def _count_goaway(self, code: ErrorCodes) -> None:
        if self.server.metrics is not None:
            self.server.metrics.goaway_sent(code)

    def _close_after_flush(self, flush: bool = True) -> None:
        """Send what is queued, then close, lingering so the client can read it."""
        if self._closed:
            return  # already closing
        if flush:
            self.flush()
        self._closed = True
        transport = self.transport
        if transport.is_closing():
            return
        if transport.can_write_eof():
            try:
                transport.write_eof()
            except OSError:  # the client is already gone
                transport.close()
                return
            self.loop.call_later(LINGER_SECONDS, transport.close)
        else:
            transport.close()

    # -- errors -------------------------------------------------------------------

    def _connection_error(self, code: ErrorCodes) -> None:
        """End the connection with GOAWAY ``code`` (unless h2 already queued its own)."""
        if self.conn.state_machine.state != ConnectionState.CLOSED:
            # h2 queues GOAWAY itself for frame errors, but not for a bad preface.
            self.conn.close_connection(code)
        self._count_goaway(code)
        self._shutdown_streams()
        self._close_after_flush()


    def _on_closed_stream_frame(self) -> None:
        """DATA or HEADERS on a closed stream: h2 answers it; we count it (charged
        after the read, outside h2's parsing)."""
        self._closed_stream_frames += 1


HANDLERS: dict[type, Callable[[H2Protocol, ev.Event], None]] = {
    ev.RequestReceived: H2Protocol._on_request,
    ev.DataReceived: H2Protocol._on_data,
    ev.StreamEnded: H2Protocol._on_stream_ended,
    ev.StreamReset: H2Protocol._on_stream_reset,
    ev.WindowUpdated: H2Protocol._on_window_updated,
    ev.RemoteSettingsChanged: H2Protocol._on_settings_changed,
    ev.ConnectionTerminated: H2Protocol._on_connection_terminated,
    # Our SETTINGS took effect; h2 applied them to its state already.
    ev.SettingsAcknowledged: H2Protocol._ignore,
    ev.PingReceived: H2Protocol._on_ping,
    # Our PINGs only wake a stalled client (uploads.py): the ACK tells us nothing.
    ev.PingAckReceived: H2Protocol._ignore,
    ev.PriorityUpdated: H2Protocol._on_priority,
    ev.TrailersReceived: H2Protocol._on_trailers,
    ev.UnknownFrameReceived: H2Protocol._on_unknown_frame,
    # Client-side events: h2 never raises them on a server connection.
    ev.ResponseReceived: H2Protocol._ignore,
    ev.InformationalResponseReceived: H2Protocol._ignore,
    ev.PushedStreamReceived: H2Protocol._ignore,
    ev.AlternativeServiceAvailable: H2Protocol._ignore,
}


class BufferedH2Protocol(H2Protocol):
    """H2Protocol reading through ``get_buffer``: for cleartext connections.

    uvloop's plain read path copies every read into a new bytes object; here the socket
    is read straight into one (``ReadBuffer``), which for request bodies saves a copy of
    every byte. Reads are 256 KiB after a big one, else 64 KiB.
    """

    __slots__ = ("_reader", "_read_size")

    def __init__(self, server: "Server") -> None:
        super().__init__(server)
        self._reader = ReadBuffer()
        self._read_size = SMALL_READ

    def get_buffer(self, sizehint: int):
        """The buffer for the next read."""
        return self._reader.prepare(self._read_size)

    def buffer_updated(self, nbytes: int) -> None:
        """``nbytes`` were read into it: handle them as ``data_received`` would."""
        self._read_size = BIG_READ if nbytes > SMALL_READ // 2 else SMALL_READ
        self.data_received(self._reader.take(nbytes))

