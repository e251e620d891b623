"""Exceptions shared by the pure-Python and compiled code (both raise these very types)."""

from __future__ import annotations


class StreamAborted(OSError):
    """The client reset the stream or the connection went away mid-request.

    Raised in the application's thread by ``wsgi.input`` reads and response writes, so
    that abandoned work stops; an ``OSError`` like the one a closed socket gives.
    """


class BadRequest(ValueError):
    """A request the server answers itself with ``status`` (400, 505...) and ``reason``.

    Raised by ``build_environ`` for a request-target no environ can hold (both twins),
    and by the HTTP/1.x head checks (h1checks.py).
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class MalformedHeaders(ValueError):
    """A request's header block breaks RFC 9113 §8.2-8.3: a stream error PROTOCOL_ERROR."""


class StartupError(Exception):
    """The server cannot start (bad certificate, busy port...); the message says why."""
