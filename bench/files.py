"""1 GiB downloads: ``wsgi.file_wrapper`` (sendfile on HTTP/1.1) against an app that
reads the file and returns its bytes.

Run: python bench/files.py [--rounds 3] [--gib 1]

The server runs on core 0 (``taskset``), curl on core 1; the file is sparse (its pages
come from the page cache, as a hot static file's do). For each protocol (HTTP/1.1,
h2c) and app, the table gives the median download speed and the server's CPU seconds
per GiB (user + system, from /proc), rounds interleaved.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare import free_port, running_server  # noqa: E402

BLOCK = 256 * 1024


def read_and_return(environ, start_response):
    """The app without file_wrapper: the file read in blocks and yielded as bytes."""
    path = os.path.join(os.environ["FASTH2_STATIC_ROOT"], environ["PATH_INFO"].lstrip("/"))
    size = os.path.getsize(path)
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(size))])

    def blocks():
        with open(path, "rb") as file:
            while block := file.read(BLOCK):
                yield block
    return blocks()


APPS = {"file_wrapper": "fasth2.static:app", "bytes": "bench.files:read_and_return"}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def download(url: str, flag: str) -> float:
    """One curl download on core 1; bytes per second."""
    result = subprocess.run(["taskset", "-c", "1", "curl", "-sS", flag, "-o", "/dev/null",
                             "-w", "%{speed_download}", url], capture_output=True, text=True,
                            check=True, timeout=600)
    return float(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--gib", type=float, default=1.0)
    args = parser.parse_args()
    size = int(args.gib * 1024 ** 3)
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as root:
        with open(os.path.join(root, "big.bin"), "wb") as big:
            big.truncate(size)
        os.environ["FASTH2_STATIC_ROOT"] = root
        for protocol, flag in (("HTTP/1.1", "--http1.1"), ("h2c", "--http2-prior-knowledge")):
            for round_ in range(args.rounds):
                for app, target in APPS.items():
                    port = free_port()
                    command = [sys.executable, "-m", "fasth2", "-b", f"127.0.0.1:{port}",
                               "--log-level", "warning", target]
                    with running_server(command, port) as process:
                        # (taskset execs python in the same process: its pid is the server's)
                        before = cpu_seconds(process.pid)
                        speed = download(f"http://127.0.0.1:{port}/big.bin", flag)
                        cpu = (cpu_seconds(process.pid) - before) / args.gib
                    results.setdefault((protocol, app), []).append((speed, cpu))
                    print(f"  {protocol} {app} round {round_ + 1}: {speed / 2**20:,.0f} MiB/s, "
                          f"{cpu:.2f} CPU s/GiB", flush=True)
    print(f"\n{args.gib:g} GiB download, server on core 0, curl on core 1, "
          f"medians of {args.rounds}\n")
    print("| protocol | app | MiB/s | server CPU s per GiB | speed vs bytes |")
    print("|---|---|---:|---:|---:|")
    for protocol in ("HTTP/1.1", "h2c"):
        base = statistics.median(s for s, _ in results[(protocol, "bytes")])
        for app in APPS:
            runs = results[(protocol, app)]
            speed = statistics.median(s for s, _ in runs)
            cpu = statistics.median(c for _, c in runs)
            print(f"| {protocol} | {app} | {speed / 2**20:,.0f} | {cpu:.2f} | {speed / base:.2f}x |")


if __name__ == "__main__":
    main()
