"""Types of fasth2's hot paths: the compiled ``fasth2._speedups`` and its pure-Python
twin ``fasth2._speedups_py`` share every name and signature here (a test holds both
to this stub). Import them through ``fasth2.speedups``, which picks the build."""

from collections.abc import Iterable
from typing import Union

from hpack import HeaderTuple

__all__ = [
    "build_environ", "lone_head", "parse_plain_head", "encode_response_headers",
    "split_authority",
    "FrameScanner", "frame_data", "data_frames", "frame_headers",
    "validate_request_headers", "informational_response", "declared_content_length",
    "http1_response_head", "h2_response_fields",
    "HpackDecoder", "HpackEncoder", "ReadBuffer", "Lock",
]

#: An item of ``FrameScanner.feed``: bytes for h2, a stream id whose WINDOW_UPDATE was
#: 0, or a frame cut out for the fast path as a tuple.
ScannedItem = Union[bytes, int, tuple]

def split_authority(authority: str, scheme: str) -> tuple[str, str]:
    """Host and port of an ``:authority`` (the scheme's default port when absent)."""

def lone_head(data: bytes) -> bool:
    """True if ``data`` is exactly one whole HTTP/1.x request head of a common method."""

def parse_plain_head(data: bytes, special: frozenset) -> tuple[bytes, bytes, list, list, int] | None:
    """A read that is one whole head of the usual kind, parsed in one call: (method,
    target, h2-style headers, Host values, size counted against max_header_list_size);
    else None."""

def build_environ(headers: list, base: dict) -> dict:
    """A PEP 3333 environ from a validated HTTP/2 request header list and the
    connection's base environ; BadRequest for a request no app should see."""

def encode_response_headers(status: str, headers: list) -> list:
    """A WSGI status line and header list as HTTP/2 byte pairs (``:status`` first),
    HTTP/1-only fields dropped; ValueError for an invalid status or field."""

def validate_request_headers(headers: list, trailers: bool = False) -> bytes | None:
    """h2's checks of a request (or trailer) header list in one pass; MalformedHeaders
    if one fails. Returns the request's ``priority`` field, if any."""

def informational_response(headers: list) -> bool:
    """h2's ``is_informational_response``: a ``:status`` starting with 1 among the
    leading pseudo-headers."""

def declared_content_length(headers: list) -> int | None:
    """h2's content-length of a received request; ValueError for a bad one."""

#: ``http1_response_head``'s framings: by Content-Length (or no body), chunked, by close.
FRAMING_LENGTH: int
FRAMING_CHUNKED: int
FRAMING_CLOSE: int

def http1_response_head(headers: list, defaults: list, no_body: bool, version: str,
                        keep_alive: bool, body: bytes = b"") -> tuple[bytes, int]:
    """An HTTP/1.x response head (status line, fields, the defaults the app did not
    give, CRLF CRLF) followed by ``body`` unless chunked, and the framing its body takes."""

def h2_response_fields(headers: list, defaults: list) -> tuple[list, list | None]:
    """An HTTP/2 response head's fields followed by the ``defaults`` the app did not
    give, and the values of its ``priority`` fields (None if none)."""

def frame_data(stream_id: int, data: bytes, start: int, length: int, max_frame_size: int,
               end_stream: bool) -> bytes:
    """``data[start:start + length]`` as DATA frames of at most ``max_frame_size``."""

def data_frames(stream_id: int, data: bytes, start: int, length: int, max_frame_size: int,
                end_stream: bool) -> list:
    """The same frames as ``frame_data``, as frame headers and memoryviews (no copy)."""

def frame_headers(stream_id: int, block: bytes, max_frame_size: int, end_stream: bool) -> bytes:
    """An HPACK block as a HEADERS frame and the CONTINUATION frames it needs."""

class FrameScanner:
    """Walks the incoming byte stream frame by frame, ahead of h2."""

    #: CONTINUATION frames with an empty block seen (a misbehaviour, charged).
    empty_continuations: int

    def __init__(self, preface_length: int = 24, headers_per_chunk: int = 32,
                 max_frame_size: int = 16384) -> None: ...
    def feed(self, data: bytes) -> list[ScannedItem]:
        """Scan ``data``; return bytes for h2, zero-WINDOW_UPDATE ids, DATA/HEADERS tuples."""

class ReadBuffer:
    """Where the transport reads into; each read comes out as its own bytes object."""

    def __init__(self) -> None: ...
    def prepare(self, size: int) -> ReadBuffer | bytearray:
        """A writable buffer of ``size`` bytes for the next read."""
    def take(self, count: int) -> bytes:
        """The ``count`` bytes the last read wrote."""

class Lock:
    """A lock as threading's, also a context manager (the pure twin is
    ``threading.Lock``); compiled, its acquire and release are C calls from the
    compiled modules."""

    def __init__(self) -> None: ...
    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Take the lock; False if not taken (``blocking`` False, or ``timeout`` passed)."""
    def release(self) -> None:
        """Let go of the lock; RuntimeError if it is not held."""
    def locked(self) -> bool:
        """True while the lock is held."""

class HpackDecoder:
    """Decodes HPACK header blocks (the pure twin is ``hpack.Decoder``)."""

    max_header_list_size: int
    max_allowed_table_size: int
    header_table_size: int

    def __init__(self, max_header_list_size: int = 65536) -> None: ...
    def decode(self, data: bytes, raw: bool = False) -> list[HeaderTuple]:
        """The header list of one block; hpack's exceptions on a bad one."""

class HpackEncoder:
    """Encodes header lists into HPACK blocks (the pure twin is ``hpack.Encoder``)."""

    table_size_changes: list[int]
    header_table_size: int

    def __init__(self) -> None: ...
    def encode(self, headers: Iterable, huffman: bool = True) -> bytes:
        """One header block for ``headers`` (byte or str pairs, or triples with a
        never-indexed flag)."""
