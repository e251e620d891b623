"""HTTP/2 through the seam, in process: frames in, frames out, no socket, no timing.

Each test drives a real ``H2Protocol`` with an h2 client (tests/inprocess.py) and a
gateway that answers on the loop with ``fasth2.events``; it asserts the frames the
client sees and what the ``Exchange`` recorded (status, bytes, outcome).
"""

from __future__ import annotations

import h2.events as ev
from h2.errors import ErrorCodes
from h2.settings import SettingCodes

from fasth2.events import (CLIENT_RESET, COMPLETE, CONNECTION_CLOSED, SERVER_RESET, Informational,
                           Reset, Trailers)
from fasth2.speedups import encode_response_headers

from .inprocess import H2Client, hello, respond, send_data


def waiting_stream(memory_connection, **config):
    """A connection whose gateway leaves its exchanges unanswered, and one request on
    it: (server, client, stream id, exchange)."""
    server = memory_connection(lambda exchange: None, **config)
    client = H2Client(server)
    stream_id = client.request()
    client.send()
    exchange, = server.exchanges
    return server, client, stream_id, exchange


def test_a_request_is_an_exchange_with_what_it_delivered(memory_connection):
    server = memory_connection()
    client = H2Client(server)
    stream_id = client.request("/page?q=1")
    client.send()
    assert client.body_of(stream_id) == b"hello /page?q=1"
    assert client.of(ev.StreamEnded, stream_id)
    exchange, = server.exchanges
    assert (exchange.stream_id, exchange.http_version) == (stream_id, "2")
    assert dict(exchange.headers)[b":method"] == b"GET"
    assert (exchange.status, exchange.bytes_sent, exchange.outcome) == (200, 15, COMPLETE)
    assert exchange.ended >= exchange.started > 0


def test_three_hundred_streams_on_one_connection_all_complete(memory_connection):
    server = memory_connection(max_concurrent_streams=300)
    client = H2Client(server)
    ids = [client.request(f"/{n}") for n in range(300)]
    client.send()
    for n, stream_id in enumerate(ids):
        assert client.body_of(stream_id) == b"hello /%d" % n
    assert len(client.of(ev.StreamEnded)) == 300
    assert {exchange.outcome for exchange in server.exchanges} == {COMPLETE}


def test_a_busy_connection_keeps_no_more_of_its_finished_streams_than_a_few_limits(
        memory_connection):
    """Thousands of streams on one connection (a proxy's connection to its backend):
    h2 keeps only the open streams in its table, and the endings of a few limits'
    worth of closed ones (h2 alone would keep 65,536 of them, some 8 MB)."""
    server = memory_connection(max_concurrent_streams=50)
    client = H2Client(server)
    for batch in range(60):
        ids = [client.request(f"/{batch}/{n}") for n in range(50)]
        client.send()
        assert all(client.body_of(stream_id) for stream_id in ids)
    conn = server.current.conn
    assert len(server.exchanges) == 3000
    assert len(conn.streams) <= 50
    assert len(conn._closed_streams) == 4 * 50  # (protocol.CLOSED_STREAMS_REMEMBERED)


def test_streams_past_the_limit_are_refused_not_the_connection(memory_connection):
    waiting = []
    server = memory_connection(waiting.append, max_concurrent_streams=100)
    client = H2Client(server)
    client.conn.remote_settings[SettingCodes.MAX_CONCURRENT_STREAMS] = 1000  # ignore ours
    client.conn.remote_settings.acknowledge()
    ids = [client.request(f"/{n}") for n in range(150)]
    client.send()
    refused = {event.stream_id for event in client.of(ev.StreamReset)
               if event.error_code == ErrorCodes.REFUSED_STREAM}
    assert refused == set(ids[100:])
    assert len(waiting) == 100 and not client.of(ev.ConnectionTerminated)
    for exchange in waiting:  # the admitted ones are still answered
        respond(exchange, body=b"late")
    client.receive()
    assert all(client.body_of(stream_id) == b"late" for stream_id in ids[:100])


def test_a_response_follows_the_stream_window_a_frame_at_a_time(memory_connection):
    """Window arithmetic: a 10-byte stream window gets exactly 10 bytes, each
    WINDOW_UPDATE exactly its increment, and END_STREAM comes with the last byte."""
    body = bytes(range(100))
    server = memory_connection(lambda exchange: respond(exchange, body=body))
    client = H2Client(server, {SettingCodes.INITIAL_WINDOW_SIZE: 10})
    client.receive()
    stream_id = client.request()
    client.send()
    assert client.body_of(stream_id) == body[:10]
    for increment, total in ((30, 40), (1, 41), (59, 100)):
        client.conn.increment_flow_control_window(increment, stream_id)
        client.send()
        assert client.body_of(stream_id) == body[:total]
    ended, = client.of(ev.StreamEnded, stream_id)
    exchange, = server.exchanges
    assert (exchange.bytes_sent, exchange.outcome) == (100, COMPLETE)


def test_a_one_byte_window_still_gets_a_one_byte_frame(memory_connection):
    server = memory_connection(lambda exchange: respond(exchange, body=b"abc"))
    client = H2Client(server, {SettingCodes.INITIAL_WINDOW_SIZE: 1})
    client.receive()
    stream_id = client.request()
    client.send()
    frames = client.of(ev.DataReceived, stream_id)
    assert [event.data for event in frames] == [b"a"]
    client.conn.increment_flow_control_window(2, stream_id)
    client.send()
    assert client.body_of(stream_id) == b"abc" and client.of(ev.StreamEnded, stream_id)


def test_frames_never_pass_the_clients_max_frame_size(memory_connection):
    body = b"x" * (1024 * 1024)  # 1 MiB
    server = memory_connection(lambda exchange: respond(exchange, body=body))
    client = H2Client(server, {SettingCodes.INITIAL_WINDOW_SIZE: 2 ** 31 - 1})
    client.conn.increment_flow_control_window(2 ** 31 - 1 - 65535)
    client.send()
    stream_id = client.request()
    client.send()
    sizes = [len(event.data) for event in client.of(ev.DataReceived, stream_id)]
    assert sum(sizes) == len(body) and max(sizes) == 16384
    assert server.exchanges[0].bytes_sent == len(body)


def test_the_connection_window_is_shared_in_priority_order(memory_connection):
    """Two responses wait on the connection window; the urgent one goes first when it
    opens, whatever the order the streams were opened in (RFC 9218)."""
    server = memory_connection(lambda exchange: respond(exchange, body=b"y" * 100_000))
    client = H2Client(server, {SettingCodes.INITIAL_WINDOW_SIZE: 200_000})
    client.receive()
    first = client.request("/background", headers=[("priority", "u=6")])
    client.send()  # takes the whole connection window (65,535 bytes)
    urgent = client.request("/urgent", headers=[("priority", "u=0")])
    client.send()
    assert client.body_of(urgent) == b""
    client.conn.increment_flow_control_window(50_000)
    client.send()
    assert len(client.body_of(urgent)) == 50_000
    assert len(client.body_of(first)) == 65_535


def test_a_client_reset_ends_the_exchange_as_client_reset(memory_connection):
    server, client, stream_id, exchange = waiting_stream(memory_connection)
    client.conn.reset_stream(stream_id, ErrorCodes.CANCEL)
    client.send()
    assert exchange.aborted and exchange.outcome == CLIENT_RESET
    assert exchange.body.aborted
    respond(exchange, body=b"too late")  # the gateway may still answer: dropped
    assert client.receive() == []


def test_a_gateway_reset_is_an_rst_stream(memory_connection):
    def fail_midway(exchange):
        respond(exchange, body=b"part", headers=[], end=False)
        exchange.send(Reset(ErrorCodes.INTERNAL_ERROR))

    server = memory_connection(fail_midway)
    client = H2Client(server)
    stream_id = client.request()
    client.send()
    reset, = client.of(ev.StreamReset, stream_id)
    assert reset.error_code == ErrorCodes.INTERNAL_ERROR
    assert client.body_of(stream_id) == b"part"
    assert server.exchanges[0].outcome == SERVER_RESET


def test_trailers_close_the_stream_after_the_body(memory_connection):
    def with_trailers(exchange):
        respond(exchange, body=b"payload", headers=[("content-type", "application/grpc")],
                end=False)
        exchange.send(Trailers(encode_response_headers("200 OK", [("grpc-status", "0")])[1:]))

    server = memory_connection(with_trailers)
    client = H2Client(server)
    stream_id = client.request()
    client.send()
    kinds = [type(event) for event in client.events if getattr(event, "stream_id", 0) == stream_id]
    assert kinds == [ev.ResponseReceived, ev.DataReceived, ev.TrailersReceived, ev.StreamEnded]
    trailers, = client.of(ev.TrailersReceived, stream_id)
    assert trailers.headers == [(b"grpc-status", b"0")]


def test_informational_responses_come_before_the_final_one(memory_connection):
    def with_hints(exchange):
        for target in (b"</a.css>", b"</b.js>"):
            exchange.send(Informational([(b":status", b"103"), (b"link", target)]))
        respond(exchange, body=b"ok")

    server = memory_connection(with_hints)
    client = H2Client(server)
    stream_id = client.request()
    client.send()
    heads = [dict(event.headers)[b":status"] for event in client.events
             if isinstance(event, (ev.InformationalResponseReceived, ev.ResponseReceived))
             and event.stream_id == stream_id]
    assert heads == [b"103", b"103", b"200"]
    assert server.exchanges[0].status == 200


def test_a_streamed_response_reports_each_delivery(memory_connection):
    server, client, stream_id, exchange = waiting_stream(memory_connection)
    delivered = []
    exchange.on_drained = delivered.append
    respond(exchange, body=b"", headers=[], end=False)
    for chunk in (b"one", b"two", b"three"):
        send_data(exchange, chunk)
    send_data(exchange, b"", end=True)
    client.receive()
    assert client.body_of(stream_id) == b"onetwothree"
    assert sum(delivered) == exchange.bytes_sent == 11
    assert server.exchanges[0].outcome == COMPLETE


def test_a_request_body_reaches_the_gateway_and_its_window_reopens(memory_connection):
    body = b"u" * 1024 * 1024  # 1 MiB: far past the initial 64 KiB window
    waiting = []
    server = memory_connection(waiting.append)
    client = H2Client(server)
    stream_id = client.request("/upload", method="POST", end=False,
                               headers=[("content-length", str(len(body)))])
    client.send()
    exchange, = waiting
    sent = consumed = 0
    while sent < len(body):
        window = min(client.conn.local_flow_control_window(stream_id), len(body) - sent)
        assert window > 0, "the server never reopened the window"
        for start in range(sent, sent + window, 16384):
            piece = body[start:min(start + 16384, sent + window)]
            client.conn.send_data(stream_id, piece, end_stream=start + len(piece) == len(body))
        sent += window
        client.send()
        arrived = len(exchange.body.data)
        exchange.consumed(arrived - consumed)  # the app read all that arrived
        consumed = arrived
        client.receive()  # the WINDOW_UPDATEs
    assert exchange.body.data == body and exchange.body.ended
    assert exchange.bytes_received == len(body)


def _frames(data: bytes) -> list[tuple[int, int]]:
    """(type, stream id) of each frame in ``data`` (whole frames, as the server writes)."""
    frames = []
    while data:
        size = int.from_bytes(data[:3], "big")
        frames.append((data[3], int.from_bytes(data[5:9], "big") & 0x7FFFFFFF))
        data = data[9 + size:]
    return frames


def test_a_big_upload_gets_its_window_at_once_not_after_the_rest_of_the_read(
        memory_connection):
    """The client of a body bigger than the initial window waits for the WINDOW_UPDATE
    that grows it: that goes out before the rest of the same read is handled (a 1 MiB
    upload under load waited a quarter-megabyte read each, a third of its time)."""
    def handler(exchange):
        if dict(exchange.headers)[b":method"] == b"GET":
            hello(exchange)
    server = memory_connection(handler)
    client = H2Client(server)
    upload = client.request("/upload", method="POST", end=False,
                            headers=[("content-length", str(1024 * 1024))])
    page = client.request("/page")
    server.transport.writes.clear()
    client.send()
    writes = [_frames(data) for data in server.transport.writes]
    window = next(n for n, frames in enumerate(writes) if (0x8, upload) in frames)
    response = next(n for n, frames in enumerate(writes) if (0x1, page) in frames)
    assert window < response
    assert client.body_of(page) == b"hello /page"


def test_a_body_that_fits_the_initial_window_costs_no_window_update(memory_connection):
    server = memory_connection(lambda exchange: None)
    client = H2Client(server)
    stream_id = client.request("/form", method="POST", body=b"a=1&b=2",
                               headers=[("content-length", "7")])
    client.send()
    assert len(server.exchanges) == 1
    assert not client.of(ev.WindowUpdated, stream_id)


def test_request_trailers_reach_the_gateway(memory_connection):
    waiting = []
    server = memory_connection(waiting.append)
    client = H2Client(server)
    stream_id = client.request("/", method="POST", body=b"data", end=False)
    client.conn.send_headers(stream_id, [(b"checksum", b"abc")], end_stream=True)
    client.send()
    exchange, = waiting
    assert exchange.body.trailers == [("checksum", "abc")] and exchange.body.ended


def test_goaway_from_the_client_closes_what_is_in_flight(memory_connection):
    waiting = []
    server = memory_connection(waiting.append)
    client = H2Client(server)
    client.request()
    client.send()
    client.conn.close_connection()
    client.send()
    assert waiting[0].outcome == CONNECTION_CLOSED
    assert server.transport.eof_written or server.transport.closed


def test_a_bad_preface_is_a_goaway_protocol_error(memory_connection):
    server = memory_connection()
    server.feed(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n")
    client = H2Client.__new__(H2Client)  # only to read what the server wrote
    client.conn = __import__("h2.connection").connection.H2Connection(
        __import__("h2.config").config.H2Configuration(client_side=True))
    client.conn.initiate_connection()
    events = client.conn.receive_data(server.take())
    goaway, = [event for event in events if isinstance(event, ev.ConnectionTerminated)]
    assert goaway.error_code == ErrorCodes.PROTOCOL_ERROR


def test_each_exchange_is_reported_once_as_it_ends(memory_connection):
    """What the access log is given: every exchange, once, with its final state."""
    waiting = []
    server = memory_connection(waiting.append)
    client = H2Client(server)
    done, reset_by_client, failed = (client.request(f"/{n}") for n in range(3))
    client.send()
    respond(waiting[0], body=b"ok")
    client.conn.reset_stream(reset_by_client, ErrorCodes.CANCEL)
    client.send()
    respond(waiting[2], headers=[], body=b"part", end=False)
    waiting[2].send(Reset(ErrorCodes.INTERNAL_ERROR))
    client.receive()
    assert [(e.stream_id, e.outcome, e.status, e.bytes_sent) for e in server.ended] == [
        (done, COMPLETE, 200, 2), (reset_by_client, CLIENT_RESET, 0, 0),
        (failed, SERVER_RESET, 200, 4)]
    server.close()
    assert len(server.ended) == 3  # closing the connection reports nothing twice


def test_date_and_server_are_added_unless_the_app_set_them(memory_connection):
    server = memory_connection(lambda exchange: respond(
        exchange, headers=[("server", "mine"), ("content-length", "0")]))
    client = H2Client(server)
    stream_id = client.request()
    client.send()
    response, = client.of(ev.ResponseReceived, stream_id)
    names = [name for name, _ in response.headers]
    assert names.count(b"server") == 1 and dict(response.headers)[b"server"] == b"mine"
    assert names.count(b"date") == 1
    assert dict(response.headers)[b"date"] == dict(server.server.default_fields)[b"date"]
