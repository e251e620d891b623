"""Peak memory of fasth2 and its peers: 1,000 idle h2c connections, and h2load runs.

Run: python bench/memory.py [--connections 1000] [--busy 100] [--servers fasth2,hypercorn,...]
     [--baseline DIR]

Each server starts as ``bench/compare.py`` starts it (same apps, single process, core
0). The resident set of its whole process tree (a server may fork a worker) is sampled
every 20 ms; the table shows the peak, and the baseline just after start-up:
- idle: ``--connections`` h2c connections opened (preface + SETTINGS), answered, held
  open for two seconds;
- 10 x 10: h2load, 10 connections x 10 streams of the hello app for four seconds;
- busy: ``--busy`` connections x 10 streams for eight seconds, each connection serving
  some thousands of streams: what a server keeps of the streams it has finished.
``--baseline DIR`` measures another fasth2 checkout too, as the server "baseline".
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from compare import (ensure_peers, free_port, running_server, server_and_root,  # noqa: E402
                     server_command, use_baseline)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
EMPTY_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def tree_rss_kib(pid: int) -> int:
    """Resident KiB of a process and all its descendants."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/statm") as statm:
                total += int(statm.read().split()[1]) * PAGE_KIB
            with open(f"/proc/{current}/task/{current}/children") as children:
                pending.extend(int(child) for child in children.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


class PeakSampler:
    """Samples a process tree's RSS in a thread; ``peak`` is the largest seen."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_kib(self.pid))
            time.sleep(0.02)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def hold_idle_connections(port: int, count: int) -> int:
    """Open ``count`` h2c connections, send the preface, wait for the server's SETTINGS.

    Returns how many got an answer; all are held open for two seconds, then closed.
    """
    sockets = []
    answered = 0
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(PREFACE + EMPTY_SETTINGS)
            sockets.append(sock)
        for sock in sockets:
            sock.settimeout(5)
            try:
                if sock.recv(65536):
                    answered += 1
            except OSError:
                pass
        time.sleep(2)
    finally:
        for sock in sockets:
            sock.close()
    return answered


def measure(server: str, connections: int, busy: int) -> dict | None:
    """Baseline, idle-connections peak, 10 x 10 peak and busy-connections peak (KiB)
    of one server."""
    port = free_port()
    server, root = server_and_root(server)
    command = server_command(server, "h2c", port, ("", ""))
    if command is None:
        return None
    try:
        with running_server(command, port, root) as process:
            time.sleep(1)
            result = {"baseline": tree_rss_kib(process.pid)}
            sampler = PeakSampler(process.pid)
            result["answered"] = hold_idle_connections(port, connections)
            result["idle"] = sampler.stop()
            sampler = PeakSampler(process.pid)
            subprocess.run(["taskset", "-c", "1", "h2load", "-c", "10", "-m", "10", "-D", "4",
                            f"http://127.0.0.1:{port}/"], capture_output=True, check=False)
            result["load"] = sampler.stop()
            # Connections that live long and serve many streams each (a proxy's to its
            # backends): what a server keeps per stream it has finished shows here.
            sampler = PeakSampler(process.pid)
            subprocess.run(["taskset", "-c", "1", "h2load", "-c", str(busy), "-m", "10", "-D",
                            "8", f"http://127.0.0.1:{port}/"], capture_output=True, check=False)
            result["busy"] = sampler.stop()
            return result
    except RuntimeError as exc:
        print(f"  {server}: {exc}", flush=True)
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--busy", type=int, default=100,
                        help="connections of the busy run (8 s of h2load, 10 streams each)")
    parser.add_argument("--servers", default="fasth2,hypercorn,granian,gunicorn")
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="another fasth2 checkout, measured as the server 'baseline'")
    args = parser.parse_args()
    servers = args.servers.split(",")
    if args.baseline:
        use_baseline(args.baseline, servers)
    ensure_peers()
    mib = 1024
    print(f"| server | after start-up | {args.connections:,} idle h2c connections | "
          f"10 x 10 h2load run | {args.busy} busy connections, 8 s |")
    print("|---|---|---|---|---|")
    for server in servers:
        result = measure(server, args.connections, args.busy)
        if result is None:
            print(f"| {server} | n/a | n/a | n/a | n/a |")
            continue
        note = "" if result["answered"] == args.connections else \
            f" ({result['answered']} answered)"
        print(f"| {server} | {result['baseline'] / mib:.1f} MiB | {result['idle'] / mib:.1f} MiB"
              f"{note} | {result['load'] / mib:.1f} MiB | {result['busy'] / mib:.1f} MiB |",
              flush=True)


if __name__ == "__main__":
    main()
