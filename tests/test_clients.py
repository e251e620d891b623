"""Real command-line clients against a real server: nghttp, curl (h2c and TLS)."""

from __future__ import annotations

import json

import pytest

from .helpers import run_client


def curl(*args: str, timeout: float = 60):
    """Run curl with HTTP/2 prior knowledge; return (status, headers text, body)."""
    result = run_client("curl", "-sS", "-D", "-", "-o", "/dev/stderr", *args, timeout=timeout)
    assert result.returncode == 0, result.stderr.decode()
    head = result.stdout.decode("latin-1")
    status = int(head.split()[1])
    return status, head.lower(), result.stderr


@pytest.fixture(params=["h2c", "tls"])
def target(request, server, tls_server):
    """(base URL, curl flags) for cleartext prior knowledge and for TLS with ALPN."""
    if request.param == "h2c":
        return server.url, ["--http2-prior-knowledge"]
    return tls_server.url, ["--http2", "--cacert", tls_server.ca]


def test_curl_get(target):
    url, flags = target
    status, head, body = curl(*flags, url + "/hello")
    assert head.startswith("http/2 200")
    assert body == b"hello world\n"
    assert "content-length: 12" in head


def test_curl_head_has_headers_but_no_body(target):
    url, flags = target
    status, head, body = curl(*flags, "-I", url + "/hello")
    assert status == 200
    assert "content-length: 12" in head
    # With -I curl writes the headers where the body would go: nothing else came.
    assert body.decode("latin-1").lower() == head


def test_curl_post(target):
    url, flags = target
    status, head, body = curl(*flags, "--data-binary", "ping=pong", url + "/echo")
    assert status == 200
    assert body == b"ping=pong"
    assert "content-type: application/x-www-form-urlencoded" in head


@pytest.mark.parametrize("code", [201, 204, 302, 404, 418, 503])
def test_curl_status_codes(target, code):
    url, flags = target
    status, head, body = curl(*flags, f"{url}/status?code={code}")
    assert status == code


def test_curl_response_headers(target):
    url, flags = target
    status, head, body = curl(*flags, url + "/headers")
    assert "x-custom: value\r\n" in head  # trailing whitespace trimmed
    assert "set-cookie: a=1" in head and "set-cookie: b=2" in head
    for dropped in ("connection:", "keep-alive:", "transfer-encoding:", "upgrade:",
                    "proxy-connection:"):
        assert dropped not in head
    assert body == b"ok"


def test_curl_request_headers_reach_the_app(target):
    url, flags = target
    status, head, body = curl(*flags, "-H", "X-Trace: one", "-H", "X-Trace: two",
                              "-H", "Cookie: a=1", url + "/environ?x=1")
    environ = json.loads(body)
    assert environ["HTTP_X_TRACE"] == "one, two"
    assert environ["QUERY_STRING"] == "x=1"
    assert environ["SERVER_PROTOCOL"] == "HTTP/2"
    assert environ["wsgi.url_scheme"] == url.split(":")[0]


def test_curl_large_download(target):
    url, flags = target
    result = run_client("curl", "-sS", *flags, "-o", "-", url + "/big?mib=8")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"z" * (8 * 1024 * 1024)


def test_nghttp_get_shows_h2_frames(server):
    result = run_client("nghttp", "-nv", server.url + "/hello?raw=1")  # a list body: one DATA
    out = result.stdout.decode()
    assert result.returncode == 0, out
    assert "recv SETTINGS frame" in out
    assert "SETTINGS_MAX_CONCURRENT_STREAMS(0x03):100" in out
    assert ":status: 200" in out
    assert "recv DATA frame <length=12, flags=0x01" in out


def test_nghttp_several_requests_one_connection(server):
    urls = [f"{server.url}/id?n={i}" for i in range(20)]
    result = run_client("nghttp", "-n", "--stat", *urls)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().count("/id?n=") == 20


def test_nghttp_post_data(server, tmp_path):
    upload = tmp_path / "upload.bin"
    upload.write_bytes(bytes(range(256)) * 1000)
    result = run_client("nghttp", "-d", str(upload), server.url + "/echo")
    assert result.returncode == 0, result.stderr
    assert result.stdout == upload.read_bytes()


def test_nghttp_over_tls(tls_server):
    result = run_client("nghttp", "-nv", tls_server.url + "/hello")
    out = result.stdout.decode()
    assert result.returncode == 0, out
    assert "h2 negotiated" in out or "The negotiated protocol: h2" in out
    assert ":status: 200" in out


def test_demo_app(fresh_server):
    demo = fresh_server("fasth2.demo:app")
    status, head, body = curl("--http2-prior-knowledge", demo.url + "/")
    assert status == 200 and b"fasth2" in body and b"HTTP/2" in body
    status, head, body = curl("--http2-prior-knowledge", "--data-binary", "echo me", demo.url + "/echo")
    assert body == b"echo me"
    result = run_client("curl", "-sS", "--http2-prior-knowledge", "-o", "-", demo.url + "/stream?mib=3")
    assert len(result.stdout) == 3 * 1024 * 1024
    status, head, body = curl("--http2-prior-knowledge", demo.url + "/stream?mib=x")
    assert status == 400
    status, head, body = curl("--http2-prior-knowledge", demo.url + "/nowhere")
    assert status == 404
