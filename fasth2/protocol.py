"""The asyncio (uvloop) Protocol of one HTTP/2 connection.

Strategy: h2 owns the connection and stream state; this class feeds it bytes, turns its
events into work, and writes what it wants sent. Every h2 event has a handler in
``_HANDLERS`` that says what we do with it and why. Writes are coalesced: whatever h2
queues during one loop iteration goes out in one ``transport.write`` (at the end of
``data_received``, or in one ``flush_soon`` callback), except that a sender that has
queued a lot flushes early so that ``pause_writing`` can stop it in time.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import TYPE_CHECKING, Callable

import h2.config
import h2.connection
from h2.connection import ConnectionState
import h2.events as ev
from h2.errors import ErrorCodes
from h2.exceptions import H2Error, ProtocolError, StreamClosedError
from h2.settings import SettingCodes, Settings
from hyperframe.frame import GoAwayFrame

from . import h2fast
from .body import EMPTY_BODY, RequestBody
from .errors import MalformedHeaders, StreamAborted
from .limits import Budget, declared_too_large
from .speedups import (FrameScanner, HpackDecoder, HpackEncoder, build_environ,
                       validate_request_headers)
from .priority import (PRIORITY_UPDATE_FRAME, SETTINGS_NO_RFC7540_PRIORITIES, PendingUpdates,
                       from_rfc7540_weight, parse_priority)
from .scheduler import SendScheduler
from .stream import MIN_USEFUL_WINDOW, Stream
from .workers import ThreadShare
from .wsgi import base_environ, run_app

if TYPE_CHECKING:
    from .server import Server

log = logging.getLogger("fasth2.error")

# After our last bytes, how long we keep reading (and discarding) before closing, so
# that a client still sending does not get a TCP RST that destroys our GOAWAY.
LINGER_SECONDS = 2.0



# h2's header checks and normalisation are replaced by ours: validate_request_headers
# (the same checks, compiled, answered with a stream error as RFC 9113 §8.1.1 says rather
# than h2's connection error), build_environ (joins cookie crumbs) and
# encode_response_headers (stricter than h2's outbound checks); tests prove both claims.
_H2_CONFIG = h2.config.H2Configuration(
    client_side=False, header_encoding=None,
    validate_inbound_headers=False, normalize_inbound_headers=False,
    validate_outbound_headers=False, normalize_outbound_headers=False,
)


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


class H2Protocol(asyncio.Protocol):
    """One client connection speaking HTTP/2."""

    def __init__(self, server: "Server") -> None:
        self.server = server
        self.config = server.config
        self.loop: asyncio.AbstractEventLoop = server.loop
        self.transport: asyncio.Transport | None = None
        self.conn: h2.connection.H2Connection | None = None
        #: Streams whose app work or response is still in progress.
        self.streams: dict[int, Stream] = {}
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
        # App calls of this connection: at most half the pool's threads at once, so one
        # client (one that stopped reading, say) cannot occupy them all.
        self._apps = ThreadShare(server.workers, server.thread_share)
        self._last_activity = server.loop.time()
        self._last_sent = self._last_activity  # when DATA last went out
        self._paused_since = 0.0
        self._environ: dict = {}
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
        settings were invalid (the connection is then closed with a GOAWAY).
        """
        try:
            self._start(transport, settings)
        except (ProtocolError, ValueError) as exc:
            log.debug("bad HTTP2-Settings in an h2c upgrade: %s", exc)
            self._close_after_flush()
            return False
        prefilled = RequestBody(self.call_from_thread, lambda size: None)  # h2 never counted these
        if body:
            prefilled.feed(body)
        prefilled.end()
        self._start_request(1, headers, prefilled)
        self.flush()
        return True

    def _start(self, transport: asyncio.BaseTransport, upgrade_settings: bytes | None) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.set_write_buffer_limits(high=self.config.write_buffer_high)  # type: ignore[attr-defined]
        self._environ = base_environ(transport, self.config.tls)
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
        # PRIORITY_UPDATEs for streams not opened yet (RFC 9218 §7.1), bounded.
        self._priority_updates = PendingUpdates(2 * self.config.max_concurrent_streams)
        self._scanner = FrameScanner(max_frame_size=self.config.max_frame_size)
        self.server.connections.add(self)
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
        scanner = self._scanner
        for item in scanner.feed(data):
            if type(item) is int:
                self._on_zero_window_update(item)
            elif not self._receive(item):
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
        self.flush()

    def _receive(self, item: bytes | tuple) -> bool:
        """Hand bytes (or a whole DATA/HEADERS frame, see FrameScanner) to h2 and
        dispatch its events; False if the connection ended."""
        conn = self.conn
        try:
            if type(item) is bytes:
                events = conn.receive_data(item)
            else:
                events = h2fast.receive_frame(conn, *item)
        except ProtocolError as exc:
            log.debug("closing connection from %s: %s", self._environ["REMOTE_ADDR"], exc)
            self._connection_error(exc.error_code or ErrorCodes.PROTOCOL_ERROR)
            return False
        try:
            for event in events:
                _HANDLERS[type(event)](self, event)
                if self._closed:  # a handler ended the connection
                    return False
        except Exception:
            # A bug of ours: this connection ends, the others are unaffected.
            log.exception("internal error on a connection from %s", self._environ["REMOTE_ADDR"])
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
            conn.reset_stream(stream_id, ErrorCodes.PROTOCOL_ERROR)
            stream = self.streams.get(stream_id)
            if stream is not None:
                stream.abort()
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
        self._closed = True
        self._shutdown_streams()
        self.server.connections.discard(self)

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

    def call_from_thread(self, callback: Callable, *args) -> None:
        """Run ``callback(*args)`` on the loop; called from the app's threads."""
        try:
            self.loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed: the server is gone
            raise StreamAborted("the server is shutting down") from None

    def acknowledge(self, stream_id: int, size: int) -> None:
        """Give ``size`` consumed request-body bytes back to the client's windows."""
        if self._closed:
            return
        try:
            self.conn.acknowledge_received_data(size, stream_id)
        except H2Error:
            return  # the connection is closing
        self.flush_soon()

    # -- streams ------------------------------------------------------------------

    def stream_finished(self, stream: Stream) -> None:
        """The stream's response is complete (or abandoned); forget it."""
        self.streams.pop(stream.stream_id, None)
        self._last_activity = self.loop.time()
        body = stream.body
        if not stream.aborted and not body.ended and not self._closed:
            # The response is complete before the request: ask the client to stop
            # sending (RFC 9113 §8.1) and return what it already sent to the window.
            unread = body.abort()
            try:
                self._reset(stream.stream_id, ErrorCodes.NO_ERROR)
                if unread:
                    self.conn.acknowledge_received_data(unread, stream.stream_id)
            except H2Error:
                pass
            self.flush_soon()
        if self.closing and not self.streams:
            self._close_after_flush()

    def _reset(self, stream_id: int, code: ErrorCodes) -> None:
        """RST_STREAM, unless h2 already closed the stream (a RST_STREAM of the client's
        may have arrived in the same read)."""
        try:
            self.conn.reset_stream(stream_id, code)
        except StreamClosedError:
            pass

    def _can_send(self) -> bool:
        """True while the connection itself can take more DATA."""
        # The same threshold as the senders': a sliver of window waits for more.
        return (not self.write_paused and not self._closed
                and self.conn.outbound_flow_control_window >= MIN_USEFUL_WINDOW)

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
                    self._environ["REMOTE_ADDR"], what)
        self._connection_error(ErrorCodes.ENHANCE_YOUR_CALM)
        return False

    def check_timeouts(self, now: float) -> None:
        """Called every second or so: end idle and stalled connections."""
        if self._closed:
            return
        stall = self.config.write_stall_timeout
        if self.write_paused and now - self._paused_since > stall:
            log.warning("closing connection from %s: it has not read for %.0f s",
                        self._environ["REMOTE_ADDR"], now - self._paused_since)
            self.abort()
        elif self.scheduler.busy and now - self._last_sent > stall:
            log.warning("closing connection from %s: no connection window for %.0f s",
                        self._environ["REMOTE_ADDR"], now - self._last_sent)
            self.abort()
        elif not self.streams and now - self._last_activity > self.config.idle_timeout:
            log.debug("closing idle connection from %s", self._environ["REMOTE_ADDR"])
            self.shutdown()
        else:
            for stream in list(self.streams.values()):
                if stream.stalled_since and now - stream.stalled_since > stall:
                    log.warning("stream %d from %s: no window for %.0f s; reset",
                                stream.stream_id, self._environ["REMOTE_ADDR"], now - stream.stalled_since)
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
        if not self.streams:
            self._close_after_flush()

    def abort(self) -> None:
        """Close now (the graceful deadline has passed): abandon in-flight streams."""
        if not self._closed:
            self.closing = False  # the streams' ends must not start a graceful close
            self._shutdown_streams()
            try:
                self.conn.close_connection(ErrorCodes.NO_ERROR, last_stream_id=self._goaway_last)
            except H2Error:
                pass
            self.flush()
            self._closed = True
        self.transport.close()

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

    # -- h2 event handlers --------------------------------------------------------

    def _on_request(self, event: ev.RequestReceived) -> None:
        """New request: build its environ and run the app on the thread pool."""
        stream_id = event.stream_id
        self._highest_request = stream_id
        if self.closing and stream_id > self._goaway_last:
            # After our GOAWAY: the client may retry it on a new connection.
            self._reset(stream_id, ErrorCodes.REFUSED_STREAM)
            return
        try:
            validate_request_headers(event.headers)
        except MalformedHeaders as exc:
            log.debug("stream %d: malformed request: %s", stream_id, exc)
            self._reset(stream_id, ErrorCodes.PROTOCOL_ERROR)
            self.glitch("malformed requests")
            return
        if max(self._apps.running, len(self.streams)) >= self.config.max_concurrent_streams:
            # Reset streams whose app is still running count against the limit too.
            self._reset(stream_id, ErrorCodes.REFUSED_STREAM)
            self.glitch("refused streams")
            return
        if event.stream_ended is not None:
            body = EMPTY_BODY
        else:
            body = RequestBody(self.call_from_thread, partial(self.acknowledge, stream_id))
        stream = self._start_request(stream_id, event.headers, body)
        if event.priority_updated is not None:  # RFC 7540 priority fields in HEADERS
            stream.set_priority(from_rfc7540_weight(event.priority_updated.weight), False)

    def _start_request(self, stream_id: int, headers: list, body) -> Stream:
        environ = build_environ(headers, self._environ)
        environ["wsgi.input"] = body
        stream = Stream(self, stream_id, body, self.config.stream_buffer_size)
        self.streams[stream_id] = stream
        self._requests += 1
        limit = self.config.max_requests_per_connection
        if limit and self._requests >= limit:
            self.shutdown()  # this one is served; the client opens a new connection
        if declared_too_large(environ.get("CONTENT_LENGTH"), self.config.max_body_size):
            stream.too_large()
            return stream
        signal = environ.get("HTTP_PRIORITY")
        if signal is not None:
            stream.set_priority(parse_priority(signal.encode("latin-1")), True)
        update = self._priority_updates.take(stream_id)
        if update is not None:  # a PRIORITY_UPDATE came first: it is the newer signal
            stream.set_priority(parse_priority(update, stream.priority), True)
        self._apps.start(run_app, self.server.app, environ, stream)
        return stream

    def _on_data(self, event: ev.DataReceived) -> None:
        """Request body: hand it to the app; acknowledge it once the app reads it."""
        if not event.flow_controlled_length and event.stream_ended is None:
            if not self.glitch("empty DATA frames"):
                return
        stream = self.streams.get(event.stream_id)
        if stream is None or stream.aborted or stream.body.ended:
            # Nobody will read it (response done or stream abandoned): give it back.
            self.acknowledge(event.stream_id, event.flow_controlled_length)
            return
        data = event.data  # bytes, or a list of payloads (h2fast.receive_frame)
        size = len(data) if type(data) is not list else event.flow_controlled_length
        if not stream.body_allowed(size, self.config.max_body_size):
            log.info("stream %d: request body over max_body_size; stream reset", event.stream_id)
            self.acknowledge(event.stream_id, event.flow_controlled_length)
            stream.reset(ErrorCodes.CANCEL)
            return
        stream.body.feed(data)
        padding = event.flow_controlled_length - size
        if padding:  # padding is never read by anyone: acknowledge it at once
            self.acknowledge(event.stream_id, padding)

    def _on_stream_ended(self, event: ev.StreamEnded) -> None:
        """END_STREAM: the body is complete; a reader waiting for more gets EOF."""
        stream = self.streams.get(event.stream_id)
        if stream is not None:
            stream.body.end()

    def _on_stream_reset(self, event: ev.StreamReset) -> None:
        """RST_STREAM (or h2 reset it): abort the app's work and the sending."""
        stream = self.streams.get(event.stream_id)
        if stream is not None:
            log.debug("stream %d reset (error %s, by %s)", event.stream_id, event.error_code,
                      "client" if event.remote_reset else "server")
            stream.abort()
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
        """WSGI has no request trailers: check them, then let StreamEnded end the body."""
        try:
            validate_request_headers(event.headers, True)
        except MalformedHeaders as exc:
            log.debug("stream %d: malformed trailers: %s", event.stream_id, exc)
            self._reset(event.stream_id, ErrorCodes.PROTOCOL_ERROR)
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                stream.abort()
            self.glitch("malformed trailers")

    def _on_connection_terminated(self, event: ev.ConnectionTerminated) -> None:
        """The client sent GOAWAY. h2 will send nothing more, so in-flight work stops."""
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

    def _connection_error(self, code: ErrorCodes) -> None:
        """End the connection with GOAWAY ``code`` (unless h2 already queued its own)."""
        if self.conn.state_machine.state != ConnectionState.CLOSED:
            # h2 queues GOAWAY itself for frame errors, but not for a bad preface.
            self.conn.close_connection(code)
        self._shutdown_streams()
        self._close_after_flush()

    def _on_closed_stream_frame(self) -> None:
        """DATA or HEADERS on a closed stream: h2 answers it; we count it (charged
        after the read, outside h2's parsing)."""
        self._closed_stream_frames += 1

    def _on_ping(self, event: ev.PingReceived) -> None:
        """h2 queues the PING ACK itself; each PING costs from the budget."""
        self.glitch("PING frames")

    def _ignore(self, event: ev.Event) -> None:
        """Events that need nothing from us (see the table below for why)."""


_HANDLERS: dict[type, Callable[[H2Protocol, ev.Event], None]] = {
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
    # We send no PINGs, so an ACK carries nothing for us.
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
