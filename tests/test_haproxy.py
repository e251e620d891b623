"""A real load balancer in front: HAProxy (Debian's) running deploy/haproxy.cfg, TLS h2
from the client, HTTP/2 with PROXY protocol v2 to two fasth2 backends.

The client connects from 127.0.0.2 and HAProxy from 127.0.0.1, so the address the app
sees tells whether the PROXY header carried the client's. One backend is stopped
gracefully and started again under load: no request may fail.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from .conftest import write_certificate
from .helpers import ROOT, ServerProcess

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def backend(log: Path, port: int = 0) -> ServerProcess:
    """A fasth2 backend behind --proxy-protocol, its access log in ``log``."""
    return ServerProcess("tests.apps:app", "--proxy-protocol", "--graceful-timeout", "5",
                         "--access-logfile", str(log), binds=(f"127.0.0.1:{port}",))


def logged(log: Path) -> list[str]:
    """The access log's lines so far (its writer thread writes ten times a second)."""
    return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def balanced(tmp_path):
    """Two fasth2 backends behind HAProxy; yields (haproxy's URL, CA file, backends)."""
    paths = write_certificate(tmp_path)
    bundle = tmp_path / "site.pem"
    bundle.write_text(paths["cert"].read_text() + paths["key"].read_text())
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    backends = [backend(logs[0]), backend(logs[1])]
    listen = free_port()
    env = dict(os.environ, LISTEN=f"127.0.0.1:{listen}", CERT=str(bundle),
               BACKEND_A=f"127.0.0.1:{backends[0].port}", BACKEND_B=f"127.0.0.1:{backends[1].port}")
    haproxy = subprocess.Popen(["haproxy", "-db", "-f", str(ROOT / "deploy" / "haproxy.cfg")],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_port(listen)
        time.sleep(1.0)  # both backends seen healthy (rise 2, every 0.3 s)
        yield f"https://localhost:{listen}", str(paths["ca"]), backends, logs
    finally:
        haproxy.terminate()
        output, _ = haproxy.communicate(timeout=10)
        for process in backends:
            process.stop()
        print(output)


def client(ca: str) -> httpx.Client:
    """An HTTP/2 client connecting from 127.0.0.2."""
    transport = httpx.HTTPTransport(http2=True, verify=ssl.create_default_context(cafile=ca),
                                    local_address="127.0.0.2")
    return httpx.Client(transport=transport, timeout=10)


def test_haproxy_balances_h2_with_the_clients_address_and_loses_nothing_on_a_restart(balanced):
    url, ca, backends, logs = balanced
    sent = 0
    deadline = time.monotonic() + 15
    with client(ca) as http:
        while True:
            response = http.get(f"{url}/environ")
            sent += 1
            environ = response.json()
            assert response.http_version == "HTTP/2"
            assert environ["REMOTE_ADDR"] == "127.0.0.2"  # the client, not HAProxy
            assert environ["SERVER_PROTOCOL"] == "HTTP/2"  # HAProxy speaks h2 to fasth2
            served = [[line for line in logged(log) if "/environ" in line] for log in logs]
            if (sent >= 20 and served[0] and served[1]) or time.monotonic() > deadline:
                break  # (a backend counts once HAProxy saw it healthy twice)
            time.sleep(0.02)
    assert served[0] and served[1], "HAProxy never sent to both backends"
    assert all(line.startswith("127.0.0.2 ") for lines in served for line in lines)

    failures: list[str] = []
    stop = threading.Event()

    def load() -> None:
        with client(ca) as http:
            while not stop.is_set():
                try:
                    response = http.get(f"{url}/environ")
                    if response.status_code != 200:
                        failures.append(f"status {response.status_code}: {response.text[:200]}")
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)
        port_a = backends[0].port
        assert backends[0].stop() == 0  # SIGTERM: graceful
        b_before = len(logged(logs[1]))
        time.sleep(1.0)  # HAProxy marks it down; b answers everything
        b_during = len(logged(logs[1])) - b_before
        backends[0] = backend(logs[0], port_a)  # started again on the same port
        time.sleep(1.5)  # marked up again (rise 2)
        a_before = len(logged(logs[0]))
        time.sleep(1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    time.sleep(0.3)
    assert failures == []
    assert b_during > 0 and len(logged(logs[0])) > a_before  # a serves again after its restart
