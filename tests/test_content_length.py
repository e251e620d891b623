"""A response body is held to the app's Content-Length, over HTTP/1.1 and HTTP/2.

A body that does not match the length its app declared (or any body on a 204 or 304)
is the app's error, and one the client cannot repair: the gateway logs it, cuts a long
body at the length (the response is then well framed and the connection goes on), and
ends a short one the only way a client notices: RST_STREAM INTERNAL_ERROR on HTTP/2,
the connection closed on HTTP/1.1. ``/declared`` (tests/apps.py) declares ``length``
and sends ``body`` bytes, as a list or (``gen``) a generator of chunks.
"""

from __future__ import annotations

import pytest
from h2.errors import ErrorCodes
from hyperframe.frame import DataFrame, HeadersFrame

from .helpers import RawClient, raw_exchange, run_client

PAST = "more body than its Content-Length"
SHORT = "7 bytes short of its Content-Length"

# (query, the bytes the client gets): all past the declared length.
LONG = [
    ("length=3&body=10", 3),
    ("length=3&body=10&gen=1", 3),
    # Far past the length, streamed: the app's thread drops what it writes past it, so
    # nothing waits for room in a buffer the client never drains.
    ("length=3&body=8388608&gen=65536", 3),
    ("length=5&body=2&status=204", 0),  # 204: no body at all
]
SHORT_QUERIES = ["length=10&body=3", "length=10&body=3&gen=1"]

CLOSING_HELLO = b"GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"


def http1_request(query: str) -> bytes:
    return f"GET /declared?{query} HTTP/1.1\r\nHost: a\r\n\r\n".encode()


@pytest.mark.parametrize("query, sent", LONG)
def test_http1_body_past_its_length_is_cut_and_the_connection_goes_on(server, query, sent):
    before = server.log.count(PAST)
    reply = raw_exchange(server.port, http1_request(query) + CLOSING_HELLO)
    head, _, rest = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 204" if "status=204" in query else b"HTTP/1.1 200")
    assert rest[:sent] == b"d" * sent
    assert rest[sent:].startswith(b"HTTP/1.1 200 OK") and rest.endswith(b"\r\n\r\nhello world\n")
    assert server.log_count(PAST) > before


@pytest.mark.parametrize("query", SHORT_QUERIES)
def test_http1_body_short_of_its_length_ends_the_connection(server, query):
    """The client is not left waiting for bytes that never come: the connection ends
    after what there is, and nothing is answered after it (here a pipelined /hello).
    ``raw_exchange`` reads until the server closes: a hang fails it by its timeout."""
    before = server.log.count(SHORT)
    reply = raw_exchange(server.port, http1_request(query) + CLOSING_HELLO)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"content-length: 10" in head.lower()
    assert body == b"ddd"
    assert server.log_count(SHORT) > before


def test_http1_body_true_to_its_length_keeps_the_connection(server):
    reply = raw_exchange(server.port, http1_request("length=3&body=3") + CLOSING_HELLO)
    assert reply.count(b"HTTP/1.1 200 OK") == 2 and b"\r\n\r\nddd" in reply


def test_curl_sees_a_short_body_end_at_once(server):
    """HTTP/1.1: "transfer closed with 7 bytes remaining" (exit 18) at once, not a wait
    for them until curl's own timeout (exit 28). HTTP/2: the stream was not closed
    cleanly (exit 92; curl then keeps none of the body)."""
    url = server.url + "/declared?length=10&body=3"
    result = run_client("curl", "-s", "-m", "20", "--http1.1", url)
    assert result.returncode == 18 and result.stdout == b"ddd"
    assert run_client("curl", "-s", "-m", "20", "--http2-prior-knowledge", url).returncode == 92


@pytest.mark.parametrize("query, sent", LONG)
def test_http2_body_past_its_length_is_cut_and_the_stream_ends(server, query, sent):
    before = server.log.count(PAST)
    client = RawClient(server.port)
    client.request(1, f"/declared?{query}")
    headers, body = client.read_response(1, timeout=30)
    assert headers[":status"] == ("204" if "status=204" in query else "200")
    assert body == b"d" * sent
    client.request(3, "/hello")  # the connection goes on
    assert client.read_response(3)[1] == b"hello world\n"
    client.close()
    assert server.log_count(PAST) > before


@pytest.mark.parametrize("query", SHORT_QUERIES)
def test_http2_body_short_of_its_length_resets_the_stream(server, query):
    """What there is goes out (HEADERS, then 3 bytes of DATA without END_STREAM), then
    RST_STREAM INTERNAL_ERROR: the client knows the response is incomplete, and the
    connection goes on."""
    before = server.log.count(SHORT)
    client = RawClient(server.port)
    client.request(1, f"/declared?{query}")
    assert client.expect_reset(1).error_code == ErrorCodes.INTERNAL_ERROR
    frames = [f for f in client.frames if f.stream_id == 1]
    assert isinstance(frames[0], HeadersFrame) and dict(frames[0].decoded)[b":status"] == b"200"
    data = [f for f in frames if isinstance(f, DataFrame)]
    assert b"".join(f.data for f in data) == b"ddd"
    assert not [f for f in frames if "END_STREAM" in f.flags]
    client.request(3, "/hello")
    assert client.read_response(3)[1] == b"hello world\n"
    client.close()
    assert server.log_count(SHORT) > before


@pytest.mark.parametrize("flag", ["--http1.1", "--http2-prior-knowledge"])
@pytest.mark.parametrize("length", ["abc", "-1", "1_0"])
def test_a_content_length_that_is_no_length_is_the_apps_error(server, flag, length):
    """Not digits: a 500 (nothing has gone out yet), as an app's exception is."""
    result = run_client("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", flag,
                        server.url + f"/declared?length={length}&body=3")
    assert result.stdout == b"500"
