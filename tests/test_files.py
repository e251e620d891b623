"""File responses: ``wsgi.file_wrapper`` with os.sendfile on HTTP/1.1 cleartext, read in
blocks on HTTP/2 and TLS, and byte ranges, through the static-file example app
(fasth2/static.py) and curl."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from .helpers import ServerProcess, run_client

SIZE = 3_000_000


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("www")
    (root / "blob.bin").write_bytes(os.urandom(SIZE))
    (root / "page.html").write_text("<p>hi</p>\n")
    with open(root / "huge.bin", "wb") as huge:  # sparse: 512 MiB that cost no disk
        huge.truncate(512 * 1024 * 1024)
    outside = root.parent / "secret.txt"
    outside.write_text("not to be served\n")
    (root / "escape.txt").symlink_to(outside)
    return root


@pytest.fixture(scope="module")
def static_server(site):
    process = ServerProcess("fasth2.static:app", "--log-level", "debug",
                            env={"FASTH2_STATIC_ROOT": str(site)})
    yield process
    process.stop()


def curl(url: str, *flags: str) -> subprocess.CompletedProcess:
    return run_client("curl", "-sS", "-D", "-", *flags, url)


def head_and_body(result: subprocess.CompletedProcess) -> tuple[str, bytes]:
    head, _, body = result.stdout.partition(b"\r\n\r\n")
    return head.decode("latin-1").lower(), body


def test_http11_cleartext_uses_sendfile(static_server, site):
    result = curl(static_server.url + "/blob.bin", "--http1.1")
    head, body = head_and_body(result)
    assert head.startswith("http/1.1 200") and f"content-length: {SIZE}" in head
    assert body == (site / "blob.bin").read_bytes()
    assert static_server.log_count(f"sendfile: {SIZE} bytes in") == 1


def test_http2_reads_the_file_in_blocks(static_server, site):
    before = static_server.log.count("sendfile:")
    result = curl(static_server.url + "/blob.bin", "--http2-prior-knowledge")
    head, body = head_and_body(result)
    assert head.startswith("http/2 200") and body == (site / "blob.bin").read_bytes()
    assert static_server.log.count("sendfile:") == before  # no sendfile on HTTP/2


@pytest.mark.parametrize("flag", ["--http1.1", "--http2-prior-knowledge"])
@pytest.mark.parametrize("asked, first, last", [
    ("100-199", 100, 199), ("2999900-", 2_999_900, SIZE - 1), ("-50", SIZE - 50, SIZE - 1),
    ("0-0", 0, 0), ("2999999-5000000", SIZE - 1, SIZE - 1),
])
def test_byte_ranges(static_server, site, flag, asked, first, last):
    head, body = head_and_body(curl(static_server.url + "/blob.bin", flag, "-r", asked))
    assert " 206" in head.splitlines()[0]
    assert f"content-range: bytes {first}-{last}/{SIZE}" in head
    assert body == (site / "blob.bin").read_bytes()[first:last + 1]


def test_unsatisfiable_and_ignored_ranges(static_server):
    head, body = head_and_body(curl(static_server.url + "/blob.bin", "-r", "5000000-"))
    assert " 416" in head.splitlines()[0] and f"content-range: bytes */{SIZE}" in head
    head, body = head_and_body(curl(static_server.url + "/blob.bin", "-r", "0-1,5-6"))
    assert " 200" in head.splitlines()[0] and len(body) == SIZE  # several ranges: whole


def test_head_and_types_and_what_is_not_served(static_server):
    head, body = head_and_body(run_client("curl", "-sS", "-I", static_server.url + "/page.html"))
    assert "content-type: text/html" in head and "content-length: 10" in head
    assert "accept-ranges: bytes" in head and "last-modified: " in head and body == b""
    for path in ("/escape.txt", "/nope", "/", "/../secret.txt"):
        head, _ = head_and_body(curl(static_server.url + path, "--path-as-is"))
        assert " 404" in head.splitlines()[0], path


def test_tls_reads_in_blocks(tmp_path, site):
    from .conftest import write_certificate
    paths = write_certificate(tmp_path)
    server = ServerProcess("fasth2.static:app", "--log-level", "debug", "--certfile",
                           str(paths["cert"]), "--keyfile", str(paths["key"]),
                           env={"FASTH2_STATIC_ROOT": str(site)})
    try:
        for flag in ("--http1.1", "--http2"):
            result = curl(server.url + "/blob.bin", flag, "--cacert", str(paths["ca"]))
            assert head_and_body(result)[1] == (site / "blob.bin").read_bytes()
        assert "sendfile:" not in server.log
    finally:
        server.stop()


def peak_rss_kib(server: ServerProcess) -> int:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+)", status).group(1))


@pytest.mark.parametrize("flag", ["--http1.1", "--http2-prior-knowledge"])
def test_half_a_gibibyte_never_sits_in_memory(site, flag):
    server = ServerProcess("fasth2.static:app", env={"FASTH2_STATIC_ROOT": str(site)})
    try:
        result = run_client("curl", "-sS", flag, "-o", "/dev/null", "-w", "%{size_download}",
                            server.url + "/huge.bin", timeout=120)
        assert result.stdout == str(512 * 1024 * 1024).encode()
        assert peak_rss_kib(server) < 120 * 1024  # the file is 512 MiB
    finally:
        server.stop()


def test_a_client_leaving_mid_sendfile_harms_nothing(static_server):
    left = run_client("curl", "-sS", "--http1.1", "--limit-rate", "2M", "-m", "1", "-o",
                      "/dev/null", static_server.url + "/huge.bin")
    assert left.returncode == 28  # curl's timeout: it hung up mid-body
    head, body = head_and_body(curl(static_server.url + "/page.html", "--http1.1"))
    assert " 200" in head.splitlines()[0] and body == b"<p>hi</p>\n"
