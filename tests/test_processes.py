"""The process model: a supervisor and its workers, as an operator drives them.

Real processes throughout: ``python -m fasth2 -w N`` started as a user would, signals
sent with ``kill``, load from h2load, requests from httpx and curl. ``/pid`` (see
tests/process_apps.py) tells which worker served a request.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from .helpers import ROOT, ServerProcess

APP = "tests.process_apps:app"


def worker_pids(server: ServerProcess) -> set[int]:
    """The supervisor's child processes: its workers."""
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return {int(child) for child in children}


def wait_until(predicate, timeout: float = 10, interval: float = 0.02):
    """Poll ``predicate`` until it returns something true; return that (or the last)."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result or time.monotonic() >= deadline:
            return result
        time.sleep(interval)


def serving_workers(server: ServerProcess, count: int) -> set[int]:
    """Wait until ``count`` workers are up and answer; return their pids."""
    wait_until(lambda: len(worker_pids(server)) == count and "Booting" in server.log)
    pids = worker_pids(server)
    assert len(pids) == count, server.log
    # A worker is forked before it serves (with --reuse-port, before anyone listens):
    # wait until each has answered once.
    seen: set[int] = set()
    deadline = time.monotonic() + 15
    while seen != pids and time.monotonic() < deadline:
        try:
            seen.add(pid_over_new_connection(server.port))
        except ConnectionRefusedError:
            time.sleep(0.05)
        pids = worker_pids(server)
    assert seen == pids, server.log
    return pids


def pid_over_new_connection(port: int) -> int:
    """GET /pid over a connection of its own (HTTP/1.1, closed after)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /pid HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    return int(data.split(b"\r\n\r\n", 1)[1].split()[0])


def h2load(*args: str, timeout: float = 120) -> dict:
    """Run h2load; return its request counts."""
    out = subprocess.run(["h2load", *args], capture_output=True, text=True, timeout=timeout).stdout
    counts = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                       r"(\d+) failed, (\d+) errored", out)
    assert counts, out
    total, started, done, succeeded, failed, errored = map(int, counts.groups())
    status = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    return {"total": total, "succeeded": succeeded, "failed": failed, "errored": errored,
            "2xx": int(status.group(1)), "output": out}


def test_workers_share_one_port_and_say_so(fresh_server):
    server = fresh_server(APP, "-w", "2")
    pids = serving_workers(server, 2)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        served = Counter(pool.map(lambda _: pid_over_new_connection(server.port), range(200)))
    assert set(served) == pids  # every connection went to a worker, and both took some
    body = httpx.get(f"{server.url}/pid").text.split()
    assert body[1] == "True"  # wsgi.multiprocess
    assert server.log.count("Listening on") == 1  # bound once, by the supervisor


def test_one_worker_is_one_process_and_not_multiprocess(fresh_server):
    server = fresh_server(APP)
    assert worker_pids(server) == set()
    pid = str(server.process.pid)
    assert httpx.get(f"{server.url}/pid").text.split() == [pid, "False", pid]


@pytest.mark.parametrize("preload", [False, True], ids=["import-in-workers", "preload"])
def test_preload_imports_the_app_once_in_the_supervisor(fresh_server, preload):
    server = fresh_server(APP, "-w", "2", *(["--preload"] if preload else []))
    workers = serving_workers(server, 2)
    for _ in range(10):
        served_by, _, imported_in = httpx.get(f"{server.url}/pid").text.split()
        assert int(served_by) in workers
        expected = server.process.pid if preload else int(served_by)
        assert int(imported_in) == expected


@pytest.mark.parametrize("reuse_port", [False, True], ids=["inherited", "reuse-port"])
def test_killed_worker_is_replaced_and_the_others_connections_go_on(fresh_server, reuse_port):
    server = fresh_server(APP, "-w", "2", *(["--reuse-port"] if reuse_port else []))
    first, second = sorted(serving_workers(server, 2))
    # Connections of our own, each held open, until both workers hold some.
    clients: dict[int, list[httpx.Client]] = {first: [], second: []}
    for _ in range(60):
        client = httpx.Client(http2=True, base_url=server.url)
        clients[int(client.get("/pid").text.split()[0])].append(client)
        if all(len(held) >= 2 for held in clients.values()):
            break
    assert all(clients.values()), "one worker took every connection"
    load = subprocess.Popen(["h2load", "-c", "4", "-m", "10", "-D", "4", f"{server.url}/pid"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(1)
    os.kill(first, signal.SIGKILL)
    killed_at = time.monotonic()
    replaced = wait_until(lambda: (worker_pids(server) - {first, second}), timeout=5)
    assert replaced and time.monotonic() - killed_at < 1.0, server.log
    # Every connection to the other worker goes on, on the same connection.
    for client in clients[second]:
        for _ in range(20):
            response = client.get("/pid")
            assert response.status_code == 200 and int(response.text.split()[0]) == second
    load.communicate(timeout=60)
    assert server.log_count(f"Worker {first} died (killed by SIGKILL") == 1
    new = replaced.pop()
    assert wait_until(lambda: new in {pid_over_new_connection(server.port) for _ in range(20)})
    for held in clients.values():
        for client in held:
            client.close()


@pytest.mark.parametrize("protocol", ["h2c", "http/1.1"])
def test_sighup_during_h2load_every_request_succeeds(fresh_server, protocol):
    server = fresh_server(APP, "-w", "2", "--graceful-timeout", "30")
    before = serving_workers(server, 2)
    threading_flags = ["--h1"] if protocol == "http/1.1" else ["-m", "10"]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        run = pool.submit(h2load, "-c", "8", "-D", "4", *threading_flags, f"{server.url}/pid")
        time.sleep(1.5)
        server.signal(signal.SIGHUP)
        result = run.result()
    assert result["failed"] == 0 and result["errored"] == 0, result["output"]
    assert result["2xx"] == result["succeeded"] > 1000
    after = wait_until(lambda: worker_pids(server) if not worker_pids(server) & before else set())
    assert len(after) == 2 and not after & before, server.log
    assert server.log_count("Reload: the new workers serve; 2 old worker(s) retire") == 1


def test_sigterm_lets_a_long_download_finish_and_leaves_nothing_behind(fresh_server):
    server = fresh_server(APP, "-w", "2", "--graceful-timeout", "30")
    assert_sigterm_lets_a_download_finish(server, serving_workers(server, 2))


def assert_sigterm_lets_a_download_finish(server: ServerProcess, workers: set[int]) -> None:
    """SIGTERM during a 24 MiB download read at 8 MB/s: it completes, the server exits
    0, and no worker is left."""
    download = subprocess.Popen(
        ["curl", "-sS", "--http2-prior-knowledge", "--limit-rate", "8M", "-o", "/dev/null",
         "-w", "%{http_code} %{size_download}", f"{server.url}/big?mib=24"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1)
    server.signal(signal.SIGTERM)
    out, err = download.communicate(timeout=60)
    assert download.returncode == 0, err
    assert out == f"200 {24 * 1024 * 1024}"
    assert server.process.wait(30) == 0
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)


def test_app_that_crashes_at_import_makes_the_supervisor_give_up(tmp_path):
    (tmp_path / "crashing_app.py").write_text("raise RuntimeError('no database')\n")
    server = subprocess.run(
        [sys.executable, "-m", "fasth2", "-b", "127.0.0.1:0", "-w", "2", "crashing_app:app"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env=dict(os.environ, PYTHONPATH=f"{tmp_path}:{ROOT}"))
    assert server.returncode == 1
    assert "fasth2: error: workers failed to start" in server.stderr
    assert "giving up" in server.stderr
    assert "no database" in server.stderr  # the worker's own error is shown
    boots = server.stderr.count("Booting worker")
    assert 5 <= boots <= 7, server.stderr  # a few tries, not a storm


@pytest.mark.parametrize("protocol", ["h2c", "http/1.1"])
def test_max_requests_recycles_workers_under_load_without_a_failure(fresh_server, protocol):
    server = fresh_server(APP, "-w", "2", "--max-requests", "2000", "--max-requests-jitter",
                          "200", "--graceful-timeout", "30")
    before = serving_workers(server, 2)
    flags = ["--h1"] if protocol == "http/1.1" else ["-m", "10"]
    result = h2load("-n", "12000", "-c", "32", *flags, f"{server.url}/pid")
    assert result["failed"] == 0 and result["errored"] == 0, result["output"]
    assert result["2xx"] == 12000
    assert server.log_count("(max requests): retiring this worker") >= 1
    assert server.log_count("exited after its max requests; replaced", timeout=30) >= 1
    assert wait_until(lambda: worker_pids(server) - before)


def test_worker_with_a_blocked_loop_is_killed_and_replaced(fresh_server):
    server = fresh_server(APP, "-w", "2", "--timeout", "2")
    before = serving_workers(server, 2)
    with pytest.raises(httpx.TimeoutException):
        httpx.get(f"{server.url}/block-loop", timeout=1)
    assert server.log_count("timed out: its event loop has not run for", timeout=10) == 1
    assert "_sleep_on_the_loop" in server.log  # its stacks, printed before the kill
    blocked = int(re.search(r"Worker (\d+) timed out", server.log).group(1))
    assert blocked in before
    assert server.log_count(f"Worker {blocked} died (killed by SIGKILL after its loop blocked)") == 1
    assert wait_until(lambda: len(worker_pids(server) - before) == 1)
    assert pid_over_new_connection(server.port) in worker_pids(server)


def test_ttin_and_ttou_add_and_remove_a_worker(fresh_server):
    server = fresh_server(APP, "-w", "2")
    serving_workers(server, 2)
    server.signal(signal.SIGTTIN)
    assert wait_until(lambda: len(worker_pids(server)) == 3)
    serving_workers(server, 3)
    server.signal(signal.SIGTTOU)
    assert wait_until(lambda: len(worker_pids(server)) == 2)
    assert server.log_count("Received SIGTTOU: 2 worker(s) now") == 1


def test_sigquit_stops_at_once(fresh_server):
    server = fresh_server(APP, "-w", "2", "--graceful-timeout", "30")
    workers = serving_workers(server, 2)
    client = httpx.Client(http2=True, base_url=server.url)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        slow = pool.submit(client.get, "/sleep?s=20", timeout=30)
        time.sleep(1)  # (the request reaches its app call)
        started = time.monotonic()
        server.signal(signal.SIGQUIT)
        assert server.process.wait(10) == 0
        assert time.monotonic() - started < 5
        with pytest.raises(httpx.HTTPError):
            slow.result()
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)


def test_reload_restarts_workers_on_a_source_change_and_survives_a_broken_one(fresh_server, tmp_path):
    module = tmp_path / "reloaded_app.py"

    def write_app(text: str) -> None:
        module.write_text(text)

    def version_app(version: str) -> str:
        return ("def app(environ, start_response):\n"
                "    start_response('200 OK', [('content-type', 'text/plain')])\n"
                f"    return [b'{version}']\n")

    def served() -> str:
        try:
            return httpx.get(server.url + "/", timeout=5).text
        except httpx.HTTPError:
            return ""

    write_app(version_app("one"))
    server = fresh_server("reloaded_app:app", "--reload", "--reload-dir", str(tmp_path),
                          env={"PYTHONPATH": f"{tmp_path}:{ROOT}"})
    assert wait_until(lambda: served() == "one")
    assert server.log_count("Watching") == 1
    write_app(version_app("two"))
    assert wait_until(lambda: served() == "two", timeout=20), server.log
    assert server.log_count("Changed: ") >= 1
    write_app("def app(:\n")  # a syntax error: the new workers cannot start
    assert server.log_count("Reload failed", timeout=30) == 1, server.log
    assert served() == "two"  # the running worker goes on
    write_app(version_app("three"))
    assert wait_until(lambda: served() == "three", timeout=20), server.log
