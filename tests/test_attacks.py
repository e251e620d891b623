"""The attacks of ATTACKS.md, each performed over a real socket.

Every test runs its attack (bounded in time and count) in a thread while a normal
client on another connection asks for /hello, and checks three things: (a) the probe is
answered promptly during the attack, (b) the server's RSS stays within a stated bound,
(c) the attacker gets the prescribed GOAWAY/RST_STREAM code or is closed.
"""

from __future__ import annotations

import os
import re
import socket
import sys
import threading
import time

import pytest
from h2.errors import ErrorCodes
from h2.settings import SettingCodes
from hpack import Encoder
from hyperframe.frame import (ContinuationFrame, DataFrame, GoAwayFrame, HeadersFrame,
                              PingFrame, PriorityFrame, RstStreamFrame, SettingsFrame,
                              WindowUpdateFrame)

from .helpers import RawClient, ServerProcess, run_client

PROBE_LIMIT = 1.0  # seconds a probe may take while an attack runs
RSS_LIMIT_MIB = 30  # how far the server's RSS may grow during an attack
# At an attacker's scale (hundreds of streams of 1 MiB responses on several connections)
# the response budget (16 MiB), what running calls produce and the transports' buffers
# add up to more: 20-37 MiB in these runs with the compiled build, up to 47 MiB with the
# pure one (without the budget, the same attacks grew RSS by 450-680 MiB; issue 11's
# goal is 50 MiB, see bench/attacks.py).
SCALE_RSS_LIMIT_MIB = 60
BIG = "/big?mib=1&whole=1"  # a new 1 MiB bytes object per call, in one piece
REQUEST = [(":method", "GET"), (":scheme", "http"), (":authority", "a"), (":path", "/hello")]


def probe(port: int) -> float:
    """Seconds for a normal client on a new connection to get /hello."""
    started = time.monotonic()
    client = RawClient(port)
    client.request(1, "/hello")
    headers, body = client.read_response(1, timeout=10)
    client.close()
    assert headers[":status"] == "200" and body == b"hello world\n"
    return time.monotonic() - started


def under_attack(server, attack, duration: float = 2.0) -> tuple[float, float]:
    """Run ``attack(stop_event)`` in a thread; probe during it.

    Returns (the slowest probe in seconds, RSS growth in MiB).
    """
    baseline = server.rss_kib()
    stop = threading.Event()
    errors: list[BaseException] = []

    def run():
        try:
            attack(stop)
        except OSError:
            pass  # the server closed the attacker: expected
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    slowest = 0.0
    peak = baseline
    deadline = time.monotonic() + duration
    time.sleep(0.05)
    while time.monotonic() < deadline:
        slowest = max(slowest, probe(server.port))
        peak = max(peak, server.rss_kib())
        time.sleep(0.1)
    stop.set()
    thread.join(10)
    assert not errors, errors
    return slowest, (peak - baseline) / 1024


def assert_survived(slowest: float, growth: float, rss_limit: float = RSS_LIMIT_MIB) -> None:
    """The probe was prompt and memory stayed bounded (FASTH2_ATTACK_REPORT=1 prints both)."""
    if os.environ.get("FASTH2_ATTACK_REPORT"):
        test = os.environ.get("PYTEST_CURRENT_TEST", "?").split("::")[-1].split(" ")[0]
        print(f"\nATTACK {test}: slowest probe {slowest * 1000:.0f} ms, RSS +{growth:.1f} MiB")
    assert slowest < PROBE_LIMIT, f"a probe took {slowest:.2f} s during the attack"
    assert growth < rss_limit, f"RSS grew {growth:.1f} MiB during the attack"


def send_until_stopped(client: RawClient, make_batch, stop: threading.Event, limit: int = 200) -> None:
    """Send batches of attack frames until stopped, closed, or ``limit`` batches."""
    for index in range(limit):
        if stop.is_set():
            return
        client.send(make_batch(index))


def request_batch(encoder: Encoder, first: int, count: int, headers: list,
                  end_stream: bool = True, then=None) -> bytes:
    """``count`` HEADERS frames on streams ``first``, ``first + 2``...; ``then(stream_id)``
    adds frames after each."""
    flags = ["END_HEADERS", "END_STREAM"] if end_stream else ["END_HEADERS"]
    frames = bytearray()
    for stream_id in range(first, first + 2 * count, 2):
        frames += HeadersFrame(stream_id, data=encoder.encode(headers), flags=flags).serialize()
        if then is not None:
            frames += then(stream_id)
    return bytes(frames)


def goaway_code(client: RawClient) -> int:
    return client.expect_goaway(timeout=15).error_code


@pytest.fixture
def target(fresh_server):
    return fresh_server()


def test_rapid_reset(target):
    attacker = RawClient(target.port)
    encoder = Encoder()

    def batch(index):
        return request_batch(encoder, 1 + 200 * index, 100, REQUEST, then=lambda stream_id:
                             RstStreamFrame(stream_id, error_code=ErrorCodes.CANCEL).serialize())

    assert_survived(*under_attack(target, lambda stop: send_until_stopped(attacker, batch, stop)))
    assert goaway_code(attacker) == ErrorCodes.ENHANCE_YOUR_CALM
    # Logged once, at warning level, with the reason (resets, or the refused streams
    # they can turn into while reset streams' app calls still count).
    assert target.log_count("(ENHANCE_YOUR_CALM)") == 1
    assert target.log_count("[WARNING] closing connection from 127.0.0.1: too many") == 1


def test_made_you_reset(target):
    """Zero WINDOW_UPDATEs make the *server* reset streams: the same budget applies."""
    attacker = RawClient(target.port)
    encoder = Encoder()
    slow = REQUEST[:3] + [(":path", "/sleep?s=0.2")]

    def batch(index):
        return request_batch(encoder, 1 + 200 * index, 100, slow, end_stream=False, then=lambda stream_id:
                             WindowUpdateFrame(stream_id, window_increment=0).serialize())

    assert_survived(*under_attack(target, lambda stop: send_until_stopped(attacker, batch, stop)))
    assert goaway_code(attacker) == ErrorCodes.ENHANCE_YOUR_CALM


def test_continuation_flood(target):
    attacker = RawClient(target.port)
    first = attacker.headers_frame(1, REQUEST, end_stream=True, end_headers=False)

    def attack(stop):
        attacker.send(first)
        send_until_stopped(attacker, lambda i: ContinuationFrame(1, data=b"\x40\x01a\x01b" * 1000).serialize(),
                           stop, limit=5000)

    assert_survived(*under_attack(target, attack))
    assert goaway_code(attacker) == ErrorCodes.PROTOCOL_ERROR


def test_hpack_bomb(target):
    attacker = RawClient(target.port)
    encoder = Encoder()

    def attack(stop):
        block = encoder.encode(REQUEST + [("bomb", "x" * 4000)]) + b"\xbe" * 4000
        attacker.send(HeadersFrame(1, data=block, flags=["END_HEADERS", "END_STREAM"]))

    assert_survived(*under_attack(target, attack, duration=1))
    assert goaway_code(attacker) == ErrorCodes.ENHANCE_YOUR_CALM


def test_zero_length_header_names(target):
    attacker = RawClient(target.port)
    attacker.send(attacker.headers_frame(1, REQUEST + [("", "value")]))
    assert attacker.expect_reset(1).error_code == ErrorCodes.PROTOCOL_ERROR
    encoder = attacker.encoder

    def batch(index):
        return request_batch(encoder, 3 + 100 * index, 50, REQUEST + [("", "")])

    assert_survived(*under_attack(target, lambda stop: send_until_stopped(attacker, batch, stop)))
    assert goaway_code(attacker) == ErrorCodes.ENHANCE_YOUR_CALM


@pytest.mark.parametrize("frame", [PingFrame(0, opaque_data=b"12345678"), SettingsFrame(0)],
                         ids=["ping-flood", "settings-flood"])
def test_control_frame_flood_without_reading(target, frame):
    """The attacker never reads our replies: reading stops, then the budget ends it."""
    attacker = RawClient(target.port)
    attacker.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    payload = frame.serialize() * 500
    attacker.sock.settimeout(2)

    def attack(stop):
        try:
            send_until_stopped(attacker, lambda i: payload, stop, limit=400)
        except TimeoutError:
            pass  # the server stopped reading from us: that is the defence

    assert_survived(*under_attack(target, attack))
    assert goaway_code(attacker) == ErrorCodes.ENHANCE_YOUR_CALM


def test_reset_flood_from_malformed_requests(target):
    """Requests that each force an RST_STREAM reply (CVE-2019-9514)."""
    attacker = RawClient(target.port)
    encoder = attacker.encoder

    def batch(index):
        return request_batch(encoder, 1 + 100 * index, 50, REQUEST + [("Upper", "x")])

    assert_survived(*under_attack(target, lambda stop: send_until_stopped(attacker, batch, stop)))
    assert goaway_code(attacker) == ErrorCodes.ENHANCE_YOUR_CALM


def test_empty_frames_flood(target):
    attacker = RawClient(target.port)
    attacker.request(1, "/echo", method="POST", end_stream=False)
    empty = DataFrame(1, data=b"").serialize() * 500
    assert_survived(*under_attack(target, lambda stop: send_until_stopped(attacker, lambda i: empty, stop)))
    assert goaway_code(attacker) == ErrorCodes.ENHANCE_YOUR_CALM


def test_resource_loop_priority_reshuffling(target):
    attacker = RawClient(target.port)

    def batch(index):
        return b"".join(PriorityFrame(1 + 2 * (i % 50), depends_on=1 + 2 * ((i + index) % 50) + 2,
                                      stream_weight=i % 256).serialize() for i in range(1000))

    assert_survived(*under_attack(target, lambda stop: send_until_stopped(attacker, batch, stop)))
    assert goaway_code(attacker) == ErrorCodes.ENHANCE_YOUR_CALM


def test_internal_data_buffering_client_never_reads(fresh_server):
    """Huge windows, big bodies, no reading: memory stays bounded; stalled writers are cut."""
    server = fresh_server("tests.apps:app", "--write-stall-timeout", "2")
    attacker = RawClient(server.port, settings={SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1},
                         auto_window=False)
    attacker.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    attacker.send(WindowUpdateFrame(0, window_increment=2**31 - 1 - 65535))
    for i in range(20):
        attacker.request(1 + 2 * i, "/big?mib=50")
    assert_survived(*under_attack(server, lambda stop: stop.wait(3), duration=3.5))
    assert server.log_count("has not read for", timeout=10) >= 1


def test_window_overflow(target):
    attacker = RawClient(target.port)

    def attack(stop):
        attacker.request(1, "/sleep?s=0.5")  # no DATA yet: both windows are full
        attacker.send(WindowUpdateFrame(1, window_increment=2**31 - 1))
        attacker.send(WindowUpdateFrame(0, window_increment=2**31 - 1))

    assert_survived(*under_attack(target, attack, duration=1))
    codes = []
    while (frame := attacker.read_frame(5)) is not None:
        if isinstance(frame, (RstStreamFrame, GoAwayFrame)):
            codes.append(frame.error_code)
    assert codes == [ErrorCodes.FLOW_CONTROL_ERROR, ErrorCodes.FLOW_CONTROL_ERROR]


def test_stream_exhaustion(fresh_server):
    server = fresh_server("tests.apps:app", "--max-concurrent-streams", "10")
    attacker = RawClient(server.port)
    frames = request_batch(attacker.encoder, 1, 15, REQUEST[:3] + [(":path", "/sleep?s=1")])
    assert_survived(*under_attack(server, lambda stop: attacker.send(frames), duration=1))
    refused = {f.stream_id for f in attacker.frames if isinstance(f, RstStreamFrame)
               and f.error_code == ErrorCodes.REFUSED_STREAM}
    while len(refused) < 5:
        frame = attacker.read_frame(5)
        assert frame is not None
        if isinstance(frame, RstStreamFrame) and frame.error_code == ErrorCodes.REFUSED_STREAM:
            refused.add(frame.stream_id)
    assert refused == {1 + 2 * i for i in range(10, 15)}


def test_requests_per_connection_cap_ends_gracefully(fresh_server):
    server = fresh_server("tests.apps:app", "--max-requests-per-connection", "3")
    client = RawClient(server.port)
    for stream_id in (1, 3, 5):
        client.request(stream_id)
        assert client.read_response(stream_id)[1] == b"hello world\n"
    goaways = [f for f in client.frames if isinstance(f, GoAwayFrame)]  # came with stream 5
    assert len(goaways) == 1
    assert goaways[0].error_code == ErrorCodes.NO_ERROR and goaways[0].last_stream_id == 5
    assert client.read_frame(5) is None  # then the connection closed


def test_huge_header_list(target):
    attacker = RawClient(target.port)

    def attack(stop):
        headers = REQUEST + [(f"x-h{i}", "v" * 1000) for i in range(100)]  # ~100 KiB > 64 KiB
        block = attacker.encoder.encode(headers)
        frames = [HeadersFrame(1, data=block[:16000], flags=["END_STREAM"])]
        for start in range(16000, len(block), 16000):
            frames.append(ContinuationFrame(1, data=block[start:start + 16000]))
        frames[-1].flags.add("END_HEADERS")
        attacker.send(b"".join(f.serialize() for f in frames))

    assert_survived(*under_attack(target, attack, duration=1))
    assert goaway_code(attacker) in (ErrorCodes.ENHANCE_YOUR_CALM, ErrorCodes.PROTOCOL_ERROR)


def test_slowloris_preface_and_headers(fresh_server):
    server = fresh_server("tests.apps:app", "--handshake-timeout", "1", "--header-timeout", "1",
                          "--idle-timeout", "2")
    silent = socket.create_connection(("127.0.0.1", server.port))
    trickling = socket.create_connection(("127.0.0.1", server.port))
    trickling.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n")  # headers never finish
    idle = socket.create_connection(("127.0.0.1", server.port))
    idle.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
    assert_survived(*under_attack(server, lambda stop: stop.wait(3), duration=3.5))
    silent.settimeout(5)
    trickling.settimeout(5)
    idle.settimeout(5)
    assert silent.recv(100) == b""  # closed: said nothing within the handshake timeout
    assert trickling.recv(200).startswith(b"HTTP/1.1 408 ")
    reply = b""
    while chunk := idle.recv(4096):  # answered, then closed when idle
        reply += chunk
    assert reply.startswith(b"HTTP/1.1 200 OK")


def test_connection_cap(fresh_server):
    server = fresh_server("tests.apps:app", "--max-connections", "5")
    held = [RawClient(server.port) for _ in range(5)]
    for client in held:
        client.request(1)
        client.read_response(1)
    extra = socket.create_connection(("127.0.0.1", server.port))
    extra.settimeout(5)
    assert extra.recv(100) == b""  # accepted and closed at once
    held[0].close()
    time.sleep(0.3)
    assert probe(server.port) < PROBE_LIMIT


def test_bad_preface_and_garbage_leave_no_tracebacks(target):
    def attack(stop):
        for i in range(200):
            if stop.is_set():
                return
            with socket.create_connection(("127.0.0.1", target.port)) as sock:
                sock.sendall(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" if i % 2 else b"\x16\x03\x01garbage\r\n\r\n")
                sock.settimeout(2)
                try:
                    sock.recv(100)
                except OSError:
                    pass

    assert_survived(*under_attack(target, attack))
    assert "Traceback" not in target.log


def test_data_dribble_slow(fresh_server):
    """A window opened a byte at a time: each byte is sent (a conformant client with a
    tiny window must make progress), but a stream never given a useful window is reset
    after the write-stall timeout."""
    server = fresh_server("tests.apps:app", "--write-stall-timeout", "2")
    attacker = RawClient(server.port, settings={SettingCodes.INITIAL_WINDOW_SIZE: 0},
                         auto_window=False)
    attacker.request(1, "/big?mib=5")

    def attack(stop):
        for _ in range(30):
            if stop.wait(0.1):
                return
            attacker.send(WindowUpdateFrame(1, window_increment=1))

    assert_survived(*under_attack(server, attack, duration=3.5))
    reset = attacker.wait_for(lambda f: isinstance(f, RstStreamFrame), timeout=10)
    assert reset.error_code == ErrorCodes.CANCEL
    sizes = [len(f.data) for f in attacker.frames if isinstance(f, DataFrame)]
    assert len(sizes) >= 10 and set(sizes) == {1}, sizes
    assert server.log_count("no window for") >= 1


def test_max_body_size_http2(fresh_server):
    server = fresh_server("tests.apps:app", "--max-body-size", "1000")
    client = RawClient(server.port)
    client.request(1, "/echo", method="POST", end_stream=False, extra=[("content-length", "5000")])
    headers, body = client.read_response(1)
    assert headers[":status"] == "413"
    client.request(3, "/echo", method="POST", end_stream=False)  # no length: counted as it comes
    client.send(DataFrame(3, data=b"x" * 1500))
    assert client.expect_reset(3).error_code == ErrorCodes.CANCEL
    client.request(5, "/echo", method="POST", end_stream=False)
    client.send(DataFrame(5, data=b"y" * 999, flags=["END_STREAM"]))
    assert client.read_response(5)[1] == b"y" * 999


def test_max_body_size_http1(fresh_server):
    server = fresh_server("tests.apps:app", "--max-body-size", "1000")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 413 ")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"5dc\r\n" + b"z" * 1500 + b"\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 413 ")


def test_tls_handshake_timeout(fresh_server, certificate):
    server = fresh_server("tests.apps:app", "--certfile", str(certificate["cert"]), "--keyfile",
                          str(certificate["key"]), "--handshake-timeout", "1")
    silent = socket.create_connection(("127.0.0.1", server.port))
    silent.settimeout(5)
    started = time.monotonic()
    assert silent.recv(100) == b""  # no ClientHello: closed after the timeout
    assert time.monotonic() - started < 4


def test_empty_continuation_frames(target):
    """Header blocks padded with empty CONTINUATION frames spend the budget."""
    attacker = RawClient(target.port)
    block = attacker.encoder.encode(REQUEST)

    def batch(index):
        stream_id = 1 + 2 * index
        frames = HeadersFrame(stream_id, data=block, flags=["END_STREAM"]).serialize()
        frames += ContinuationFrame(stream_id, data=b"").serialize() * 30
        return frames + ContinuationFrame(stream_id, data=b"", flags=["END_HEADERS"]).serialize()

    assert_survived(*under_attack(target, lambda stop: send_until_stopped(attacker, batch, stop)))
    assert goaway_code(attacker) == ErrorCodes.ENHANCE_YOUR_CALM


def test_data_on_closed_streams(target):
    """DATA on a finished stream: h2 answers each with RST_STREAM; they spend the budget."""
    attacker = RawClient(target.port)
    attacker.request(1)
    attacker.read_response(1)
    late = DataFrame(1, data=b"x").serialize() * 500
    assert_survived(*under_attack(target, lambda stop: send_until_stopped(attacker, lambda i: late, stop)))
    assert goaway_code(attacker) == ErrorCodes.ENHANCE_YOUR_CALM


# -- at an attacker's scale: several connections, every stream, 1 MiB responses --------

def attackers(port: int, count: int, settings: dict, rcvbuf: int | None = None) -> list:
    clients = [RawClient(port, settings=settings, auto_window=False) for _ in range(count)]
    for client in clients:
        if rcvbuf:
            client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    return clients


def open_big_streams(client: RawClient, count: int, wide_connection_window: bool,
                     path: str = BIG) -> None:
    frames = WindowUpdateFrame(0, window_increment=2**31 - 1 - 65535).serialize() if wide_connection_window else b""
    client.send(frames + request_batch(client.encoder, 1, count, REQUEST[:3] + [(":path", path)]))


# -- app threads held by clients that do not read (or do not send) -------------------
# A streaming endpoint (a generator, here under the PEP 3333 validator) blocks its app
# thread while the client does not read; the pool has 8 threads. Without shedding, two
# such connections starved every other client until the write-stall timeout (30 s).
STREAMED = "/big?mib=8"
SHED_FOR_THREADS = "every thread is busy (ENHANCE_YOUR_CALM)"


def test_slow_read_of_streamed_responses_at_scale(target):
    """8 connections x 100 streams of a streamed 8 MiB response, windows wide open, a
    4 KiB receive buffer, nothing read: the connections holding the threads are shed."""
    clients = attackers(target.port, 8, {SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1}, rcvbuf=4096)

    def attack(stop):
        for client in clients:
            open_big_streams(client, 100, True, STREAMED)
        stop.wait(3)

    assert_survived(*under_attack(target, attack, duration=3.5), SCALE_RSS_LIMIT_MIB)
    assert target.log_count(SHED_FOR_THREADS) >= 1


def test_slow_read_over_http1_at_scale(target):
    """32 HTTP/1.1 connections ask for a streamed response and never read it."""
    def attack(stop):
        sockets = []
        for _ in range(32):
            sock = socket.create_connection(("127.0.0.1", target.port))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(b"GET %s HTTP/1.1\r\nHost: a\r\n\r\n" % STREAMED.encode())
            sockets.append(sock)
        stop.wait(3)
        for sock in sockets:
            sock.close()

    assert_survived(*under_attack(target, attack, duration=3.5), SCALE_RSS_LIMIT_MIB)
    assert target.log_count("while every thread is busy") >= 1


def test_a_call_waiting_for_a_thread_sheds_the_longest_stuck_at_once():
    """The only app thread is held by a client that does not read. A new client's call
    does not wait until the holder passes STUCK_AFTER (30 s here, patched in): once it
    has waited QUEUE_PATIENCE, the connection stuck longest is shed for it."""
    patched = [sys.executable, "-c", "import sys, fasth2.server as server; "
               "server.STUCK_AFTER = 30.0; sys.argv[0] = 'fasth2'; "
               "from fasth2.__main__ import main; main()"]
    server = ServerProcess("tests.apps:app", "--threads", "1", command=patched)
    try:
        holder = socket.socket()
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        holder.connect(("127.0.0.1", server.port))
        holder.sendall(b"GET %s HTTP/1.1\r\nHost: a\r\n\r\n" % STREAMED.encode())
        time.sleep(0.5)  # its call fills the buffers and waits on it (past STUCK_MIN)
        answer = run_client("curl", "-s", "--max-time", "10", f"{server.url}/hello")
        assert answer.stdout == b"hello world\n"
        shed = re.search(r"wait on it \(([\d.]+) s\) while every thread is busy", server.log)
        assert shed is not None and float(shed.group(1)) < 30
        holder.close()
    finally:
        assert server.stop() == 0


def test_announced_bodies_never_sent_at_scale(target):
    """Slow POST: 8 connections x 100 streams announce a 1 MiB body and send 1 KiB of
    it; the app threads wait to read the rest. Those connections are shed."""
    clients = attackers(target.port, 8, {})
    headers = REQUEST[:3] + [(":path", "/digest"), ("content-length", str(2**20))]

    def attack(stop):
        for client in clients:
            client.send(request_batch(client.encoder, 1, 100, headers, end_stream=False,
                                      then=lambda stream_id: DataFrame(stream_id, data=b"p" * 1024).serialize()))
        stop.wait(3)

    assert_survived(*under_attack(target, attack, duration=3.5), SCALE_RSS_LIMIT_MIB)
    assert target.log_count(SHED_FOR_THREADS) >= 1


def test_internal_buffering_at_scale(target):
    """CVE-2019-9517: 8 connections x 100 streams of 1 MiB, every window wide open, a
    4 KiB receive buffer, nothing read: the budget holds memory, the hoarders are shed."""
    clients = attackers(target.port, 8, {SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1}, rcvbuf=4096)

    def attack(stop):
        for client in clients:
            open_big_streams(client, 100, True)
        stop.wait(3)

    assert_survived(*under_attack(target, attack, duration=3.5), SCALE_RSS_LIMIT_MIB)
    assert target.log_count("of responses it does not read (ENHANCE_YOUR_CALM)") >= 1


def test_data_dribble_at_scale(target):
    """CVE-2019-9511: 4 connections x 100 streams of 1 MiB, initial window 1, the
    connection window wide, then WINDOW_UPDATE(+1) on every stream every 2 ms."""
    clients = attackers(target.port, 4, {SettingCodes.INITIAL_WINDOW_SIZE: 1})
    updates = b"".join(WindowUpdateFrame(1 + 2 * k, window_increment=1).serialize() for k in range(100))

    def attack(stop):
        for client in clients:
            open_big_streams(client, 100, True)
        for _ in range(1500):
            if stop.is_set():
                return
            for client in clients:
                try:
                    client.send(updates)
                except OSError:
                    pass  # this one was ended already
            time.sleep(0.002)

    assert_survived(*under_attack(target, attack, duration=3), SCALE_RSS_LIMIT_MIB)
    for client in clients:
        assert goaway_code(client) == ErrorCodes.ENHANCE_YOUR_CALM


def test_stream_exhaustion_at_scale(target):
    """8 connections x (limit + 50) streams of 1 MiB at window 0, held open: the extras
    are refused, and what the others' apps produce stays within the budget."""
    clients = attackers(target.port, 8, {SettingCodes.INITIAL_WINDOW_SIZE: 0})

    def attack(stop):
        for client in clients:
            open_big_streams(client, 150, False)
        stop.wait(3)

    assert_survived(*under_attack(target, attack, duration=3.5), SCALE_RSS_LIMIT_MIB)
    refused = {f.stream_id for f in clients[0].frames
               if isinstance(f, RstStreamFrame) and f.error_code == ErrorCodes.REFUSED_STREAM}
    while len(refused) < 50:
        frame = clients[0].read_frame(5)
        assert frame is not None
        if isinstance(frame, RstStreamFrame) and frame.error_code == ErrorCodes.REFUSED_STREAM:
            refused.add(frame.stream_id)
    assert refused == {1 + 2 * i for i in range(100, 150)}
