"""Pure-Python twin of ``fasth2/_speedups.pyx``: the reference behaviour of the hot paths.

Strategy: every function here has a compiled twin with the same name, signature,
results and exceptions. This file is the readable specification; the ``.pyx`` is the
fast one. Tests run every case against both, so the two cannot drift apart.

The hot paths:
- ``build_environ``: a PEP 3333 environ from h2's decoded request header list;
- ``encode_response_headers``: validate a WSGI status line and header list and turn
  them into the lower-cased byte pairs h2 sends, dropping HTTP/1-only headers;
- ``split_authority``: host and port out of ``:authority`` (used by ``build_environ``);
- ``lone_head``: is an HTTP/1.x read one whole request head of a common method;
- ``parse_plain_head``: such a head, when it is the usual kind, parsed in one call;
- ``validate_request_headers``: h2's inbound checks, in one pass (h2's are switched off);
- ``informational_response`` / ``declared_content_length``: the two scans h2 makes of
  every header block it receives, for h2fast's request path;
- ``http1_response_head``: an HTTP/1.x status line and header block from the encoded
  pairs, with the framing its body takes;
- ``h2_response_fields``: an HTTP/2 response head's fields with the server's defaults,
  and the app's ``priority`` fields;
- ``frame_data``: a body slice as ready-to-send DATA frames, in one bytes object;
- ``data_frames``: the same frames as a list of headers and memoryviews (no copy);
- ``frame_headers``: an HPACK block as ready-to-send HEADERS + CONTINUATION frames;
- ``FrameScanner``: frame boundaries of the incoming stream, ahead of h2;
- ``ReadBuffer``: what the transport reads into, each read taken out as bytes;
- ``Lock``: threading's lock; compiled, one whose acquire and release the compiled
  modules call as C functions;
- ``HpackEncoder`` / ``HpackDecoder``: HPACK for h2's ``conn.encoder`` / ``conn.decoder``.
  Their pure twin is the ``hpack`` package itself (what h2 uses by default); the compiled
  ones are held to it byte for byte by ``tests/test_hpack.py``.
"""

from __future__ import annotations

import threading
from http import HTTPStatus
from urllib.parse import unquote_to_bytes

from hpack import Decoder as HpackDecoder  # noqa: F401  (the twin of the compiled codec)
from hpack import Encoder as HpackEncoder  # noqa: F401

from .errors import BadRequest, MalformedHeaders

#: The hot paths; the compiled twin has the same list (``_speedups.pyi`` types them).
__all__ = [
    "build_environ", "lone_head", "parse_plain_head", "encode_response_headers",
    "split_authority", "FrameScanner", "frame_data", "data_frames", "frame_headers",
    "validate_request_headers", "informational_response", "declared_content_length",
    "http1_response_head", "h2_response_fields",
    "HpackDecoder", "HpackEncoder", "ReadBuffer", "Lock",
]

#: A lock (``acquire``, ``release``, ``locked``, ``with``). The compiled twin is a
#: type of its own, whose acquire and release the compiled modules call as C
#: functions; here, threading's.
Lock = threading.Lock

# Connection-specific headers are forbidden in HTTP/2 (RFC 9113 §8.2.2); a WSGI app
# written for HTTP/1.1 may still set them, so responses silently lose them.
HOP_BY_HOP = frozenset(
    (b"connection", b"keep-alive", b"transfer-encoding", b"upgrade", b"proxy-connection")
)
# ``te`` is a request header; in a response h2 would reject it, so it goes too.
DROPPED_RESPONSE_HEADERS = HOP_BY_HOP | {b"te"}

# RFC 9110 token characters, the only ones allowed in a header name.
_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
# A field value may not contain NUL, CR or LF (RFC 9113 §8.2.1).
_FORBIDDEN_VALUE = frozenset(b"\x00\r\n")

_DEFAULT_PORTS = {"https": "443", "http": "80"}
# header name -> environ key; bounded so that random names cannot grow it forever.
_KEYS: dict[bytes, str] = {}
_KEYS_LIMIT = 1024


def split_authority(authority: str, scheme: str) -> tuple[str, str]:
    """Split ``host[:port]`` (IPv6 in brackets) into (SERVER_NAME, SERVER_PORT).

    A missing port gives the scheme's default port.
    """
    if authority.startswith("["):
        end = authority.find("]")
        if end != -1:
            host = authority[1:end]
            rest = authority[end + 1:]
            if rest.startswith(":") and rest[1:].isdigit():
                return host, rest[1:]
            return host, _DEFAULT_PORTS.get(scheme, "80")
    host, sep, port = authority.rpartition(":")
    if sep and port.isdigit():
        return host, port
    return authority, _DEFAULT_PORTS.get(scheme, "80")


# Request lines whose method llhttp surely knows (RFC 9110 §9.3 and PATCH).
COMMON_STARTS = (b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE ", b"PATCH ", b"OPTIONS ")


def lone_head(data: bytes) -> bool:
    """True if ``data`` starts with a COMMON_STARTS method and its first blank line
    (CRLF CRLF) ends it: one whole request head and nothing after it, the usual HTTP/1.1
    read, which the parser can take as it is (see h1framing.py)."""
    return data.startswith(COMMON_STARTS) and data.find(b"\r\n\r\n") == len(data) - 4


_METHODS = frozenset((b"GET", b"POST", b"HEAD", b"PUT", b"DELETE", b"PATCH", b"OPTIONS"))
# An origin-form target's characters (RFC 3986 pchar, "/", "?" and "%"): no "#", no
# spaces or controls, nothing beyond ASCII.
_TARGET_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                          b"-._~!$&'()*+,;=:@/?%")
_NAME_BYTES = frozenset(b"!#$%&'*+-.^_`|~0123456789"
                        b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_VALUE_BYTES = bytes(range(32, 127)) + b"\t"  # visible ASCII, space and tab


def parse_plain_head(data: bytes, special: frozenset) -> tuple | None:
    """The usual HTTP/1.1 request head, parsed in one call instead of a parser callback
    per piece; None for anything else, which the full parser (httptools) then takes.

    ``data`` is any read; it is taken only if it is one whole head and nothing more
    (it ends in the head's blank line, and it has no earlier one) of the usual kind: its
    method is one of the common ones; its target starts with "/" and holds only the
    characters of ``_TARGET_BYTES``; its version is HTTP/1.1; each field
    line is a token name, a colon, optional spaces or tabs, then a non-empty value of
    visible ASCII with inner spaces or tabs (none at its end); and no field is named in
    ``special`` (lower-case names). Every head that passes, httptools parses the same
    way (tests/test_speedups.py holds the two together).

    Returns (method, target, headers, hosts, size): ``headers`` h2-style,
    ``[(b":method", method), (b":path", target), (name, value), ...]`` with the names
    lower-cased; ``hosts`` the Host values; ``size`` the bytes that count against
    max_header_list_size (the target, and each field's name and value plus 32).
    """
    if not data.endswith(b"\r\n\r\n"):
        return None  # (an earlier blank line is an empty field name below)
    line_end = data.find(b"\r\n")
    method, space, rest = data[:line_end].partition(b" ")
    target, space2, version = rest.partition(b" ")
    if (not space or not space2 or method not in _METHODS or version != b"HTTP/1.1"
            or target[:1] != b"/" or not _TARGET_BYTES.issuperset(target)):
        return None
    headers = [(b":method", method), (b":path", target)]
    hosts = []
    size = len(target)
    position = line_end + 2
    end = len(data) - 2  # (the blank line's CRLF)
    while position < end:
        line_end = data.index(b"\r\n", position)
        name, colon, value = data[position:line_end].partition(b":")
        value = value.lstrip(b" \t")
        if (not colon or not name or not _NAME_BYTES.issuperset(name) or not value
                or value[-1:] in (b" ", b"\t") or value.translate(None, _VALUE_BYTES)):
            return None  # (translate: what is left once every allowed byte is deleted)
        name = name.lower()
        if name in special:
            return None
        if name == b"host":
            hosts.append(value)
        headers.append((name, value))
        size += len(name) + len(value) + 32
        position = line_end + 2
    return method, target, headers, hosts, size


def build_environ(headers: list, base: dict) -> dict:
    """Return a new WSGI environ: a copy of ``base`` filled from a request header list.

    ``headers`` is h2's list of ``(name, value)`` byte pairs, already validated by h2
    (lower-case names, pseudo-headers first). Pseudo-headers give REQUEST_METHOD,
    PATH_INFO (percent-decoded, latin-1), QUERY_STRING and HTTP_HOST/SERVER_NAME/
    SERVER_PORT; ``content-type`` and ``content-length`` give CONTENT_TYPE and
    CONTENT_LENGTH; every other header becomes ``HTTP_<NAME>``, repeated ones joined
    with ", " and cookie crumbs with "; " (RFC 9113 §8.2.3). Header names containing
    "_" are dropped, as nginx and gunicorn do, so that ``x_user`` cannot masquerade as
    ``x-user`` once both are spelled ``HTTP_X_USER``. A :path that is not ASCII, or
    neither starts with "/" nor is "*", raises BadRequest (a 400 on either protocol:
    RFC 9112 §3.2 advises against repairing a target a client failed to encode).
    """
    environ = base.copy()
    authority = None
    for name, value in headers:
        if name[:1] == b":":  # (not name[0]: an empty name must not raise)
            if name == b":method":
                environ["REQUEST_METHOD"] = value.decode("latin-1")
            elif name == b":path":
                if not value.isascii() or (value[:1] != b"/" and value != b"*"):
                    raise BadRequest(400, "Bad Request: invalid request-target")
                path, _, query = value.partition(b"?")
                if b"%" in path:
                    path = unquote_to_bytes(path)
                environ["PATH_INFO"] = path.decode("latin-1")
                environ["QUERY_STRING"] = query.decode("latin-1")
            elif name == b":authority":
                authority = value.decode("latin-1")
            continue
        if name == b"content-type":
            key = "CONTENT_TYPE"
        elif name == b"content-length":
            key = "CONTENT_LENGTH"
        elif b"_" in name:
            continue
        else:
            key = _KEYS.get(name)
            if key is None:
                # bytes.upper() changes ASCII letters only, as header names are ASCII.
                key = "HTTP_" + name.upper().replace(b"-", b"_").decode("latin-1")
                if len(_KEYS) < _KEYS_LIMIT:
                    _KEYS[name] = key
        text = value.decode("latin-1")
        previous = environ.get(key)
        if previous is None:
            environ[key] = text
        elif key == "HTTP_COOKIE":
            environ[key] = previous + "; " + text
        else:
            environ[key] = previous + ", " + text
    if authority is not None:
        environ["HTTP_HOST"] = authority
    host = environ.get("HTTP_HOST")
    if host:
        environ["SERVER_NAME"], environ["SERVER_PORT"] = split_authority(
            host, environ["wsgi.url_scheme"])
    return environ


def _check_name(name: bytes) -> None:
    if not name:
        raise ValueError("empty response header name")
    for char in name:
        if char not in _TOKEN:
            raise ValueError(f"invalid character in response header name {name!r}")


def _check_value(name: bytes, value: bytes) -> None:
    for char in value:
        if char in _FORBIDDEN_VALUE:
            raise ValueError(f"invalid character in the value of response header {name!r}")


def encode_response_headers(status: str, headers: list) -> list:
    """Validate a WSGI status line and header list; return h2's header pairs.

    ``status`` is ``"NNN Reason"`` (a native string, final status 200-599 or 1xx
    excluded); each header is a ``(str, str)`` tuple of latin-1 text. Names are
    lower-cased and checked as tokens, values may not hold NUL/CR/LF, and HTTP/1-only
    headers are dropped. Raises TypeError or ValueError with a message naming the
    offending item. The result starts with ``(b":status", code)``.
    """
    if type(status) is not str:
        raise TypeError(f"status must be a str, not {type(status).__name__}")
    if len(status) < 4 or status[3] != " " or not status[:3].isdigit() or not status[:3].isascii():
        raise ValueError(f"status must be 'NNN Reason', got {status!r}")
    code = int(status[:3])
    if code < 200 or code > 599:
        raise ValueError(f"status code must be 200-599, got {code}")
    if type(headers) is not list:
        raise TypeError(f"response headers must be a list, not {type(headers).__name__}")
    result = [(b":status", status[:3].encode("ascii"))]
    for item in headers:
        if type(item) is not tuple or len(item) != 2:
            raise TypeError(f"each response header must be a (name, value) tuple, got {item!r}")
        name, value = item
        if type(name) is not str or type(value) is not str:
            raise TypeError(f"response header name and value must be str, got {item!r}")
        try:
            raw_name = name.lower().encode("latin-1")
            raw_value = value.strip(" \t").encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError(f"response header {item!r} is not latin-1") from None
        _check_name(raw_name)
        _check_value(raw_name, raw_value)
        if raw_name in DROPPED_RESPONSE_HEADERS:
            continue
        result.append((raw_name, raw_value))
    return result


_WINDOW_UPDATE = 0x8
_PRIORITY = 0x2
_END_HEADERS = 0x4
_PADDED_OR_PRIORITY = 0x8 | 0x20
# Bounds of one run of DATA frames joined per stream (FrameScanner._data_run).
RUN_FRAMES = 256
RUN_STREAMS = 32
# A run of WINDOW_UPDATE or PRIORITY frames ends at this many frames or streams.
WINDOW_RUN_FRAMES = 4096
WINDOW_RUN_STREAMS = 128
#: A WINDOW_UPDATE increment below this is "tiny": counted for the misbehaviour budget.
TINY_WINDOW_UPDATE = 512
_HEADER_BLOCK_TYPES = (0x1, 0x5, 0x9)  # HEADERS, PUSH_PROMISE, CONTINUATION


class FrameScanner:
    """Walks the incoming byte stream frame by frame, ahead of h2.

    ``feed(data)`` returns a list of items in stream order: ``bytes`` to hand to h2,
    and ``int`` stream ids standing for a WINDOW_UPDATE with a zero increment on that
    stream, which this scanner removed. RFC 9113 §6.9 makes those a *stream* error,
    but h2 would end the whole connection, so the server answers them itself. When
    nothing is removed the result is ``[data]``, the input object itself. Frames inside
    a header block are left alone (h2 rejects an interrupted header block as it must).
    A complete DATA frame, or a HEADERS frame that holds a whole header block
    (END_HEADERS), comes out on its own as a tuple ``(type, stream_id, flags, payload)``
    when it has no padding, no priority fields and is at most ``max_frame_size``: the
    server applies those without h2's frame parsing (``h2fast.receive``). For
    DATA the payload is a list: consecutive DATA frames are gathered per stream (see
    ``_data_run``), one payload (a memoryview of the read) per frame, ``flags`` those
    of the last. Runs of WINDOW_UPDATE and of PRIORITY frames come out as one tuple
    too (see ``_window_run`` and ``_priority_run``). The scanner holds back the start
    of such a frame until the rest arrives.
    The bytes are also cut after every ``headers_per_chunk`` HEADERS frames: h2 parses a
    whole buffer before the server sees any event, so this paces how many new streams
    h2 opens before the server can refuse or reset them.
    """

    def __init__(self, preface_length: int = 24, headers_per_chunk: int = 32,
                 max_frame_size: int = 16384) -> None:
        self._max_frame_size = max_frame_size
        self._skip = preface_length  # bytes still to pass before the next frame header
        self._partial = b""  # an incomplete frame header (or frame cut out) held back
        self._in_header_block = False
        self._headers_per_chunk = headers_per_chunk
        self._headers_seen = 0  # HEADERS frames in the chunk being built
        #: Empty CONTINUATION frames seen (the misbehaviour budget reads and resets it).
        self.empty_continuations = 0

    def feed(self, data: bytes) -> list:
        """Scan ``data``; see the class docstring for the result."""
        items: list = []
        offset = 0
        # A unit held back (a frame header, a WINDOW_UPDATE, a frame to cut out) is
        # completed with just the bytes it lacks: joining the whole read to it would
        # copy every byte once more.
        while self._partial:
            held = self._partial
            need = self._held_size(held) - len(held)
            if need > len(data) - offset:
                self._partial = held + data[offset:]
                return items
            self._partial = b""
            self._scan(held + data[offset:offset + need], 0, items)
            offset += need
        return self._scan(data, offset, items)

    def _held_size(self, held: bytes) -> int:
        """The size of the unit that ``held`` (a held-back prefix) starts."""
        if len(held) < 9:
            return 9
        length = (held[0] << 16) | (held[1] << 8) | held[2]
        if held[3] == _WINDOW_UPDATE and length == 4:
            return 13
        # Only frames to cut out are held whole, and those are at most max_frame_size.
        return 9 + length if length <= self._max_frame_size else 9

    def _scan(self, data: bytes, pos: int, items: list) -> list:
        """Scan ``data`` from ``pos``, appending to ``items``; returns ``items``."""
        start = pos  # first byte not yet emitted
        end = len(data)
        while pos < end:
            if self._skip:
                step = min(self._skip, end - pos)
                self._skip -= step
                pos += step
                continue
            if end - pos < 9:
                self._partial = data[pos:]
                break
            length = (data[pos] << 16) | (data[pos + 1] << 8) | data[pos + 2]
            kind = data[pos + 3]
            flags = data[pos + 4]
            stream_id = int.from_bytes(data[pos + 5:pos + 9], "big") & 0x7FFFFFFF
            if kind == _WINDOW_UPDATE and length == 4 and not self._in_header_block:
                if end - pos < 13:
                    self._partial = data[pos:]
                    break
                raw = int.from_bytes(data[pos + 9:pos + 13], "big")
                if stream_id and not raw & 0x7FFFFFFF:
                    if pos > start:
                        items.append(data[start:pos])
                    items.append(stream_id)
                    pos += 13
                    start = pos
                    continue
                if raw <= 0x7FFFFFFF and raw:
                    if pos > start:
                        items.append(data[start:pos])
                    pos = self._window_run(data, pos, items)
                    start = pos
                    continue
            if kind == _PRIORITY and length == 5 and stream_id and not self._in_header_block:
                if end - pos < 14:
                    self._partial = data[pos:]
                    break
                if int.from_bytes(data[pos + 9:pos + 13], "big") & 0x7FFFFFFF != stream_id:
                    if pos > start:
                        items.append(data[start:pos])
                    pos = self._priority_run(data, pos, items)
                    start = pos
                    continue
            if ((kind == 0x0 or kind == 0x1 and flags & _END_HEADERS)
                    and not flags & _PADDED_OR_PRIORITY and not self._in_header_block
                    and length <= self._max_frame_size and stream_id):
                if end - pos < 9 + length:  # wait for the rest (at most max_frame_size)
                    self._partial = data[pos:]
                    break
                if pos > start:
                    items.append(data[start:pos])
                if kind == 0x0 and length:
                    pos = self._data_run(data, pos, items)
                else:
                    payload = data[pos + 9:pos + 9 + length]
                    items.append((kind, stream_id, flags, [payload] if kind == 0x0 else payload))
                    pos += 9 + length
                start = pos
                continue
            if kind == 0x1:
                if self._headers_seen == self._headers_per_chunk:
                    if pos > start:
                        items.append(data[start:pos])
                    start = pos
                    self._headers_seen = 0
                self._headers_seen += 1
            if kind in _HEADER_BLOCK_TYPES:
                self._in_header_block = not flags & _END_HEADERS
                if kind == 0x9 and length == 0:
                    self.empty_continuations += 1
            pos += 9
            self._skip = length
        stop = end - len(self._partial)
        if stop > start:  # (all of it untouched: the input object itself, no copy)
            items.append(data if start == 0 and stop == end else data[start:stop])
        return items

    def _window_run(self, data: bytes, pos: int, items: list) -> int:
        """Cut out the run of valid WINDOW_UPDATE frames at ``pos`` as one item:
        ``(0x8, 0, tiny, [(stream_id, summed increment), ...])`` in order of first
        appearance, ``tiny`` counting increments under TINY_WINDOW_UPDATE.

        A flood of them (CVE-2019-9511) then costs one h2 event per stream, not one per
        frame. Increments only add, so a sum overflows a window exactly when one of the
        frames would have. A run ends before anything else (a zero or reserved-bit
        increment included), and at WINDOW_RUN_FRAMES frames or WINDOW_RUN_STREAMS
        streams. Returns the position after the run.
        """
        totals: dict = {}
        tiny = frames = 0
        end = len(data)
        while end - pos >= 13 and frames < WINDOW_RUN_FRAMES:
            if data[pos:pos + 4] != b"\x00\x00\x04\x08":
                break
            stream_id = int.from_bytes(data[pos + 5:pos + 9], "big") & 0x7FFFFFFF
            increment = int.from_bytes(data[pos + 9:pos + 13], "big")
            if not 0 < increment <= 0x7FFFFFFF:
                break
            if stream_id not in totals:
                if len(totals) == WINDOW_RUN_STREAMS:
                    break
                totals[stream_id] = 0
            totals[stream_id] += increment
            tiny += increment < TINY_WINDOW_UPDATE
            frames += 1
            pos += 13
        items.append((_WINDOW_UPDATE, 0, tiny, list(totals.items())))
        return pos

    def _priority_run(self, data: bytes, pos: int, items: list) -> int:
        """Cut out the run of valid RFC 7540 PRIORITY frames at ``pos`` as one item:
        ``(0x2, 0, frames, [(stream_id, depends_on, weight, exclusive), ...])``, the last
        signal per stream, in order of first appearance.

        Only the last signal for a stream matters (the server maps its weight onto an
        urgency), so a reshuffling flood (CVE-2019-9513) costs one h2 event per stream,
        not one per frame; ``frames`` says how many there were, for the budget. A run
        ends before anything else (a stream depending on itself included) and at
        WINDOW_RUN_FRAMES frames or WINDOW_RUN_STREAMS streams.
        """
        last: dict = {}
        frames = 0
        end = len(data)
        while end - pos >= 14 and frames < WINDOW_RUN_FRAMES:
            if data[pos:pos + 4] != b"\x00\x00\x05\x02":
                break
            stream_id = int.from_bytes(data[pos + 5:pos + 9], "big") & 0x7FFFFFFF
            dependency = int.from_bytes(data[pos + 9:pos + 13], "big")
            depends_on = dependency & 0x7FFFFFFF
            if not stream_id or depends_on == stream_id:
                break
            if stream_id not in last and len(last) == WINDOW_RUN_STREAMS:
                break
            last[stream_id] = (stream_id, depends_on, data[pos + 13] + 1, dependency >> 31 == 1)
            frames += 1
            pos += 14
        items.append((_PRIORITY, 0, frames, list(last.values())))
        return pos

    def _data_run(self, data: bytes, pos: int, items: list) -> int:
        """Cut out the run of whole, non-empty DATA frames at ``pos``: one item per stream.

        Clients interleave streams frame by frame; gathering each stream's frames of one
        read lets the server apply them as one: one h2 event, one body feed, one wake-up
        of the app's thread out of many. A run ends before anything else, before a second frame after END_STREAM
        on a stream (h2's to judge, in order), and at RUN_FRAMES frames or RUN_STREAMS
        streams. Returns the position after the run.
        """
        groups: dict = {}  # stream id -> [flags, payloads], in order of appearance
        view = memoryview(data)  # payloads are views of the read (see the end)
        frames = run_bytes = 0
        end = len(data)
        while end - pos >= 9 and frames < RUN_FRAMES:
            length = (data[pos] << 16) | (data[pos + 1] << 8) | data[pos + 2]
            flags = data[pos + 4]
            stream_id = int.from_bytes(data[pos + 5:pos + 9], "big") & 0x7FFFFFFF
            if (data[pos + 3] != 0x0 or flags & _PADDED_OR_PRIORITY or not length
                    or length > self._max_frame_size or not stream_id or end - pos < 9 + length):
                break
            group = groups.get(stream_id)
            if group is None:
                if len(groups) == RUN_STREAMS:
                    break
                group = groups[stream_id] = [0, []]
            elif group[0] & 0x1:  # END_STREAM already seen
                break
            group[0] |= flags
            group[1].append(view[pos + 9:pos + 9 + length])
            run_bytes += length
            frames += 1
            pos += 9 + length
        # A view keeps the whole read alive: when the run is less than half of the read,
        # its payloads are copied, so that memory held stays within twice the bytes the
        # flow-control windows admit.
        copy = 2 * run_bytes < end
        for stream_id, (flags, payloads) in groups.items():
            items.append((0x0, stream_id, flags, [bytes(p) for p in payloads] if copy else payloads))
        return pos


_PSEUDO_HEADERS = frozenset((b":method", b":scheme", b":authority", b":path", b":status", b":protocol"))


def validate_request_headers(headers: list, trailers: bool = False) -> bytes | None:
    """Raise MalformedHeaders unless a request (or trailer) header block is well-formed;
    return its ``priority`` field (RFC 9218; several lines joined with ", "), None
    without one (and always for trailers).

    The same checks, in the same cases, as h2's ``validate_headers`` for a server's
    inbound headers (RFC 9113 §8.2 and §8.3): field name and value characters,
    connection-specific fields, ``te``, pseudo-header placement, duplicates and the
    required set (CONNECT and extended CONNECT included), Host/:authority agreement and
    a non-empty :path. Trailers may hold no pseudo-headers and skip the request checks.
    """
    seen_pseudo = set()
    seen_regular = False
    method = authority = host = priority = None
    for name, value in headers:
        if not name:
            raise MalformedHeaders("empty header name")
        for char in name:
            if 0x41 <= char <= 0x5A:
                raise MalformedHeaders(f"uppercase header name {name!r}")
            if char <= 0x20 or char >= 0x7F:
                raise MalformedHeaders(f"invalid character in header name {name!r}")
        if name.find(b":", 1) != -1:
            raise MalformedHeaders(f"invalid ':' in header name {name!r}")
        if value:
            for char in value:
                if char == 0 or char == 0x0A or char == 0x0D:
                    raise MalformedHeaders(f"invalid character in the value of {name!r}")
            if value[0] in (0x20, 0x09) or value[-1] in (0x20, 0x09):
                raise MalformedHeaders(f"whitespace around the value of {name!r}")
        if name[0] == 0x3A:  # b":"
            if name in seen_pseudo:
                raise MalformedHeaders(f"duplicate pseudo-header {name!r}")
            seen_pseudo.add(name)
            if seen_regular:
                raise MalformedHeaders(f"pseudo-header {name!r} after regular headers")
            if name not in _PSEUDO_HEADERS:
                raise MalformedHeaders(f"unknown pseudo-header {name!r}")
            if name == b":method":
                method = value
            elif name == b":authority":
                authority = value
            elif name == b":path" and not value and not trailers:
                raise MalformedHeaders("empty :path")
            continue
        seen_regular = True
        if name == b"te" and value.lower() != b"trailers":
            raise MalformedHeaders(f"te header with value {value!r}")
        if name in HOP_BY_HOP:
            raise MalformedHeaders(f"connection-specific header {name!r}")
        if name == b"host" and not trailers:
            if host is not None:
                raise MalformedHeaders("several Host headers")
            host = value
        elif name == b"priority":
            priority = value if priority is None else priority + b", " + value
    if trailers:
        if seen_pseudo:
            raise MalformedHeaders("pseudo-headers in trailers")
        return None
    _check_request_pseudo_headers(seen_pseudo, method)
    if authority is None and host is None:
        raise MalformedHeaders("neither :authority nor Host")
    if authority is not None and host is not None and authority != host:
        raise MalformedHeaders(":authority and Host differ")
    return priority


def informational_response(headers: list) -> bool:
    """h2's ``is_informational_response`` for a received block of byte pairs: True if a
    ``:status`` among the leading pseudo-headers starts with 1 (the scan stops at the
    first regular field, and at the first ``:status``)."""
    for name, value in headers:
        if name[:1] != b":":
            return False
        if name == b":status":
            return value[:1] == b"1"
    return False


def declared_content_length(headers: list) -> int | None:
    """h2's ``H2Stream._initialize_content_length`` for a received request: the value of
    its ``content-length`` fields, None without one. ValueError, with h2's message, for
    a value that is not all ASCII digits or for fields that disagree."""
    length = None
    for name, value in headers:
        if name == b"content-length":
            if not value.isdigit():
                raise ValueError(f"Invalid content-length header: {value!r}")
            parsed = int(value, 10)
            if length is None:
                length = parsed
            elif parsed != length:
                raise ValueError(f"Conflicting content-length headers: {length} and {parsed}")
    return length


#: How an HTTP/1.x response body is delimited (``http1_response_head``): by its
#: Content-Length or by having none; in chunks; by closing the connection.
FRAMING_LENGTH, FRAMING_CHUNKED, FRAMING_CLOSE = 0, 1, 2
_REASONS = {status.value: status.phrase.encode("latin-1") for status in HTTPStatus}
_NO_BODY_STATUS = (204, 304)


def http1_response_head(headers: list, defaults: list, no_body: bool, version: str,
                        keep_alive: bool, body: bytes = b"") -> tuple[bytes, int]:
    """An HTTP/1.x response head: the status line (always ``HTTP/1.1``, RFC 9110 §2.5),
    ``headers`` (encode_response_headers' pairs, ``:status`` first) and those of
    ``defaults`` (Date, Server) the app did not give, ending with the blank line; and
    its body's framing. A body that may exist (not ``no_body``, a HEAD; not 204 or 304)
    without a Content-Length is chunked on HTTP/1.1 and ends with the connection on
    HTTP/1.0 (FRAMING_CLOSE: the head says ``connection: close`` then). Otherwise
    ``keep_alive`` False adds ``connection: close``, and an HTTP/1.0 client that may
    keep the connection is told ``connection: keep-alive``. The block ends with
    ``body`` (the first body bytes, one write with the head) unless the framing is
    chunked: those the caller frames as a chunk."""
    status = headers[0][1]
    code = int(status)
    has_length = has_date = has_server = False
    lines = [b"HTTP/1.1 " + status + b" " + _REASONS.get(code, b"Unknown")]
    for name, value in headers[1:]:
        if name == b"content-length":
            has_length = True
        elif name == b"date":
            has_date = True
        elif name == b"server":
            has_server = True
        lines.append(name + b": " + value)
    for name, value in defaults:
        if _default_wanted(name, has_date, has_server):
            lines.append(name + b": " + value)
    framing = FRAMING_LENGTH
    if not (no_body or code in _NO_BODY_STATUS or has_length):
        if version == "1.1":
            framing = FRAMING_CHUNKED
            lines.append(b"transfer-encoding: chunked")
        else:
            framing = FRAMING_CLOSE
            keep_alive = False
    if not keep_alive:
        lines.append(b"connection: close")
    elif version == "1.0":
        lines.append(b"connection: keep-alive")
    block = b"\r\n".join(lines) + b"\r\n\r\n"
    return (block if framing == FRAMING_CHUNKED else block + body), framing


def h2_response_fields(headers: list, defaults: list) -> tuple[list, list | None]:
    """An HTTP/2 response head: ``headers`` (encode_response_headers' pairs) followed by
    those of ``defaults`` (Date, Server) the app did not give, as a new list; and the
    values of the app's ``priority`` fields (RFC 9218 §5) in order, None if none."""
    has_date = has_server = False
    priorities = None
    for name, value in headers:
        if name == b"date":
            has_date = True
        elif name == b"server":
            has_server = True
        elif name == b"priority":
            if priorities is None:
                priorities = []
            priorities.append(value)
    return headers + [field for field in defaults
                      if _default_wanted(field[0], has_date, has_server)], priorities


def _default_wanted(name: bytes, has_date: bool, has_server: bool) -> bool:
    """A default field (Date, Server) goes out unless the app gave its own."""
    return not (has_date and name == b"date" or has_server and name == b"server")


def _check_request_pseudo_headers(seen: set, method) -> None:
    if b":method" not in seen:
        raise MalformedHeaders("missing :method")
    connect = method == b"CONNECT"
    if connect and b":protocol" not in seen:
        if b":scheme" in seen or b":path" in seen:
            raise MalformedHeaders("CONNECT with :scheme or :path")
    elif b":scheme" not in seen or b":path" not in seen:
        raise MalformedHeaders("missing :scheme or :path")
    if b":status" in seen:
        raise MalformedHeaders(":status in a request")
    if not connect and b":protocol" in seen:
        raise MalformedHeaders(":protocol outside CONNECT")


def frame_data(stream_id: int, data: bytes, start: int, length: int,
               max_frame_size: int, end_stream: bool) -> bytes:
    """``data[start:start + length]`` as DATA frames of at most ``max_frame_size``.

    Frame headers and payloads are laid out in one bytes object, ready to write; the
    last frame carries END_STREAM when ``end_stream``. Zero ``length`` gives one empty
    frame (which only makes sense with ``end_stream``).
    """
    if start < 0 or length < 0 or start + length > len(data) or max_frame_size < 1:
        raise ValueError("frame_data: slice outside the data, or bad frame size")
    return b"".join(data_frames(stream_id, data, start, length, max_frame_size, end_stream))


def _frame_header(size: int, kind: int, flags: int, stream_id: int) -> bytes:
    """The 9-byte frame header (RFC 9113 §4.1)."""
    return size.to_bytes(3, "big") + bytes((kind, flags)) + stream_id.to_bytes(4, "big")


def data_frames(stream_id: int, data: bytes, start: int, length: int,
                max_frame_size: int, end_stream: bool) -> list:
    """The frames of ``frame_data`` as pieces: 9-byte headers and memoryview payloads.

    Nothing is copied; written with ``transport.writelines`` the body goes from the
    app's bytes object straight to the socket. A zero ``length`` gives one header.
    """
    if start < 0 or length < 0 or start + length > len(data) or max_frame_size < 1:
        raise ValueError("data_frames: slice outside the data, or bad frame size")
    view = memoryview(data)
    pieces: list = []
    position = start
    stop = start + length
    while True:
        size = min(max_frame_size, stop - position)
        last = position + size >= stop
        pieces.append(_frame_header(size, 0x0, 1 if last and end_stream else 0, stream_id))
        if size:
            pieces.append(view[position:position + size])
        position += size
        if last:
            return pieces


def frame_headers(stream_id: int, block: bytes, max_frame_size: int, end_stream: bool) -> bytes:
    """An HPACK ``block`` as one HEADERS frame plus CONTINUATIONs, ready to write.

    Pieces are at most ``max_frame_size``; END_STREAM (when ``end_stream``) is on the
    HEADERS frame, END_HEADERS on the last piece (RFC 9113 §6.2, §6.10).
    """
    if max_frame_size < 1:
        raise ValueError("frame_headers: bad frame size")
    out = bytearray()
    position = 0
    kind, flags = 0x1, 0x1 if end_stream else 0
    while True:
        size = min(max_frame_size, len(block) - position)
        last = position + size >= len(block)
        out += _frame_header(size, kind, flags | (0x4 if last else 0), stream_id)
        out += block[position:position + size]
        position += size
        if last:
            return bytes(out)
        kind, flags = 0x9, 0


class ReadBuffer:
    """Where the transport reads into; each read comes out as its own bytes object.

    ``prepare(size)`` gives a writable buffer for the next read (a BufferedProtocol's
    ``get_buffer``), ``take(count)`` the bytes read into it (``buffer_updated``). Here
    that is a bytearray and a copy; the compiled twin reads into the bytes object itself.
    """

    def __init__(self) -> None:
        self._data: bytearray | None = None

    def prepare(self, size: int) -> bytearray:
        """A writable buffer of ``size`` bytes for the next read."""
        self._data = bytearray(size)
        return self._data

    def take(self, count: int) -> bytes:
        """The ``count`` bytes just read, as bytes."""
        data = self._data
        if data is None or not 0 <= count <= len(data):
            raise ValueError("ReadBuffer.take: nothing prepared, or a bad count")
        self._data = None
        return bytes(data[:count])
