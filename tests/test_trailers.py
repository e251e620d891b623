"""Trailers both ways: ``environ["fasth2.send_trailers"]`` (and gunicorn's
``gunicorn.http2.send_trailers``) after the body, ``environ["fasth2.request_trailers"]``
once ``wsgi.input`` is read to its end. The app is gRPC's shape (tests/apps.py
``/grpc``), driven by a real gRPC client (grpcio), nghttp, the raw frame client and,
over HTTP/1.1, raw sockets and curl."""

from __future__ import annotations

import re

import grpc
import pytest
from hyperframe.frame import DataFrame, HeadersFrame

from .helpers import RawClient, raw_exchange, run_client


def framed(*messages: bytes) -> bytes:
    """gRPC's length-prefixed messages."""
    return b"".join(b"\0" + len(m).to_bytes(4, "big") + m for m in messages)


def test_grpc_client_unary_and_streaming(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        unary = channel.unary_unary("/grpc")
        reply, call = unary.with_call(b"hello grpc", timeout=10)
        assert reply == b"HELLO GRPC" and call.code() == grpc.StatusCode.OK
        # (grpc-status and grpc-message are grpcio's; the rest is trailing metadata)
        assert dict(call.trailing_metadata()) == {"x-request-trailers": ""}
        # Streaming, with a message far over every flow-control window.
        big = b"x" * (1024 * 1024)
        replies = list(channel.stream_stream("/grpc")(iter([b"a", b"bc", big]), timeout=30))
        assert replies == [b"A", b"BC", big.upper()]


@pytest.mark.parametrize("key", ["fasth2", "gunicorn"])
def test_nghttp_sees_trailers_end_the_stream_and_its_own_arrive(server, tmp_path, key):
    body = tmp_path / "messages.bin"
    body.write_bytes(framed(b"one", b"two" * 100_000))  # 300 KB back: windows in the way
    result = run_client("nghttp", "-nv", "-d", str(body), "--trailer", "x-checksum: abc",
                        f"{server.url}/grpc?key={key}")
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert "recv (stream_id=13) grpc-status: 0" in out
    assert "recv (stream_id=13) grpc-message: 2 messages" in out
    assert "recv (stream_id=13) x-request-trailers: x-checksum=abc" in out
    # The trailers are the last frame, and carry END_STREAM (no empty DATA frame).
    frames = re.findall(r"recv (\w+) frame <length=\d+, flags=(0x[0-9a-f]+), stream_id=13>", out)
    assert frames[-1] == ("HEADERS", "0x05")  # END_STREAM | END_HEADERS
    assert all(int(flags, 16) & 1 == 0 for kind, flags in frames[:-1])


def test_raw_frames_request_trailers_in_response_trailers_out(server):
    client = RawClient(server.port)
    client.send(client.headers_frame(1, [(":method", "POST"), (":scheme", "http"),
                                         (":authority", "t"), (":path", "/grpc"),
                                         ("content-type", "application/grpc"),
                                         ("te", "trailers")], end_stream=False))
    client.send(DataFrame(1, data=framed(b"raw"), flags=[]))
    client.send(client.headers_frame(1, [("x-sum", "7")], end_stream=True))
    headers, body = client.read_response(1)
    assert body == framed(b"RAW")
    blocks = [f for f in client.frames if isinstance(f, HeadersFrame) and f.stream_id == 1]
    assert len(blocks) == 2 and "END_STREAM" in blocks[1].flags
    assert headers["grpc-status"] == "0" and headers["x-request-trailers"] == "x-sum=7"
    client.close()


CHUNKED_REQUEST = (b"POST /grpc HTTP/1.1\r\nHost: t\r\n%sTransfer-Encoding: chunked\r\n"
                   b"Connection: close\r\n\r\n8\r\n\x00\x00\x00\x00\x03abc\r\n0\r\nx-sum: 1\r\n\r\n")


def test_http11_trailer_section_for_te_trailers(server):
    response = raw_exchange(server.port, CHUNKED_REQUEST % b"TE: trailers\r\n")
    head, _, body = response.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head
    assert body == (b"8\r\n\x00\x00\x00\x00\x03ABC\r\n0\r\ngrpc-status: 0\r\n"
                    b"grpc-message: 1 messages\r\nx-request-trailers: x-sum=1\r\n\r\n")


def test_http11_trailers_dropped_without_te(server):
    response = raw_exchange(server.port, CHUNKED_REQUEST % b"")
    assert response.endswith(b"8\r\n\x00\x00\x00\x00\x03ABC\r\n0\r\n\r\n")
    assert b"grpc-status" not in response


def test_curl_http11_receives_the_trailer_section(server, tmp_path):
    body = tmp_path / "one.bin"
    body.write_bytes(framed(b"curl"))
    command = ["curl", "-sS", "--http1.1", "--data-binary", f"@{body}", f"{server.url}/grpc"]
    decoded = run_client(*command, "-H", "TE: trailers")
    assert decoded.returncode == 0 and decoded.stdout == framed(b"CURL")
    raw = run_client(*command, "-H", "TE: trailers", "--raw")  # the chunked framing as sent
    assert raw.stdout.endswith(b"\r\n0\r\ngrpc-status: 0\r\ngrpc-message: 1 messages\r\n"
                               b"x-request-trailers: \r\n\r\n")
