"""Stream priorities: RFC 9218 signals, the RFC 7540 mapping, and pending updates.

Strategy: a stream's priority is two numbers, urgency (0 = most urgent ... 7) and
incremental (interleave with its peers, or not). RFC 9218 gives them directly: the
``priority`` request header, PRIORITY_UPDATE frames (which may arrive before their
stream opens and wait in a bounded table), and the application's own ``priority``
response header. RFC 7540 PRIORITY data (weights and dependencies) is mapped onto the
same two numbers: the weight picks the urgency (the default weight 16 is urgency 3,
each doubling one step more urgent, each halving one step less), dependencies are not
kept (they would be unbounded state), and such streams are not incremental. Once a
stream has an RFC 9218 signal, RFC 7540 signals no longer change it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

DEFAULT_URGENCY = 3
LOWEST_URGENCY = 7

#: RFC 9218 §7.1: the frame type of PRIORITY_UPDATE.
PRIORITY_UPDATE_FRAME = 0x10
#: RFC 9218 §2.1: SETTINGS_NO_RFC7540_PRIORITIES.
SETTINGS_NO_RFC7540_PRIORITIES = 0x9


@dataclass(frozen=True)
class Priority:
    """An RFC 9218 priority: urgency 0 (highest) to 7, and incremental delivery."""

    urgency: int = DEFAULT_URGENCY
    incremental: bool = False


DEFAULT = Priority()


def parse_priority(value: bytes, base: Priority = DEFAULT) -> Priority:
    """Read an RFC 9218 Priority field value (a Structured Fields dictionary).

    ``u=N`` sets the urgency (0-7) and ``i`` / ``i=?1`` / ``i=?0`` incremental; members
    missing, unknown or out of range keep ``base``'s values, and a value that does not
    parse at all leaves ``base`` unchanged (RFC 9218 §4: ignore what is not understood).
    """
    urgency, incremental = base.urgency, base.incremental
    try:
        text = value.decode("ascii")
    except UnicodeDecodeError:
        return base
    for member in text.split(","):
        key, _, item = member.strip().partition("=")
        item = item.split(";", 1)[0].strip()  # parameters are ignored
        key = key.split(";", 1)[0].strip()
        if key == "u":
            if item.isdigit() and len(item) == 1 and int(item) <= LOWEST_URGENCY:
                urgency = int(item)
        elif key == "i":
            if item in ("", "?1"):
                incremental = True
            elif item == "?0":
                incremental = False
    return Priority(urgency, incremental)


def from_rfc7540_weight(weight: int) -> Priority:
    """Map an RFC 7540 weight (1-256) to a priority: 16 is urgency 3, x2 is one step up."""
    urgency = DEFAULT_URGENCY
    scaled = weight
    while scaled >= 32 and urgency > 0:
        scaled //= 2
        urgency -= 1
    while scaled < 16 and urgency < LOWEST_URGENCY:
        scaled *= 2
        urgency += 1
    return Priority(urgency, False)


class PendingUpdates(OrderedDict):
    """PRIORITY_UPDATEs for streams the client has not opened yet, at most ``limit``:
    stream id -> priority field value.

    The oldest entry goes first when full, so a flood costs bounded memory. A dict
    itself, so that a caller can skip ``take`` while it is empty (almost always) at
    the cost of a truth test rather than a call.
    """

    def __init__(self, limit: int) -> None:
        super().__init__()
        self._limit = limit

    def put(self, stream_id: int, value: bytes) -> None:
        """Remember (or replace) the latest update for a stream."""
        self.pop(stream_id, None)
        self[stream_id] = value
        if len(self) > self._limit:
            self.popitem(last=False)

    def take(self, stream_id: int) -> bytes | None:
        """The update waiting for this stream, if any (removed from the table)."""
        return self.pop(stream_id, None)
