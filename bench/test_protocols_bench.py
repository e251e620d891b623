"""The same WSGI app through fasth2's HTTP/2 path and its httptools HTTP/1.1 path.

Run: python -m pytest bench/test_protocols_bench.py   (add --benchmark-autosave, then
--benchmark-compare, to compare versions). Real sockets and a real client (h2load);
each round sends 2,000 requests over 4 connections; ``extra_info`` holds requests/s.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import ServerProcess  # noqa: E402

REQUESTS = 2000
SHAPES = {
    "h2c (4 conns x 10 streams)": ["-c", "4", "-m", "10"],
    "h2 over TLS (4 conns x 10 streams)": ["-c", "4", "-m", "10"],
    "HTTP/1.1 (4 conns)": ["--h1", "-c", "4"],
    "HTTP/1.1 over TLS (4 conns)": ["--h1", "-c", "4"],
}


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """fasth2 serving bench.apps, in cleartext and over TLS."""
    from tests.conftest import write_certificate
    paths = write_certificate(tmp_path_factory.mktemp("bench-tls"))
    clear = ServerProcess("bench.apps:wsgi_app")
    tls = ServerProcess("bench.apps:wsgi_app", "--certfile", str(paths["cert"]),
                        "--keyfile", str(paths["key"]))
    yield {"clear": clear, "tls": tls}
    clear.stop()
    tls.stop()


def h2load(arguments: list[str], url: str) -> float:
    result = subprocess.run(["h2load", "-n", str(REQUESTS), *arguments, url],
                            capture_output=True, text=True, check=True)
    assert f"{REQUESTS} succeeded" in result.stdout, result.stdout
    return float(re.search(r"([\d.]+) req/s", result.stdout).group(1))


@pytest.mark.parametrize("shape", list(SHAPES))
def test_hello_world(benchmark, servers, shape):
    """2,000 hello-world requests: HTTP/2 and HTTP/1.1, cleartext and TLS."""
    server = servers["tls" if "TLS" in shape else "clear"]
    url = f"{server.scheme}://127.0.0.1:{server.port}/"
    benchmark.group = "fasth2: 2,000 hello-world requests"
    rates = []
    benchmark.pedantic(lambda: rates.append(h2load(SHAPES[shape], url)), rounds=5, iterations=1,
                       warmup_rounds=1)
    benchmark.extra_info["requests_per_second_median"] = sorted(rates)[len(rates) // 2]
