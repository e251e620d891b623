"""A quick throughput check: h2load against fasth2, pinned to separate cores.

Run: python bench/h2load_smoke.py [--rounds 3] [--requests 100000]
Prints each round's requests/s and the median. Needs h2load and taskset.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import ServerProcess  # noqa: E402


def h2load(url: str, requests: int, clients: int, streams: int) -> float:
    """One h2load run on core 1; returns requests per second."""
    result = subprocess.run(
        ["taskset", "-c", "1", "h2load", "-n", str(requests), "-c", str(clients),
         "-m", str(streams), url], capture_output=True, text=True, check=True)
    return float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", result.stdout).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--streams", type=int, default=10)
    args = parser.parse_args()
    server = ServerProcess("tests.apps:app")
    subprocess.run(["taskset", "-pc", "0", str(server.process.pid)], check=True,
                   capture_output=True)
    try:
        url = server.url + "/hello"
        h2load(url, 2000, args.clients, args.streams)  # warm-up
        rates = [h2load(url, args.requests, args.clients, args.streams) for _ in range(args.rounds)]
    finally:
        server.stop()
    print("rounds (req/s):", ", ".join(f"{r:,.0f}" for r in rates))
    print(f"median: {statistics.median(rates):,.0f} req/s "
          f"({args.clients} connections x {args.streams} streams, /hello)")


if __name__ == "__main__":
    main()
