"""Protocol edges with a raw-frame client: each gets the answer RFC 9113 prescribes."""

from __future__ import annotations

import pytest
from h2.errors import ErrorCodes
from h2.settings import SettingCodes
from hyperframe.frame import (ContinuationFrame, DataFrame, GoAwayFrame,
                              PingFrame, PushPromiseFrame, RstStreamFrame, SettingsFrame,
                              WindowUpdateFrame)

from .helpers import RawClient

REQUEST = [(":method", "GET"), (":scheme", "http"), (":authority", "localhost"), (":path", "/hello")]


@pytest.fixture
def raw(server):
    client = RawClient(server.port)
    yield client
    client.close()


def assert_goaway(client: RawClient, code: ErrorCodes) -> GoAwayFrame:
    goaway = client.expect_goaway()
    assert goaway.error_code == code, f"GOAWAY {ErrorCodes(goaway.error_code)!r}, wanted {code!r}"
    assert client.wait_for(lambda f: False, timeout=5) is None, "connection not closed"
    return goaway


def assert_still_serving(client: RawClient, stream_id: int) -> None:
    client.request(stream_id, "/hello")
    assert client.read_response(stream_id)[1] == b"hello world\n"


# -- the connection preface (RFC 9113 §3.4) ------------------------------------------

@pytest.mark.parametrize("opening", [b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", b"PRI garbage" + b"\x00" * 20],
                         ids=["broken-preface", "PRI-then-garbage"])
def test_bad_preface_is_protocol_error(server, opening):
    client = RawClient(server.port, preface=False)
    client.send(opening)
    assert_goaway(client, ErrorCodes.PROTOCOL_ERROR)


def test_binary_garbage_gets_http1_400(server):
    client = RawClient(server.port, preface=False)
    client.send(b"\x00" * 40)
    reply = client.sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert client.sock.recv(4096) == b""  # and closed


def test_http1_request_on_the_same_port_is_served(server):
    client = RawClient(server.port, preface=False)
    client.send(b"GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    reply = b""
    while chunk := client.sock.recv(4096):
        reply += chunk
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n")
    assert reply.endswith(b"\r\n\r\nhello world\n")


# -- stream states (RFC 9113 §5.1) ---------------------------------------------------

@pytest.mark.parametrize("frame", [DataFrame(3, data=b"x"), WindowUpdateFrame(5, window_increment=1),
                                   RstStreamFrame(5, error_code=8)],
                         ids=["DATA", "WINDOW_UPDATE", "RST_STREAM"])
def test_frame_on_idle_stream_is_protocol_error(raw, frame):
    raw.send(frame)
    assert_goaway(raw, ErrorCodes.PROTOCOL_ERROR)


def test_data_on_closed_stream_is_stream_closed(raw):
    raw.request(1)
    raw.read_response(1)
    raw.send(DataFrame(1, data=b"late"))
    assert raw.expect_reset(1).error_code == ErrorCodes.STREAM_CLOSED
    assert_still_serving(raw, 3)


def test_headers_on_closed_stream_is_stream_closed(raw):
    raw.request(1)
    raw.read_response(1)
    raw.request(1)
    assert_goaway(raw, ErrorCodes.STREAM_CLOSED)


def test_even_stream_id_from_client_is_protocol_error(raw):
    raw.request(2)
    assert_goaway(raw, ErrorCodes.PROTOCOL_ERROR)


def test_push_promise_from_client_is_protocol_error(raw):
    raw.request(1, end_stream=False, path="/echo")
    raw.send(PushPromiseFrame(1, promised_stream_id=2, data=b"\x82", flags=["END_HEADERS"]))
    assert_goaway(raw, ErrorCodes.PROTOCOL_ERROR)


# -- WINDOW_UPDATE (RFC 9113 §6.9) ---------------------------------------------------

def test_zero_window_update_on_stream_is_stream_error(raw):
    raw.request(1, path="/echo", end_stream=False)
    raw.send(WindowUpdateFrame(1, window_increment=0))
    assert raw.expect_reset(1).error_code == ErrorCodes.PROTOCOL_ERROR
    assert_still_serving(raw, 3)


def test_zero_window_update_on_connection_is_connection_error(raw):
    raw.send(WindowUpdateFrame(0, window_increment=0))
    assert_goaway(raw, ErrorCodes.PROTOCOL_ERROR)


def test_stream_window_past_limit_is_stream_flow_control_error(raw):
    raw.request(1, "/tracked?chunks=20&delay=0.05")
    raw.send(WindowUpdateFrame(1, window_increment=2**31 - 1))
    assert raw.expect_reset(1).error_code == ErrorCodes.FLOW_CONTROL_ERROR
    assert_still_serving(raw, 3)


def test_connection_window_past_limit_is_flow_control_error(raw):
    raw.send(WindowUpdateFrame(0, window_increment=2**31 - 1))
    assert_goaway(raw, ErrorCodes.FLOW_CONTROL_ERROR)


# -- SETTINGS (RFC 9113 §6.5) --------------------------------------------------------

@pytest.mark.parametrize("setting, value, code", [
    (SettingCodes.INITIAL_WINDOW_SIZE, 2**31, ErrorCodes.FLOW_CONTROL_ERROR),
    (SettingCodes.MAX_FRAME_SIZE, 100, ErrorCodes.PROTOCOL_ERROR),
    (SettingCodes.MAX_FRAME_SIZE, 2**24, ErrorCodes.PROTOCOL_ERROR),
    (SettingCodes.ENABLE_PUSH, 2, ErrorCodes.PROTOCOL_ERROR),
])
def test_invalid_settings_values(raw, setting, value, code):
    frame = SettingsFrame(0)
    frame.settings = {setting: value}
    raw.send(frame)
    assert_goaway(raw, code)


def test_settings_frame_with_bad_length_is_frame_size_error(raw):
    raw.send(b"\x00\x00\x03\x04\x00\x00\x00\x00\x00abc")
    assert_goaway(raw, ErrorCodes.FRAME_SIZE_ERROR)


def test_settings_are_acknowledged(raw):
    frame = SettingsFrame(0)
    frame.settings = {SettingCodes.HEADER_TABLE_SIZE: 0}
    raw.send(frame)
    assert raw.wait_for(lambda f: isinstance(f, SettingsFrame) and "ACK" in f.flags)


# -- frame sizes (RFC 9113 §4.2) -----------------------------------------------------

def test_frame_larger_than_max_frame_size_is_frame_size_error(raw):
    raw.request(1, path="/echo", end_stream=False)
    raw.send(DataFrame(1, data=b"x" * 20000))  # we advertise 16384
    assert_goaway(raw, ErrorCodes.FRAME_SIZE_ERROR)


# -- header blocks and CONTINUATION (RFC 9113 §6.10) ---------------------------------

def test_header_block_split_over_continuations(raw):
    block = raw.headers_frame(1, REQUEST, end_headers=False)
    data = block.data
    block.data = data[:2]
    raw.send(block)
    raw.send(ContinuationFrame(1, data=data[2:5]))
    raw.send(ContinuationFrame(1, data=data[5:], flags=["END_HEADERS"]))
    headers, body = raw.read_response(1)
    assert headers[":status"] == "200" and body == b"hello world\n"


@pytest.mark.parametrize("interruption", [
    PingFrame(0, opaque_data=b"12345678"),
    ContinuationFrame(3, data=b"\x82", flags=["END_HEADERS"]),
    DataFrame(1, data=b"x"),
], ids=["PING", "CONTINUATION-other-stream", "DATA"])
def test_interrupted_header_block_is_protocol_error(raw, interruption):
    raw.send(raw.headers_frame(1, REQUEST, end_headers=False))
    raw.send(interruption)
    assert_goaway(raw, ErrorCodes.PROTOCOL_ERROR)


@pytest.mark.parametrize("stream", ["idle", "open", "answered", "reset", "answered-then-new"])
def test_continuation_without_headers_is_protocol_error(raw, stream):
    """RFC 9113 §6.10: a CONTINUATION that follows no open header block is a connection
    error, whatever the state of its stream (h2 alone answers some of them with a
    RST_STREAM, depending on whether it has yet forgotten the stream)."""
    if stream == "open":  # the app is still at work on it
        raw.request(1, path="/sleep?s=2")
    elif stream.startswith("answered"):
        raw.request(1)
        raw.read_response(1)
        if stream == "answered-then-new":
            raw.request(3)
            raw.read_response(3)
    elif stream == "reset":
        raw.request(1, path="/sleep?s=2")
        raw.send(RstStreamFrame(1, error_code=ErrorCodes.CANCEL))
    raw.send(ContinuationFrame(1, data=b"\x82", flags=["END_HEADERS"]))
    assert_goaway(raw, ErrorCodes.PROTOCOL_ERROR)


@pytest.mark.parametrize("ending", ["answered", "reset"])
def test_continuation_on_a_forgotten_stream_is_protocol_error(fresh_server, ending):
    """The same once h2 has pruned the stream from its table, which it does when it
    counts open streams at the limit (h2 alone: GOAWAY STREAM_CLOSED for an answered
    stream, RST_STREAM STREAM_CLOSED for a reset one)."""
    server = fresh_server("tests.apps:app", "--max-concurrent-streams", "2")
    raw = RawClient(server.port)
    try:
        if ending == "reset":
            raw.request(1, path="/sleep?s=0.2")
            raw.send(RstStreamFrame(1, error_code=ErrorCodes.CANCEL))
        else:
            raw.request(1)
            raw.read_response(1)
        for stream_id in (3, 5, 7, 9, 11):  # the server's h2 holds up to 4 (2 x slack)
            raw.request(stream_id)
            raw.read_response(stream_id)
        raw.send(ContinuationFrame(1, data=b"\x82", flags=["END_HEADERS"]))
        assert_goaway(raw, ErrorCodes.PROTOCOL_ERROR)
    finally:
        raw.close()


# -- frames that need no more than an acknowledgement --------------------------------

def test_ping_is_acknowledged(raw):
    raw.send(PingFrame(0, opaque_data=b"abcdefgh"))
    ack = raw.wait_for(lambda f: isinstance(f, PingFrame))
    assert "ACK" in ack.flags and ack.opaque_data == b"abcdefgh"


def test_unknown_frame_type_is_ignored(raw):
    raw.send(b"\x00\x00\x02\xfa\x00\x00\x00\x00\x00ab")
    assert_still_serving(raw, 1)


def test_client_goaway_ends_connection_quietly(raw, server):
    raw.request(1)
    raw.read_response(1)
    raw.send(GoAwayFrame(0, last_stream_id=0, error_code=0))
    assert raw.wait_for(lambda f: False, timeout=5) is None
    assert "Traceback" not in server.log


def test_no_tracebacks_from_protocol_errors(server):
    """Everything above ends connections without a traceback in the server log."""
    assert "Traceback" not in server.log, server.log


# -- malformed requests (RFC 9113 §8.1.1: a stream error, the connection lives on) --

@pytest.mark.parametrize("headers", [
    REQUEST + [("Upper", "x")],
    REQUEST + [("connection", "keep-alive")],
    REQUEST + [("te", "gzip")],
    REQUEST + [("x", " padded")],
    [(":method", "GET"), (":authority", "localhost"), (":path", "/hello")],
    [(":method", "GET"), (":scheme", "http"), (":authority", "localhost"), (":path", "")],
    [(":method", "GET"), ("x", "1"), (":scheme", "http"), (":authority", "a"), (":path", "/")],
    REQUEST + [("host", "elsewhere")],
    REQUEST + [(":method", "POST")],
    REQUEST + [(":status", "200")],
    REQUEST + [(":foo", "bar")],
], ids=["uppercase", "connection", "te", "whitespace", "no-scheme", "empty-path",
        "pseudo-after-regular", "host-mismatch", "duplicate-pseudo", "status", "unknown-pseudo"])
def test_malformed_request_is_stream_protocol_error(raw, server, headers):
    raw.send(raw.headers_frame(1, headers))
    assert raw.expect_reset(1).error_code == ErrorCodes.PROTOCOL_ERROR
    assert_still_serving(raw, 3)
    assert "Traceback" not in server.log


def test_pseudo_header_in_trailers_is_stream_protocol_error(raw):
    raw.request(1, "/echo", method="POST", end_stream=False)
    raw.send(DataFrame(1, data=b"body"))
    raw.send(raw.headers_frame(1, [(":path", "/sneaky")], end_stream=True))
    assert raw.expect_reset(1).error_code == ErrorCodes.PROTOCOL_ERROR
    assert_still_serving(raw, 3)


def test_valid_trailers_are_accepted(raw):
    raw.request(1, "/echo", method="POST", end_stream=False)
    raw.send(DataFrame(1, data=b"body"))
    raw.send(raw.headers_frame(1, [("x-checksum", "abc")], end_stream=True))
    assert raw.read_response(1)[1] == b"body"
