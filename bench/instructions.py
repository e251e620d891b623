"""Instructions per request of the whole server process, counted by callgrind.

Run: python bench/instructions.py [--protocol h1|h2c] [--requests N] [--baseline DIR]

Throughput on this machine moves by 20 % from run to run; instruction counts do not
(to about 1 %). The server (``bench.apps:wsgi_app``, every thread) runs under
``valgrind --tool=callgrind`` with a fixed hash seed, h2load sends N and then 3 N
requests, and the difference of the two totals over 2 N is the cost of one request,
start-up and shutdown cancelled out. ``--baseline DIR`` counts another checkout the
same way, for a before/after of one change. Needs valgrind (Debian: valgrind).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOAD = {"h1": ["--h1", "-c", "10"], "h2c": ["-c", "10", "-m", "10"]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def total_instructions(checkout: Path, protocol: str, requests: int) -> int:
    """Instructions the server executed from start to exit, serving ``requests``."""
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={folder}/out",
                   sys.executable, "-m", "fasth2", "-b", f"127.0.0.1:{port}",
                   "--log-level", "warning", "bench.apps:wsgi_app"]
        env = dict(os.environ, PYTHONHASHSEED="0")
        server = subprocess.Popen(command, cwd=checkout, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.3)
        subprocess.run(["h2load", *LOAD[protocol], "-n", str(requests),
                        f"http://127.0.0.1:{port}/"], check=True, capture_output=True)
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=120)
    found = re.search(r"refs:\s*([\d,]+)", output)
    if found is None:
        raise RuntimeError("callgrind printed no total:\n" + output[-2000:])
    return int(found.group(1).replace(",", ""))


def per_request(checkout: Path, protocol: str, requests: int) -> int:
    """Instructions of one request: the totals at N and 3 N requests, differenced."""
    small = total_instructions(checkout, protocol, requests)
    large = total_instructions(checkout, protocol, 3 * requests)
    return (large - small) // (2 * requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--protocol", choices=sorted(LOAD), default="h1")
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="another fasth2 checkout, counted the same way")
    args = parser.parse_args()
    rows = [("fasth2", ROOT)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    counts = {name: per_request(path, args.protocol, args.requests) for name, path in rows}
    for name, count in counts.items():
        ratio = f" ({count / counts['fasth2']:.3f} x fasth2)" if name != "fasth2" else ""
        print(f"{args.protocol} hello, {name}: {count:,} instructions a request{ratio}")


if __name__ == "__main__":
    main()
