"""Keeping a client that uploads awake: a PING when its request bodies stall.

Strategy: some clients notice a WINDOW_UPDATE only on their next network read, and that
read may belong to another of their streams, blocked until the server sends something
(httpcore 1.0's HTTP/2 uploads: its streams take turns reading under one lock and each
reads before it looks at its window again). If every app of the connection then waits
for body bytes, nothing more is sent and the client hangs. So while a connection has
incomplete request bodies, it is checked every ``INTERVAL``: if an app waits for body
bytes and the client sent nothing at all for two checks in a row, a PING gives such a
reader something to return with. At most ``LIMIT`` PINGs per uploading stream per quiet
spell: a client's queue of readers is never longer than its streams, and a client that
simply sends nothing is not pinged forever.
"""

from __future__ import annotations

import asyncio
from typing import Callable

INTERVAL = 0.005
LIMIT = 2


class UploadWatch:
    """Pings a connection's client when its uploads stall (see the module docstring)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, streams: dict,
                 ping: Callable[[], None]) -> None:
        self._loop = loop
        self._streams = streams  # the connection's live streams, by id
        self._ping = ping
        self._timer: asyncio.TimerHandle | None = None
        self._pings = 0  # since the client last sent anything
        self._heard = False  # the client sent something since the last check
        self._quiet = 0  # checks in a row that found nothing sent
        self.closed = False

    def arrived(self) -> None:
        """The client sent something (it is not stuck)."""
        self._heard = True

    def watch(self) -> None:
        """Check every INTERVAL while any request body is incomplete."""
        if self._timer is None and not self.closed:
            self._timer = self._loop.call_later(INTERVAL, self._check)

    def _check(self) -> None:
        self._timer = None
        if self.closed:
            return
        if self._heard:
            self._heard = False
            self._pings = 0
            self._quiet = 0
        else:
            self._quiet += 1
        uploading = waiting = 0
        for stream in self._streams.values():
            body = stream.exchange.body
            if not body.ended:
                uploading += 1
                waiting += body.reader_waiting
        if not uploading:
            return
        # Two quiet checks in a row: a busy loop may have been late to read this client.
        if waiting and self._quiet >= 2 and self._pings < LIMIT * uploading:
            self._pings += 1
            self._ping()
        self.watch()
