"""Profile fasth2's event-loop thread during an h2c hello-world run.

Run: python bench/profile_hello.py [--requests 50000] [--top 25] [--path /mib] [--shape 4x4]
Starts ``python -m cProfile -m fasth2`` on core 0, loads it with h2load on core 1
(h2c 10 connections x 10 streams, or ``--h1``: 10 HTTP/1.1 connections), stops it with SIGTERM (a graceful exit writes the profile) and prints the top
functions by own time. Only the loop thread is profiled; the app's threads are not.
"""

from __future__ import annotations

import argparse
import pstats
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from compare import free_port, wait_for_port  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--h1", action="store_true", help="load over HTTP/1.1 instead of h2c")
    parser.add_argument("--path", default="/", help="/ (hello), /mib (1 MiB responses)")
    parser.add_argument("--shape", default="10x10", help="connections x streams (h2c)")
    parser.add_argument("--upload", type=int, default=0, metavar="BYTES",
                        help="POST a body of this size with each request (use --path /upload)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        output = f"{folder}/fasth2.prof"
        port = free_port()
        server = subprocess.Popen(
            ["taskset", "-c", "0", sys.executable, "-m", "cProfile", "-o", output, "-m", "fasth2",
             "-b", f"127.0.0.1:{port}", "--log-level", "warning", "bench.apps:wsgi_app"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(port, server)
        clients, streams = args.shape.split("x")
        upload = []
        if args.upload:
            Path(f"{folder}/body").write_bytes(b"u" * args.upload)
            upload = ["-d", f"{folder}/body"]
        shape = ["--h1", "-c", clients] if args.h1 else ["-c", clients, "-m", streams]
        result = subprocess.run(["taskset", "-c", "1", "h2load", "-n", str(args.requests), *shape, *upload,
                                 f"http://127.0.0.1:{port}{args.path}"], capture_output=True, text=True)
        print(next(line for line in result.stdout.splitlines() if line.startswith("finished")))
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        stats = pstats.Stats(output)
        stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
