"""fasth2's engine under real gunicorn: ``gunicorn -k fasth2.gunicorn.Worker``.

gunicorn is started as its users start it; its arbiter binds, forks and supervises,
and the workers serve HTTP/2 and HTTP/1.1 with fasth2. ``/pid`` (tests/process_apps.py)
tells which worker answered.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time

import httpx
import pytest

from .helpers import ROOT, ServerProcess, run_client
from .test_tls_options import client_context, environ_over, write_pki
from .test_processes import (assert_sigterm_lets_a_download_finish, h2load,
                             pid_over_new_connection, wait_until, worker_pids)

APP = "tests.process_apps:app"
GUNICORN = [sys.executable, "-m", "gunicorn", "-k", "fasth2.gunicorn.Worker"]


@pytest.fixture
def gunicorn(tmp_path):
    """Start gunicorn with fasth2's worker class on 127.0.0.1 port 0."""
    started = []

    def start(*args: str, app: str = APP) -> ServerProcess:
        # (gunicorn >= 24 opens a control socket under $HOME: keep it in the test's folder)
        process = ServerProcess(app, *args, command=GUNICORN, env={"HOME": str(tmp_path)})
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


def all_workers_answer(server: ServerProcess, count: int) -> set[int]:
    """Wait until gunicorn has ``count`` workers and each has answered; their pids."""
    seen: set[int] = set()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pids = worker_pids(server)
        if len(pids) == count and seen >= pids:
            return pids
        seen.add(pid_over_new_connection(server.port))
    raise AssertionError(f"workers {worker_pids(server)}, answered {seen}:\n{server.log}")


def test_serves_h2c_and_http1_with_gunicorns_workers(gunicorn):
    server = gunicorn("-w", "2")
    assert server.log_count("Using worker: fasth2.gunicorn.Worker") == 1
    pids = all_workers_answer(server, 2)
    for flags, version in ((["--http2-prior-knowledge"], b"2"), (["--http1.1"], b"1.1")):
        result = run_client("curl", "-sS", *flags, "-w", " %{http_version}", server.url + "/pid")
        pid, multiprocess, _, shown = result.stdout.split()
        assert int(pid) in pids and multiprocess == b"True" and shown == version
    result = h2load("-n", "2000", "-c", "8", "-m", "10", server.url + "/pid")
    assert result["2xx"] == 2000


def test_tls_with_gunicorns_certfile_and_keyfile(gunicorn, certificate):
    server = gunicorn("-w", "2", "--certfile", str(certificate["cert"]),
                      "--keyfile", str(certificate["key"]))
    assert server.scheme == "https"
    with httpx.Client(http2=True, verify=ssl.create_default_context(cafile=certificate["ca"])) as client:
        response = client.get(f"https://localhost:{server.port}/pid")
    assert response.http_version == "HTTP/2" and response.text.split()[1] == "True"
    result = run_client("curl", "-sS", "--cacert", str(certificate["ca"]), "--http1.1",
                        f"https://localhost:{server.port}/pid")
    assert result.returncode == 0 and result.stdout.split()[0].isdigit()


def test_gunicorns_client_certificate_settings(gunicorn, tmp_path):
    pki = write_pki(tmp_path)
    server = gunicorn("-w", "1", "--certfile", pki["cert"], "--keyfile", pki["key"],
                      "--ca-certs", pki["ca"], "--cert-reqs", "2", app="tests.apps:app")
    environ = environ_over(server, client_context(pki, with_certificate=True))
    assert environ["SSL_CLIENT_S_DN"].startswith("CN=alice,")
    with pytest.raises(httpx.HTTPError):
        environ_over(server, client_context(pki, with_certificate=False))


def test_gunicorns_max_requests_recycle_workers_without_a_failure(gunicorn):
    server = gunicorn("-w", "2", "--max-requests", "500", "--max-requests-jitter", "50",
                      "--graceful-timeout", "30")
    before = all_workers_answer(server, 2)
    result = h2load("-n", "6000", "-c", "16", "--h1", server.url + "/pid")
    assert result["failed"] == 0 and result["2xx"] == 6000, result["output"]
    assert server.log_count("(max requests): retiring this worker") >= 2
    assert wait_until(lambda: not worker_pids(server) & before, timeout=30), server.log


def test_gunicorns_timeout_kills_a_worker_whose_loop_is_blocked(gunicorn):
    server = gunicorn("-w", "2", "--timeout", "2")
    before = all_workers_answer(server, 2)
    with pytest.raises(httpx.TimeoutException):
        httpx.get(f"{server.url}/block-loop", timeout=1)
    assert server.log_count("WORKER TIMEOUT", timeout=15) >= 1
    assert wait_until(lambda: len(worker_pids(server) - before) == 1, timeout=15), server.log
    all_workers_answer(server, 2)


def test_sigterm_to_gunicorn_lets_a_download_finish(gunicorn):
    server = gunicorn("-w", "2", "--graceful-timeout", "30")
    assert_sigterm_lets_a_download_finish(server, all_workers_answer(server, 2))
    assert "Shutting down: Master" in server.log


def test_sighup_to_gunicorn_replaces_the_workers(gunicorn):
    server = gunicorn("-w", "2")
    before = all_workers_answer(server, 2)
    server.signal(signal.SIGHUP)
    after = wait_until(lambda: (worker_pids(server) if not worker_pids(server) & before
                                else set()), timeout=30)
    assert len(after) == 2, server.log
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        served = set(pool.map(lambda _: pid_over_new_connection(server.port), range(40)))
    assert served <= after


@pytest.mark.parametrize("level", ["info", "warning"])
def test_gunicorns_error_log_settings_carry_fasth2s_lines(tmp_path, level):
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen(16)
    port, fd = listening.getsockname()[1], listening.fileno()
    error_log = tmp_path / "error.log"
    process = subprocess.Popen(
        [*GUNICORN, "-w", "1", "-b", f"fd://{fd}", "--error-logfile", str(error_log),
         "--log-level", level, "--max-requests", "3", APP],
        cwd=ROOT, env=dict(os.environ, HOME=str(tmp_path)), pass_fds=(fd,),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    listening.close()
    try:
        for _ in range(5):  # the worker retires after 3; its successor takes the rest
            assert pid_over_new_connection(port)
    finally:
        process.send_signal(signal.SIGTERM)
        printed, _ = process.communicate(timeout=30)
    logged = error_log.read_text()
    retiring = re.compile(r"\[\d+\] \[INFO\] Served 3 requests \(max requests\): retiring")
    if level == "info":
        assert retiring.search(logged), logged  # in gunicorn's format, in its file
    else:
        assert "Served 3 requests" not in logged
    assert "Served" not in printed  # not on the console
