"""Prometheus metrics (``--metrics-bind HOST:PORT``; needs ``fasth2[metrics]``).

Strategy: prometheus_client owns the values and the text format; fasth2 feeds it
from the event loop. An exchange, as it ends (the access log's hook), only adds to a
plain tally per (protocol, status class): count, body bytes, seconds, duration
bucket. Once a second the server's reaper hands the tallies to prometheus_client
(a few calls per tally instead of four per request, which cost 11 % of a small
request's instructions) and samples what is a level rather than an event (open
connections and streams, the thread pool's queue, the response bytes held); so a
scrape sees values at most a second old. Resets, GOAWAYs and connections ended by a
budget are counted where the protocol sends or receives them (rare).

With one process, the server serves ``/metrics`` itself from prometheus_client's
HTTP server, on a thread of its own (a scrape never waits for the app's threads or
the event loop). With workers, prometheus_client's multiprocess mode: the supervisor
points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder before any worker starts, the
workers' values live in files there, and the supervisor serves the sum (gauges: over
the live workers; a dead worker's files are marked dead when it is reaped).
"""

from __future__ import annotations

import logging
import os
from bisect import bisect_left
import shutil
import tempfile
from typing import TYPE_CHECKING

from .errors import StartupError
from .listeners import parse_bind

if TYPE_CHECKING:
    from .exchange import Exchange

log = logging.getLogger("fasth2.error")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Request duration buckets, in seconds: from half a millisecond (a fast server's
#: hello) to a minute (a long download).
DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                    2.5, 5.0, 10.0, 30.0, 60.0)


def prometheus():
    """The prometheus_client module, or StartupError saying how to install it."""
    try:
        import prometheus_client
    except ImportError:
        raise StartupError("--metrics-bind needs prometheus_client: "
                           "pip install 'fasth2[metrics]'") from None
    return prometheus_client


class Metrics:
    """One process's metrics, fed on the event loop (see the module's text)."""

    def __init__(self, registry=None) -> None:
        """``registry``: where the metrics are collected from; None in multiprocess
        mode, where prometheus_client writes them to files instead."""
        client = prometheus()
        if os.environ.get(MULTIPROC_ENV):
            _use_multiprocess_values()
        kinds = dict(registry=registry)
        self.requests = client.Counter(
            "fasth2_requests", "Requests answered, by protocol and status class "
            "(none: ended before a response)", ["protocol", "status"], **kinds)
        self.duration = client.Histogram(
            "fasth2_request_duration_seconds", "From the request's head to the end of its "
            "response", ["protocol"], buckets=DURATION_BUCKETS, **kinds)
        self.received = client.Counter(
            "fasth2_request_body_bytes", "Request body bytes received", ["protocol"], **kinds)
        self.sent = client.Counter(
            "fasth2_response_body_bytes", "Response body bytes sent", ["protocol"], **kinds)
        self.resets_sent = client.Counter(
            "fasth2_resets_sent", "HTTP/2 RST_STREAM frames sent, by error code",
            ["reason"], **kinds)
        self.resets_received = client.Counter(
            "fasth2_resets_received", "HTTP/2 RST_STREAM frames received, by error code",
            ["reason"], **kinds)
        self.goaways_sent = client.Counter(
            "fasth2_goaways_sent", "HTTP/2 GOAWAY frames sent, by error code",
            ["reason"], **kinds)
        self.goaways_received = client.Counter(
            "fasth2_goaways_received", "HTTP/2 GOAWAY frames received, by error code",
            ["reason"], **kinds)
        self.budget_terminations = client.Counter(
            "fasth2_budget_terminations", "Connections ended by a budget: the misbehaviour "
            "budget (reason: what was overspent), response memory or app threads",
            ["reason"], **kinds)
        level = dict(multiprocess_mode="livesum", **kinds)
        self.connections = client.Gauge(
            "fasth2_open_connections", "Connections open", **level)
        self.streams = client.Gauge(
            "fasth2_open_streams", "HTTP/2 streams open (HTTP/1.1: requests in progress)",
            **level)
        self.queued = client.Gauge(
            "fasth2_thread_pool_queue", "App calls waiting for a free thread", **level)
        self.busy = client.Gauge(
            "fasth2_thread_pool_busy", "App threads running a call", **level)
        self.held = client.Gauge(
            "fasth2_response_memory_bytes", "Response bytes produced by the app and "
            "not yet sent", **level)
        #: Per (protocol, status // 100) since the last update: requests,
        #: body bytes sent and received, seconds, and requests per duration bucket.
        self._tallies: dict[tuple, list] = {}

    def exchange_ended(self, exchange: "Exchange") -> None:
        """An exchange ended (on the loop): add it to its tally (see ``update``)."""
        key = (exchange.protocol, exchange.status // 100)
        tally = self._tallies.get(key)
        if tally is None:
            tally = self._tallies[key] = [0, 0, 0, 0.0, [0] * (len(DURATION_BUCKETS) + 1)]
        seconds = exchange.ended - exchange.started
        tally[0] += 1
        tally[1] += exchange.bytes_sent
        tally[2] += exchange.bytes_received
        tally[3] += seconds
        tally[4][bisect_left(DURATION_BUCKETS, seconds)] += 1  # (le: the first bound >=)

    def reset_sent(self, code) -> None:
        """We reset a stream with ``code`` (an h2 ErrorCodes, or its number)."""
        self.resets_sent.labels(_code_name(code)).inc()

    def reset_received(self, code) -> None:
        """The client reset a stream."""
        self.resets_received.labels(_code_name(code)).inc()

    def goaway_sent(self, code) -> None:
        """We sent GOAWAY."""
        self.goaways_sent.labels(_code_name(code)).inc()

    def goaway_received(self, code) -> None:
        """The client sent GOAWAY."""
        self.goaways_received.labels(_code_name(code)).inc()

    def budget_exhausted(self, reason: str) -> None:
        """A connection was ended by a budget (see limits.py, memory.py, server.py)."""
        self.budget_terminations.labels(reason).inc()

    def update(self, server) -> None:
        """On the loop, once a second and at shutdown: hand the tallies to
        prometheus_client, and set the levels from the server's state."""
        tallies, self._tallies = self._tallies, {}
        for (protocol, status), (count, sent, received, seconds, buckets) in tallies.items():
            self.requests.labels(protocol, f"{status}xx" if status else "none").inc(count)
            self.sent.labels(protocol).inc(sent)
            self.received.labels(protocol).inc(received)
            _add_observations(self.duration.labels(protocol), seconds, buckets)
        connections = list(server.connections)
        self.connections.set(len(connections))
        self.streams.set(sum(len(getattr(connection, "streams", ())) for connection in connections))
        pool = server.app_threads
        self.queued.set(pool.queued)
        self.busy.set(pool.busy)
        self.held.set(server.response_memory.total)


def _add_observations(histogram, seconds: float, buckets: list[int]) -> None:
    """Add a second's observations to a prometheus_client histogram child at once.

    Histogram has no public way to add many observations; ``observe`` per request
    was most of the metrics' cost (about 1 us each). Its child keeps ``_sum`` and,
    per bucket, ``_buckets[i]`` (counts of the observations whose first bound >= the
    value is bucket i, made cumulative when collected): the same values ``observe``
    increments, in one process or in multiprocess mode's files. tests/test_metrics.py
    checks the result, so a prometheus_client that changes them fails there.
    """
    histogram._sum.inc(seconds)
    for index, count in enumerate(buckets):
        if count:
            histogram._buckets[index].inc(count)


def _code_name(code) -> str:
    """``CANCEL`` for ErrorCodes.CANCEL (or 8); a code HTTP/2 does not define: its number."""
    name = getattr(code, "name", None)
    if name is None:
        from h2.errors import ErrorCodes
        try:
            name = ErrorCodes(code).name
        except ValueError:
            name = str(int(code))
    return name


def _use_multiprocess_values() -> None:
    """Make sure values go to PROMETHEUS_MULTIPROC_DIR's files: prometheus_client picks
    its value class at import, and an app may have imported it before the variable
    was set (a --preload app, in the supervisor)."""
    from prometheus_client import values
    values.ValueClass = values.get_value_class()


class MetricsEndpoint:
    """prometheus_client's HTTP server for ``/metrics``, on a daemon thread."""

    def __init__(self, bind: str, registry) -> None:
        address = parse_bind(bind)
        if address.kind != "tcp":
            raise StartupError(f"--metrics-bind {bind!r}: expected HOST:PORT")
        try:
            self._server, self._thread = prometheus().start_http_server(
                address.port, address.host, registry=registry)
        except OSError as exc:
            raise StartupError(f"cannot serve metrics on {bind}: {exc.strerror}") from None
        host, port = self._server.server_address[:2]
        self.port = port
        shown = f"[{host}]" if ":" in host else host
        log.info("Metrics at http://%s:%d/metrics", shown, port)

    def close_in_child(self) -> None:
        """In a forked worker: drop the inherited listening socket (not the parent's)."""
        self._server.socket.close()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()


def serve_process_metrics(bind: str) -> tuple[Metrics, MetricsEndpoint]:
    """One process: its own metrics on a registry of its own, served at ``bind``."""
    registry = prometheus().CollectorRegistry()
    metrics = Metrics(registry)
    return metrics, MetricsEndpoint(bind, registry)


class SupervisorMetrics:
    """The workers' metrics, summed from PROMETHEUS_MULTIPROC_DIR by the supervisor."""

    def __init__(self, bind: str) -> None:
        client = prometheus()
        from prometheus_client import multiprocess
        self._multiprocess = multiprocess
        self.folder, self._made = prepare_multiprocess_folder()
        registry = client.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        self.endpoint = MetricsEndpoint(bind, registry)

    def worker_exited(self, pid: int) -> None:
        """A worker is gone: its gauges stop counting (its counters still do)."""
        self._multiprocess.mark_process_dead(pid)

    def close(self) -> None:
        """Stop serving; remove the folder if it was ours."""
        self.endpoint.stop()
        if self._made:
            shutil.rmtree(self.folder, ignore_errors=True)


def prepare_multiprocess_folder() -> tuple[str, bool]:
    """Point PROMETHEUS_MULTIPROC_DIR at an empty folder before any worker starts (and
    before prometheus_client is imported, where possible): a fresh temporary one, or
    the user's, emptied of an earlier run's files as prometheus_client requires.
    Returns the folder and whether it was made here."""
    folder = os.environ.get(MULTIPROC_ENV)
    if folder:
        os.makedirs(folder, exist_ok=True)
        for name in os.listdir(folder):
            if name.endswith(".db"):
                os.unlink(os.path.join(folder, name))
        return folder, False
    folder = tempfile.mkdtemp(prefix="fasth2-metrics-")
    os.environ[MULTIPROC_ENV] = folder
    return folder, True
