"""The fuzz targets: one per parser of attacker bytes, each a function of one input.

Strategy: every target takes bytes and either returns or raises AssertionError (a
finding). The parsers the compiled module has are run on BOTH twins with the same
input, which must give the same result or the same exception class (differential
fuzzing); h2fast's replacements of h2's frame handling are run against h2 itself.
What is not twinned (a whole connection in process) is held to invariants instead:
no internal error logged, well-formed frames out. Inputs are a simple chunked format
(``split``/``join``) so that a seed can be written from captured traffic
(fuzz/record.py) and libFuzzer's mutations keep their shape. fuzz/run.py runs a target
under atheris; tests/test_fuzz_corpus.py replays every kept input on every CI run.
"""

from __future__ import annotations

import logging
from typing import Callable

import hpack
from hpack import HPACKDecodingError

from fasth2 import _speedups_py as pure
from fasth2.errors import BadRequest, MalformedHeaders
from fasth2.selector import PREFACE

try:
    from fasth2 import _speedups as compiled
except ImportError:  # (not built: the targets then hold the pure twin to its invariants)
    compiled = None

#: The largest input a target looks at (libFuzzer's -max_len is set to this).
MAX_INPUT = 1 << 16


# -- the input format ------------------------------------------------------------------

def split(data: bytes) -> list[bytes]:
    """Chunks of ``data``, each prefixed by a two-byte big-endian length (cut short at
    the end: any bytes are a valid input)."""
    chunks, offset = [], 0
    while offset + 2 <= len(data):
        size = int.from_bytes(data[offset:offset + 2], "big")
        chunks.append(data[offset + 2:offset + 2 + size])
        offset += 2 + size
    return chunks


def join(chunks: list[bytes]) -> bytes:
    """The input ``split`` turns back into ``chunks`` (for writing seeds)."""
    return b"".join(len(chunk).to_bytes(2, "big") + chunk for chunk in chunks)


def cut(data: bytes, sizes: bytes) -> list[bytes]:
    """``data`` in reads of the sizes ``sizes`` names in turn (0 means 1; none: whole)."""
    if not sizes:
        return [data] if data else []
    reads, offset, index = [], 0, 0
    while offset < len(data):
        step = sizes[index % len(sizes)] or 1
        reads.append(data[offset:offset + step])
        offset += step
        index += 1
    return reads


def header_list(chunks: list[bytes]) -> list[tuple[bytes, bytes]]:
    """Name/value pairs from alternate chunks."""
    return list(zip(chunks[0::2], chunks[1::2]))


def outcome(function: Callable, *args) -> object:
    """The result, or the exception's class (what the twins must agree on)."""
    try:
        return function(*args)
    except (ValueError, MalformedHeaders, BadRequest, HPACKDecodingError, UnicodeError) as exc:
        return type(exc)


def twins():
    """The implementations to compare: both, or the pure one alone if not built."""
    return (pure, compiled) if compiled is not None else (pure,)


def same(results: list, what: str, data: bytes) -> None:
    if any(result != results[0] for result in results[1:]):
        raise AssertionError(f"{what}: the twins differ on {data!r}: {results!r}")


# -- targets ---------------------------------------------------------------------------

def hpack_decoder(data: bytes) -> None:
    """HpackDecoder.decode on a sequence of blocks and table-size changes (a chunk of
    two bytes starting 0xff sets the header table size), against hpack.Decoder."""
    if compiled is None:
        return
    chunks = split(data)
    limit = 64 * (1 + (chunks[0][0] if chunks and chunks[0] else 0))
    ours, theirs = compiled.HpackDecoder(max_header_list_size=limit), hpack.Decoder(limit)
    for chunk in chunks[1:]:
        if len(chunk) == 3 and chunk[0] == 0xFF:
            size = int.from_bytes(chunk[1:], "big")
            ours.header_table_size = theirs.header_table_size = size
            continue
        results = [outcome(decoder.decode, chunk, True) for decoder in (ours, theirs)]
        same(results, "HpackDecoder.decode", chunk)
        if isinstance(results[0], type):
            return  # the connection would be gone: the tables may differ from here


def frame_scanner(data: bytes) -> None:
    """FrameScanner.feed over the bytes cut into reads at the sizes the first chunk
    names (preface included when the third chunk is empty), both twins."""
    chunks = split(data) + [b"", b"", b""]
    sizes, stream, own_preface = chunks[0], chunks[1], chunks[2]
    wire = (PREFACE if not own_preface else b"") + stream
    limit = 16384 << (sizes[0] % 4 if sizes else 0)
    results = []
    for module in twins():
        scanner = module.FrameScanner(max_frame_size=limit)
        items = [outcome(scanner.feed, read) for read in cut(wire, sizes)]
        results.append((items, scanner.empty_continuations))
    same(results, "FrameScanner.feed", data)


def request_headers(data: bytes) -> None:
    """validate_request_headers (request or trailers), both twins, and h2's own
    validation: exactly the same header lists must be accepted."""
    chunks = split(data)
    if not chunks:
        return
    trailers = bool(chunks[0][:1] and chunks[0][0] & 1)
    headers = header_list(chunks[1:])
    results = [outcome(module.validate_request_headers, headers, trailers) for module in twins()]
    same(results, "validate_request_headers", data)
    from tests.test_h2fast import h2_accepts
    accepted = not isinstance(results[0], type)
    if accepted != h2_accepts(headers, trailers):
        raise AssertionError(f"validate_request_headers: accepted={accepted}, h2 does not "
                             f"agree, on {headers!r} (trailers={trailers})")


BASES = [{"wsgi.url_scheme": "http", "SERVER_NAME": "sock", "SERVER_PORT": "80",
          "QUERY_STRING": ""},
         {"wsgi.url_scheme": "https", "SERVER_NAME": "::1", "SERVER_PORT": "443",
          "QUERY_STRING": "", "SCRIPT_NAME": "/app"}]


def environ(data: bytes) -> None:
    """build_environ on a header list (valid or not), both twins."""
    chunks = split(data)
    if not chunks:
        return
    base = BASES[chunks[0][0] % len(BASES) if chunks[0] else 0]
    headers = header_list(chunks[1:])
    same([outcome(module.build_environ, headers, dict(base)) for module in twins()],
         "build_environ", data)


class InternalErrors(logging.Handler):
    """Collects what the server logs as its own bug (an exception it did not expect)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or "internal error" in record.getMessage():
            self.found.append(self.format(record))


def _serve_in_process(reads: list[bytes], check_environ: bool) -> bytes:
    """Feed ``reads`` to one in-process connection (tests/inprocess.py); return what it
    wrote. Every request is answered; with ``check_environ``, its head is also built
    into an environ by both twins, which must agree."""
    from tests.inprocess import Connection, respond

    def handler(exchange) -> None:
        if check_environ:
            same([outcome(module.build_environ, exchange.headers, dict(BASES[0]))
                  for module in twins()], "build_environ (HTTP/1.1)", repr(exchange.headers))
        respond(exchange, body=b"ok")

    errors = InternalErrors()
    logger = logging.getLogger("fasth2.error")
    logger.addHandler(errors)
    connection = Connection(handler)
    try:
        for read in reads:
            if connection.transport.closed:
                break
            connection.feed(read)
        written = connection.take()
    finally:
        connection.close()
        logger.removeHandler(errors)
    if errors.found:
        raise AssertionError("internal error: " + errors.found[0])
    return written


def http1(data: bytes) -> None:
    """HTTP/1.x bytes through the real protocol in process, cut into reads; each
    request's head becomes an environ by both twins."""
    chunks = split(data) + [b"", b""]
    _serve_in_process(cut(chunks[1], chunks[0]), check_environ=True)


def connection(data: bytes) -> None:
    """Client bytes through a whole HTTP/2 connection in process (the preface added
    unless the third chunk is non-empty), read through ReadBuffer as uvloop reads
    (tests/inprocess.py); what comes out must be well-formed frames."""
    chunks = split(data) + [b"", b"", b""]
    wire = (PREFACE if not chunks[2] else b"") + chunks[1]
    written = _serve_in_process(cut(wire, chunks[0]), check_environ=False)
    if written.startswith(b"HTTP/1.") or not wire.startswith(PREFACE):
        return  # (not HTTP/2: the selector chose HTTP/1.x, or closed)
    offset = 0
    while offset + 9 <= len(written):
        offset += 9 + int.from_bytes(written[offset:offset + 3], "big")
    if offset != len(written):
        raise AssertionError(f"the server wrote a cut frame: {written[-40:]!r}")


def h2fast_frames(data: bytes) -> None:
    """h2fast.receive_frame fed by the scanner against h2's receive_data on the same
    client bytes: the same events, errors, states, windows and output."""
    from tests.test_h2fast import _outcome, _server
    chunks = split(data) + [b"", b""]
    wire = PREFACE + chunks[1]
    max_streams = 3 if chunks[0][:1] and chunks[0][0] & 1 else 100
    items = pure.FrameScanner().feed(wire)
    if any(type(item) is int for item in items):
        return  # a zero WINDOW_UPDATE: the protocol answers it (RFC 9113 §6.9), not h2
    ours = _outcome(_server(max_streams), items)
    theirs = _outcome(_server(max_streams), [wire])
    if ours != theirs:
        raise AssertionError(f"h2fast differs from h2 on {wire!r}:\n{ours!r}\n{theirs!r}")


#: Every target by the name scripts/fuzz takes.
TARGETS: dict[str, Callable[[bytes], None]] = {
    "hpack": hpack_decoder,
    "frame-scanner": frame_scanner,
    "request-headers": request_headers,
    "environ": environ,
    "http1": http1,
    "connection": connection,
    "h2fast": h2fast_frames,
}
