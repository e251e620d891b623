"""Smoke test of an installed fasth2 (a wheel, before it is trusted): the build it says it
is, and the demo app serving one request over HTTP/1.1 and one over h2c.

Run: python scripts/smoke.py [--pure]   (from anywhere but a checkout's root, so that the
installed package is the one imported). Uses only fasth2's own dependencies (h2 as the
client), so cibuildwheel's test command needs nothing else. Exits non-zero on failure.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import urllib.request

import h2.config
import h2.connection
import h2.events


def check(condition: bool, what: str) -> None:
    if not condition:
        sys.exit(f"smoke test failed: {what}")
    print(f"ok: {what}")


def h2c_get(port: int, path: str) -> tuple[str, bytes]:
    """One h2c request with prior knowledge; the status and the body."""
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    connection.initiate_connection()
    connection.send_headers(1, [(":method", "GET"), (":scheme", "http"), (":path", path),
                                (":authority", f"127.0.0.1:{port}")], end_stream=True)
    status, body = "", b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(connection.data_to_send())
        while True:
            data = sock.recv(65536)
            if not data:
                break
            for event in connection.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    status = dict(event.headers)[b":status"].decode()
                elif isinstance(event, h2.events.DataReceived):
                    body += event.data
                    connection.acknowledge_received_data(event.flow_controlled_length, 1)
                elif isinstance(event, h2.events.StreamEnded):
                    return status, body
            sock.sendall(connection.data_to_send())
    return status, body


def main() -> None:
    pure = "--pure" in sys.argv
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if pure:
        env["FASTH2_NO_EXTENSIONS"] = "1"
    version = subprocess.run([sys.executable, "-m", "fasth2", "--version"], env=env,
                             capture_output=True, text=True, check=True).stdout.strip()
    build = "pure Python" if pure else "compiled speedups"
    check(version.endswith(f"({build})"), f"fasth2 --version says {version!r}")
    server = subprocess.Popen([sys.executable, "-m", "fasth2", "-b", "127.0.0.1:0",
                               "fasth2.demo:app"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        port = 0
        for line in server.stdout:
            match = re.search(r"Listening on http://127\.0\.0\.1:(\d+)", line)
            if match:
                port = int(match.group(1))
                break
        check(port > 0, "the demo app is listening")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            page = response.read().decode()
        check(response.status == 200 and f"({build})" in page, "HTTP/1.1 GET / served")
        status, body = h2c_get(port, "/stream?mib=1")
        check(status == "200" and len(body) == 2**20, "h2c GET /stream?mib=1 served 1 MiB")
    finally:
        server.terminate()
        server.wait(10)
    check(server.returncode == 0, "a graceful stop on SIGTERM")


if __name__ == "__main__":
    main()
