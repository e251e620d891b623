"""What an HTTP/2 connection does with each of h2's events: one handler per event type.

``H2EventHandlers`` is the half of ``H2Protocol`` (protocol.py) that reacts to h2: new
requests become exchanges for the gateway, body data feeds them, resets and GOAWAYs stop work,
window updates wake senders, priority signals re-order them. ``HANDLERS`` maps every h2
event class to its handler, and says why for the ones that need nothing.
"""

from __future__ import annotations

import logging
from typing import Callable

import h2.events as ev
from h2.errors import ErrorCodes
from h2.settings import SettingCodes

from . import h2fast
from .errors import MalformedHeaders
from .events import CLIENT_RESET, SERVER_RESET
from .priority import PRIORITY_UPDATE_FRAME, from_rfc7540_weight, parse_priority
from .speedups import validate_request_headers
from .twins import Stream

log = logging.getLogger("fasth2.error")


class H2EventHandlers:
    """The h2 event handlers of ``H2Protocol`` (a mixin: ``self`` is the protocol)."""

    __slots__ = ()  # the protocol's are in H2Protocol

    def _on_request(self, event: ev.RequestReceived) -> None:
        """New request: an exchange for the gateway, whose app starts at once (or
        when the connection's share of the thread pool has room)."""
        stream_id = event.stream_id
        self._highest_request = stream_id
        if self.closing and stream_id > self._goaway_last:
            # After our GOAWAY: the client may retry it on a new connection.
            self.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)
            return
        try:
            priority = validate_request_headers(event.headers)
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
        stream = self._start_request(stream_id, event.headers, priority,
                                     event.stream_ended is None)
        if event.priority_updated is not None:  # RFC 7540 priority fields in HEADERS
            stream.set_priority(from_rfc7540_weight(event.priority_updated.weight), False)

    def _start_request(self, stream_id: int, headers: list, priority: bytes | None,
                       has_body: bool, whole_body: bytes | None = None) -> Stream:
        """A new stream's exchange to the gateway; ``has_body``: DATA follows.
        ``whole_body``: the body of an h2c upgrade's request, already complete (and
        never counted by h2's windows)."""
        stream = Stream(self, stream_id, headers)
        self.streams[stream_id] = stream
        self._requests += 1
        self.server.count_request()
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
        data = event.data  # bytes, or a list of payloads (h2fast.receive_frame)
        size = len(data) if type(data) is not list else received
        if not stream.exchange.request_data(data, size, self.config.max_body_size):
            log.info("stream %d: request body over max_body_size; stream reset", event.stream_id)
            stream.reset(ErrorCodes.CANCEL)
            return
        if received > size:  # padding is never read by anyone: give it back at once
            h2fast.credit_stream(conn, event.stream_id, received - size)

    def _on_stream_ended(self, event: ev.StreamEnded) -> None:
        """END_STREAM: the body is complete; a reader waiting for more gets EOF."""
        stream = self.streams.get(event.stream_id)
        if stream is not None:
            stream.exchange.request_end()
        else:
            self.stop_draining(event.stream_id)

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


HANDLERS: dict[type, Callable[[H2EventHandlers, ev.Event], None]] = {
    ev.RequestReceived: H2EventHandlers._on_request,
    ev.DataReceived: H2EventHandlers._on_data,
    ev.StreamEnded: H2EventHandlers._on_stream_ended,
    ev.StreamReset: H2EventHandlers._on_stream_reset,
    ev.WindowUpdated: H2EventHandlers._on_window_updated,
    ev.RemoteSettingsChanged: H2EventHandlers._on_settings_changed,
    ev.ConnectionTerminated: H2EventHandlers._on_connection_terminated,
    # Our SETTINGS took effect; h2 applied them to its state already.
    ev.SettingsAcknowledged: H2EventHandlers._ignore,
    ev.PingReceived: H2EventHandlers._on_ping,
    # Our PINGs only wake a stalled client (uploads.py): the ACK tells us nothing.
    ev.PingAckReceived: H2EventHandlers._ignore,
    ev.PriorityUpdated: H2EventHandlers._on_priority,
    ev.TrailersReceived: H2EventHandlers._on_trailers,
    ev.UnknownFrameReceived: H2EventHandlers._on_unknown_frame,
    # Client-side events: h2 never raises them on a server connection.
    ev.ResponseReceived: H2EventHandlers._ignore,
    ev.InformationalResponseReceived: H2EventHandlers._ignore,
    ev.PushedStreamReceived: H2EventHandlers._ignore,
    ev.AlternativeServiceAvailable: H2EventHandlers._ignore,
}
