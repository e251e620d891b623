"""TLS options: client certificates (mutual TLS), an encrypted key, ciphers, the oldest
TLS version, a context factory, and certificates re-read on SIGHUP."""

from __future__ import annotations

import signal
import socket
import ssl
import sys
from pathlib import Path

import httpx
import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from .helpers import ROOT, ServerProcess, run_client
from .test_cli import fasth2 as run_fasth2


def write_pki(folder: Path) -> dict[str, str]:
    """A CA, a server certificate for localhost and a client certificate for alice."""
    ca = trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1")
    client = ca.issue_cert("alice@example.com", common_name="alice",
                           organization_name="Example, Inc.", organization_unit_name="Staff")
    paths = {name: str(folder / f"{name}.pem") for name in
             ("ca", "cert", "key", "client_cert", "client_key")}
    ca.cert_pem.write_to_path(paths["ca"])
    server.private_key_pem.write_to_path(paths["key"])
    for index, pem in enumerate(server.cert_chain_pems):
        pem.write_to_path(paths["cert"], append=index > 0)
    client.private_key_pem.write_to_path(paths["client_key"])
    client.cert_chain_pems[0].write_to_path(paths["client_cert"])
    return paths


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, str]:
    return write_pki(tmp_path_factory.mktemp("pki"))


def tls_flags(pki: dict, *more: str) -> list[str]:
    return ["--certfile", pki["cert"], "--keyfile", pki["key"], *more]


def client_context(pki: dict, with_certificate: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pki["ca"])
    if with_certificate:
        context.load_cert_chain(pki["client_cert"], pki["client_key"])
    return context


def environ_over(server: ServerProcess, context: ssl.SSLContext) -> dict:
    with httpx.Client(http2=True, verify=context) as client:
        response = client.get(f"https://localhost:{server.port}/environ")
    assert response.http_version == "HTTP/2"
    return response.json()


def test_required_client_certificate_reaches_the_app(fresh_server, pki):
    server = fresh_server("tests.apps:app", *tls_flags(pki, "--ca-certs", pki["ca"],
                                                       "--cert-reqs", "required"))
    environ = environ_over(server, client_context(pki, with_certificate=True))
    assert environ["SSL_CLIENT_VERIFY"] == "SUCCESS"
    assert environ["SSL_CLIENT_S_DN"] == r"CN=alice,OU=Staff,O=Example\, Inc."
    presented = Path(pki["client_cert"]).read_text()
    assert ssl.PEM_cert_to_DER_cert(environ["SSL_CLIENT_CERT"]) == ssl.PEM_cert_to_DER_cert(presented)
    # curl, HTTP/1.1, with the certificate: served; without: the handshake is refused.
    base = ["curl", "-sS", "--cacert", pki["ca"], f"https://localhost:{server.port}/hello"]
    accepted = run_client(*base, "--cert", pki["client_cert"], "--key", pki["client_key"])
    assert accepted.stdout == b"hello world\n"
    refused = run_client(*base)
    assert refused.returncode != 0 and refused.stdout == b""
    with pytest.raises(httpx.HTTPError):
        environ_over(server, client_context(pki, with_certificate=False))


def test_optional_client_certificate(fresh_server, pki):
    server = fresh_server("tests.apps:app", *tls_flags(pki, "--ca-certs", pki["ca"],
                                                       "--cert-reqs", "optional"))
    without = environ_over(server, client_context(pki, with_certificate=False))
    assert without["SSL_CLIENT_VERIFY"] == "NONE" and "SSL_CLIENT_CERT" not in without
    with_one = environ_over(server, client_context(pki, with_certificate=True))
    assert with_one["SSL_CLIENT_S_DN"].startswith("CN=alice,")


def test_encrypted_key_with_its_password(fresh_server, pki, tmp_path):
    key = serialization.load_pem_private_key(Path(pki["key"]).read_bytes(), password=None)
    encrypted = tmp_path / "encrypted-key.pem"
    encrypted.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"s3cret")))
    server = fresh_server("tests.apps:app", "--certfile", pki["cert"], "--keyfile",
                          str(encrypted), "--keyfile-password", "s3cret")
    assert environ_over(server, client_context(pki, False))["wsgi.url_scheme"] == "https"
    wrong = run_fasth2("--certfile", pki["cert"], "--keyfile", str(encrypted),
                       "--keyfile-password", "wrong", "tests.apps:app")
    assert wrong.returncode == 1 and "fasth2: error: cannot load certificate" in wrong.stderr


def handshake(port: int, pki: dict, *, ciphers: str | None = None,
              maximum: ssl.TLSVersion | None = None) -> str | None:
    """A TLS handshake with a Python client; the version agreed, or None if refused."""
    context = client_context(pki, False)
    if ciphers:
        context.set_ciphers(ciphers)
    if maximum:
        context.maximum_version = maximum
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                return tls.version()
    except (ssl.SSLError, ConnectionResetError):
        return None


def test_ciphers_and_oldest_version(fresh_server, pki):
    server = fresh_server("tests.apps:app", *tls_flags(pki, "--ciphers", "ECDHE+CHACHA20"))
    tls12 = ssl.TLSVersion.TLSv1_2
    assert handshake(server.port, pki, ciphers="ECDHE+CHACHA20", maximum=tls12) == "TLSv1.2"
    assert handshake(server.port, pki, ciphers="ECDHE+AESGCM", maximum=tls12) is None
    newest_only = fresh_server("tests.apps:app", *tls_flags(pki, "--tls-min-version", "1.3"))
    assert handshake(newest_only.port, pki, maximum=tls12) is None
    assert handshake(newest_only.port, pki) == "TLSv1.3"


def test_sighup_rereads_the_certificate_and_keeps_open_connections(fresh_server, pki, tmp_path):
    live = {name: tmp_path / f"live-{name}.pem" for name in ("cert", "key")}
    for name, path in live.items():
        path.write_bytes(Path(pki[name]).read_bytes())
    server = fresh_server("tests.apps:app", "--certfile", str(live["cert"]),
                          "--keyfile", str(live["key"]))
    before = httpx.Client(http2=True, verify=client_context(pki, False))
    assert before.get(f"https://localhost:{server.port}/hello").text == "hello world\n"
    renewed = write_pki(tmp_path)  # another CA altogether
    for name, path in live.items():
        path.write_bytes(Path(renewed[name]).read_bytes())
    server.signal(signal.SIGHUP)
    assert server.log_count(f"Certificates re-read from {live['cert']}") == 1
    # The open connection goes on; a new one is made with the new certificate.
    assert before.get(f"https://localhost:{server.port}/hello").text == "hello world\n"
    assert handshake(server.port, pki) is None
    assert handshake(server.port, renewed) == "TLSv1.3"
    before.close()
    # A broken file leaves the current certificate in use.
    live["cert"].write_text("not a certificate")
    server.signal(signal.SIGHUP)
    assert server.log_count("Certificates not re-read, the old ones stay in use") == 1
    assert handshake(server.port, renewed) == "TLSv1.3"


FACTORY_SCRIPT = """
import logging, ssl, sys
import fasth2
from tests.apps import app

def make_context(config):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain({cert!r}, {key!r})
    context.maximum_version = ssl.TLSVersion.TLSv1_2  # something no flag says
    return context

logging.basicConfig(level=logging.INFO)  # the "Listening on" line
bind = sys.argv[sys.argv.index("-b") + 1]
fasth2.run(app, binds=(bind,), ssl_context_factory=make_context)
"""


def test_ssl_context_factory(fresh_server, pki, tmp_path):
    script = tmp_path / "serve_with_factory.py"
    script.write_text(FACTORY_SCRIPT.format(cert=pki["cert"], key=pki["key"]))
    server = fresh_server("unused", command=[sys.executable, str(script)],
                          env={"PYTHONPATH": str(ROOT)})
    assert server.scheme == "https"
    assert handshake(server.port, pki) == "TLSv1.2"  # the factory's context is used
    assert environ_over(server, client_context(pki, False))["wsgi.url_scheme"] == "https"
