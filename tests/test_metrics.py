"""Prometheus metrics (--metrics-bind): scraped before and after real traffic, one
process and several workers (prometheus_client's multiprocess mode)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
from hyperframe.frame import GoAwayFrame, PingFrame, RstStreamFrame
from prometheus_client.parser import text_string_to_metric_families

from .helpers import ROOT, RawClient, ServerProcess, run_client
from .test_processes import serving_workers, wait_until, worker_pids

METRICS_AT = re.compile(r"Metrics at http://127\.0\.0\.1:(\d+)/metrics")
HELLO = len(b"hello world\n")
FAMILIES = ("fasth2_requests", "fasth2_request_duration_seconds", "fasth2_request_body_bytes",
            "fasth2_response_body_bytes", "fasth2_resets_sent", "fasth2_resets_received",
            "fasth2_goaways_sent", "fasth2_goaways_received", "fasth2_budget_terminations",
            "fasth2_open_connections", "fasth2_open_streams", "fasth2_thread_pool_queue",
            "fasth2_thread_pool_busy", "fasth2_response_memory_bytes")


class Scraper:
    """Reads a server's /metrics (the port from its log line) into {(name, labels): value}."""

    def __init__(self, server: ServerProcess) -> None:
        wait_until(lambda: METRICS_AT.search(server.log))
        self.url = f"http://127.0.0.1:{METRICS_AT.search(server.log).group(1)}/metrics"

    def scrape(self) -> tuple[set[str], dict]:
        text = httpx.get(self.url, timeout=10).text
        families, samples = set(), {}
        for family in text_string_to_metric_families(text):
            families.add(family.name)
            for sample in family.samples:
                samples[sample.name, frozenset(sample.labels.items())] = sample.value
        return families, samples

    def value(self, name: str, **labels) -> float:
        return self.scrape()[1].get((name, frozenset(labels.items())), 0.0)

    def wait_for(self, name: str, expected: float, timeout: float = 10, **labels) -> float:
        """The sample's value once it equals ``expected`` (or whatever it is at the end)."""
        deadline = time.monotonic() + timeout
        while (value := self.value(name, **labels)) != expected and time.monotonic() < deadline:
            time.sleep(0.1)
        return value


@pytest.fixture
def metered():
    server = ServerProcess("tests.apps:app", "--metrics-bind", "127.0.0.1:0",
                           "--glitch-budget", "20", "--threads", "1")
    try:
        yield server, Scraper(server)
    finally:
        assert server.stop() == 0


def test_requests_bytes_and_durations_by_protocol_and_status(metered):
    server, metrics = metered
    families, samples = metrics.scrape()
    assert set(FAMILIES) <= families
    assert not [key for key in samples if key[0] == "fasth2_requests_total"]
    with httpx.Client(http2=True, http1=False) as client:
        for _ in range(20):
            assert client.get(f"{server.url}/hello").status_code == 200
        for _ in range(3):
            assert client.get(f"{server.url}/status?code=404").status_code == 404
        for _ in range(2):
            assert client.get(f"{server.url}/error-before").status_code == 500
        upload = client.post(f"{server.url}/echo", content=b"u" * 2**20)
        assert upload.status_code == 200 and len(upload.content) == 2**20
        assert client.get(f"{server.url}/sleep?s=0.3").status_code == 200
    for _ in range(5):
        assert run_client("curl", "-s", "--http1.1", f"{server.url}/hello").stdout == b"hello world\n"
    h2c, h1 = dict(protocol="h2c"), dict(protocol="HTTP/1.1")
    assert metrics.wait_for("fasth2_requests_total", 22, status="2xx", **h2c) == 22
    assert metrics.wait_for("fasth2_requests_total", 5, status="2xx", **h1) == 5
    assert metrics.value("fasth2_requests_total", status="4xx", **h2c) == 3
    assert metrics.value("fasth2_requests_total", status="5xx", **h2c) == 2
    assert metrics.value("fasth2_request_duration_seconds_count", **h2c) == 27
    assert metrics.value("fasth2_request_duration_seconds_bucket", le="0.25", **h2c) == 26
    assert metrics.value("fasth2_request_duration_seconds_bucket", le="0.5", **h2c) == 27
    assert metrics.value("fasth2_request_duration_seconds_sum", **h2c) >= 0.3
    assert metrics.value("fasth2_request_duration_seconds_bucket", le="+Inf", **h1) == 5
    assert metrics.value("fasth2_request_duration_seconds_sum", **h1) > 0
    assert metrics.value("fasth2_request_body_bytes_total", **h2c) == 2**20
    assert metrics.value("fasth2_response_body_bytes_total", **h1) == 5 * HELLO
    assert metrics.value("fasth2_response_body_bytes_total", **h2c) > 20 * HELLO + 2**20
    assert metrics.value("fasth2_request_body_bytes_total", **h1) == 0


def test_resets_goaways_and_budget_terminations_by_reason(metered):
    server, metrics = metered
    cancelled = RawClient(server.port)
    cancelled.request(1, "/big?mib=50")
    cancelled.wait_for(lambda frame: frame.stream_id == 1)  # the response has begun
    cancelled.send(RstStreamFrame(1, error_code=8))  # CANCEL
    assert metrics.wait_for("fasth2_resets_received_total", 1, reason="CANCEL") == 1
    cancelled.close()

    malformed = RawClient(server.port)
    malformed.send(malformed.headers_frame(1, [(":method", "GET"), (":scheme", "http"),
                                               (":authority", "t"), (":path", "/"),
                                               ("Upper-Case", "x")]))
    malformed.expect_reset(1)
    assert metrics.wait_for("fasth2_resets_sent_total", 1, reason="PROTOCOL_ERROR") == 1
    malformed.send(GoAwayFrame(0, last_stream_id=0, error_code=0))
    assert metrics.wait_for("fasth2_goaways_received_total", 1, reason="NO_ERROR") == 1
    malformed.close()

    pinger = RawClient(server.port)
    for _ in range(40):  # the budget is 20
        pinger.send(PingFrame(0, opaque_data=b"12345678"))
    assert pinger.expect_goaway().error_code == 11  # ENHANCE_YOUR_CALM
    pinger.close()
    assert metrics.wait_for("fasth2_budget_terminations_total", 1, reason="PING frames") == 1
    assert metrics.value("fasth2_goaways_sent_total", reason="ENHANCE_YOUR_CALM") == 1


def test_open_connections_streams_and_the_thread_pool_are_sampled(metered):
    server, metrics = metered
    sleepers = [RawClient(server.port) for _ in range(3)]
    # One app thread: one sleeps, two wait in the pool's queue. The sleeps are long so
    # that a slow machine still sees the queue at two (it drops at the first's end);
    # closing the clients does not wait for them.
    for client in sleepers:
        client.request(1, "/sleep?s=30")
    assert metrics.wait_for("fasth2_open_connections", 3) == 3
    assert metrics.wait_for("fasth2_open_streams", 3) == 3
    assert metrics.wait_for("fasth2_thread_pool_busy", 1) == 1
    assert metrics.wait_for("fasth2_thread_pool_queue", 2) == 2
    for client in sleepers:
        client.close()
    assert metrics.wait_for("fasth2_open_connections", 0) == 0


def test_workers_are_summed_by_the_supervisor_through_a_kill_and_a_reload():
    server = ServerProcess("tests.process_apps:app", "-w", "2", "--metrics-bind", "127.0.0.1:0")
    try:
        metrics = Scraper(server)
        first = serving_workers(server, 2)  # (over HTTP/1.1: not counted below)
        h2c = dict(protocol="h2c", status="2xx")
        seen = set()
        for _ in range(30):  # each over a connection of its own: both workers serve
            result = run_client("curl", "-s", "--http2-prior-knowledge", f"{server.url}/pid")
            seen.add(int(result.stdout.split()[0]))
        assert seen == first
        assert metrics.wait_for("fasth2_requests_total", 30, **h2c) == 30
        assert metrics.wait_for("fasth2_open_connections", 0) == 0

        with socket.create_connection(("127.0.0.1", server.port)) as held:
            held.sendall(b"GET /pid HTTP/1.1\r\nHost: t\r\n\r\n")
            reply = held.recv(1000)
            assert reply.startswith(b"HTTP/1.1 200")
            victim = int(reply.partition(b"\r\n\r\n")[2].split()[0])
            assert metrics.wait_for("fasth2_open_connections", 1) == 1
            os.kill(victim, signal.SIGKILL)  # its file still says 1: only live workers count
            assert metrics.wait_for("fasth2_open_connections", 0) == 0
        assert metrics.value("fasth2_requests_total", **h2c) == 30  # the dead one's too

        survivors = worker_pids(server)
        server.signal(signal.SIGHUP)  # new workers; the old ones' counts must stay
        wait_until(lambda: len(worker_pids(server) - survivors - {victim}) == 2, timeout=20)
        assert metrics.value("fasth2_requests_total", **h2c) == 30
    finally:
        assert server.stop() == 0


def test_a_busy_metrics_port_is_a_one_line_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "fasth2", "-b", "127.0.0.1:0",
                                 "--metrics-bind", f"127.0.0.1:{port}", "tests.apps:app"],
                                cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"fasth2: error: cannot serve metrics on 127.0.0.1:{port}: Address already in use")


def test_without_prometheus_client_the_error_says_what_to_install():
    code = ("import sys; sys.modules['prometheus_client'] = None\n"
            "from fasth2.__main__ import main\n"
            "sys.exit(main(['-b', '127.0.0.1:0', '--metrics-bind', '127.0.0.1:0', 'tests.apps:app']))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "fasth2: error: --metrics-bind needs prometheus_client: pip install 'fasth2[metrics]'")
