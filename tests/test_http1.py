"""HTTP/1.1 on the same port: curl, h2load --h1, a raw socket, the h2c upgrade, ALPN."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import time

import httpx
import pytest

from .conftest import start_tls_server
from .helpers import ServerProcess, raw_exchange, run_client


def curl(*args: str, input: bytes | None = None):
    result = run_client("curl", "-sS", *args, input=input)
    assert result.returncode == 0, result.stderr.decode()
    return result


def test_keep_alive_reuses_the_connection(server):
    result = curl("--http1.1", "-v", server.url + "/hello", server.url + "/hello")
    assert result.stdout == b"hello world\n" * 2
    assert b"Re-using existing connection" in result.stderr or b"Reusing existing" in result.stderr
    assert result.stderr.count(b"< HTTP/1.1 200 OK") == 2


def test_chunked_upload(server):
    payload = os.urandom(300_000)
    result = curl("--http1.1", "-H", "Transfer-Encoding: chunked", "--data-binary", "@-",
                  server.url + "/echo", input=payload)
    assert result.stdout == payload


def test_expect_100_continue(server):
    payload = os.urandom(100_000)
    result = curl("--http1.1", "-v", "-H", "Expect: 100-continue", "--data-binary", "@-",
                  server.url + "/echo", input=payload)
    assert b"< HTTP/1.1 100 Continue" in result.stderr
    assert result.stdout == payload


def test_head_has_length_but_no_body(server):
    result = curl("--http1.1", "-I", server.url + "/hello")
    head = result.stdout.decode().lower()
    assert head.startswith("http/1.1 200 ok") and "content-length: 12" in head
    assert result.stdout.endswith(b"\r\n\r\n")


def test_response_without_length_is_chunked(server):
    result = curl("--http1.1", "-v", server.url + "/generator")
    assert b"< transfer-encoding: chunked" in result.stderr.lower()
    assert result.stdout == b"".join(f"part {i}\n".encode() for i in range(5))


def test_h2load_http1(server):
    result = run_client("h2load", "--h1", "-n", "2000", "-c", "4", server.url + "/hello")
    assert "2000 succeeded, 0 failed, 0 errored" in result.stdout.decode()


def test_pipelined_requests_answered_in_order(server):
    requests = b"".join(
        b"GET /id?n=%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(5)) + \
        b"GET /id?n=5 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    reply = raw_exchange(server.port, requests)
    bodies = [part for part in reply.split(b"HTTP/1.1 200 OK")[1:]]
    assert len(bodies) == 6
    for i, body in enumerate(bodies):
        assert f"response for {i}\n".encode() in body


@pytest.mark.parametrize("request_bytes", [
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
    b"GET /hello HTTP/9.9\r\n\r\n",
    b"\x00\x01\x02\x03 binary\r\n\r\n",
], ids=["no-request-line", "bad-length", "bad-version", "binary"])
def test_malformed_request_gets_400(server, request_bytes):
    reply = raw_exchange(server.port, request_bytes)
    assert reply.startswith(b"HTTP/1.1 400 Bad Request\r\n")


def test_oversized_headers_get_431(server):
    request = b"GET /hello HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"a" * 70_000 + b"\r\n\r\n"
    reply = raw_exchange(server.port, request)
    assert reply.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")


@pytest.mark.parametrize("version, connection, keeps_alive", [
    (b"HTTP/1.1", b"", True), (b"HTTP/1.1", b"Connection: close\r\n", False),
    (b"HTTP/1.0", b"", False), (b"HTTP/1.0", b"Connection: keep-alive\r\n", True),
])
def test_server_protocol_and_keep_alive_follow_the_request(server, version, connection, keeps_alive):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /environ " + version + b"\r\nHost: h\r\n" + connection + b"\r\n")
        time.sleep(0.3)
        sock.settimeout(0.5)
        reply = b""
        try:
            while chunk := sock.recv(65536):
                reply += chunk
            closed = True
        except TimeoutError:
            closed = False
    head, _, body = reply.partition(b"\r\n\r\n")
    assert json.loads(body)["SERVER_PROTOCOL"] == version.decode()
    assert closed is not keeps_alive


def test_h2c_upgrade_with_a_post_body(server):
    payload = os.urandom(200_000)
    result = curl("--http2", "-v", "--data-binary", "@-", server.url + "/echo", input=payload)
    assert b"< HTTP/1.1 101 Switching Protocols" in result.stderr
    assert b"< HTTP/2 200" in result.stderr
    assert result.stdout == payload


def test_h2c_upgrade_environ_is_http2(server):
    result = curl("--http2", server.url + "/environ?via=upgrade")
    environ = json.loads(result.stdout)
    assert environ["SERVER_PROTOCOL"] == "HTTP/2" and environ["QUERY_STRING"] == "via=upgrade"


def test_other_upgrades_are_served_over_http1(server):
    result = curl("--http1.1", "-H", "Upgrade: websocket", "-H", "Connection: Upgrade",
                  server.url + "/hello", server.url + "/hello")
    assert result.stdout == b"hello world\n" * 2


def test_tls_alpn_http1(tls_server):
    result = curl("--http1.1", "-v", "--cacert", tls_server.ca, tls_server.url + "/environ")
    assert b"ALPN: server accepted http/1.1" in result.stderr or b"ALPN, server accepted to use http/1.1" in result.stderr
    assert json.loads(result.stdout)["SERVER_PROTOCOL"] == "HTTP/1.1"


def test_tls_without_alpn_gets_http1(tls_server):
    context = ssl.create_default_context(cafile=tls_server.ca)
    with socket.create_connection(("127.0.0.1", tls_server.port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.selected_alpn_protocol() is None
            tls.sendall(b"GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            reply = b""
            while chunk := tls.recv(65536):
                reply += chunk
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n") and reply.endswith(b"hello world\n")


def test_graceful_shutdown_finishes_http1_request(fresh_server):
    server = fresh_server("tests.apps:app", "--graceful-timeout", "10")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /sleep?s=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert server.wait_for_event("sleep started")
        server.signal(signal.SIGTERM)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200 OK") and b"connection: close" in reply
    assert reply.endswith(b"slept 1.0\n")
    assert server.process.wait(10) == 0


# -- the same Flask app, every way in -------------------------------------------------

@pytest.fixture(scope="module")
def flask_tls(tmp_path_factory):
    process = start_tls_server("tests.flask_app:app", tmp_path_factory.mktemp("flask-tls"))
    yield process
    process.stop()


@pytest.fixture(scope="module")
def flask_clear():
    process = ServerProcess("tests.flask_app:app")
    yield process
    process.stop()


WAYS_IN = ["h1-cleartext", "h2c-prior-knowledge", "h2c-upgrade", "h2-tls", "h1-tls"]
ROUTES = ["/", "/users/7", "/search?q=x&tag=a&tag=b", "/api/items/999", "/stream"]


def fetch(way: str, path: str, clear: ServerProcess, tls: ServerProcess) -> tuple[int, str, bytes]:
    """(status, negotiated protocol, body) for one GET, the given way in."""
    if way == "h2c-upgrade":
        result = curl("--http2", "-w", "\n%{http_code} %{http_version}", clear.url + path)
        body, _, tail = result.stdout.rpartition(b"\n")
        code, version = tail.decode().split()
        return int(code), "HTTP/" + version, body
    base = tls.url if way.endswith("tls") else clear.url
    h2 = way.startswith("h2")
    options = {"http1": not h2 or way == "h2-tls", "http2": h2}
    if way.endswith("tls"):
        options["verify"] = ssl.create_default_context(cafile=tls.ca)
    with httpx.Client(**options) as client:
        response = client.get(base + path)
    return response.status_code, response.http_version, response.content


@pytest.mark.parametrize("path", ROUTES)
def test_same_flask_answers_every_way_in(flask_clear, flask_tls, path):
    answers = {way: fetch(way, path, flask_clear, flask_tls) for way in WAYS_IN}
    expected_versions = {"h1-cleartext": "HTTP/1.1", "h2c-prior-knowledge": "HTTP/2",
                         "h2c-upgrade": "HTTP/2", "h2-tls": "HTTP/2", "h1-tls": "HTTP/1.1"}
    for way, (status, version, body) in answers.items():
        assert version == expected_versions[way], way
    reference = answers["h1-cleartext"]
    for way, answer in answers.items():
        assert (answer[0], answer[2]) == (reference[0], reference[2]), way
