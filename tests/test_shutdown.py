"""Graceful shutdown on SIGTERM/SIGINT: in-flight requests finish, new ones are refused."""

from __future__ import annotations

import signal
import socket
import time

import pytest
from h2.errors import ErrorCodes
from hyperframe.frame import GoAwayFrame

from .helpers import RawClient


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_in_flight_requests_complete_and_new_ones_are_refused(fresh_server, signum):
    server = fresh_server("tests.apps:app", "--graceful-timeout", "10")
    raw = RawClient(server.port)
    for stream_id in (1, 3, 5):
        raw.request(stream_id, "/sleep?s=1.5")
    deadline = time.monotonic() + 10
    while server.events().count("sleep started") < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    server.signal(signum)
    goaway = raw.expect_goaway()
    assert goaway.error_code == ErrorCodes.NO_ERROR
    assert goaway.last_stream_id == 5
    # A new stream on the same connection is refused...
    raw.request(7, "/hello")
    assert raw.expect_reset(7).error_code == ErrorCodes.REFUSED_STREAM
    # ...and so is a new connection.
    time.sleep(0.2)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2)
    # The in-flight ones complete.
    for stream_id in (1, 3, 5):
        headers, body = raw.read_response(stream_id)
        assert headers[":status"] == "200" and body == b"slept 1.5\n"
    raw.close()
    assert server.process.wait(10) == 0
    assert server.events().count("sleep finished") == 3


def test_graceful_timeout_bounds_the_wait(fresh_server):
    server = fresh_server("tests.apps:app", "--graceful-timeout", "1")
    raw = RawClient(server.port)
    raw.request(1, "/sleep?s=30")
    assert server.wait_for_event("sleep started")
    started = time.monotonic()
    server.signal(signal.SIGTERM)
    assert server.process.wait(10) == 0
    assert time.monotonic() - started < 4
    assert server.log_count("graceful timeout: aborting 1 unfinished streams") == 1
    frames = []
    while (frame := raw.read_frame(5)) is not None:
        frames.append(frame)
    assert any(isinstance(f, GoAwayFrame) for f in frames)
    assert not any(getattr(f, "stream_id", 0) == 1 and "END_STREAM" in f.flags for f in frames)


def test_idle_connections_do_not_delay_shutdown(fresh_server):
    server = fresh_server()
    idle = [RawClient(server.port) for _ in range(5)]
    idle[0].request(1)
    idle[0].read_response(1)
    started = time.monotonic()
    server.signal(signal.SIGTERM)
    assert server.process.wait(10) == 0
    assert time.monotonic() - started < 3
    for client in idle:
        assert client.expect_goaway().error_code == ErrorCodes.NO_ERROR
