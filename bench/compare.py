"""End-to-end comparison: fasth2 against its peers, under h2load, in the same run.

Run: python bench/compare.py [--rounds 3] [--duration 4] [--servers ...] [--scenarios ...]
     [--baseline DIR]

Each server runs single-process on core 0 (``taskset``), h2load on core 1; every
scenario runs ``--rounds`` times per server, servers interleaved round by round, and
the table shows medians and each peer's figure as a ratio to fasth2's. Peers are
installed into their own virtual environment (``bench/.venv-peers``), so the project's
dependencies stay clean; fasth2 runs from the current interpreter.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "bench" / ".venv-peers"
PEERS = ["hypercorn==0.18.0", "granian==2.8.9", "gunicorn==27.0.1", "uvicorn[standard]==0.54.0",
         "uvloop", "h2"]
MIB = 1024 * 1024


@dataclass(frozen=True)
class Scenario:
    """One load shape: protocol, h2load connections x streams, path, body to upload."""

    name: str
    protocol: str  # "h2c", "h2" (TLS) or "h1"
    clients: int
    streams: int
    path: str = "/"
    upload: bool = False
    unit: str = "req/s"


SCENARIOS = [
    Scenario("h2c 10 conns x 10 streams, hello", "h2c", 10, 10),
    Scenario("h2c 1 conn x 100 streams, hello", "h2c", 1, 100),
    Scenario("h2c 1 MiB responses, 4 x 4", "h2c", 4, 4, "/mib", unit="MiB/s"),
    Scenario("h2 (TLS) 10 x 10, hello", "h2", 10, 10),
    Scenario("HTTP/1.1 10 conns, hello", "h1", 10, 1),
    Scenario("h2c 1 MiB uploads, 4 x 4", "h2c", 4, 4, "/upload", upload=True, unit="MiB/s"),
    # More concurrent uploads on one connection than the app has threads (issue 11).
    Scenario("h2c 1 MiB uploads, 1 x 64", "h2c", 1, 64, "/upload", upload=True, unit="MiB/s"),
]


def server_command(name: str, protocol: str, port: int, tls: tuple[str, str]) -> list[str] | None:
    """How each server is started for a protocol, or None when it cannot serve it."""
    cert, key = tls
    bind = f"127.0.0.1:{port}"
    peer_bin = VENV / "bin"
    if name in ("fasth2", "fasth2+log", "fasth2+metrics"):
        extra = ["--certfile", cert, "--keyfile", key] if protocol == "h2" else []
        if name == "fasth2+log":  # the access log's cost (issue 14): a line per request
            extra += ["--access-logfile", ACCESS_LOG]
        if name == "fasth2+metrics":  # the metrics' cost (issue 14): counters per request
            extra += ["--metrics-bind", "127.0.0.1:0"]
        return [sys.executable, "-m", "fasth2", "-b", bind, "--log-level", "warning", *extra,
                "bench.apps:wsgi_app"]
    if name == "hypercorn":
        extra = ["--certfile", cert, "--keyfile", key] if protocol == "h2" else []
        return [str(peer_bin / "hypercorn"), "-k", "uvloop", "-w", "1", "-b", bind, *extra,
                "bench.apps:wsgi_app"]
    if name == "granian":
        http = {"h2c": "2", "h2": "auto", "h1": "1"}[protocol]
        extra = ["--ssl-certificate", cert, "--ssl-keyfile", key] if protocol == "h2" else []
        return [str(peer_bin / "granian"), "--interface", "wsgi", "--http", http, "--host",
                "127.0.0.1", "--port", str(port), "--workers", "1", "--no-ws", *extra,
                "bench.apps:wsgi_app"]
    if name == "gunicorn":
        extra = {"h2c": ["--http-protocols", "h2,h1", "--http2-cleartext", "prior-knowledge"],
                 "h2": ["--http-protocols", "h2,h1", "--certfile", cert, "--keyfile", key],
                 "h1": []}[protocol]
        return [str(peer_bin / "gunicorn"), "-w", "1", "-k", "gthread", "--threads", "8",
                "-b", bind, "--log-level", "warning", *extra, "bench.apps:wsgi_app"]
    if name in ("floor", "floor-inline"):  # not a server: what none can go below (floor.py)
        if protocol != "h1":
            return None  # HTTP/1.1 only
        inline = ["--inline"] if name == "floor-inline" else []
        return [sys.executable, str(ROOT / "bench" / "floor.py"), "--port", str(port), *inline,
                "bench.apps:wsgi_app"]
    if name == "uvicorn":
        if protocol != "h1":
            return None  # HTTP/1.1 only
        return [str(peer_bin / "uvicorn"), "--http", "httptools", "--loop", "uvloop",
                "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
                "--no-access-log", "bench.apps:asgi_app"]
    raise ValueError(name)


SERVERS = ["fasth2", "fasth2+log", "fasth2+metrics", "hypercorn", "granian", "gunicorn", "uvicorn"]
#: Not in the default run: bench/floor.py's bare HTTP/1.1 answerer, its app on a thread
#: handed over as fasth2 does ("floor") or on the loop ("floor-inline").
FLOORS = ["floor", "floor-inline"]
#: Where "fasth2+log" writes its access log (emptied after each run).
ACCESS_LOG = os.path.join(tempfile.gettempdir(), "fasth2-bench-access.log")


def ensure_peers() -> None:
    """Create the peers' virtual environment on first use."""
    if (VENV / "bin" / "granian").exists():
        return
    print(f"installing peers into {VENV} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(VENV / "bin" / "pip"), "install", "--quiet", *PEERS], check=True)


def make_certificate(folder: str) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (h2load does not verify it)."""
    cert, key = f"{folder}/cert.pem", f"{folder}/key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start listening")


def run_h2load(scenario: Scenario, url: str, duration: float, upload_file: str) -> float | None:
    """One measured h2load run on core 1; the scenario's figure, or None on failures."""
    command = ["taskset", "-c", "1", "h2load", "-c", str(scenario.clients), "-m",
               str(scenario.streams), "-D", f"{duration:g}", "--warm-up-time", "1"]
    if scenario.protocol == "h1":
        command.append("--h1")
    if scenario.upload:
        command += ["-d", upload_file]
    try:
        result = subprocess.run(command + [url + scenario.path], capture_output=True, text=True,
                                timeout=duration + 30)
    except subprocess.TimeoutExpired:
        print("    h2load hung (the server stopped answering)", flush=True)
        return None
    out = result.stdout
    rate = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
    counts = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", out)
    codes = re.search(r"status codes: (\d+) 2xx", out)
    if not rate or not counts or int(counts.group(2)) == 0 or not codes:
        print(f"    h2load failed: {(result.stderr or out).strip().splitlines()[-1:]}", flush=True)
        return None
    done, succeeded = int(counts.group(1)), int(counts.group(2))
    if succeeded < 0.99 * done or int(codes.group(1)) < 0.99 * succeeded:
        return None
    return float(rate.group(1))  # for the MiB/s scenarios each request moves 1 MiB


#: Another checkout of fasth2 to run as the server "baseline" (``--baseline DIR``).
BASELINE: Path | None = None


def use_baseline(directory: Path, servers: list[str]) -> None:
    """Run the fasth2 checkout in ``directory`` as one more server, "baseline"."""
    global BASELINE
    BASELINE = directory.resolve()
    servers.append("baseline")


def server_and_root(server: str) -> tuple[str, Path]:
    """The server to start, and the checkout to start it from ("baseline" is fasth2
    started from the ``--baseline`` checkout)."""
    if server == "baseline":
        return "fasth2", BASELINE
    return server, ROOT


@contextmanager
def running_server(command: list[str], port: int, root: Path = ROOT, cpus: str | None = "0",
                   env: dict[str, str] | None = None):
    """Run a server ``command`` from ``root`` on ``cpus`` (None: unpinned), with ``env``
    added to this process's environment; yield its process once ``port`` listens, and
    stop it (SIGTERM, then SIGKILL after 10 s) when the block ends."""
    env = dict(os.environ, **(env or {}), PYTHONPATH=str(root))
    pinned = ["taskset", "-c", cpus] if cpus else []
    process = subprocess.Popen([*pinned, *command], cwd=root, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def measure(server: str, scenario: Scenario, rounds: int, duration: float, tls, upload_file: str) -> list:
    """Start the server once for the scenario and run h2load ``rounds`` times."""
    port = free_port()
    server, root = server_and_root(server)
    command = server_command(server, scenario.protocol, port, tls)
    if command is None:
        return []
    try:
        with running_server(command, port, root):
            scheme = "https" if scenario.protocol == "h2" else "http"
            return [run_h2load(scenario, f"{scheme}://127.0.0.1:{port}", duration, upload_file)
                    for _ in range(rounds)]
    except RuntimeError as exc:
        print(f"    {server}: {exc}", flush=True)
        return [None] * rounds
    finally:
        if os.path.exists(ACCESS_LOG):
            os.remove(ACCESS_LOG)  # (the log of "fasth2+log": 10^5 lines a run)


def format_table(results: dict, servers: list[str], scenarios: list[Scenario]) -> str:
    """A Markdown table: medians, and each peer's figure as a ratio to fasth2's."""
    header = "| scenario | " + " | ".join(servers) + " |"
    lines = [header, "|" + "---|" * (len(servers) + 1)]
    for scenario in scenarios:
        medians = {}
        for server in servers:
            values = [v for v in results.get((server, scenario.name), []) if v is not None]
            medians[server] = statistics.median(values) if values else None
        base = medians.get("fasth2")
        cells = []
        for server in servers:
            value = medians[server]
            if value is None:
                cells.append("n/a")
            elif server == "fasth2" or not base:
                cells.append(f"{value:,.0f} {scenario.unit}")
            else:
                cells.append(f"{value:,.0f} ({value / base:.2f}× fasth2)")
        lines.append(f"| {scenario.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=4, help="seconds per h2load run")
    parser.add_argument("--servers", default=",".join(SERVERS),
                        help=f"comma-separated, from {', '.join(SERVERS + FLOORS)}")
    parser.add_argument("--scenarios", default="", help="substring filter on scenario names")
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="another fasth2 checkout (e.g. a git worktree of main) to run "
                             "as the server 'baseline', to measure a change in the same run")
    args = parser.parse_args()
    servers = args.servers.split(",")
    if args.baseline:
        use_baseline(args.baseline, servers)
    scenarios = [s for s in SCENARIOS if args.scenarios.lower() in s.name.lower()]
    ensure_peers()
    results: dict = {}
    with tempfile.TemporaryDirectory() as folder:
        tls = make_certificate(folder)
        upload_file = f"{folder}/upload.bin"
        Path(upload_file).write_bytes(os.urandom(MIB))
        progress = sys.stdout.isatty()
        for scenario in scenarios:
            print(f"{scenario.name}:", flush=True)
            for _ in range(args.rounds):  # interleave servers, one run each per round
                for server in servers:
                    if progress:
                        print(f"  ... {server}", end="\r", flush=True)
                    values = measure(server, scenario, 1, args.duration, tls, upload_file)
                    if values:
                        results.setdefault((server, scenario.name), []).extend(values)
            for server in servers:
                values = results.get((server, scenario.name))
                if values:
                    shown = ", ".join("fail" if v is None else f"{v:,.0f}" for v in values)
                    print(f"  {server:<10} {shown}", flush=True)
    print()
    print(f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; server on core 0, h2load on core 1; "
          f"median of {args.rounds} x {args.duration:g} s runs")
    print(format_table(results, servers, scenarios))


if __name__ == "__main__":
    main()
