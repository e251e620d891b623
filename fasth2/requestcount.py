"""The requests a worker process has started, and its limit (``--max-requests``).

Strategy: both protocols count every request they start, so the count is a C call
when compiled (this module is a typed twin, see twins.py: ``fasth2._requestcount_c``),
not a Python method of the Server: that call and its frame were ~1,000 instructions of
an HTTP/1.1 request's ~40,000.
"""

from __future__ import annotations

from typing import Callable


class RequestCount:
    """Counts requests; calls ``on_limit`` once, when the count reaches ``limit``."""

    __slots__ = ("count", "limit", "on_limit")

    def __init__(self, on_limit: Callable[[], None]) -> None:
        #: Requests started so far.
        self.count = 0
        #: The count at which ``on_limit`` is called (0: never).
        self.limit = 0
        self.on_limit = on_limit

    def add(self) -> None:
        """A request has started."""
        self.count += 1
        if self.count == self.limit:
            self.on_limit()
