"""One HTTP/2 stream's response path: from the app's hand-off to flow-controlled DATA.

Strategy: the app's output arrives through ``Exchange`` (see exchange.py). On the
loop, it is sent at once while the stream and connection windows and the transport
allow it: a response that fits (most do) never costs a task. When it does not fit, the stream starts its send coroutine
(``_sending_loop``), which sleeps until a WINDOW_UPDATE, a SETTINGS change or
``resume_writing`` wakes it and then sends the next window's worth. Each DATA frame
carries min(stream window, connection window, peer's max frame size) bytes.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING

from h2.errors import ErrorCodes
from h2.exceptions import H2Error

from . import h2fast
from .body import EMPTY_BODY
from .exchange import Exchange

if TYPE_CHECKING:
    from .protocol import H2Protocol


class Stream(Exchange):
    """One HTTP/2 stream's response: the hand-off plus flow-controlled sending."""

    __slots__ = ("_pending", "_offset", "_counted", "_app_done", "_finished", "_sender", "_wakeup")

    def __init__(self, protocol: "H2Protocol", stream_id: int, body, limit: int) -> None:
        super().__init__(protocol, stream_id, body, limit)
        self._pending: deque[bytes] = deque()
        self._offset = 0  # bytes of _pending[0] already sent
        self._counted = 0  # pending bytes the app thread counts (all but the final piece)
        self._app_done = False  # the app handed over its last piece
        self._finished = False  # END_STREAM sent (or the stream was reset)
        self._sender: asyncio.Task | None = None
        self._wakeup: asyncio.Future | None = None

    def _on_output(self, headers: list | None, data: bytes, end: bool) -> None:
        if self._finished:
            if not end:
                self._release(len(data))
            return
        conn = self.protocol.conn
        try:
            if headers is not None:
                conn.send_headers(self.stream_id, headers,
                                  end_stream=end and not data and not self._pending)
                self.protocol.flush_soon()
                if end and not data and not self._pending:
                    self._app_done = True
                    self._finish()
                    return
            if data:
                self._pending.append(data)
                if not end:
                    self._counted += len(data)
            if end:
                self._app_done = True
        except H2Error:  # the connection is closing: nothing more can be sent
            self.abort()
            return
        if self._sender is None:
            if not self._send_ready():
                self._sender = asyncio.ensure_future(self._sending_loop())
        else:
            self.wake()

    def _send_ready(self) -> bool:
        """Send what the windows and the transport allow; False if blocked.

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
                    return False
                window = conn.local_flow_control_window(sid)
                if window <= 0:
                    return False
                chunk = pending[0]
                start = self._offset
                size = min(len(chunk) - start, window, step_limit)
                if start + size == len(chunk):
                    pending.popleft()
                    self._offset = 0
                else:
                    self._offset = start + size
                last = self._app_done and not pending
                h2fast.send_data(conn, sid, chunk, start, size, last)
                if self._counted:  # counted bytes come first: the final piece is last
                    counted = min(size, self._counted)
                    self._counted -= counted
                    self._release(counted)
                protocol.queued(size)
                if last:
                    self._finish()
                    return True
            if self._app_done and not self._finished:
                conn.end_stream(sid)
                protocol.flush_soon()
                self._finish()
        except H2Error:
            self.abort()
        return True

    async def _sending_loop(self) -> None:
        """The send coroutine: wait for window or writability, send, repeat."""
        loop = self.protocol.loop
        try:
            while not self._finished:
                self._wakeup = loop.create_future()
                await self._wakeup
                self._wakeup = None
                if self._finished or self._send_ready():
                    return
        finally:
            self._wakeup = None
            self._sender = None

    def wake(self) -> None:
        """Let the send coroutine, if one is waiting, try again."""
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    @property
    def blocked(self) -> bool:
        """True while the send coroutine waits for window or writability."""
        return self._sender is not None

    def _finish(self) -> None:
        """END_STREAM is out: the exchange is complete on our side."""
        self._finished = True
        self.protocol.stream_finished(self)

    def reset(self, error_code: ErrorCodes) -> None:
        """Reset the stream towards the client and abandon the response."""
        if self._finished:
            return
        try:
            self.protocol.conn.reset_stream(self.stream_id, error_code)
        except H2Error:
            pass  # already closed on h2's side: nothing to tell the client
        self.protocol.flush_soon()
        self.abort()

    def abort(self) -> None:
        """Abandon the stream: wake and stop the app thread, drop unsent output."""
        self._abandon()
        self._pending.clear()
        unread = self.body.abort() if self.body is not EMPTY_BODY else 0
        if unread:
            self.protocol.acknowledge(self.stream_id, unread)
        self.wake()
        if not self._finished:
            self._finished = True
            self.protocol.stream_finished(self)
