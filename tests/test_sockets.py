"""Where fasth2 listens: unix sockets, inherited descriptors, systemd socket activation,
several binds at once, and the pid file."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time

import pytest

from .helpers import ROOT, run_client

APP = "tests.process_apps:app"


def curl_unix(path, *flags: str) -> bytes:
    result = run_client("curl", "-sS", "--unix-socket", str(path), *flags, "http://localhost/pid")
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("workers", ["1", "2"])
def test_unix_socket_beside_tcp_with_umask_and_pid_file(fresh_server, tmp_path, workers):
    sock_path, pid_path = tmp_path / "fasth2.sock", tmp_path / "fasth2.pid"
    server = fresh_server(APP, "-w", workers, "--umask", "007", "--pid", str(pid_path),
                          binds=("127.0.0.1:0", f"unix:{sock_path}"))
    assert server.log_count(f"Listening on unix:{sock_path}") == 1
    assert stat.S_IMODE(os.stat(sock_path).st_mode) == 0o770  # 0777 less the umask
    assert pid_path.read_text().strip() == str(server.process.pid)
    served = set()
    deadline = time.monotonic() + 15
    while len(served) < int(workers) and time.monotonic() < deadline:
        for flags in ((), ("--http2-prior-knowledge",)):
            served.add(curl_unix(sock_path, *flags).split()[0])
    assert len(served) == int(workers)
    result = run_client("curl", "-sS", "-o", "/dev/null", "-w", "%{http_version}",
                        "--unix-socket", str(sock_path), "--http2-prior-knowledge",
                        "http://localhost/pid")
    assert result.stdout == b"2"
    assert run_client("curl", "-sS", server.url + "/pid").returncode == 0  # TCP too
    assert server.stop() == 0
    assert not sock_path.exists() and not pid_path.exists()  # cleaned up


def test_stale_unix_socket_file_is_replaced_and_a_live_one_refused(fresh_server, tmp_path):
    sock_path = tmp_path / "stale.sock"
    left_over = socket.socket(socket.AF_UNIX)
    left_over.bind(str(sock_path))
    left_over.close()  # the file stays, nobody listens: what a killed server leaves
    server = fresh_server(APP, binds=("127.0.0.1:0", f"unix:{sock_path}"))
    assert curl_unix(sock_path).split()[0] == str(server.process.pid).encode()
    second = subprocess.run([sys.executable, "-m", "fasth2", "-b", f"unix:{sock_path}", APP],
                            cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert second.returncode == 1
    assert f"fasth2: error: cannot listen on unix:{sock_path}: address already in use" in second.stderr
    assert curl_unix(sock_path)  # the first server still has its socket


@pytest.mark.parametrize("workers", ["1", "2"])
def test_listens_on_an_inherited_descriptor(fresh_server, workers):
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen(16)
    port = listening.getsockname()[1]
    fd = listening.fileno()
    server = fresh_server(APP, "-w", workers, binds=(f"fd://{fd}",), pass_fds=(fd,))
    listening.close()  # the server holds its own copy
    assert server.port == port
    result = run_client("curl", "-sS", "--http2-prior-knowledge", f"http://127.0.0.1:{port}/pid")
    assert result.returncode == 0 and result.stdout.split()[1] == (b"True" if workers == "2" else b"False")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_systemd_socket_activation(fresh_server, workers):
    first, second = socket.socket(), socket.socket()
    for sock in (first, second):
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
    ports = [sock.getsockname()[1] for sock in (first, second)]
    fds = (first.fileno(), second.fileno())
    # systemd hands the sockets over as descriptors 3, 4... and names this process in
    # LISTEN_PID; the shell's exec keeps its pid for the server.
    prefix = (f"exec 3<&{fds[0]} 4<&{fds[1]}; LISTEN_PID=$$ LISTEN_FDS=2 "
              "LISTEN_FDNAMES=web:web; export LISTEN_PID LISTEN_FDS LISTEN_FDNAMES;")
    server = fresh_server(APP, "-w", workers, binds=(), pass_fds=fds, shell_prefix=prefix)
    for sock in (first, second):
        sock.close()
    assert server.log_count("Using 2 socket(s) from systemd socket activation") == 1
    for port in ports:
        assert server.log_count(f"Listening on http://127.0.0.1:{port}") == 1
        result = run_client("curl", "-sS", f"http://127.0.0.1:{port}/pid")
        assert result.returncode == 0 and result.stdout.split()[0].isdigit()
