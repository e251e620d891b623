"""Flow control in both directions, concurrency, back-pressure and resets."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time

import httpx
import pytest
from h2.settings import SettingCodes
from hyperframe.frame import DataFrame, HeadersFrame, RstStreamFrame, SettingsFrame, WindowUpdateFrame

from .helpers import RawClient, run_client

MIB = 1024 * 1024


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_ten_mib_upload_echoed_byte_identical(server):
    payload = os.urandom(10 * MIB)
    with httpx.Client(http1=False, http2=True, timeout=30) as client:
        response = client.post(server.url + "/echo", content=payload)
    assert response.status_code == 200
    assert sha256(response.content) == sha256(payload)


def test_ten_mib_streaming_echo_while_uploading(server):
    """The app echoes as it reads: both directions are flow-controlled at once."""
    payload = os.urandom(10 * MIB)
    with httpx.Client(http1=False, http2=True, timeout=30) as client:
        response = client.post(server.url + "/echo-stream", content=payload)
    assert sha256(response.content) == sha256(payload)


def test_several_uploads_at_once_on_one_connection(server):
    payloads = [os.urandom(3 * MIB + i) for i in range(4)]

    async def main():
        async with httpx.AsyncClient(http1=False, http2=True, timeout=60) as client:
            responses = await asyncio.gather(*(
                client.post(server.url + ("/echo" if i % 2 else "/echo-stream"), content=p)
                for i, p in enumerate(payloads)))
            assert len({r.extensions["network_stream"] for r in responses}) == 1
            return responses

    responses = asyncio.run(main())
    for payload, response in zip(payloads, responses):
        assert response.http_version == "HTTP/2"
        assert sha256(response.content) == sha256(payload)


def test_upload_larger_than_every_window(server):
    """Past the 64 KiB default and our 256 KiB stream / 1 MiB connection windows."""
    payload = os.urandom(5 * MIB)
    result = run_client("curl", "-sS", "--http2-prior-knowledge", "--data-binary", "@-",
                        server.url + "/echo", input=payload)
    assert result.returncode == 0, result.stderr
    assert sha256(result.stdout) == sha256(payload)


def test_two_hundred_concurrent_streams_on_one_connection(fresh_server):
    server = fresh_server("tests.apps:app", "--max-concurrent-streams", "200")
    raw = RawClient(server.port)
    for i in range(200):
        raw.request(1 + 2 * i, f"/id?n={i}")
    bodies: dict[int, bytearray] = {}
    done = set()
    deadline = time.monotonic() + 30
    while len(done) < 200 and time.monotonic() < deadline:
        frame = raw.read_frame()
        assert frame is not None
        assert not isinstance(frame, RstStreamFrame), frame
        if isinstance(frame, DataFrame):
            bodies.setdefault(frame.stream_id, bytearray()).extend(frame.data)
        if isinstance(frame, (DataFrame, HeadersFrame)) and "END_STREAM" in frame.flags:
            done.add(frame.stream_id)
    assert len(done) == 200
    for i in range(200):
        assert bytes(bodies[1 + 2 * i]) == f"response for {i}\n".encode() * 10


def test_h2load_one_connection_many_streams(server):
    result = run_client("h2load", "-n", "2000", "-c", "1", "-m", "100", server.url + "/hello")
    out = result.stdout.decode()
    assert result.returncode == 0, out
    assert "2000 succeeded, 0 failed, 0 errored" in out


def test_slow_reader_keeps_server_memory_bounded(fresh_server):
    """A client that opens huge windows but reads slowly: RSS must not grow with the body."""
    server = fresh_server()
    raw = RawClient(server.port, settings={SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1},
                    auto_window=False)
    raw.send(WindowUpdateFrame(0, window_increment=2**31 - 1 - 65535))
    raw.request(1, "/big?mib=50")
    time.sleep(0.5)  # the server fills every buffer it is going to fill
    baseline = server.rss_kib()
    peak = baseline
    received = 0
    finished = False
    slow_until = time.monotonic() + 1.5
    while not finished:
        frame = raw.read_frame(20)
        assert frame is not None, "connection closed mid-response"
        if isinstance(frame, DataFrame):
            received += len(frame.data)
            finished = "END_STREAM" in frame.flags
            if time.monotonic() < slow_until:  # ~1.6 MiB/s while slow
                time.sleep(0.01)
                peak = max(peak, server.rss_kib())
    growth_mib = (peak - baseline) / 1024
    print(f"slow reader: RSS baseline {baseline} KiB, peak {peak} KiB")
    assert growth_mib < 16, f"server RSS grew {growth_mib:.1f} MiB for a slow reader"
    assert received == 50 * MIB  # nothing dropped, nothing doubled
    raw.close()


def test_reset_mid_response_closes_iterator_and_spares_other_streams(server):
    raw = RawClient(server.port)
    raw.request(1, "/tracked?name=reset-me&chunks=1000&delay=0.005")
    raw.request(3, "/tracked?name=survivor&chunks=20&delay=0.005")
    raw.wait_for(lambda f: isinstance(f, DataFrame) and f.stream_id == 1)
    raw.send(RstStreamFrame(1, error_code=8))  # CANCEL
    assert server.wait_for_event("closed reset-me"), server.events()
    headers, body = raw.read_response(3)
    assert headers[":status"] == "200" and len(body) == 20 * 64 * 1024
    raw.request(5, "/hello")
    assert raw.read_response(5)[1] == b"hello world\n"
    raw.close()


def test_settings_change_mid_transfer_wakes_and_reshapes_sender(server):
    """A stream stalled on a tiny window resumes when SETTINGS opens it; frames grow."""
    raw = RawClient(server.port, settings={SettingCodes.INITIAL_WINDOW_SIZE: 1000},
                    auto_window=False)
    raw.send(WindowUpdateFrame(0, window_increment=10 * MIB))
    raw.request(1, "/big?mib=1")
    first = raw.wait_for(lambda f: isinstance(f, DataFrame))
    assert first.flow_controlled_length == 1000
    with pytest.raises(TimeoutError):  # stalled: the stream window is spent
        raw.wait_for(lambda f: isinstance(f, DataFrame), timeout=0.5)
    settings = SettingsFrame(0)
    settings.settings = {SettingCodes.INITIAL_WINDOW_SIZE: 4 * MIB, SettingCodes.MAX_FRAME_SIZE: 65536}
    raw.send(settings)
    received = first.flow_controlled_length
    largest = 0
    while received < MIB:
        frame = raw.wait_for(lambda f: isinstance(f, DataFrame))
        received += len(frame.data)
        largest = max(largest, len(frame.data))
    assert received == MIB
    assert 16384 < largest <= 65536
    raw.close()


def test_window_shrunk_by_settings_mid_transfer(server):
    """A SETTINGS that makes the stream window negative pauses sending until refilled."""
    raw = RawClient(server.port, auto_window=False)
    raw.send(WindowUpdateFrame(0, window_increment=10 * MIB))
    raw.request(1, "/big?mib=1")
    got = 0
    while got < 65535:
        got += len(raw.wait_for(lambda f: isinstance(f, DataFrame)).data)
    settings = SettingsFrame(0)
    settings.settings = {SettingCodes.INITIAL_WINDOW_SIZE: 0}
    raw.send(settings)
    with pytest.raises(TimeoutError):
        raw.wait_for(lambda f: isinstance(f, DataFrame), timeout=0.5)
    raw.send(WindowUpdateFrame(1, window_increment=MIB))
    while got < MIB:
        got += len(raw.wait_for(lambda f: isinstance(f, DataFrame)).data)
    assert got == MIB
    raw.close()


def test_quick_request_is_not_held_behind_a_slow_one(server):
    """Requests arriving together go to the pool as one batch; a slow one must not
    delay the others (the batch spreads to other threads)."""
    raw = RawClient(server.port)
    first = raw.headers_frame(1, [(":method", "GET"), (":scheme", "http"),
                                  (":authority", "a"), (":path", "/sleep?s=3")])
    second = raw.headers_frame(3, [(":method", "GET"), (":scheme", "http"),
                                   (":authority", "a"), (":path", "/hello")])
    started = time.monotonic()
    raw.send(first.serialize() + second.serialize())  # one read, one batch
    headers, body = raw.read_response(3)
    assert body == b"hello world\n"
    assert time.monotonic() - started < 1.5
    raw.read_response(1, timeout=10)
    raw.close()
