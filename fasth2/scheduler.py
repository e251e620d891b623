"""One send scheduler per HTTP/2 connection: which waiting stream sends next.

Strategy: while the connection has room (connection window open, transport not paused)
and nobody waits, a stream sends as soon as its data arrives. When streams compete, they
queue here and take turns, one at a time, in RFC 9218 order: the lowest urgency first;
within an urgency, non-incremental streams in stream-id order (each runs until done,
yielding every ``write_buffer_high`` bytes so a more urgent arrival can step in), then
incremental streams round-robin, one DATA frame per turn; and a stream queued for
``STARVATION_LIMIT`` without a turn gets the next one. A turn is granted by waking
the stream's send coroutine; it sends, then hands the turn back. Each urgency is a heap,
so queueing and picking cost O(log n); a priority change re-queues the stream and the
old heap entry is recognised as stale by its version.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from typing import Callable

LEVELS = 8  # urgencies 0..7
#: A stream queued this long (seconds) without a turn gets the next one, whatever its
#: urgency, so that more urgent traffic cannot starve it forever.
STARVATION_LIMIT = 1.0


class SendScheduler:
    """Grants send turns to the streams of one connection in priority order."""

    def __init__(self, can_send: Callable[[], bool], clock: Callable[[], float]) -> None:
        #: True while the connection itself can take more DATA.
        self._can_send = can_send
        self._clock = clock
        self._fifo: deque = deque()  # (queued at, version, stream): oldest first
        self._levels: list[list] = [[] for _ in range(LEVELS)]
        self._round = itertools.count()  # turn order for incremental streams
        self._queued = 0  # live entries in the heaps
        self._entries = 0  # all entries, stale ones included
        self.active = None  # the stream holding the turn

    @property
    def busy(self) -> bool:
        """True while streams wait for a turn or one is taking it."""
        return self.active is not None or self._queued > 0

    def push(self, stream) -> None:
        """Queue ``stream`` for a turn (no-op if it is queued already)."""
        if stream.sched_queued:
            return
        stream.sched_queued = True
        stream.sched_version += 1
        priority = stream.priority
        order = (1, next(self._round)) if priority.incremental else (0, stream.stream_id)
        heapq.heappush(self._levels[priority.urgency], (order, stream.sched_version, stream))
        self._fifo.append((self._clock(), stream.sched_version, stream))
        self._queued += 1
        self._entries += 1
        if self._entries + len(self._fifo) > 4 * self._queued + 128:
            self._compact()

    def _compact(self) -> None:
        """Drop stale entries, so that re-prioritising cannot grow the heaps forever."""
        for level, heap in enumerate(self._levels):
            live = [entry for entry in heap if self._live(entry)]
            heapq.heapify(live)
            self._levels[level] = live
        self._entries = sum(len(heap) for heap in self._levels)
        self._fifo = deque(entry for entry in self._fifo if self._live(entry))

    @staticmethod
    def _live(entry: tuple) -> bool:
        return entry[2].sched_queued and entry[1] == entry[2].sched_version

    def reprioritize(self, stream) -> None:
        """The stream's priority changed: queue it again under the new one."""
        if stream.sched_queued:
            self.discard(stream)
            self.push(stream)

    def discard(self, stream) -> None:
        """Forget a queued stream (its heap entry goes stale)."""
        if stream.sched_queued:
            stream.sched_queued = False
            stream.sched_version += 1
            self._queued -= 1

    def grant(self) -> None:
        """Give the turn to the most urgent queued stream, if the connection has room."""
        if self.active is not None or not self._queued or not self._can_send():
            return
        stream = self._pop()
        if stream is not None:
            self.active = stream
            stream.take_turn()

    def turn_over(self, stream) -> None:
        """``stream`` has finished its turn (having re-queued itself if it wants more)."""
        if self.active is stream:
            self.active = None
        self.grant()

    def _pop(self):
        fifo = self._fifo
        while fifo and not self._live(fifo[0]):
            fifo.popleft()  # stale: the stream had its turn or was re-queued
        if fifo and self._clock() - fifo[0][0] > STARVATION_LIMIT:
            stream = fifo.popleft()[2]  # starving: its turn comes now
            self.discard(stream)
            return stream
        for heap in self._levels:
            while heap:
                _, version, stream = heapq.heappop(heap)
                self._entries -= 1
                if stream.sched_queued and version == stream.sched_version:
                    stream.sched_queued = False
                    self._queued -= 1
                    return stream
        return None
