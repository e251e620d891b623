"""Shared fixtures: servers on 127.0.0.1 port 0 and the TLS material they use."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme

from .helpers import ServerProcess
from .inprocess import Connection, hello


def write_certificate(folder: Path) -> dict[str, Path]:
    """Write a fresh CA and a localhost/127.0.0.1 server certificate as PEM files."""
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    paths = {"ca": folder / "ca.pem", "cert": folder / "cert.pem", "key": folder / "key.pem"}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    cert.private_key_pem.write_to_path(str(paths["key"]))
    for index, pem in enumerate(cert.cert_chain_pems):
        pem.write_to_path(str(paths["cert"]), append=index > 0)
    return paths


@pytest.fixture(scope="module")
def server():
    """The test apps served over h2c, shared by the tests of one module."""
    process = ServerProcess("tests.apps:app")
    yield process
    process.stop()


@pytest.fixture
def fresh_server():
    """Start servers of the test's own, for tests that signal or measure them."""
    started = []

    def start(app: str = "tests.apps:app", *args: str, **kwargs) -> ServerProcess:
        process = ServerProcess(app, *args, **kwargs)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture(scope="session")
def certificate(tmp_path_factory) -> dict[str, Path]:
    """PEM files of a CA and a server certificate it signed."""
    return write_certificate(tmp_path_factory.mktemp("tls"))


def start_tls_server(app: str, folder: Path) -> ServerProcess:
    """Serve ``app`` over TLS with a fresh certificate; ``.ca`` is the CA file to trust."""
    paths = write_certificate(folder)
    process = ServerProcess(app, "--certfile", str(paths["cert"]), "--keyfile", str(paths["key"]))
    process.ca = str(paths["ca"])
    return process


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """The test apps served over TLS (ALPN h2, http/1.1)."""
    process = start_tls_server("tests.apps:app", tmp_path_factory.mktemp("tls-module"))
    yield process
    process.stop()


@pytest.fixture
def memory_connection():
    """Make in-process connections (tests/inprocess.py): ``memory_connection(handler,
    **config)``; the default handler answers "hello <path>"."""
    made = []

    def make(handler=hello, **config):
        connection = Connection(handler, **config)
        made.append(connection)
        return connection

    yield make
    for connection in made:
        connection.close()
