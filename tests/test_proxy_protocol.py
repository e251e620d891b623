"""``--proxy-protocol``: HAProxy's PROXY header (v1 text, v2 binary) before TLS and HTTP
names the client; untrusted sources and malformed headers are closed with a log line."""

from __future__ import annotations

import json
import socket
import ssl
import struct

import h2.config
import h2.connection
import h2.events
import pytest

from fasth2.proxyprotocol import ProxyHeaderError, V2_SIGNATURE, parse_header

from .conftest import write_certificate
from .helpers import ServerProcess

HTTP1 = b"GET /environ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


def v1(client: str = "198.51.100.7", port: int = 40000) -> bytes:
    family = "TCP6" if ":" in client else "TCP4"
    server = "::1" if ":" in client else "10.0.0.1"
    return f"PROXY {family} {client} {server} {port} 443\r\n".encode()


def v2(client: str = "203.0.113.5", port: int = 51000, local: bool = False) -> bytes:
    six = ":" in client
    family = socket.AF_INET6 if six else socket.AF_INET
    addresses = (socket.inet_pton(family, client) + socket.inet_pton(family, "::1" if six else "10.0.0.1")
                 + struct.pack("!HH", port, 443))
    tlv = b"\x04\x00\x03abc"  # a TLV (PP2_TYPE_NOOP) after the addresses: skipped
    body = addresses + tlv
    return V2_SIGNATURE + bytes([0x20 if local else 0x21, 0x21 if six else 0x11]) + \
        struct.pack("!H", len(body)) + body


def read_all(sock) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def closed_without_an_answer(sock) -> bool:
    """True if the server closed (a FIN, or a reset: unread bytes were left) and sent
    nothing."""
    try:
        return read_all(sock) == b""
    except ConnectionResetError:
        return True


def http1_environ(sock) -> dict:
    sock.sendall(HTTP1)
    return json.loads(read_all(sock).split(b"\r\n\r\n", 1)[1])


def h2_environ(sock) -> dict:
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    conn.send_headers(1, [(":method", "GET"), (":scheme", "https"), (":authority", "localhost"),
                          (":path", "/environ")], end_stream=True)
    sock.sendall(conn.data_to_send())
    body = b""
    while True:
        data = sock.recv(65536)
        assert data, "closed before the response"
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.DataReceived):
                body += event.data
                conn.acknowledge_received_data(event.flow_controlled_length, 1)
            if isinstance(event, h2.events.StreamEnded):
                return json.loads(body)
        sock.sendall(conn.data_to_send())


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    """A cleartext and a TLS server, both behind --proxy-protocol."""
    paths = write_certificate(tmp_path_factory.mktemp("proxy"))
    clear = ServerProcess("tests.apps:app", "--proxy-protocol")
    tls = ServerProcess("tests.apps:app", "--proxy-protocol", "--certfile", str(paths["cert"]),
                        "--keyfile", str(paths["key"]))
    tls.ca = str(paths["ca"])
    yield clear, tls
    clear.stop()
    tls.stop()


def test_v1_and_v2_name_the_client_over_cleartext(proxied):
    clear, _ = proxied
    with socket.create_connection(("127.0.0.1", clear.port), timeout=10) as sock:
        sock.sendall(v1() + HTTP1)  # header and request in one packet
        environ = json.loads(read_all(sock).split(b"\r\n\r\n", 1)[1])
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == ("198.51.100.7", "40000")
    with socket.create_connection(("127.0.0.1", clear.port), timeout=10) as sock:
        sock.sendall(v2("2001:db8::5", 6000))
        environ = h2_environ(sock)  # h2c, prior knowledge
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == ("2001:db8::5", "6000")
    assert environ["SERVER_PROTOCOL"] == "HTTP/2"


@pytest.mark.parametrize("alpn, header", [("h2", v2()), ("http/1.1", v1())])
def test_the_header_comes_before_tls(proxied, alpn, header):
    _, tls = proxied
    context = ssl.create_default_context(cafile=tls.ca)
    context.set_alpn_protocols([alpn])
    with socket.create_connection(("127.0.0.1", tls.port), timeout=10) as raw:
        raw.sendall(header)
        with context.wrap_socket(raw, server_hostname="localhost") as sock:
            assert sock.selected_alpn_protocol() == alpn
            environ = h2_environ(sock) if alpn == "h2" else http1_environ(sock)
    expected = "203.0.113.5" if header.startswith(V2_SIGNATURE) else "198.51.100.7"
    assert environ["REMOTE_ADDR"] == expected and environ["wsgi.url_scheme"] == "https"


def test_a_local_header_keeps_the_peer(proxied):
    clear, _ = proxied
    with socket.create_connection(("127.0.0.1", clear.port), timeout=10) as sock:
        sock.sendall(v2(local=True))
        assert http1_environ(sock)["REMOTE_ADDR"] == "127.0.0.1"


def test_no_header_closes_the_connection_with_a_log_line(proxied):
    clear, _ = proxied
    with socket.create_connection(("127.0.0.1", clear.port), timeout=10) as sock:
        sock.sendall(HTTP1)
        assert closed_without_an_answer(sock)
    assert clear.log_count("no PROXY protocol header; closing") >= 1


def test_an_untrusted_source_is_closed(fresh_server):
    server = fresh_server("tests.apps:app", "--proxy-protocol", "--forwarded-allow-ips", "10.9.9.9")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(v1() + HTTP1)
        assert closed_without_an_answer(sock)
    assert server.log_count("127.0.0.1 is not a trusted source") == 1


def test_parse_header_cases():
    assert parse_header(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nGET") == (32, ("1.2.3.4", 1))
    assert parse_header(b"PROXY UNKNOWN\r\n") == (15, None)
    assert parse_header(b"PROXY TCP4 1.2.3.4") is None  # not all there yet
    assert parse_header(V2_SIGNATURE[:7]) is None
    assert parse_header(v2()[:20]) is None
    assert parse_header(v2() + b"rest") == (len(v2()), ("203.0.113.5", 51000))
    for bad in (b"GET / HTTP/1.1\r\n", b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 2\r\n",
                b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", b"PROXY TCP4 x y 1 2\r\n",
                b"PROXY " + b"x" * 200, V2_SIGNATURE + b"\x31\x11\x00\x00"):
        with pytest.raises(ProxyHeaderError):
            parse_header(bad)
