"""Scaling with worker processes: hello-app req/s at 1, 2, ... workers, against granian.

Run: python bench/scaling.py [--rounds 3] [--duration 4] [--max-workers N] [--clients 32]
     [--load-threads N] [--servers ...]

For each worker count W, from 1 up to the core count (or ``--max-workers``), three
servers: fasth2 ``-w W`` (one listening socket inherited by every worker), fasth2
``-w W --reuse-port`` (a socket per worker, SO_REUSEPORT) and granian ``--workers W``;
rounds interleaved server by server. The load is h2load over h2c (``--clients``
connections x 10 streams, one h2load thread per core unless ``--load-threads``), unpinned: with W equal to the
core count no core is left for h2load, so on a small machine the top row includes
h2load's share of the CPU. The table gives req/s medians, the speed-up over the same
server's 1-worker figure, and the spread of connections across workers: the busiest
worker's share of them, read with ``ss`` halfway through each run (1/W is even).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare import VENV, ensure_peers, free_port, running_server  # noqa: E402

SERVERS = ["fasth2", "fasth2 --reuse-port", "granian"]


def server_command(server: str, workers: int, port: int) -> list[str]:
    """The command line of one server with ``workers`` worker processes."""
    if server.startswith("fasth2"):
        extra = ["--reuse-port"] if "--reuse-port" in server else []
        return [sys.executable, "-m", "fasth2", "-b", f"127.0.0.1:{port}", "-w", str(workers),
                "--log-level", "warning", *extra, "bench.apps:wsgi_app"]
    return [str(VENV / "bin" / "granian"), "--interface", "wsgi", "--http", "2", "--host",
            "127.0.0.1", "--port", str(port), "--workers", str(workers), "--no-ws",
            "bench.apps:wsgi_app"]


def connections_per_process(port: int) -> Counter:
    """Established connections on ``port``, counted by the pid that holds each."""
    listing = subprocess.run(["ss", "-tnpH", "state", "established", f"( sport = :{port} )"],
                             capture_output=True, text=True).stdout
    return Counter(re.findall(r"pid=(\d+)", listing))


def run_once(server: str, workers: int, clients: int, duration: float,
             load_threads: int) -> tuple[float | None, float]:
    """One server start and one h2load run: (req/s or None on failures, busiest share)."""
    port = free_port()
    with running_server(server_command(server, workers, port), port, cpus=None):
        time.sleep(0.5 + 0.2 * workers)  # every worker up, not only the first
        load = subprocess.Popen(
            ["h2load", "-c", str(clients), "-m", "10", "-t", str(min(clients, load_threads)),
             "-D", f"{duration:g}", "--warm-up-time", "1", f"http://127.0.0.1:{port}/"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(1 + duration / 2)
        spread = connections_per_process(port)
        out, _ = load.communicate(timeout=duration + 60)
    share = max(spread.values()) / sum(spread.values()) if spread else 1.0
    rate = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
    counts = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", out)
    if not rate or not counts or int(counts.group(2)) < 0.99 * int(counts.group(1)):
        return None, share
    return float(rate.group(1)), share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--max-workers", type=int, default=os.cpu_count())
    parser.add_argument("--load-threads", type=int, default=os.cpu_count(),
                        help="h2load threads (1: every connection opened by one thread, "
                        "in a burst)")
    parser.add_argument("--servers", nargs="+", default=SERVERS, choices=SERVERS)
    args = parser.parse_args()
    ensure_peers()
    counts = range(1, args.max_workers + 1)
    results: dict[tuple[str, int], list] = {}
    for workers in counts:
        for round_ in range(args.rounds):
            for server in args.servers:
                rate, share = run_once(server, workers, args.clients, args.duration,
                                       args.load_threads)
                results.setdefault((server, workers), []).append((rate, share))
                shown = f"{rate:,.0f} req/s" if rate else "failed"
                print(f"  {server} -w {workers} round {round_ + 1}: {shown}, "
                      f"busiest worker {share:.0%}", flush=True)
    print(f"\nh2c {args.clients} conns x 10 streams, hello; {os.cpu_count()} cores; "
          f"h2load threads {args.load_threads}; medians of {args.rounds} rounds\n")
    print("| server | workers | req/s | speed-up | busiest worker's share of connections |")
    print("|---|---:|---:|---:|---:|")
    for server in args.servers:
        base = None
        for workers in counts:
            runs = results[(server, workers)]
            rates = [rate for rate, _ in runs if rate]
            rate = statistics.median(rates) if rates else None
            share = statistics.median(share for _, share in runs)
            if workers == 1:
                base = rate
            speedup = f"{rate / base:.2f}x" if rate and base else "-"
            shown = f"{rate:,.0f}" if rate else "failed"
            print(f"| {server} | {workers} | {shown} | {speedup} | {share:.0%} |")


if __name__ == "__main__":
    main()
