"""Proxy headers (``--forwarded-allow-ips``, ``--root-path``): believed from trusted
peers only, the right-most untrusted hop as the client; the parsing rules, then real
servers seen through curl and httpx."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from fasth2.proxy import TrustedPeers, apply_forwarding, parse_forwarded

from .test_access_log import read_lines

BASE = {"REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "5000", "wsgi.url_scheme": "http",
        "HTTP_HOST": "backend:8000", "SERVER_NAME": "backend", "SERVER_PORT": "8000"}


def forwarded(trusted: str, **headers) -> dict:
    environ = dict(BASE, **{f"HTTP_{name.upper()}": value for name, value in headers.items()})
    apply_forwarding(environ, TrustedPeers(trusted))
    return environ


def test_the_client_is_the_right_most_untrusted_hop():
    # A client writing its own X-Forwarded-For cannot pose as 1.1.1.1: the proxies
    # (10.0.0.0/8) append, and the first untrusted address from the right is the client.
    environ = forwarded("127.0.0.1,10.0.0.0/8", x_forwarded_for="1.1.1.1, 203.0.113.9, 10.0.0.2")
    assert environ["REMOTE_ADDR"] == "203.0.113.9"
    # Every hop trusted: the left-most one.
    assert forwarded("*", x_forwarded_for="192.0.2.1, 10.0.0.2")["REMOTE_ADDR"] == "192.0.2.1"


def test_scheme_host_and_port_come_from_the_clients_hop():
    environ = forwarded("127.0.0.1,10.0.0.0/8", x_forwarded_for="203.0.113.9, 10.0.0.2",
                        x_forwarded_proto="https, http", x_forwarded_host="example.com")
    assert environ["wsgi.url_scheme"] == "https"  # what the client used, not the inner hop
    assert (environ["HTTP_HOST"], environ["SERVER_NAME"], environ["SERVER_PORT"]) == \
        ("example.com", "example.com", "443")
    environ = forwarded("*", x_forwarded_host="example.com:8443", x_forwarded_port="9443")
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("example.com", "9443")
    assert forwarded("*", x_forwarded_proto="gopher")["wsgi.url_scheme"] == "http"


def test_rfc7239_forwarded_wins_and_is_parsed_with_quotes_and_ipv6():
    environ = forwarded("127.0.0.1", forwarded='for="[2001:db8::1]:4711";proto=https;host=a.example',
                        x_forwarded_for="198.51.100.1")
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == ("2001:db8::1", "4711")
    assert (environ["wsgi.url_scheme"], environ["HTTP_HOST"]) == ("https", "a.example")
    assert parse_forwarded('for=192.0.2.60;proto=http;by=203.0.113.43, for=unknown') == [
        {"for": "192.0.2.60", "proto": "http", "by": "203.0.113.43"}, {"for": "unknown"}]
    # "unknown" or an obfuscated node names no address: REMOTE_ADDR stays the peer's.
    assert forwarded("127.0.0.1", forwarded="for=unknown")["REMOTE_ADDR"] == "127.0.0.1"
    assert forwarded("127.0.0.1", forwarded="for=_hidden, for=garbage;;")["REMOTE_ADDR"] == "127.0.0.1"


def test_trusted_peers_take_addresses_ranges_and_star():
    peers = TrustedPeers("127.0.0.1, ::1, 10.0.0.0/8")
    assert [peers.trusts(a) for a in ("127.0.0.1", "::1", "10.9.8.7", "11.0.0.1", "unknown")] == \
        [True, True, True, False, False]
    assert TrustedPeers("*").trusts("8.8.8.8")
    assert TrustedPeers("127.0.0.1").trusts("")  # a unix socket's peer
    with pytest.raises(ValueError, match="'nonsense' is not an address"):
        TrustedPeers("127.0.0.1,nonsense")


HEADERS = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https",
           "X-Forwarded-Host": "shop.example"}


def test_a_trusted_peer_changes_the_environ_and_the_access_log(fresh_server, tmp_path):
    log = tmp_path / "access.log"
    server = fresh_server("tests.apps:app", "--access-logfile", str(log), "--root-path", "/shop")
    for http2 in (False, True):
        with httpx.Client(http1=not http2, http2=http2) as client:
            environ = client.get(f"{server.url}/shop/environ", headers=HEADERS).json()
        assert (environ["REMOTE_ADDR"], environ["wsgi.url_scheme"], environ["HTTP_HOST"],
                environ["SERVER_NAME"], environ["SERVER_PORT"]) == \
            ("203.0.113.9", "https", "shop.example", "shop.example", "443")
        assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == ("/shop", "/environ")
    assert [line.split()[0] for line in read_lines(log, 2)] == ["203.0.113.9", "203.0.113.9"]


def test_an_untrusted_peers_headers_change_nothing(fresh_server):
    server = fresh_server("tests.apps:app", "--forwarded-allow-ips", "10.0.0.1")
    with httpx.Client() as client:
        environ = client.get(f"{server.url}/environ", headers=HEADERS).json()
    assert (environ["REMOTE_ADDR"], environ["wsgi.url_scheme"], environ["SERVER_NAME"]) == \
        ("127.0.0.1", "http", "127.0.0.1")
    assert environ["HTTP_X_FORWARDED_FOR"] == "203.0.113.9"  # still there for the app to see


def test_a_bad_forwarded_allow_ips_is_a_usage_error():
    result = subprocess.run([sys.executable, "-m", "fasth2", "--forwarded-allow-ips", "x.y",
                             "tests.apps:app"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "'x.y' is not an address" in result.stderr
