"""HTTP semantics as real clients meet them (issue 12), one behaviour per test."""

from __future__ import annotations

import hashlib
import json
import signal
import socket
import ssl
import time

import httptools
import httpx
import pytest
from h2.errors import ErrorCodes
from hyperframe.frame import DataFrame, HeadersFrame, RstStreamFrame

from fasth2.h1framing import LLHTTP_METHODS

from .helpers import RawClient, raw_exchange, run_client


@pytest.mark.parametrize("path", ["/hello", "/generator", "/write", "/big?mib=1"],
                         ids=["list", "generator", "write", "streamed"])
def test_head_over_http2_ends_the_stream_on_the_headers(server, path):
    """HEAD: HEADERS with END_STREAM, as for 304, whatever the app's body is made of."""
    client = RawClient(server.port)
    client.request(1, path, method="HEAD")
    frame = client.wait_for(lambda f: f.stream_id == 1)
    assert isinstance(frame, HeadersFrame)
    assert "END_STREAM" in frame.flags
    assert dict(frame.decoded)[b":status"] == b"200"
    client.request(3, "/hello")  # the connection goes on; nothing more came for stream 1
    client.read_response(3)
    assert not [f for f in client.frames if isinstance(f, DataFrame) and f.stream_id == 1]
    client.close()


def test_head_with_curl_over_http1_and_h2c(server):
    for flag in ("--http1.1", "--http2-prior-knowledge"):
        result = run_client("curl", "-sS", "-I", flag, server.url + "/generator")
        assert result.returncode == 0, result.stderr
        assert result.stdout.split(b"\r\n")[0] in (b"HTTP/1.1 200 OK", b"HTTP/2 200 ")


def test_sighup_does_not_kill_a_single_process(fresh_server):
    server = fresh_server()
    server.signal(signal.SIGHUP)
    assert server.log_count("Received SIGHUP") == 1
    assert server.process.poll() is None
    result = run_client("curl", "-sS", "--http2-prior-knowledge", server.url + "/hello")
    assert result.stdout == b"hello world\n"
    assert server.stop() == 0


TEN_MB = b"u" * 10_000_000


def test_early_answer_to_an_upload_reaches_curl(server, tmp_path):
    """The app answers without reading a 10 MB upload: curl shows the status (it used to
    fail with "(92) Stream error in the HTTP/2 framing layer")."""
    upload = tmp_path / "10m.bin"
    upload.write_bytes(TEN_MB)
    result = run_client("curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null",
                        "-w", "%{http_code}", "--data-binary", f"@{upload}",
                        server.url + "/status?code=418")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"418"


@pytest.mark.parametrize("tls", [False, True], ids=["h2c", "tls"])
def test_early_answer_to_an_upload_reaches_httpx(server, tls_server, tls):
    process = tls_server if tls else server
    verify = ssl.create_default_context(cafile=tls_server.ca) if tls else False
    with httpx.Client(http1=False, http2=True, timeout=30, verify=verify) as client:
        response = client.post(process.url + "/status?code=418", content=TEN_MB)
        assert response.status_code == 418
        assert client.get(process.url + "/hello").text == "hello world\n"  # same connection


def test_a_client_sending_far_past_an_early_answer_is_reset(server):
    """Past 16 MiB dropped, the stream is reset with NO_ERROR (RFC 9113 §8.1)."""
    client = RawClient(server.port)
    client.request(1, "/status?code=418", method="POST", end_stream=False)
    headers = client.wait_for(lambda f: isinstance(f, HeadersFrame) and f.stream_id == 1)
    assert dict(headers.decoded)[b":status"] == b"418"
    chunk = DataFrame(1, data=b"d" * 16384).serialize()
    sent, reset = 0, None
    client.sock.settimeout(5)
    while sent < 20 * 2**20 and reset is None:
        client.send(chunk * 16)
        sent += 16 * 16384
        while True:  # take the windows the server returns, watch for the reset
            client.sock.settimeout(0.001 if sent < 16 * 2**20 else 1)
            try:
                frame = client.read_frame(0.001 if sent < 16 * 2**20 else 1)
            except TimeoutError:
                break
            if isinstance(frame, RstStreamFrame):
                reset = frame
                break
    assert reset is not None and reset.error_code == ErrorCodes.NO_ERROR
    assert sent > 16 * 2**20


@pytest.mark.parametrize("flag", ["--http1.1", "--http2-prior-knowledge"])
def test_options_asterisk_is_answered_by_the_server(server, flag):
    """RFC 9110 §9.3.7: about the server; no app sees a PATH_INFO of "*"."""
    result = run_client("curl", "-sS", "-i", flag, "-X", "OPTIONS", "--request-target", "*",
                        server.url + "/")
    assert result.returncode == 0, result.stderr
    head = result.stdout.lower()
    assert head.startswith((b"http/1.1 200", b"http/2 200"))
    assert b"allow: get, head, post, put, delete, patch, options" in head


def test_nghttp_upgrade_with_options_asterisk(server):
    """nghttp -u upgrades to h2c with "OPTIONS *", then asks for its page on stream 3."""
    result = run_client("nghttp", "-u", server.url + "/hello")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"hello world\n"


def _sha256_line(payload: bytes) -> bytes:
    return b"%d %s" % (len(payload), hashlib.sha256(payload).hexdigest().encode())


@pytest.mark.parametrize("how", ["large", "chunked", "form"])
def test_h2c_upgrade_that_cannot_be_taken_is_served_over_http1(server, tmp_path, how):
    """RFC 9110 §7.8: an Upgrade the server does not take is ignored. A 10 MB body (past
    the upgrade buffer), a chunked one, or a multipart form: served over HTTP/1.1, the
    body streamed whole to the app. (It used to be a 400.)"""
    upload = tmp_path / "10m.bin"
    upload.write_bytes(TEN_MB)
    send = {"large": ["--data-binary", f"@{upload}"],
            "chunked": ["-H", "Transfer-Encoding: chunked", "--data-binary", "@-"],
            "form": ["-F", f"file=@{upload}"]}[how]
    result = run_client("curl", "-sS", "--http2", "-w", " %{http_version}", *send,
                        server.url + "/digest", input=b"chunked body" if how == "chunked" else None)
    assert result.returncode == 0, result.stderr
    size, digest, version = result.stdout.split(b" ")
    assert version == b"1.1"
    if how == "form":  # the multipart body holds the file and curl's boundary lines
        assert int(size) > len(TEN_MB)
    else:
        assert b"%s %s" % (size, digest) == _sha256_line(TEN_MB if how == "large" else b"chunked body")


EARLY_ANSWERS = {"/hello": b"200", "/status?code=418": b"418"}  # curl goes on sending after a 2xx


@pytest.mark.parametrize("path", EARLY_ANSWERS)
@pytest.mark.parametrize("close", [False, True], ids=["keep-alive", "connection-close"])
@pytest.mark.parametrize("tls", [False, True], ids=["cleartext", "tls"])
def test_early_answer_to_an_http1_upload_reaches_curl(server, tls_server, tmp_path, tls, close, path):
    """RFC 9112 §9.6: the app answers a 10 MB upload without reading it; the rest is read
    and dropped (lingering close where the connection ends), so curl shows the status
    instead of "(55) Connection reset by peer"."""
    upload = tmp_path / "10m.bin"
    upload.write_bytes(TEN_MB)
    process = tls_server if tls else server
    extra = (["--cacert", tls_server.ca] if tls else []) + (["-H", "Connection: close"] if close else [])
    result = run_client("curl", "-sS", "--http1.1", *extra, "-o", "/dev/null", "-w", "%{http_code}",
                        "--data-binary", f"@{upload}", process.url + path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == EARLY_ANSWERS[path]


@pytest.mark.parametrize("path", EARLY_ANSWERS)
@pytest.mark.parametrize("tls", [False, True], ids=["cleartext", "tls"])
def test_early_answer_to_an_http1_upload_reaches_httpx(server, tls_server, tls, path):
    process = tls_server if tls else server
    verify = ssl.create_default_context(cafile=tls_server.ca) if tls else False
    with httpx.Client(http1=True, http2=False, timeout=30, verify=verify) as client:
        response = client.post(process.url + path, content=TEN_MB)
        assert str(response.status_code).encode() == EARLY_ANSWERS[path]
        assert response.http_version == "HTTP/1.1"
        assert client.get(process.url + "/hello").text == "hello world\n"


def _http1_upload_head(path: str, length: int) -> bytes:
    return b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (path.encode(), length)


def _read_http1_response(sock) -> bytes:
    """One response with a Content-Length body, read from a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")))
    while len(body) < length:
        body += sock.recv(65536)
    return head.split(b"\r\n")[0] + b" " + body


def test_unread_http1_body_is_dropped_and_the_connection_goes_on(server):
    """After an early answer the rest of the body is parsed and dropped: the next request
    on the same connection is served (it is not mistaken for body bytes or refused)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(_http1_upload_head("/status?code=418", 3 * 2**20) + b"a" * 2**20)
        assert _read_http1_response(sock).startswith(b"HTTP/1.1 418")
        sock.sendall(b"a" * 2 * 2**20 + b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_http1_response(sock) == b"HTTP/1.1 200 OK hello world\n"


def test_http1_client_sending_far_past_an_early_answer_is_cut_off(server):
    """Dropping is bounded: past 16 MiB of a body nobody reads, the connection closes."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(_http1_upload_head("/status?code=418", 64 * 2**20))
        assert _read_http1_response(sock).startswith(b"HTTP/1.1 418")
        sent = 0
        with pytest.raises(OSError):  # a reset (or a broken pipe) once the server is gone
            while sent < 64 * 2**20:
                sock.sendall(b"b" * 2**20)
                sent += 2**20
        assert 16 * 2**20 <= sent < 64 * 2**20


# -- HTTP/1.1 parsing: the rules of RFC 9112 that a peer's corpus found missing ---------

def _responses(reply: bytes) -> list[tuple[bytes, bytes]]:
    """(status line, body) of each Content-Length response in ``reply``."""
    found = []
    while reply:
        head, _, rest = reply.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = next(int(line.split(b":")[1]) for line in lines
                      if line.lower().startswith(b"content-length:"))
        found.append((lines[0], rest[:length]))
        reply = rest[length:]
    return found


@pytest.mark.parametrize("first", [
    b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /hello HTTP/1.0\r\n\r\n",
], ids=["connection-close", "http1.0"])
def test_bytes_after_a_closing_request_do_not_cost_its_response(server, first):
    """RFC 9112 §9.6: the response to the last request goes out, the rest is ignored."""
    reply = raw_exchange(server.port, first + b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
    assert _responses(reply) == [(b"HTTP/1.1 200 OK", b"hello world\n")]


@pytest.mark.parametrize("target, host, path, query, name, port", [
    (b"http://example.com/environ?q=1", b"other", "/environ", "q=1", "example.com", "80"),
    (b"https://example.com:8443/environ", b"other", "/environ", "", "example.com", "8443"),
    (b"http://[::1]:8080/environ?a=b#frag", b"other", "/environ", "a=b", "::1", "8080"),
    (b"/environ?x=1#fragment", b"h:81", "/environ", "x=1", "h", "81"),
])
def test_absolute_form_and_fragments(server, target, host, path, query, name, port):
    """RFC 9112 §3.2.2: an absolute-form target gives the path, and its authority
    replaces Host; a #fragment (never part of a target) is dropped."""
    reply = raw_exchange(server.port, b"GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                         % (target, host))
    [(status, body)] = _responses(reply)
    assert status == b"HTTP/1.1 200 OK"
    environ = json.loads(body)
    assert (environ["PATH_INFO"], environ["QUERY_STRING"]) == (path, query)
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == (name, port)
    if host == b"other":
        assert environ["HTTP_HOST"] == target.split(b"/")[2].decode()


@pytest.mark.parametrize("request_head, status", [
    (b"GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", b"400"),  # RFC 9112 §3.2
    (b"GET /hello HTTP/1.1\r\n\r\n", b"400"),  # no Host in 1.1
    (b"GET /hello HTTP/1.1\r\nHost: a b\r\n\r\n", b"400"),  # not an authority
    (b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", b"400"),
    (b"PUT s://]ufd/: HTTP/1.1\r\nHost: a\r\n\r\n", b"400"),
    (b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", b"400"),  # "*" is for OPTIONS alone
    (b"GET /hello HTTP/2.0\r\nHost: a\r\n\r\n", b"505"),
    (b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", b"400"),  # not percent-encoded
], ids=["two-hosts", "no-host", "bad-host", "te-in-1.0", "bad-target", "asterisk-get",
        "http2.0", "raw-utf8"])
def test_heads_the_rfc_refuses(server, request_head, status):
    reply = raw_exchange(server.port, request_head)
    assert reply.startswith(b"HTTP/1.1 " + status + b" ")
    assert b"connection: close" in reply.lower()


def test_http1_0_without_host_is_served(server):
    reply = raw_exchange(server.port, b"GET /hello HTTP/1.0\r\n\r\n")
    assert _responses(reply) == [(b"HTTP/1.1 200 OK", b"hello world\n")]


@pytest.mark.parametrize("flag", ["--http1.1", "--http2-prior-knowledge", "--http2"])
def test_raw_non_ascii_target_gets_400_on_every_protocol(server, flag):
    """One answer on one port: a target with raw non-ASCII bytes is refused with 400 over
    HTTP/1.1 and HTTP/2 alike (RFC 9112 §3.2: not repaired; browsers percent-encode),
    and the percent-encoded spelling is served."""
    # One curl per URL: curl 7.88 fails to reuse a prior-knowledge h2 connection (curl#10634).
    for target, status in (("/environ?raw=é", b"400"), ("/environ?raw=%C3%A9", b"200")):
        result = run_client("curl", "-sS", "-g", flag, "-o", "/dev/null", "-w", "%{http_code}",
                            server.url + target)
        assert result.returncode == 0, result.stderr
        assert result.stdout == status


def test_http2_path_that_is_no_path_gets_400(server):
    """As on HTTP/1.1: no origin-form path (or '*' for GET), or raw non-ASCII bytes."""
    client = RawClient(server.port)
    for stream_id, path in ((1, "environ"), (3, "http://x/environ"), (5, "*"), (7, "/café")):
        client.request(stream_id, path)
        headers = client.wait_for(lambda f: isinstance(f, HeadersFrame) and f.stream_id == stream_id)
        assert dict(headers.decoded)[b":status"] == b"400"
    client.close()


@pytest.mark.parametrize("method", [b"BLARGH", b"-BLARGH", b"PLAY", b"PROPFIND", b"GET"])
def test_any_token_method_reaches_the_app(server, method):
    """Methods are an open set (RFC 9110 §9.1): llhttp knows a fixed list, the app sees
    whatever token the client sent, with its body."""
    reply = raw_exchange(server.port, method + b" /environ HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Length: 5\r\nConnection: close\r\n\r\nhello")
    [(status, body)] = _responses(reply)
    environ = json.loads(body)
    assert status == b"HTTP/1.1 200 OK"
    assert (environ["REQUEST_METHOD"], environ["body"]) == (method.decode(), "hello")


def test_llhttp_knows_the_methods_we_say_it_knows():
    """fasth2 shows llhttp a stand-in for methods outside LLHTTP_METHODS: the list must
    hold only methods llhttp parses (else they would be refused)."""
    class Quiet:
        pass

    for method in LLHTTP_METHODS - {b"CONNECT", b"PRI"}:
        httptools.HttpRequestParser(Quiet()).feed_data(method + b" / HTTP/1.1\r\nHost: a\r\n\r\n")
    with pytest.raises(httptools.HttpParserInvalidMethodError):
        httptools.HttpRequestParser(Quiet()).feed_data(b"BLARGH / HTTP/1.1\r\n")


@pytest.mark.parametrize("size_line", [b"5 ; name=value", b"5;name = value", b"5 ;a=\"q;x\" ; b",
                                       b"5", b"5;x"])
def test_chunk_extensions_with_whitespace_are_accepted(server, size_line):
    """RFC 9112 §7.1.1: BWS around ';' and '=' in chunk extensions (llhttp refuses it)."""
    reply = raw_exchange(server.port, b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n" + size_line + b"\r\nhello\r\n"
                         b"3\r\n, w\r\n0\r\nX-Trailer: t\r\n\r\n")
    assert _responses(reply) == [(b"HTTP/1.1 200 OK", b"hello, w")]


@pytest.mark.parametrize("size_line", [b"5;", b"5 ; a b", b"x", b"5;a=\"open"])
def test_malformed_chunk_lines_are_refused(server, size_line):
    reply = raw_exchange(server.port, b"POST /echo HTTP/1.1\r\nHost: x\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n" + size_line + b"\r\nhello\r\n0\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400 ")


PIPELINE = (b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
            b"BLARGH /environ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"4 ; a=b\r\nbody\r\n0\r\n\r\n"
            b"\r\nPOST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
            b"GET /hello HTTP/1.0\r\n\r\n")


@pytest.mark.parametrize("piece", [len(PIPELINE), 1, 2, 3, 7, 64])
def test_pipelined_requests_cut_anywhere(server, piece):
    """The corpus was sent whole and in small pieces: the same four answers either way."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for start in range(0, len(PIPELINE), piece):
            sock.sendall(PIPELINE[start:start + piece])
            if piece < 8:
                time.sleep(0.0005)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    answers = _responses(reply)
    assert [status for status, _ in answers] == [b"HTTP/1.1 200 OK"] * 4
    assert answers[0][1] == answers[3][1] == b"hello world\n" and answers[2][1] == b"abc"
    environ = json.loads(answers[1][1])
    assert (environ["REQUEST_METHOD"], environ["body"]) == ("BLARGH", "body")
