"""The misbehaviour budget: one token bucket per connection for costly, useless frames.

Strategy (after nghttp2's "glitches"): frames that make the server work without doing
anything useful for the client each spend a token: a client's RST_STREAM, a stream the
server had to reset because of the client, PINGs, SETTINGS, PRIORITY and PRIORITY_UPDATE
frames, empty DATA frames, requests refused for exceeding the stream limit. A bucket
holds ``capacity`` tokens and refills at ``rate`` per second, so normal clients never
notice it while floods (Rapid Reset, MadeYouReset, ping/settings/priority floods) empty
it within a second; the connection then ends with GOAWAY ENHANCE_YOUR_CALM.
"""

from __future__ import annotations

import time

# After our last bytes, how long we keep reading (and discarding) before closing, so
# that a client still sending does not get a TCP RST that destroys what we sent
# (RFC 9112 §9.6); a quiet client is let go after this long without a byte.
LINGER_SECONDS = 2.0
# An app may answer before it has read the request body (a 401 or 413 to an upload).
# HTTP/2 lets the server then reset the stream (RFC 9113 §8.1), HTTP/1.1 close the
# connection, but curl and httpx report a reset that arrives while they still send as a
# failed request and never show the response. So the rest of the body is read and
# dropped, up to DRAIN_BYTES or DRAIN_SECONDS; only a client still sending past that
# gets RST_STREAM NO_ERROR (HTTP/2) or the connection closed under it (HTTP/1.1).
DRAIN_BYTES = 16 * 1024 * 1024
DRAIN_SECONDS = 10.0


class Budget:
    """A token bucket: ``spend()`` is False once the client has overdrawn it."""

    __slots__ = ("_capacity", "_rate", "_tokens", "_last", "_clock")

    def __init__(self, capacity: int, rate: float, clock=time.monotonic) -> None:
        self._capacity = float(capacity)
        self._rate = rate
        self._tokens = float(capacity)
        self._clock = clock
        self._last = clock()

    def spend(self, cost: float = 1.0) -> bool:
        """Take ``cost`` tokens; False if the bucket is now overdrawn."""
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._last) * self._rate) - cost
        self._last = now
        return self._tokens >= 0


def declared_too_large(length: str | bytes | None, limit: int | None) -> bool:
    """True if a request's Content-Length is over ``limit`` (or is not a number)."""
    return limit is not None and length is not None and (not length.isdigit() or int(length) > limit)
