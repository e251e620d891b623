"""TLS as RFC 9113 §9.2 wants it: TLS >= 1.2, AEAD ephemeral ciphers, ALPN h2, no compression."""

from __future__ import annotations

import socket
import ssl

import httpx
import pytest


def handshake(server, **limits) -> ssl.SSLSocket:
    """Connect with a client context limited by ``limits`` (e.g. maximum_version)."""
    context = ssl.create_default_context(cafile=server.ca)
    context.set_alpn_protocols(["h2"])
    ciphers = limits.pop("ciphers", None)
    if ciphers:
        context.set_ciphers(ciphers)
    for name, value in limits.items():
        setattr(context, name, value)
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    return context.wrap_socket(raw, server_hostname="localhost")


def test_tls13_with_alpn_h2(tls_server):
    with handshake(tls_server) as tls:
        assert tls.version() == "TLSv1.3"
        assert tls.selected_alpn_protocol() == "h2"
        assert tls.compression() is None


def test_tls12_uses_an_ephemeral_aead_cipher(tls_server):
    with handshake(tls_server, maximum_version=ssl.TLSVersion.TLSv1_2) as tls:
        name, version, bits = tls.cipher()
        assert version == "TLSv1.2"
        assert name.startswith("ECDHE-") and ("GCM" in name or "CHACHA20" in name)
        assert tls.selected_alpn_protocol() == "h2"


def test_tls12_without_aead_cipher_is_refused(tls_server):
    with pytest.raises(ssl.SSLError):
        # RSA key exchange with CBC: a TLS 1.2 suite HTTP/2 forbids (RFC 9113 §9.2.2).
        handshake(tls_server, maximum_version=ssl.TLSVersion.TLSv1_2, ciphers="AES128-SHA").close()


def test_httpx_over_tls(tls_server):
    with httpx.Client(http2=True, verify=ssl.create_default_context(cafile=tls_server.ca)) as client:
        response = client.get(tls_server.url + "/environ")
    assert response.http_version == "HTTP/2"
    assert response.json()["wsgi.url_scheme"] == "https"
