"""One HTTP/2 stream's response path: from the gateway's events to flow-controlled DATA.

Strategy: ``Stream`` is the HTTP/2 *wire* of an ``Exchange`` (exchange.py): the
gateway's response events arrive as ``respond``, ``inform``, ``end_with_trailers`` and
``reset``. On the loop, output is sent at once while the stream and connection windows and the transport
allow it and no other stream waits: a response that fits (most do) never costs a task.
Otherwise the stream starts its send coroutine (``_sending_loop``), which sleeps until
the connection's ``SendScheduler`` gives it a turn (in RFC 9218 priority order) or its
own WINDOW_UPDATE arrives, sends, and hands the turn back. Each DATA frame carries at
most min(stream window, connection window, peer's max frame size) bytes.

This module is also compiled as it is, as ``fasth2._stream_c``, where Stream is an
extension type with the fields _stream_c.pxd declares (an attribute added here must be
declared there); twins.py picks the build's.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING

from h2.errors import ErrorCodes
from h2.exceptions import H2Error

from .h2fast import end_stream, send_data, send_headers, send_response, send_window
from .events import CONNECTION_CLOSED, SERVER_RESET
from .twins import Exchange
from .priority import DEFAULT, Priority, parse_priority
from .speedups import h2_response_fields

if TYPE_CHECKING:
    from .protocol import H2Protocol


# A DATA frame smaller than this, cut short by the client's window while more of the
# body waits, is a sliver: it is sent (a conformant client with a tiny window must make
# progress, RFC 9113 §6.9.1) but costs the connection's misbehaviour budget, so that
# opening windows a byte at a time (CVE-2019-9511) ends in ENHANCE_YOUR_CALM.
MIN_USEFUL_WINDOW = 512
# From this many bytes a send step's frames reference the body instead of copying it:
# below it, copying into one coalesced write is cheaper than the extra pieces.
ZERO_COPY_MIN = 32 * 1024

# What a send attempt ended with.
DONE = 0  # nothing left to send for now
YIELD = 1  # the turn's allowance is used up; more to send
STREAM_BLOCKED = 2  # the stream's own window is shut: wait for its WINDOW_UPDATE
CONNECTION_BLOCKED = 3  # connection window shut or transport paused: wait in the queue


class Stream:
    """One HTTP/2 stream's response: flow-controlled, prioritised sending."""

    __slots__ = ("protocol", "stream_id", "exchange", "_pending", "_offset", "_app_done",
                 "_finished", "_sender", "_trailers", "_wakeup", "_turn", "_poked", "priority",
                 "rfc9218", "sched_queued", "sched_version", "stalled_since")

    #: HTTP/2 frames every byte: no sendfile.
    can_sendfile = False

    def __init__(self, protocol: "H2Protocol", stream_id: int, headers: list,
                 priority: Priority = DEFAULT) -> None:
        self.protocol = protocol
        self.stream_id = stream_id
        #: What the gateway sees of this stream's request and response (None once the
        #: stream is finished: the exchange refers to its wire, and a cycle between
        #: them would leave every request's objects to the cyclic garbage collector).
        self.exchange: Exchange | None = Exchange(self, protocol.info, stream_id, "2", headers)
        self._pending: deque[bytes] = deque()
        self._offset = 0  # bytes of _pending[0] already sent
        self._app_done = False  # the app handed over its last piece
        self._finished = False  # END_STREAM sent (or the stream was reset)
        self._trailers: list | None = None  # sent with END_STREAM after the body
        self._sender: asyncio.Task | None = None
        self._wakeup: asyncio.Future | None = None
        self._turn = False  # the scheduler gave this stream the turn
        self._poked = False  # new data, window or settings: worth another try
        #: The RFC 9218 priority the scheduler orders by.
        self.priority = priority
        #: True once an RFC 9218 signal set the priority (RFC 7540 ones then stop).
        self.rfc9218 = False
        self.sched_queued = False  # bookkeeping of SendScheduler
        self.sched_version = 0
        #: When the stream started waiting for its own window (0: it is not).
        self.stalled_since = 0.0

    def reserve(self, size: int) -> None:
        """*Any thread*: ``size`` more response bytes wait to be sent, counted against
        the connection's response memory (memory.py) from the moment the app hands
        them over, so that the thread pool sees the count before it starts the
        connection's next call. Going over the process's budget has the loop shed."""
        protocol = self.protocol
        if protocol.memory.hold(protocol, size):
            protocol.loop.call_soon_threadsafe(protocol.server.watch_budget)

    def credit(self, size: int) -> None:
        """The app consumed ``size`` bytes of the request body."""
        self.protocol.body_consumed(self.stream_id, size)

    def respond(self, headers: list | None, data: bytes, end: bool) -> None:
        """Response headers (the first time) and/or body bytes; ``end``: the last."""
        if self._finished:
            if data:
                self.protocol.release(len(data))
            return
        conn = self.protocol.conn
        if data:  # queued first, so that abort() releases it whatever happens below
            self._pending.append(data)
        try:
            if headers is not None:
                # The final head with the server's Date and Server where the app gave
                # none; an app's ``priority`` field sets the response's (RFC 9218 §5).
                headers, priorities = h2_response_fields(headers,
                                                         self.protocol.server.default_fields)
                if priorities is not None:
                    for value in priorities:
                        self.set_priority(parse_priority(value, self.priority), rfc9218=True)
                if end and self._trailers is None and self._respond_whole(headers, data):
                    return
                headers_only = end and not self._pending and self._trailers is None
                send_headers(conn, self.stream_id, headers, headers_only)
                self.protocol.flush_soon()
                if headers_only:
                    self._app_done = True
                    self._finish()
                    return
            if end:
                self._app_done = True
        except H2Error:  # the connection is closing: nothing more can be sent
            self.abort()
            return
        if self._sender is not None:
            self.wake()
            return
        scheduler = self.protocol.scheduler
        if scheduler.busy:  # others are waiting: take a place in the queue
            scheduler.push(self)
            self._start_sender()
            scheduler.grant()
            return
        outcome = self._send(None)  # nobody waits: send at once, as much as fits
        if outcome == DONE:
            return
        if outcome == CONNECTION_BLOCKED:
            scheduler.push(self)
        self._start_sender()

    def _respond_whole(self, headers: list, data: bytes) -> bool:
        """The whole response at once (most are small): when nothing stands in the way
        (no other stream waits to send, the transport takes writes, the windows take
        all of ``data``), its HEADERS and its DATA with END_STREAM are queued together,
        exactly as the general path below would queue them, without its sender
        machinery. False (nothing done) otherwise."""
        protocol = self.protocol
        size = len(data)
        if (not size or len(self._pending) != 1 or self._sender is not None
                or protocol.write_paused or protocol.scheduler.busy
                or size > protocol.config.write_buffer_high):
            return False
        conn = protocol.conn
        sid = self.stream_id
        if size > send_window(conn, sid):
            return False
        # What send_headers and _queue_data's last DATA would do, in fewer calls.
        send_response(conn, sid, headers, data, size,
                      protocol.pieces if size >= ZERO_COPY_MIN else None)
        self._app_done = True
        self._pending.popleft()
        protocol.release(size)
        self.exchange.delivered(size)
        protocol.queued(size)  # (which flushes soon, or now)
        self._finish()
        return True

    def end_with_trailers(self, trailers: list) -> None:
        """The end: a trailers HEADERS frame with END_STREAM follows the body."""
        self._trailers = trailers
        self.respond(None, b"", True)

    def inform(self, headers: list) -> None:
        """A 1xx HEADERS frame (without END_STREAM) ahead of the response."""
        if self._finished:
            return
        try:
            send_headers(self.protocol.conn, self.stream_id, headers, False)
        except H2Error:  # the connection is closing
            return
        self.protocol.flush_soon()

    def set_priority(self, priority: Priority, rfc9218: bool) -> None:
        """Change the stream's priority (RFC 7540 signals never override RFC 9218 ones)."""
        if self.rfc9218 and not rfc9218:
            return
        self.rfc9218 = self.rfc9218 or rfc9218
        if priority != self.priority:
            self.priority = priority
            self.protocol.scheduler.reprioritize(self)

    def _start_sender(self) -> None:
        if self._sender is None:
            self._sender = self.protocol.loop.create_task(self._sending_loop())

    def _send(self, allowance: int | None) -> int:
        """Send what the windows, the transport and ``allowance`` (bytes) permit.

        Each step frames up to a whole window (at most ``write_buffer_high`` bytes, so
        that ``pause_writing`` can intervene) in one call.
        """
        protocol = self.protocol
        conn = protocol.conn
        sid = self.stream_id
        pending = self._pending
        step_limit = protocol.config.write_buffer_high
        try:
            while pending:
                if protocol.write_paused:
                    return CONNECTION_BLOCKED
                if allowance is not None and allowance <= 0:
                    return YIELD
                window = send_window(conn, sid)
                chunk = pending[0]
                start = self._offset
                if window <= 0:
                    if conn.streams[sid].outbound_flow_control_window <= 0:
                        if not self.stalled_since:
                            self.stalled_since = protocol.loop.time()
                        return STREAM_BLOCKED
                    return CONNECTION_BLOCKED
                size = min(len(chunk) - start, window, step_limit)
                if size < MIN_USEFUL_WINDOW and size < len(chunk) - start:
                    if not protocol.glitch("DATA frames cut small by the client's window"):
                        return DONE  # the connection is ending
                else:  # a useful frame: the stream is not stalled (slivers do not count)
                    self.stalled_since = 0.0
                if allowance is not None:
                    size = min(size, allowance)
                    allowance -= size
                if self._queue_data(chunk, start, size):
                    return DONE
            if self._app_done and not self._finished:
                if self._trailers is None:
                    end_stream(conn, sid)
                else:  # trailers close the stream instead of an empty DATA frame
                    send_headers(conn, sid, self._trailers, True)
                protocol.flush_soon()
                self._finish()
        except H2Error:
            self.abort()
        return DONE

    def _queue_data(self, chunk: bytes, start: int, size: int) -> bool:
        """Queue ``chunk[start:start + size]`` (``chunk`` is ``_pending[0]``, and the
        windows take ``size``) as DATA; True if it was the response's last, which
        finishes the stream."""
        protocol = self.protocol
        pending = self._pending
        if start + size == len(chunk):
            pending.popleft()
            self._offset = 0
            # Counted as held until all of it is framed: frames that reference
            # it (zero copy) keep the whole object alive till then.
            protocol.release(len(chunk))
        else:
            self._offset = start + size
        last = self._app_done and not pending and self._trailers is None
        pieces = protocol.pieces if size >= ZERO_COPY_MIN else None
        send_data(protocol.conn, self.stream_id, chunk, start, size, last, pieces)
        self.exchange.delivered(size)
        protocol.queued(size)  # (which flushes soon, or now)
        if last:
            self._finish()
        return last

    def _allowance(self) -> int:
        """Bytes per turn: one frame for incremental streams, else a big step."""
        if self.priority.incremental:
            return self.protocol.conn.max_outbound_frame_size
        return self.protocol.config.write_buffer_high

    async def _sending_loop(self) -> None:
        """The send coroutine: wait for a turn (or for this stream's window), send."""
        loop = self.protocol.loop
        scheduler = self.protocol.scheduler
        try:
            while not self._finished:
                if not (self._turn or self._poked):
                    self._wakeup = loop.create_future()
                    await self._wakeup
                    self._wakeup = None
                if self._finished:
                    return
                if self._turn:
                    self._turn = self._poked = False
                    outcome = self._send(self._allowance())
                    if outcome in (YIELD, CONNECTION_BLOCKED) and not self._finished:
                        scheduler.push(self)
                    scheduler.turn_over(self)
                    if outcome == DONE:
                        return
                elif self._poked:
                    self._poked = False
                    if self._pending or (self._app_done and not self._finished):
                        scheduler.push(self)
                        scheduler.grant()
        finally:
            self._wakeup = None
            self._sender = None
            if scheduler.active is self:  # cancelled or failed mid-turn
                scheduler.turn_over(self)

    def take_turn(self) -> None:
        """Called by the scheduler: this stream may send now."""
        self._turn = True
        self._resolve()

    def wake(self) -> None:
        """New data, window or settings: let the send coroutine try again."""
        self._poked = True
        self._resolve()

    def _resolve(self) -> None:
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    @property
    def blocked(self) -> bool:
        """True while the send coroutine waits for window, writability or a turn."""
        return self._sender is not None

    def _finish(self) -> None:
        """END_STREAM is out: the exchange is complete on our side."""
        self._finished = True
        self.exchange.complete()
        self.protocol.stream_finished(self)

    def reset(self, error_code: ErrorCodes) -> None:
        """Reset the stream towards the client and abandon the response."""
        if self._finished:
            return
        self.protocol.reset_stream(self.stream_id, error_code)  # (unless h2 closed it)
        self.protocol.flush_soon()
        self.abort(SERVER_RESET)

    def abort(self, outcome: str = CONNECTION_CLOSED) -> None:
        """Abandon the stream (``outcome`` says why, see events.py): stop the app's
        work, drop unsent output."""
        self.exchange.abort(outcome)
        pending = self._pending
        if pending:
            self.protocol.release(sum(map(len, pending)))
            pending.clear()
            self._offset = 0
        self.protocol.scheduler.discard(self)
        self.wake()
        if not self._finished:
            self._finished = True
            self.protocol.stream_finished(self)
