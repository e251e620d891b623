"""Many concurrent uploads on one connection: more streams than the app has threads.

The connection window must never be held by bytes no running app will read (that
deadlocked 10 concurrent 1 MiB uploads once). Each test sends up to
max_concurrent_streams bodies from 1 byte to a few MiB at once, fast and slow readers
mixed, and checks every body arrived intact; one checks the stated memory bound: a
stream whose app has not read holds at most ``initial_window_size`` (64 KiB).
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import time

import httpx
import pytest

from .h2client import H2Uploader

MIB = 1024 * 1024
STREAMS = 100  # the default max_concurrent_streams; the app has 8 threads (4 per connection)
INITIAL_WINDOW = 64 * 1024  # a stream's window until its app runs or reads
STREAM_WINDOW = MIB  # then
SHARE = 4  # app calls one connection may run at once (half the 8 threads)


def bodies(count: int, largest: int) -> list[bytes]:
    """``count`` distinct bodies, sizes spread from 1 byte to ``largest``."""
    sizes = [1 + (largest - 1) * i // (count - 1) for i in range(count)]
    return [(i.to_bytes(4, "big") * (size // 4 + 1))[:size] for i, size in enumerate(sizes)]


def digest(body: bytes) -> str:
    return f"{len(body)} {hashlib.sha256(body).hexdigest()}"


@pytest.fixture(params=["h2c", "tls"])
def endpoint(request, server, tls_server):
    """(base URL, CA file or None) of the shared h2c or TLS server."""
    if request.param == "h2c":
        return server, None
    return tls_server, tls_server.ca


def test_httpx_uploads_far_beyond_the_thread_share(endpoint):
    process, ca = endpoint
    payloads = bodies(STREAMS, 3 * MIB)

    async def main():
        async with httpx.AsyncClient(http1=False, http2=True, timeout=60,
                                     verify=ssl.create_default_context(cafile=ca) if ca else False) as client:
            return await asyncio.gather(*(
                client.post(process.url + ("/echo" if i % 2 else "/digest?slow=1"), content=body)
                for i, body in enumerate(payloads)))

    responses = asyncio.run(main())
    assert len({r.extensions["network_stream"] for r in responses}) == 1  # one connection
    for i, (body, response) in enumerate(zip(payloads, responses)):
        assert response.status_code == 200
        assert response.http_version == "HTTP/2"
        if i % 2:
            assert response.content == body
        else:
            assert response.text == digest(body)


def test_raw_client_uploads_far_beyond_the_thread_share(endpoint):
    process, ca = endpoint
    client = H2Uploader(process.port, ca=ca)
    payloads = bodies(STREAMS, 3 * MIB)
    uploads = [client.start("/digest" + ("?slow=1" if i % 3 == 0 else ""), body)
               for i, body in enumerate(payloads)]
    client.run(timeout=60)
    client.close()
    for body, upload in zip(payloads, uploads):
        assert upload.reset_code is None and upload.status == "200"
        assert upload.response.decode() == digest(body)


def test_unread_bodies_hold_at_most_the_initial_window(server):
    """While no app reads, the streams whose apps run (the connection's share of the
    threads, 4) may each send up to stream_window_size (1 MiB) and every other stream
    exactly its initial window: the connection window (4 MiB) never holds back the
    6.25 MiB that 96 waiting streams may send. That is the bound on request bytes held:
    4 x 1 MiB + 96 x 64 KiB."""
    client = H2Uploader(server.port)
    until = time.time() + 2.0  # the first apps to run hold until then, the rest queue
    payloads = [body for body in bodies(STREAMS + 10, 2 * MIB) if len(body) > INITIAL_WINDOW][:STREAMS]
    uploads = [client.start(f"/digest?until={until}", body) for body in payloads]
    running = uploads[:SHARE]
    client.run(timeout=10, until=lambda: all(u.sent >= INITIAL_WINDOW for u in uploads))
    settle = time.monotonic() + 0.5
    client.run(timeout=10, until=lambda: time.monotonic() > settle)
    if time.time() < until - 0.1:  # still before any app read: the bound holds exactly
        assert [u.sent for u in uploads[SHARE:]] == [INITIAL_WINDOW] * (STREAMS - SHARE)
        assert [u.sent for u in running] == [min(len(u.body), STREAM_WINDOW) for u in running]
    else:
        pytest.fail("the test machine was too slow to observe the bound before the apps read")
    client.run(timeout=60)
    client.close()
    for body, upload in zip(payloads, uploads):
        assert upload.response.decode() == digest(body)
