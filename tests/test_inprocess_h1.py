"""HTTP/1.1 (and the h2c upgrade) through the seam, in process: bytes in, bytes out.

The same harness as test_inprocess_h2.py (tests/inprocess.py): a real ``H1Protocol``
behind the real selector, a gateway answering on the loop with ``fasth2.events``.
"""

from __future__ import annotations

import h2.config
import h2.connection
import h2.events as ev
import pytest
from h2.errors import ErrorCodes

from fasth2.events import (COMPLETE, CONNECTION_CLOSED, SERVER_RESET, Informational, Reset,
                           Trailers)

from .inprocess import respond, send_data


def server_fields(server) -> bytes:
    """The Date and Server lines every response gets (the server's, this second)."""
    return b"".join(name + b": " + value + b"\r\n" for name, value in server.server.default_fields)


def get(path: str = "/", version: str = "1.1", extra: str = "") -> bytes:
    return f"GET {path} HTTP/{version}\r\nHost: localhost\r\n{extra}\r\n".encode()


def test_a_request_is_an_exchange_with_what_it_delivered(memory_connection):
    server = memory_connection()
    server.feed(get("/a"))
    assert server.take() == (b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"
                             b"content-length: 8\r\n" + server_fields(server) + b"\r\nhello /a")
    exchange, = server.exchanges
    assert (exchange.http_version, exchange.status, exchange.bytes_sent, exchange.outcome) \
        == ("1.1", 200, 8, COMPLETE)


def test_two_hundred_pipelined_requests_are_answered_in_order(memory_connection):
    server = memory_connection()
    server.feed(b"".join(get(f"/{n}") for n in range(200)))
    out = server.take()
    bodies = [part.split(b"\r\n\r\n", 1)[1] for part in out.split(b"HTTP/1.1 200 OK\r\n")[1:]]
    assert bodies == [b"hello /%d" % n for n in range(200)]
    assert [exchange.stream_id for exchange in server.exchanges] == list(range(1, 201))


def test_the_next_app_call_waits_for_the_response_before_it(memory_connection):
    waiting = []
    server = memory_connection(waiting.append)
    server.feed(get("/first") + get("/second"))
    assert len(waiting) == 1 and server.take() == b""
    respond(waiting[0], body=b"1")
    assert len(waiting) == 2  # its turn came when the first response ended
    respond(waiting[1], body=b"2")
    out = server.take()
    assert out.index(b"\r\n\r\n1") < out.index(b"\r\n\r\n2")


def test_a_streamed_response_is_chunked_with_trailers_for_te_trailers(memory_connection):
    def streamed(exchange):
        respond(exchange, headers=[("content-type", "text/plain")], end=False)
        send_data(exchange, b"hello")
        exchange.send(Trailers([(b"grpc-status", b"0")]))

    server = memory_connection(streamed)
    server.feed(get("/", extra="TE: trailers\r\n"))
    assert server.take() == (b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"
                             + server_fields(server) +
                             b"transfer-encoding: chunked\r\n\r\n5\r\nhello\r\n"
                             b"0\r\ngrpc-status: 0\r\n\r\n")
    server.feed(get("/"))  # without TE: trailers, the trailers are dropped
    assert server.take().endswith(b"5\r\nhello\r\n0\r\n\r\n")
    assert [exchange.outcome for exchange in server.exchanges] == [COMPLETE, COMPLETE]


def test_informational_responses_go_to_http11_clients_only(memory_connection):
    def with_hint(exchange):
        exchange.send(Informational([(b":status", b"103"), (b"link", b"</a.css>")]))
        respond(exchange, body=b"ok")

    server = memory_connection(with_hint)
    server.feed(get("/"))
    assert server.take().startswith(b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\n"
                                    b"HTTP/1.1 200 OK\r\n")
    old = memory_connection(with_hint)
    old.feed(get("/", version="1.0"))
    assert old.take().startswith(b"HTTP/1.1 200 OK\r\n")


def test_a_head_response_carries_no_body(memory_connection):
    server = memory_connection(lambda exchange: respond(
        exchange, headers=[("content-length", "5")], body=b""))
    server.feed(b"HEAD / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert server.take() == (b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n"
                             + server_fields(server) + b"\r\n")


def test_an_upload_pauses_reading_until_the_app_consumes_it(memory_connection):
    """No flow control in HTTP/1.1: past stream_window_size unread bytes, reading
    stops; the app's reads start it again. A 1 MiB body arrives whole."""
    waiting = []
    server = memory_connection(waiting.append, stream_window_size=256 * 1024)
    body = bytes(1024 * 1024)
    server.feed(b"POST /up HTTP/1.1\r\nHost: localhost\r\ncontent-length: %d\r\n\r\n" % len(body))
    exchange, = waiting
    consumed = 0
    for start in range(0, len(body), 64 * 1024):
        if not server.transport.reading:
            arrived = len(exchange.body.data)
            exchange.consumed(arrived - consumed)  # the app read what arrived
            consumed = arrived
            server.settle()
            assert server.transport.reading
        server.feed(body[start:start + 64 * 1024])
    assert exchange.body.data == body and exchange.body.ended
    assert exchange.bytes_received == len(body)
    assert consumed > 0  # reading did pause on the way


def test_a_gateway_reset_mid_body_closes_the_connection(memory_connection):
    def fail_midway(exchange):
        respond(exchange, headers=[("content-length", "100")], body=b"part", end=False)
        exchange.send(Reset(2))

    server = memory_connection(fail_midway)
    server.feed(get("/"))
    assert server.take().endswith(b"\r\n\r\npart")
    assert server.transport.closed
    assert server.exchanges[0].outcome == SERVER_RESET


def test_the_client_leaving_mid_response_ends_the_exchange(memory_connection):
    waiting = []
    server = memory_connection(waiting.append)
    server.feed(get("/"))
    server.current.connection_lost(None)
    assert waiting[0].aborted and waiting[0].outcome == CONNECTION_CLOSED


def test_an_h2c_upgrade_hands_the_request_to_http2_as_stream_1(memory_connection):
    server = memory_connection()
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    settings = client.initiate_upgrade_connection().decode()
    server.feed(get("/upgraded", extra=f"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                                       f"HTTP2-Settings: {settings}\r\n"))
    assert server.take().startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    server.feed(client.data_to_send())  # the client's preface, after reading the 101
    events = client.receive_data(server.take())
    data = b"".join(event.data for event in events if isinstance(event, ev.DataReceived))
    assert data == b"hello /upgraded"
    assert any(isinstance(event, ev.StreamEnded) and event.stream_id == 1 for event in events)
    exchange, = server.exchanges
    assert (exchange.stream_id, exchange.http_version, exchange.outcome) == (1, "2", COMPLETE)


@pytest.mark.parametrize("settings", [
    "AAMAAABkAAQA",  # 9 bytes: no whole number of settings (hyperframe's InvalidFrameError)
    "AAIAAAAC",  # ENABLE_PUSH = 2 (h2's InvalidSettingsValueError)
    "AASAAAAA",  # INITIAL_WINDOW_SIZE = 2**31, one past the largest
    "AAMAAABkAA",  # base64 cut short (binascii.Error)
])
def test_an_h2c_upgrade_with_bad_settings_ends_with_goaway_protocol_error(memory_connection,
                                                                            settings):
    server = memory_connection()
    server.feed(get("/upgraded", extra="Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                                       f"HTTP2-Settings: {settings}\r\n"))
    head, _, frames = server.take().partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    events = client.receive_data(frames)
    goaway, = [event for event in events if isinstance(event, ev.ConnectionTerminated)]
    assert goaway.error_code == ErrorCodes.PROTOCOL_ERROR
    assert server.transport.eof_written and server.exchanges == []


def test_an_early_answer_drops_the_rest_of_the_body_then_serves_the_next(memory_connection):
    def refuse_uploads(exchange):
        if dict(exchange.headers)[b":method"] == b"POST":
            respond(exchange, "401 Unauthorized", b"no")
        else:
            respond(exchange, body=b"next")

    server = memory_connection(refuse_uploads, stream_window_size=64 * 1024)
    server.feed(b"POST /up HTTP/1.1\r\nHost: localhost\r\ncontent-length: 1048576\r\n\r\n")
    assert server.take().startswith(b"HTTP/1.1 401 Unauthorized\r\n")
    for _ in range(16):  # the body nobody reads: 1 MiB, far past the window
        server.feed(bytes(64 * 1024))
        assert server.transport.reading
    server.feed(get("/next"))
    assert server.take().endswith(b"\r\n\r\nnext")
    assert [exchange.status for exchange in server.exchanges] == [401, 200]


def test_the_apps_own_date_and_server_fields_are_kept(memory_connection):
    server = memory_connection(lambda exchange: respond(exchange, headers=[
        ("date", "Tue, 01 Dec 2026 00:00:00 GMT"), ("server", "mine"), ("content-length", "0")]))
    server.feed(get("/"))
    head = server.take().lower()
    assert head.count(b"\r\ndate: ") == 1 and b"date: tue, 01 dec 2026" in head
    assert head.count(b"\r\nserver: ") == 1 and b"server: mine" in head


def test_requests_behind_a_refused_one_in_the_same_read_start_nothing(memory_connection):
    """A 400 from inside httptools' callbacks closes the connection while the parser
    goes on through the rest of the read: nothing behind it may start an exchange or
    spoil the lingering (found by the http1 fuzz target)."""
    server = memory_connection()
    server.feed(b"GET /a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"
                b"GET /b HTTP/1.1\r\nHost: a\r\n\r\nGET /c HTTP/1.1\r\nHost: a\r\n\r\n")
    written = server.take()
    assert written.startswith(b"HTTP/1.1 400 ") and written.count(b"HTTP/1.1 ") == 1
    assert server.exchanges == [] and server.transport.eof_written
    server.feed(b"GET /d HTTP/1.1\r\nHost: a\r\n\r\n" * 10)  # dropped while lingering
    assert server.take() == b"" and server.exchanges == []
