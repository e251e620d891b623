"""HTTP semantics as real clients meet them (issue 12), one behaviour per test."""

from __future__ import annotations

import signal

import pytest
from hyperframe.frame import DataFrame, HeadersFrame

from .helpers import RawClient, run_client


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
    import ssl

    import httpx

    process = tls_server if tls else server
    verify = ssl.create_default_context(cafile=tls_server.ca) if tls else False
    with httpx.Client(http1=False, http2=True, timeout=30, verify=verify) as client:
        response = client.post(process.url + "/status?code=418", content=TEN_MB)
        assert response.status_code == 418
        assert client.get(process.url + "/hello").text == "hello world\n"  # same connection


def test_a_client_sending_far_past_an_early_answer_is_reset(server):
    """Past 16 MiB dropped, the stream is reset with NO_ERROR (RFC 9113 §8.1)."""
    from h2.errors import ErrorCodes
    from hyperframe.frame import RstStreamFrame

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
    import hashlib

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
