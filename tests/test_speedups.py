"""The compiled hot paths and their pure-Python twin: same results, same errors.

Every case runs on both modules (the ``impl`` fixture); Hypothesis feeds both the same
random input and demands identical output.
"""

from __future__ import annotations

import os
import threading

import httptools
import pytest
from h2.config import H2Configuration
from h2.exceptions import ProtocolError
from h2.stream import H2Stream
from h2.utilities import is_informational_response
from hyperframe.frame import (DataFrame, HeadersFrame, PingFrame, PriorityFrame, SettingsFrame,
                              WindowUpdateFrame)
from hypothesis import given, settings
from hypothesis import strategies as st

from fasth2 import _speedups_py, speedups

try:
    from fasth2 import _speedups as compiled
except ImportError:
    compiled = None

IMPLEMENTATIONS = [pytest.param(_speedups_py, id="pure"),
                   pytest.param(compiled, id="compiled",
                                marks=pytest.mark.skipif(compiled is None, reason="not built"))]
BASE = {"wsgi.url_scheme": "http", "SERVER_NAME": "sock", "SERVER_PORT": "1", "QUERY_STRING": ""}
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


@pytest.fixture(params=IMPLEMENTATIONS)
def impl(request):
    return request.param


def test_compiled_module_loaded_when_expected():
    """CI sets FASTH2_EXPECT_COMPILED=1 on the compiled run: a silent fallback fails."""
    # (The modules compiled as they are follow the same switch: tests/test_twins.py.)
    if os.environ.get("FASTH2_EXPECT_COMPILED") == "1":
        assert speedups.COMPILED and speedups.implementation is compiled
    if os.environ.get("FASTH2_NO_EXTENSIONS"):
        assert not speedups.COMPILED and speedups.implementation is _speedups_py
    assert speedups.BUILD == ("compiled speedups" if speedups.COMPILED else "pure Python")


# -- build_environ --------------------------------------------------------------------

def test_environ_from_browser_like_headers(impl):
    headers = [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"shop.example:8443"),
               (b":path", b"/a%20b/c?x=1&y=%41"), (b"accept", b"text/html"),
               (b"cookie", b"a=1"), (b"user-agent", b"Mozilla/5.0"), (b"cookie", b"b=2"),
               (b"accept-encoding", b"gzip"), (b"accept-encoding", b"br"),
               (b"content-type", b"text/plain"), (b"content-length", b"3"), (b"x_under", b"no")]
    environ = impl.build_environ(headers, dict(BASE, **{"wsgi.url_scheme": "https"}))
    assert environ == {
        "wsgi.url_scheme": "https", "REQUEST_METHOD": "GET", "PATH_INFO": "/a b/c",
        "QUERY_STRING": "x=1&y=%41", "HTTP_HOST": "shop.example:8443",
        "SERVER_NAME": "shop.example", "SERVER_PORT": "8443", "HTTP_ACCEPT": "text/html",
        "HTTP_COOKIE": "a=1; b=2", "HTTP_USER_AGENT": "Mozilla/5.0",
        "HTTP_ACCEPT_ENCODING": "gzip, br", "CONTENT_TYPE": "text/plain", "CONTENT_LENGTH": "3",
    }


def test_environ_does_not_modify_base(impl):
    base = dict(BASE)
    impl.build_environ([(b":method", b"GET"), (b":path", b"/")], base)
    assert base == BASE


@pytest.mark.parametrize("authority, scheme, expected", [
    ("example.com", "http", ("example.com", "80")),
    ("example.com", "https", ("example.com", "443")),
    ("example.com:81", "http", ("example.com", "81")),
    ("[::1]:8080", "http", ("::1", "8080")),
    ("[::1]", "https", ("::1", "443")),
    ("host:notaport", "http", ("host:notaport", "80")),
    ("host:", "http", ("host:", "80")),
    (":81", "http", ("", "81")),
    ("a:b:82", "http", ("a:b", "82")),
])
def test_split_authority(impl, authority, scheme, expected):
    assert impl.split_authority(authority, scheme) == expected


def test_environ_joins_repeated_fields_of_one_letter_and_empty_values(impl):
    """A one-letter value decodes to a shared str object: the second of two equal ones
    is still joined to the first, not taken for the first itself."""
    environ = impl.build_environ([(b":method", b"GET"), (b":path", b"/"), (b"x-a", b"1"),
                                  (b"x-a", b"1"), (b"x-b", b""), (b"x-b", b""),
                                  (b"cookie", b"a"), (b"cookie", b"a")], dict(BASE))
    assert (environ["HTTP_X_A"], environ["HTTP_X_B"], environ["HTTP_COOKIE"]) == \
        ("1, 1", ", ", "a; a")


def test_environ_server_name_follows_each_requests_host_and_scheme(impl):
    """The compiled build remembers the last Host it split: a repeat, another Host, the
    same Host under another scheme (a new str each time, as a request's is) all come out
    right."""
    seen = []
    for host, scheme in [("a.example:81", "http"), ("a.example:81", "http"),
                         ("a.example", "http"), ("a.example", "https"),
                         ("b.example:82", "https"), ("a.example", "http")]:
        base = dict(BASE, **{"wsgi.url_scheme": "".join(scheme)})  # (a new str)
        environ = impl.build_environ([(b":method", b"GET"), (b":path", b"/"),
                                      (b"host", host.encode())], base)
        seen.append((environ["SERVER_NAME"], environ["SERVER_PORT"]))
    assert seen == [("a.example", "81"), ("a.example", "81"), ("a.example", "80"),
                    ("a.example", "443"), ("b.example", "82"), ("a.example", "80")]



# -- encode_response_headers ----------------------------------------------------------

def test_response_headers_lowercased_and_hop_by_hop_dropped(impl):
    result = impl.encode_response_headers("404 Not Found", [
        ("Content-Type", "text/html"), ("Connection", "close"), ("X-A", " spaced\t"),
        ("Transfer-Encoding", "chunked"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
    assert result == [(b":status", b"404"), (b"content-type", b"text/html"),
                      (b"x-a", b"spaced"), (b"set-cookie", b"a=1"), (b"set-cookie", b"b=2")]


@pytest.mark.parametrize("status, headers, error", [
    (b"200 OK", [], TypeError),
    ("200", [], ValueError),
    ("20x OK", [], ValueError),
    ("100 Continue", [], ValueError),
    ("600 Nope", [], ValueError),
    ("200 OK", (("a", "b"),), TypeError),
    ("200 OK", [("a", "b", "c")], TypeError),
    ("200 OK", [(b"a", "b")], TypeError),
    ("200 OK", [("bad name", "b")], ValueError),
    ("200 OK", [("", "b")], ValueError),
    ("200 OK", [("x", "a\r\nInjected: 1")], ValueError),
    ("200 OK", [("x", "nul\x00")], ValueError),
    ("200 OK", [("x", "snowman \u2603")], ValueError),
])
def test_response_header_errors(impl, status, headers, error):
    with pytest.raises(error):
        impl.encode_response_headers(status, headers)


# -- FrameScanner ---------------------------------------------------------------------

def _stream_bytes() -> bytes:
    headers = HeadersFrame(1, flags=["END_HEADERS"])
    headers.data = b"\x82\x86\x84"
    return (PREFACE + SettingsFrame(0).serialize() + headers.serialize() +
            WindowUpdateFrame(1, window_increment=0).serialize() + DataFrame(1, data=b"abc").serialize() +
            WindowUpdateFrame(0, window_increment=0).serialize() +
            WindowUpdateFrame(3, window_increment=5).serialize())


def _reframe(item: tuple) -> bytes:
    kind, stream_id, flags, payload = item
    if kind == 0x8:  # a WINDOW_UPDATE run: one frame per stream, increments summed
        return b"".join(WindowUpdateFrame(sid, window_increment=total).serialize()
                        for sid, total in payload)
    pieces = payload if kind == 0 else [payload]
    return b"".join(len(piece).to_bytes(3, "big") + bytes((kind, flags)) + stream_id.to_bytes(4, "big")
                    + piece for piece in pieces)


def _flatten(items: list) -> tuple[bytes, list, list]:
    """All bytes in order (cut-out frames included), zero-update stream ids, cut-out frames."""
    passed = b"".join(i if type(i) is bytes else _reframe(i) for i in items if type(i) is not int)
    return passed, [i for i in items if type(i) is int], [i for i in items if type(i) is tuple]


@pytest.mark.parametrize("piece", [1, 2, 7, 13, 10_000])
def test_scanner_removes_only_zero_stream_window_updates(impl, piece):
    data = _stream_bytes()
    scanner = impl.FrameScanner()
    items = []
    for start in range(0, len(data), piece):
        items += scanner.feed(data[start:start + piece])
    passed, zeros, frames = _flatten(items)
    assert zeros == [1]
    # HEADERS and DATA come out on their own when they arrived whole.
    cut_out = [frame[:3] for frame in frames if frame[0] != 0x8]
    assert cut_out in ([], [(1, 1, 0x4)], [(0, 1, 0)], [(1, 1, 0x4), (0, 1, 0)])
    assert len(cut_out) == 2 or piece < 20
    assert [frame for frame in frames if frame[0] == 0x8] == [(0x8, 0, 1, [(3, 5)])]
    assert passed == data.replace(WindowUpdateFrame(1, window_increment=0).serialize(), b"")


@pytest.mark.parametrize("piece", [1, 5, 13, 100, 100_000])
def test_scanner_sums_runs_of_window_updates_per_stream(impl, piece):
    """A flood of WINDOW_UPDATEs becomes a few items: summed per stream, tiny ones counted;
    a zero increment, a reserved bit or another frame ends a run."""
    flood = b"".join(WindowUpdateFrame(sid, window_increment=inc).serialize()
                     for _ in range(3000) for sid, inc in ((1, 1), (3, 2), (0, 600)))
    reserved = bytes.fromhex("000004080000000005") + (2**31 + 7).to_bytes(4, "big")
    data = (PREFACE + flood + WindowUpdateFrame(5, window_increment=0).serialize()
            + WindowUpdateFrame(7, window_increment=9).serialize() + reserved + PingFrame(0).serialize()
            + WindowUpdateFrame(9, window_increment=2**31 - 1).serialize())
    scanner = impl.FrameScanner()
    items = []
    for start in range(0, len(data), piece):
        items += scanner.feed(data[start:start + piece])
    runs = [i for i in items if type(i) is tuple]
    totals: dict = {}
    for kind, _, tiny, pairs in runs:
        assert kind == 0x8 and len(pairs) <= 3
        for sid, total in pairs:
            totals[sid] = totals.get(sid, 0) + total
    assert totals == {1: 3000, 3: 6000, 0: 1_800_000, 7: 9, 9: 2**31 - 1}
    assert sum(run[2] for run in runs) == 6000 + 1  # increments under 512: 1, 2 and 9
    assert [i for i in items if type(i) is int] == [5]
    passed = b"".join(i for i in items if type(i) is bytes)
    assert passed == PREFACE + reserved + PingFrame(0).serialize()


@pytest.mark.parametrize("piece", [1, 6, 14, 100, 100_000])
def test_scanner_keeps_the_last_priority_per_stream_of_a_run(impl, piece):
    """A PRIORITY flood becomes a few items, the last signal per stream and the frame
    count; a stream depending on itself, or another frame, ends a run."""
    flood = b"".join(PriorityFrame(sid, depends_on=(i + sid + 1) % 4000, stream_weight=i % 256,
                                   exclusive=bool(i % 2)).serialize()
                     for i in range(2000) for sid in (1, 3, 5))
    selfish = PriorityFrame(7, depends_on=7).serialize()
    data = PREFACE + flood + selfish + PriorityFrame(9, depends_on=0, stream_weight=15).serialize()
    scanner = impl.FrameScanner()
    items = []
    for start in range(0, len(data), piece):
        items += scanner.feed(data[start:start + piece])
    runs = [i for i in items if type(i) is tuple]
    assert all(run[0] == 0x2 for run in runs)
    assert sum(run[2] for run in runs) == 6001
    last = {entry[0]: entry[1:] for run in runs for entry in run[3]}
    assert last == {1: (2001, 1999 % 256 + 1, True), 3: (2003, 1999 % 256 + 1, True),
                    5: (2005, 1999 % 256 + 1, True), 9: (0, 16, False)}
    assert b"".join(i for i in items if type(i) is bytes) == PREFACE + selfish


def test_scanner_passes_untouched_input_through_as_is(impl):
    data = PREFACE + SettingsFrame(0).serialize()
    result = impl.FrameScanner().feed(data)
    assert result == [data] and result[0] is data


def test_scanner_leaves_header_blocks_alone(impl):
    """A WINDOW_UPDATE inside a header block is h2's to reject as a connection error."""
    headers = HeadersFrame(1)  # no END_HEADERS
    headers.data = b"\x82"
    data = PREFACE + headers.serialize() + WindowUpdateFrame(1, window_increment=0).serialize()
    assert impl.FrameScanner().feed(data) == [data]


# -- differential ---------------------------------------------------------------------

header_names = st.one_of(
    st.sampled_from([b":method", b":path", b":authority", b":scheme", b"cookie", b"content-type",
                     b"content-length", b"host", b"accept", b"x-a", b"x_b"]),
    st.binary(min_size=1, max_size=12).map(lambda b: b.lower()))
header_values = st.binary(max_size=40)


@pytest.mark.skipif(compiled is None, reason="compiled speedups not built")
@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(header_names, header_values), max_size=12),
       st.sampled_from(["http", "https"]))
def test_differential_build_environ(headers, scheme):
    base = dict(BASE, **{"wsgi.url_scheme": scheme})
    outcomes = []
    for module in (_speedups_py, compiled):
        try:
            outcomes.append(("ok", module.build_environ(list(headers), base)))
        except Exception as exc:  # both must fail the same way
            outcomes.append(("error", type(exc)))
    assert outcomes[0] == outcomes[1]


@pytest.mark.skipif(compiled is None, reason="compiled speedups not built")
@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab.:[]019\u00b2\u00b9\u0660 "), max_size=10),
       st.sampled_from(["http", "https"]))
def test_differential_split_authority(authority, scheme):
    """Ports by str.isdigit's rule in both (latin-1 superscript digits count too)."""
    assert compiled.split_authority(authority, scheme) == \
        _speedups_py.split_authority(authority, scheme)


@pytest.mark.skipif(compiled is None, reason="compiled speedups not built")
@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([b"GET ", b"POST ", b"PUT ", b"PATCH ", b"HEAD ", b"DELETE ",
                                 b"OPTIONS ", b"PO", b"P", b"G", b"BLARGH ", b"\r\n", b"\r",
                                 b"\n", b"/ HTTP/1.1", b"Host: a"]), max_size=8),
       st.binary(max_size=6))
def test_differential_lone_head(pieces, tail):
    data = b"".join(pieces) + tail
    for candidate in (data, data + b"\r\n\r\n"):
        assert compiled.lone_head(candidate) == _speedups_py.lone_head(candidate)


@pytest.mark.skipif(compiled is None, reason="compiled speedups not built")
@settings(max_examples=300, deadline=None)
@given(st.text(max_size=12), st.lists(st.tuples(st.text(max_size=8), st.text(max_size=12)), max_size=5))
def test_differential_encode_response_headers(status, headers):
    """Each twice: the compiled build's second answer comes from what it remembers of
    status lines and names (the same again, and in the same order of errors)."""
    outcomes = []
    for module in (_speedups_py, compiled):
        for candidate in (status, "200 " + status, status, "200 " + status):
            try:
                outcomes.append(("ok", module.encode_response_headers(candidate, list(headers))))
            except (TypeError, ValueError) as exc:
                outcomes.append(("error", type(exc), str(exc)))
    assert outcomes[:4] == outcomes[4:]


@pytest.mark.skipif(compiled is None, reason="compiled speedups not built")
@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["Content-Length", "content-length", "CONTENT-LENGTH", "Content_Length"]),
       st.text(alphabet=st.sampled_from("0129 \t\r\n\u00b2\u0660\u20ac+-x"), max_size=6))
def test_differential_content_length_fields(name, value):
    """The compiled build takes a short cut for plain-digit Content-Length values; every
    spelling and value answers as the twin's does (the field, or the same error)."""
    outcomes = []
    for module in (_speedups_py, compiled):
        try:
            outcomes.append(("ok", module.encode_response_headers("200 OK", [(name, value)])))
        except (TypeError, ValueError) as exc:
            outcomes.append(("error", type(exc), str(exc)))
    assert outcomes[0] == outcomes[1]


def test_encoding_a_remembered_name_still_checks_its_value(impl):
    good = impl.encode_response_headers("200 OK", [("X-Remembered", "a"), ("Connection", "x")])
    assert good == [(b":status", b"200"), (b"x-remembered", b"a")]
    with pytest.raises(ValueError, match="x-remembered"):
        impl.encode_response_headers("200 OK", [("X-Remembered", "a\r\nb")])
    with pytest.raises(ValueError, match="latin-1"):
        impl.encode_response_headers("200 OK", [("X-Remembered", "\u20ac")])
    assert impl.encode_response_headers("200 OK", [("Connection", "x")]) == [(b":status", b"200")]
    with pytest.raises(ValueError, match="200-599"):
        impl.encode_response_headers("999 OK", [])


def test_a_remembered_field_encodes_as_the_first_time(impl):
    """Whole fields are remembered too (compiled): the second answer is the first's."""
    fields = [("X-Kept", " v\t"), ("Content-Length", "5"), ("Connection", "close")]
    first = impl.encode_response_headers("200 OK", list(fields))
    assert first == [(b":status", b"200"), (b"x-kept", b"v"), (b"content-length", b"5")]
    assert impl.encode_response_headers("200 OK", list(fields)) == first
    with pytest.raises(ValueError, match="x-kept"):
        impl.encode_response_headers("200 OK", [("X-Kept", "v\n")])


@pytest.mark.skipif(compiled is None, reason="compiled speedups not built")
@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10), st.integers(0, 0xFF), st.integers(0, 5),
                          st.binary(max_size=20)), max_size=15),
       st.lists(st.integers(1, 50), min_size=1, max_size=10))
def test_differential_frame_scanner(frames, cuts):
    data = PREFACE
    for kind, flags, stream_id, payload in frames:
        kind = 0x8 if kind > 8 else kind  # many WINDOW_UPDATEs
        if kind == 0x8:
            payload = payload[:4].ljust(4, b"\x00")
        data += len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream_id.to_bytes(4, "big") + payload
    results = []
    for module in (_speedups_py, compiled):
        scanner = module.FrameScanner()
        items, pos, index = [], 0, 0
        while pos < len(data):
            step = cuts[index % len(cuts)]
            items += scanner.feed(data[pos:pos + step])
            pos += step
            index += 1
        results.append(items)
    assert results[0] == results[1]


# -- the scans h2 makes of a received header block -----------------------------------

head_fields = st.lists(st.tuples(
    st.sampled_from([b":method", b":path", b":status", b":authority", b"content-length",
                     b"accept", b""]),
    st.sampled_from([b"", b"0", b"1", b"100", b"103", b"200", b"12", b"012", b" 1", b"1x",
                     b"\xd9\xa1", b"99999999999999999999", b"GET",
                     # the compiled scan's own parse takes 1 to 18 digits: its edges
                     b"999999999999999999", b"1000000000000000000", b"/", b":", b"1:"])),
    max_size=8)


def _h2_content_length(headers: list):
    stream = H2Stream(1, H2Configuration(), 65535, 65535)
    try:
        stream._initialize_content_length(headers)
    except ProtocolError as exc:
        return ("error", str(exc))
    return ("ok", stream._expected_content_length)


@settings(max_examples=400, deadline=None)
@given(head_fields)
def test_request_head_scans_match_h2(headers):
    expected_length = _h2_content_length(headers)
    for module in (_speedups_py, compiled or _speedups_py):
        assert module.informational_response(headers) is is_informational_response(headers)
        try:
            length = ("ok", module.declared_content_length(headers))
        except ValueError as exc:
            length = ("error", str(exc))
        assert length == expected_length


# -- http1_response_head ----------------------------------------------------------------

DEFAULTS = [(b"date", b"Thu, 03 Dec 2026 09:00:00 GMT"), (b"server", b"fasth2")]


def test_http1_head_of_a_sized_response(impl):
    headers = [(b":status", b"200"), (b"content-type", b"text/plain"), (b"content-length", b"5")]
    block, framing = impl.http1_response_head(headers, DEFAULTS, False, "1.1", True)
    assert block == (b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n"
                     b"date: Thu, 03 Dec 2026 09:00:00 GMT\r\nserver: fasth2\r\n\r\n")
    assert framing == impl.FRAMING_LENGTH


@pytest.mark.parametrize("version, no_body, status, framing, tail", [
    ("1.1", False, b"200", "FRAMING_CHUNKED", b"transfer-encoding: chunked\r\n"),
    ("1.0", False, b"200", "FRAMING_CLOSE", b"connection: close\r\n"),
    ("1.1", True, b"200", "FRAMING_LENGTH", b""),  # a HEAD: no body to frame
    ("1.1", False, b"204", "FRAMING_LENGTH", b""),
    ("1.0", False, b"304", "FRAMING_LENGTH", b"connection: keep-alive\r\n"),
])
def test_http1_head_frames_a_body_without_length(impl, version, no_body, status, framing, tail):
    block, got = impl.http1_response_head([(b":status", status)], [], no_body, version, True)
    reason = {b"200": b"OK", b"204": b"No Content", b"304": b"Not Modified"}[status]
    assert block == b"HTTP/1.1 " + status + b" " + reason + b"\r\n" + tail + b"\r\n"
    assert got == getattr(impl, framing)


def test_http1_head_ends_with_the_body_unless_chunked(impl):
    sized = [(b":status", b"200"), (b"content-length", b"5")]
    block, _ = impl.http1_response_head(sized, [], False, "1.1", True, b"hello")
    assert block == b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"
    block, framing = impl.http1_response_head([(b":status", b"200")], [], False, "1.1", True,
                                              b"hello")
    assert framing == impl.FRAMING_CHUNKED  # (the caller frames it as a chunk)
    assert block == b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
    block, framing = impl.http1_response_head([(b":status", b"200")], [], False, "1.0", True,
                                              b"hello")
    assert framing == impl.FRAMING_CLOSE
    assert block == b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nhello"


def test_http1_head_keeps_the_apps_date_and_server_and_names_unknown_codes(impl):
    headers = [(b":status", b"599"), (b"server", b"mine"), (b"content-length", b"0")]
    block, _ = impl.http1_response_head(headers, DEFAULTS, False, "1.1", False)
    assert block == (b"HTTP/1.1 599 Unknown\r\nserver: mine\r\ncontent-length: 0\r\n"
                     b"date: Thu, 03 Dec 2026 09:00:00 GMT\r\nconnection: close\r\n\r\n")


field_bytes = st.binary(max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([b"200", b"204", b"304", b"404", b"599", b"103", b"20x", b"", b"099",
                        b"600", b"999", b"-1", b" 204", b"3_04", b"9" * 25]),
       st.lists(st.tuples(st.sampled_from([b"content-length", b"date", b"server", b"x-a"])
                          | field_bytes, field_bytes), max_size=6),
       st.lists(st.tuples(st.sampled_from([b"date", b"server", b"via"]), field_bytes), max_size=3),
       st.booleans(), st.sampled_from(["1.1", "1.0"]), st.booleans(), st.binary(max_size=8))
def test_http1_head_twins_agree(status, fields, defaults, no_body, version, keep_alive, body):
    if compiled is None:
        pytest.skip("compiled twin not built")
    headers = [(b":status", status)] + fields
    results = []
    for module in (_speedups_py, compiled):
        try:
            results.append(module.http1_response_head(headers, defaults, no_body, version,
                                                       keep_alive, body))
        except ValueError as exc:  # a status that is not a number
            results.append(type(exc))
    assert results[0] == results[1]


# -- parse_plain_head: the one-call parse of the usual HTTP/1.1 head ----------------------

SPECIAL = frozenset((b"content-length", b"transfer-encoding", b"connection", b"expect",
                     b"upgrade", b"http2-settings", b"te"))


class HeadCollector:
    """What httptools' callbacks say of one request head."""

    def __init__(self) -> None:
        self.url = b""
        self.headers: list = []
        self.complete = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_message_complete(self) -> None:
        self.complete = True


def httptools_reading(data: bytes):
    """(method, target, headers, keep-alive) as httptools parses ``data``, or None if
    it refuses it or takes it for anything but one whole plain HTTP/1.1 request."""
    collector = HeadCollector()
    parser = httptools.HttpRequestParser(collector)
    try:
        parser.feed_data(data)
    except httptools.HttpParserError:
        return None
    if not collector.complete or parser.get_http_version() != "1.1" or parser.should_upgrade():
        return None
    return (parser.get_method(), collector.url, collector.headers, parser.should_keep_alive())


USUAL_HEADS = [
    b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
    b"GET /search?q=a+b&x=%20 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: h2load "
    b"nghttp2/1.52.0\r\nAccept: */*\r\n\r\n",
    b"HEAD /a/b.css HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip, deflate, br\r\n"
    b"Cookie: a=1; b=2\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n"
    b"Accept-Language: en-US,en;q=0.5\r\nIf-None-Match: \"abc\"\r\n\r\n",
    b"DELETE /x HTTP/1.1\r\nhost:\ta\r\nX-Spaced:  v  w\r\n\r\n",
]


@pytest.mark.parametrize("data", USUAL_HEADS)
def test_plain_heads_parse_as_httptools_reads_them(impl, data):
    """The usual heads take the one-call path, and it reads them as httptools does."""
    head = impl.parse_plain_head(data, SPECIAL)
    assert head is not None
    method, target, headers, hosts, size = head
    assert httptools_reading(data) == (method, target, headers[2:], True)
    assert headers[:2] == [(b":method", method), (b":path", target)]
    assert hosts == [value for name, value in headers if name == b"host"]
    assert size == len(target) + sum(len(n) + len(v) + 32 for n, v in headers[2:])


@pytest.mark.parametrize("data", [
    b"GET / HTTP/1.0\r\nHost: a\r\n\r\n",  # another version
    b"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",  # absolute form
    b"GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n",  # a fragment
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n",  # a field we act on
    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",  # space before the colon
    b"GET / HTTP/1.1\r\nX: \xe9\r\n\r\n",  # beyond ASCII
    b"GET / HTTP/1.1\r\nX:\r\n\r\n",  # empty value
    b"GET / HTTP/1.1\r\nX: a \r\n\r\n",  # trailing space
    b"BREW / HTTP/1.1\r\nHost: a\r\n\r\n",  # an uncommon method
])
def test_other_heads_go_to_the_parser(impl, data):
    assert impl.parse_plain_head(data, SPECIAL) is None


# Text mostly of what plain heads hold, or with any of the awkward bytes mixed in.
plain_pieces = st.sampled_from([b"a", b"Z", b"9", b"-", b"/", b"?", b"%", b" ", b"\t", b":",
                                b'"', b"@", b"(", b",", b";", b"=", b"*", b"."])
awkward_pieces = plain_pieces | st.sampled_from([b"#", b"\x00", b"\x7f", b"\x80", b"\xff",
                                                 b"<", b"{", b"\\", b"\r", b"\n", b"\x0b"])
head_text = (st.lists(plain_pieces, max_size=6).map(b"".join)
             | st.lists(awkward_pieces, max_size=6).map(b"".join))


@settings(max_examples=1000, deadline=None)
@given(st.sampled_from([b"GET", b"POST", b"HEAD", b"PATCH"])
       | st.sampled_from([b"get", b"GETS", b"BREW"]),
       head_text, st.just(b" HTTP/1.1")
       | st.sampled_from([b" HTTP/1.0", b" HTTP/1.2", b"  HTTP/1.1", b" http/1.1", b"HTTP/1.1"]),
       st.lists(st.tuples(st.sampled_from([b"Host", b"x-A", b"Accept", b"ETag"])
                          | st.sampled_from([b"Content-Length", b"te", b""]) | head_text,
                          st.sampled_from([b":", b": ", b":\t", b":  "]) | st.just(b" :"),
                          head_text), max_size=4),
       st.sampled_from([b"", b"", b"", b"\r\n", b"GET / HTTP/1.1\r\n\r\n", b"x", b"\n\r\n"]),
       st.integers(0, 3))
def test_plain_heads_are_read_as_httptools_reads_them(method, target, version, fields, tail,
                                                       cut):
    """Whatever the one-call parse accepts is one whole head and nothing more (reads
    with more after it, or cut short, are refused), and httptools accepts it and reads
    it the same way (it keeps the connection open and asks for no upgrade); the twins
    agree."""
    data = (method + b" /" + target + version + b"\r\n"
            + b"".join(name + colon + value + b"\r\n" for name, colon, value in fields) + b"\r\n")
    data = data[:len(data) - cut] + tail
    head = _speedups_py.parse_plain_head(data, SPECIAL)
    if compiled is not None:
        assert compiled.parse_plain_head(data, SPECIAL) == head
    if head is not None:
        assert _speedups_py.lone_head(data), data
        method, target, headers, _, _ = head
        assert httptools_reading(data) == (method, target, headers[2:], True), data


# -- h2_response_fields ------------------------------------------------------------------

def test_h2_fields_add_the_missing_defaults(impl):
    headers = [(b":status", b"200"), (b"server", b"mine"), (b"priority", b"u=1"),
               (b"priority", b"i")]
    fields, priorities = impl.h2_response_fields(headers, DEFAULTS)
    assert fields == headers + [DEFAULTS[0]]
    assert priorities == [b"u=1", b"i"]
    assert impl.h2_response_fields([(b":status", b"204")], DEFAULTS) == \
        ([(b":status", b"204")] + DEFAULTS, None)
    assert fields is not headers and len(headers) == 4  # a new list: the app's is untouched


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([b"date", b"server", b"priority", b"x-a"])
                          | field_bytes, field_bytes), max_size=6),
       st.lists(st.tuples(st.sampled_from([b"date", b"server", b"via"]), field_bytes), max_size=3))
def test_h2_fields_twins_agree(fields, defaults):
    if compiled is None:
        pytest.skip("compiled twin not built")
    headers = [(b":status", b"200")] + fields
    assert compiled.h2_response_fields(headers, defaults) == \
        _speedups_py.h2_response_fields(headers, defaults)


# -- frame_data -----------------------------------------------------------------------

def test_frame_data_layout(impl):
    frames = impl.frame_data(5, b"0123456789", 2, 7, 3, True)
    assert frames == (b"\x00\x00\x03\x00\x00\x00\x00\x00\x05234" +
                      b"\x00\x00\x03\x00\x00\x00\x00\x00\x05567" +
                      b"\x00\x00\x01\x00\x01\x00\x00\x00\x058")
    assert impl.frame_data(7, b"", 0, 0, 16384, True) == b"\x00\x00\x00\x00\x01\x00\x00\x00\x07"


@pytest.mark.parametrize("start, length, frame_size", [(-1, 1, 10), (0, 11, 10), (5, 6, 10), (0, 1, 0)])
def test_frame_data_rejects_bad_slices(impl, start, length, frame_size):
    with pytest.raises(ValueError):
        impl.frame_data(1, b"0123456789", start, length, frame_size, False)


@pytest.mark.skipif(compiled is None, reason="compiled speedups not built")
@settings(max_examples=300, deadline=None)
@given(st.integers(1, 2**31 - 1), st.binary(max_size=5000), st.data(), st.integers(1, 2000), st.booleans())
def test_differential_frame_data(stream_id, data, draw, frame_size, end):
    start = draw.draw(st.integers(0, len(data)))
    length = draw.draw(st.integers(0, len(data) - start))
    assert (_speedups_py.frame_data(stream_id, data, start, length, frame_size, end) ==
            compiled.frame_data(stream_id, data, start, length, frame_size, end))


def test_scanner_paces_new_streams(impl):
    """At most ``headers_per_chunk`` HEADERS frames per item handed to h2."""
    frames = b"".join(HeadersFrame(1 + 2 * i, data=b"\x82", flags=["END_HEADERS", "PRIORITY"])
                      .serialize() for i in range(100))
    items = impl.FrameScanner(0, 32).feed(frames)
    assert b"".join(items) == frames
    assert [len(item) // 15 for item in items] == [32, 32, 32, 4]


def test_scanner_extracts_whole_header_blocks(impl):
    """Simple HEADERS frames come out as (type, stream id, flags, payload); others stay bytes."""
    simple = HeadersFrame(1, data=b"\x82\x86", flags=["END_HEADERS", "END_STREAM"]).serialize()
    padded = HeadersFrame(3, data=b"\x82", flags=["END_HEADERS", "PADDED"], pad_length=2).serialize()
    unfinished = HeadersFrame(5, data=b"\x82").serialize()  # a CONTINUATION should follow
    large = HeadersFrame(7, data=b"\x00" * 20000, flags=["END_HEADERS"]).serialize()
    data = SettingsFrame(0).serialize() + simple + padded + simple + unfinished + simple + large
    items = impl.FrameScanner(0).feed(data)
    settings_frame = SettingsFrame(0).serialize()
    whole = (1, 1, 0x5, b"\x82\x86")
    assert items == [settings_frame, whole, padded, whole, unfinished + simple + large]
    # Cut in the middle: held back until whole.
    scanner = impl.FrameScanner(0)
    assert scanner.feed(simple[:10]) == []
    assert scanner.feed(simple[10:]) == [whole]


def test_scanner_counts_empty_continuations(impl):
    headers = HeadersFrame(1, data=b"\x82").serialize()  # no END_HEADERS
    empty = b"\x00\x00\x00\x09\x00\x00\x00\x00\x01"  # CONTINUATION, length 0, stream 1
    scanner = impl.FrameScanner(0)
    scanner.feed(headers + empty * 3)
    assert scanner.empty_continuations == 3


def test_scanner_extracts_data_frames(impl):
    data = DataFrame(3, data=b"body", flags=["END_STREAM"]).serialize()
    padded = DataFrame(3, data=b"body", flags=["PADDED"], pad_length=1).serialize()
    on_stream_0 = b"\x00\x00\x01\x00\x00\x00\x00\x00\x00x"  # h2's to reject
    items = impl.FrameScanner(0).feed(data + padded + on_stream_0 + data)
    assert items == [(0, 3, 0x1, [b"body"]), padded + on_stream_0, (0, 3, 0x1, [b"body"])]


def test_scanner_gathers_interleaved_data_per_stream(impl):
    """A run of DATA frames comes out per stream, in order of first appearance, and
    stops before a frame that follows its stream's END_STREAM."""
    frame = lambda sid, body, *flags: DataFrame(sid, data=body, flags=list(flags)).serialize()
    data = (frame(1, b"a") + frame(3, b"b") + frame(1, b"c") + frame(3, b"d", "END_STREAM")
            + frame(1, b"e") + frame(3, b"late") + frame(1, b"f"))
    assert impl.FrameScanner(0).feed(data) == [
        (0, 1, 0, [b"a", b"c", b"e"]), (0, 3, 1, [b"b", b"d"]),
        (0, 3, 0, [b"late"]), (0, 1, 0, [b"f"])]


def test_scanner_copies_payloads_that_would_pin_a_big_read(impl):
    """Payload views keep the whole read alive: a run of DATA that is less than half
    of the read comes out as bytes copies, a bigger one as views."""
    small = DataFrame(1, data=b"x").serialize()
    big = DataFrame(1, data=b"y" * 4000).serialize()
    other = SettingsFrame(0, settings={1: 4096}).serialize() * 20  # 300 bytes, not DATA
    items = impl.FrameScanner(0).feed(other + small)
    assert items[1] == (0, 1, 0, [b"x"]) and type(items[1][3][0]) is bytes
    items = impl.FrameScanner(0).feed(other + big)
    assert items[1] == (0, 1, 0, [b"y" * 4000]) and type(items[1][3][0]) is memoryview


@pytest.mark.parametrize("size, count", [(4096, 5), (300_000, 2003), (300_000, 300_000), (64, 0)])
def test_read_buffer_hands_out_what_was_read(impl, size, count):
    """Bytes written into the prepared buffer (as a transport does) come out as bytes,
    exactly the ``count`` read, for small reads (copied) and big ones (trimmed)."""
    reader = impl.ReadBuffer()
    payload = bytes(range(256)) * (count // 256 + 1)
    for _ in range(3):  # buffers are not reused: earlier results stay intact
        view = memoryview(reader.prepare(size))
        view[:count] = payload[:count]
        view.release()
        data = reader.take(count)
        assert type(data) is bytes and data == payload[:count]
    with pytest.raises(ValueError):
        reader.take(1)  # nothing prepared


# -- Lock: threading's, and the compiled one the typed twins call ---------------------

def test_a_lock_is_taken_and_released_as_threadings(impl):
    lock = impl.Lock()
    assert lock.acquire() is True and lock.locked()
    assert lock.acquire(False) is False  # (held: not taken again)
    assert lock.acquire(True, 0.01) is False  # (and the timeout passes)
    lock.release()
    assert not lock.locked()
    with pytest.raises(RuntimeError):
        lock.release()
    with pytest.raises(ValueError):
        lock.acquire(False, 1)
    with lock:
        assert lock.locked()
    assert not lock.locked()


def test_a_lock_waits_for_its_holder_on_another_thread_and_serves_a_condition(impl):
    lock = impl.Lock()
    ready = threading.Condition(lock)
    taken = threading.Event()
    order = []

    def other() -> None:
        with lock:
            taken.set()
            order.append("other")
            ready.wait(5)  # (lets go of the lock while it waits)
            order.append("woken")

    thread = threading.Thread(target=other)
    thread.start()
    assert taken.wait(5)
    assert lock.acquire(True, 5)  # blocks (the GIL let go) until other() waits
    order.append("main")
    ready.notify()
    lock.release()
    thread.join(5)
    assert order == ["other", "main", "woken"]
