"""Where each HTTP/1.x request's bytes begin and end, worked out ahead of httptools.

httptools (llhttp) parses whatever it is fed and cannot say where in the input a
request began or where it stopped, so nothing can be done about a request it refuses
but should not: a method outside its fixed list (methods are an open set, RFC 9110
§9.1) or whitespace around a chunk extension's ``;`` (RFC 9112 §7.1.1 allows it).
``RequestFraming`` therefore cuts the byte stream itself, cheaply: a head is handed
over whole once its blank line is in (one ``find`` per request), with an unknown
method swapped for one llhttp knows; a Content-Length body is counted through; a
chunked body is followed line by line, each chunk-size line handed over in the canonical
form llhttp accepts. llhttp still does all the parsing and validation of what it is
given, so the server stays exactly as strict as before on everything else.
"""

from __future__ import annotations

import re
from typing import Callable

import httptools

from .errors import BadRequest

# The methods llhttp parses as such in a request line, never swapped for a stand-in
# (tests/test_semantics.py checks the list against llhttp). CONNECT and PRI are among
# them although llhttp refuses them as plain requests: it gives them meanings of its
# own (a tunnel, the HTTP/2 preface), which a stand-in must not hide.
LLHTTP_METHODS = frozenset(
    b"DELETE GET HEAD POST PUT OPTIONS TRACE COPY LOCK MKCOL MOVE PROPFIND PROPPATCH "
    b"SEARCH UNLOCK BIND REBIND UNBIND ACL REPORT MKACTIVITY CHECKOUT MERGE M-SEARCH "
    b"NOTIFY SUBSCRIBE UNSUBSCRIBE PATCH PURGE MKCALENDAR LINK UNLINK SOURCE QUERY CONNECT "
    b"PRI".split())
_STAND_IN = b"GET"  # what llhttp is shown in place of a method it does not know
_TCHAR = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]"  # RFC 9110 §5.6.2
_TOKEN_CHARS = _TCHAR + rb"+"
_TOKEN = re.compile(_TOKEN_CHARS)
# How a request's first bytes look: a method token, then a space (or not yet).
_REQUEST_START = re.compile(_TCHAR + rb"*(?: |\Z)")
_QUOTED = rb'"(?:[^"\\]|\\.)*"'
# RFC 9112 §7.1: chunk-size [ chunk-ext ] CRLF, where chunk-ext is
# *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ).
_CHUNK_LINE = re.compile(
    rb"([0-9A-Fa-f]+)(?:[ \t]*;[ \t]*" + _TOKEN_CHARS + rb"(?:[ \t]*=[ \t]*(?:"
    + _TOKEN_CHARS + rb"|" + _QUOTED + rb"))?)*[ \t]*\r\n", re.S)
MAX_CHUNK_LINE = 4096  # a chunk-size line (extensions included) longer than this is refused

# What the next bytes are.
HEAD, LENGTH, CHUNK_SIZE, CHUNK_DATA, CHUNK_END, TRAILERS = range(6)


class RequestFraming:
    """Cuts an HTTP/1.x request stream into pieces for ``feed`` (the parser's feed_data).

    The protocol calls ``take`` with every read, and says what follows a head it has
    seen through ``body_follows`` (from its on_headers_complete callback). ``method``
    is the real method of a head whose method llhttp was shown a stand-in for (the
    protocol takes it, setting it back to None). ``idle`` is True between requests with
    nothing held back: a read that is one whole head of a common method (``lone_head``)
    may then go to the parser directly. ``feed`` is swapped with the parser, and
    ``reset`` then forgets any half-seen piece.
    """

    __slots__ = ("feed", "_head_limit", "_pending", "_state", "_left", "method", "idle")

    def __init__(self, feed: Callable[[bytes], None], head_limit: int) -> None:
        #: Where the pieces go: the current parser's ``feed_data``.
        self.feed = feed
        self._head_limit = head_limit
        self._pending = bytearray()  # a head or chunk line not yet complete
        self._state = HEAD
        self._left = 0  # bytes of the Content-Length body or the chunk still to come
        self.method: bytes | None = None
        self.idle = True

    def body_follows(self, chunked: bool, length: int) -> None:
        """The head just fed ends in a chunked body, or in ``length`` bytes of body."""
        if chunked:
            self._state = CHUNK_SIZE
            self.idle = False
        elif length:
            self._state, self._left = LENGTH, length
            self.idle = False

    def take(self, data: bytes) -> bool:
        """Feed ``data``, piece by piece; True if part of a head is held back for more.

        Raises what the parser raises.
        A request asking to switch protocols raises ``UpgradeRequested`` with the bytes
        that follow its head. A head or chunk line too long to be worth buffering raises
        BadRequest.
        """
        pending = self._pending
        if pending:  # the rest of a head or a line: wait for its end before a copy
            seen = len(pending)
            pending += data
            separator = b"\r\n\r\n" if self._state == HEAD else b"\n"
            if pending.find(separator, max(0, seen - len(separator) + 1)) == -1:
                self._check_size(len(pending))
                return self._state == HEAD
            data = bytes(pending)
            pending.clear()
        pos, end = 0, len(data)
        while pos < end:
            start = pos
            try:
                pos = self._step(data, pos, end)
            except httptools.HttpParserUpgrade as exc:
                raise UpgradeRequested(data[start + exc.args[0]:]) from None
        self.idle = self._state == HEAD and not pending
        return self._state == HEAD and bool(pending)

    def _step(self, data: bytes, pos: int, end: int) -> int:
        """Feed the next piece of ``data`` from ``pos``; return where the rest begins."""
        state = self._state
        if state == LENGTH:
            size = min(self._left, end - pos)
            self._left -= size
            if not self._left:
                self._state = HEAD
            self.feed(data[pos:pos + size] if pos or size < end else data)
            return pos + size
        if state == CHUNK_DATA or state == CHUNK_END:
            size = min(self._left, end - pos)
            self._left -= size
            if not self._left:
                if state == CHUNK_DATA:
                    self._state, self._left = CHUNK_END, 2  # the CRLF after the data
                else:
                    self._state = CHUNK_SIZE
            self.feed(data[pos:pos + size])
            return pos + size
        if state == HEAD:
            while data.startswith(b"\r\n", pos):  # RFC 9112 §2.2: empty lines before a request
                pos += 2
            if pos == end:
                return pos
            cut = data.find(b"\r\n\r\n", pos)
            if cut == -1:
                if not _REQUEST_START.match(data, pos):
                    self.feed(data[pos:])  # no request starts so: llhttp says why, at once
                return self._keep(data, pos, end)
            cut += 4
            head = data[pos:cut] if pos or cut < end else data
            method = head[:head.find(b" ")]
            if method not in LLHTTP_METHODS and _TOKEN.fullmatch(method):
                self.method = method
                head = _STAND_IN + head[len(method):]
            self.feed(head)
            return cut
        # A chunk-size line or a trailer line: whole lines only.
        cut = data.find(b"\n", pos)
        if cut == -1:
            return self._keep(data, pos, end)
        cut += 1
        line = data[pos:cut]
        if state == TRAILERS:
            if line == b"\r\n":
                self._state = HEAD
        else:
            match = _CHUNK_LINE.fullmatch(line)
            if match is not None:
                digits = match.group(1)
                size = int(digits, 16)
                if len(line) != len(digits) + 2:  # extensions: llhttp is shown the size alone
                    line = digits + b"\r\n"
                if size:
                    self._state, self._left = CHUNK_DATA, size
                else:
                    self._state = TRAILERS
        self.feed(line)  # a malformed line makes llhttp raise: the request gets a 400
        return cut

    def _keep(self, data: bytes, pos: int, end: int) -> int:
        """Keep an incomplete head or line for the next read; refuse an endless one."""
        self._check_size(end - pos)
        self._pending += data[pos:end]
        return end

    def _check_size(self, size: int) -> None:
        if self._state == HEAD and size > self._head_limit:
            raise BadRequest(431, "Request Header Fields Too Large")
        if self._state != HEAD and size > MAX_CHUNK_LINE:
            raise BadRequest(400, "Bad Request: chunk line too long")

    def reset(self) -> None:
        """Forget everything: a fresh parser reads what follows (after an upgrade)."""
        self._pending.clear()
        self._state = HEAD
        self._left = 0
        self.method = None
        self.idle = True


class UpgradeRequested(Exception):
    """The parser stopped after a request asking to switch protocols; ``rest`` is what
    came after its head (body bytes, or the new protocol's first bytes)."""

    def __init__(self, rest: bytes) -> None:
        super().__init__()
        self.rest = rest
