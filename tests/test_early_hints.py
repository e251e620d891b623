"""103 Early Hints: ``environ["wsgi.early_hints"](headers)`` (the key gunicorn uses), seen
by curl and nghttp over HTTP/2 and HTTP/1.1, frame by frame with the raw client, and
never sent to an HTTP/1.0 client."""

from __future__ import annotations

import re

import pytest
from hyperframe.frame import HeadersFrame

from .helpers import RawClient, raw_exchange, run_client

HINTS = "/hints?n=2&late=1"


@pytest.mark.parametrize("flag, status_line", [
    ("--http1.1", "HTTP/1.1 103 Early Hints"),
    ("--http2-prior-knowledge", "HTTP/2 103"),
])
def test_curl_sees_the_hints_before_the_response(server, flag, status_line):
    result = run_client("curl", "-sSv", flag, server.url + HINTS)
    assert result.returncode == 0
    received = [line[2:].strip() for line in result.stderr.decode().splitlines()
                if line.startswith("< ")]
    final = "HTTP/1.1 200 OK" if flag == "--http1.1" else "HTTP/2 200"
    assert received.index(final) > 3
    hints = received[:received.index(final)]
    assert [line for line in hints if line.startswith("HTTP/")] == [status_line] * 2
    assert [line for line in hints if line.startswith("link:")] == [
        "link: </style0.css>; rel=preload; as=style",
        "link: </style1.css>; rel=preload; as=style"]
    # Once the body has begun, a hint is refused (RuntimeError in the app).
    assert result.stdout == b"hinted\nrefused: early hints after the response began\n"


def test_nghttp_receives_103_header_blocks(server):
    result = run_client("nghttp", "-nv", server.url + "/hints?n=3")
    assert result.returncode == 0
    statuses = re.findall(rb"recv \(stream_id=\d+\) :status: (\d+)", result.stdout)
    assert statuses == [b"103", b"103", b"103", b"200"]


def test_raw_frames_103_without_end_stream(server):
    client = RawClient(server.port)
    client.request(1, "/hints?n=1")
    headers, body = client.read_response(1)
    frames = [f for f in client.frames if isinstance(f, HeadersFrame) and f.stream_id == 1]
    assert len(frames) == 2 and "END_STREAM" not in frames[0].flags
    assert headers[":status"] == "200" and body == b"hinted\n"
    client.close()


def test_no_hints_for_http10(server):
    response = raw_exchange(server.port, b"GET /hints?n=2 HTTP/1.0\r\nHost: t\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"103" not in response.split(b"\r\n\r\n")[0]
    assert response.endswith(b"hinted\n")
