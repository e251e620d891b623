"""The access log (``--access-logfile``, ``--access-logformat``): one line per request.

Real servers with the log in a file, real clients (curl, nghttp, httpx, raw frames); the
lines are read back from the file.
"""

from __future__ import annotations

import re
import signal
import ssl
import subprocess
import sys
import time

import httpx
import pytest
from hyperframe.frame import DataFrame, RstStreamFrame

from fasth2.accesslog import ATOMS

from .conftest import write_certificate
from .helpers import RawClient, ServerProcess, read_lines, run_client
from .test_processes import serving_workers

FIELDS = "%(protocol)s|%(r)s|%(s)s|%(delivered)s|%(outcome)s|%(stream)s|%(h)s|%(M)s"


def fields(line: str) -> list[str]:
    return line.split("|")


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """A TLS server (ALPN h2 and http/1.1) and a cleartext one, logging to one file
    each in FIELDS's format."""
    folder = tmp_path_factory.mktemp("access")
    paths = write_certificate(folder)
    servers = {}
    for name, tls in (("clear", ()), ("tls", ("--certfile", str(paths["cert"]),
                                               "--keyfile", str(paths["key"])))):
        log = folder / f"{name}.log"
        process = ServerProcess("tests.apps:app", *tls, "--access-logfile", str(log),
                                "--access-logformat", FIELDS)
        process.access_log = log
        process.logged = 0  # lines the tests made it write so far
        process.ca = str(paths["ca"])
        servers[name] = process
    yield servers
    for process in servers.values():
        process.stop()


def new_lines(server: ServerProcess, action) -> list[list[str]]:
    """The lines ``action()`` added to ``server``'s access log (it returns how many
    requests it made)."""
    before = server.logged
    server.logged += action()
    return [fields(line) for line in read_lines(server.access_log, server.logged)[before:]]


def test_one_line_per_request_on_each_protocol(logged):
    clear, tls = logged["clear"], logged["tls"]
    body = b"hello world\n"  # what /hello answers
    lines = new_lines(clear, lambda: (run_client("curl", "-sf", f"{clear.url}/hello?v=1"), 1)[1])
    assert lines == [["HTTP/1.1", "GET /hello?v=1 HTTP/1.1", "200", str(len(body)), "complete",
                      "1", "127.0.0.1", lines[0][7]]]
    lines = new_lines(clear, lambda: (run_client("nghttp", "-n", f"{clear.url}/hello",
                                                 f"{clear.url}/status?code=418"), 2)[1])
    assert sorted((line[0], line[1], line[2], line[4]) for line in lines) == [
        ("h2c", "GET /hello HTTP/2", "200", "complete"),
        ("h2c", "GET /status?code=418 HTTP/2", "418", "complete")]

    def over_tls():
        trust = ssl.create_default_context(cafile=tls.ca)
        with httpx.Client(http2=True, verify=trust) as client:
            assert client.get(f"{tls.url}/hello").http_version == "HTTP/2"
        with httpx.Client(http2=False, verify=trust) as client:
            client.post(f"{tls.url}/echo", content=b"p" * 100_000)
        return 2
    lines = new_lines(tls, over_tls)
    assert [(line[0], line[1], line[2], line[3]) for line in lines] == [
        ("h2", "GET /hello HTTP/2", "200", str(len(body))),
        ("HTTP/1.1", "POST /echo HTTP/1.1", "200", "100000")]
    assert all(int(line[7]) >= 0 for line in lines)  # %(M)s: milliseconds


def test_failures_are_logged_with_how_they_ended(logged):
    clear = logged["clear"]

    def fail():
        run_client("curl", "-s", f"{clear.url}/error-before")
        run_client("nghttp", "-n", f"{clear.url}/error-after")
        return 2
    lines = sorted(new_lines(clear, fail), key=lambda line: line[1])
    assert [(line[1], line[2], line[4]) for line in lines] == [
        ("GET /error-after HTTP/2", "200", "server reset"),
        ("GET /error-before HTTP/1.1", "500", "complete")]
    assert int(lines[0][3]) > 0  # body bytes went out before the failure


def test_a_client_reset_is_logged_with_the_bytes_it_got(logged):
    clear = logged["clear"]

    def reset_midway():
        client = RawClient(clear.port)
        client.request(1, "/big?mib=50")
        client.wait_for(lambda frame: isinstance(frame, DataFrame) and frame.stream_id == 1)
        client.send(RstStreamFrame(1, error_code=8))  # CANCEL
        client.request(3, "/hello")  # the connection goes on
        client.read_response(3)
        client.close()
        return 2
    lines = {line[1]: line for line in new_lines(clear, reset_midway)}
    reset = lines["GET /big?mib=50 HTTP/2"]
    assert reset[4] == "client reset" and reset[2] == "200"
    assert 0 < int(reset[3]) < 50 * 1024 * 1024
    assert lines["GET /hello HTTP/2"][4] == "complete"


def test_the_default_format_is_gunicorns(tmp_path):
    log = tmp_path / "access.log"
    server = ServerProcess("tests.apps:app", "--access-logfile", str(log))
    try:
        run_client("curl", "-s", "-A", "tester/1.0", "-e", "http://example.com/",
                   "-u", "alice:secret", f"{server.url}/hello?x=1")
        line, = read_lines(log, 1)
        pattern = (r'127\.0\.0\.1 - alice \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] '
                   r'"GET /hello\?x=1 HTTP/1\.1" 200 12 "http://example\.com/" "tester/1\.0"')
        assert re.fullmatch(pattern, line), line
        assert "GET /hello" not in server.log  # the error log has no access lines
    finally:
        server.stop()


def test_header_atoms(tmp_path):
    log = tmp_path / "access.log"
    server = ServerProcess("tests.apps:app", "--access-logfile", str(log),
                           "--access-logformat", "%({x-trace}i)s %({content-type}o)s %({nope}o)s")
    try:
        run_client("curl", "-s", "-H", "X-Trace: abc123", f"{server.url}/hello")
        assert read_lines(log, 1) == ["abc123 text/plain -"]
    finally:
        server.stop()


def test_every_atom_and_any_literal_text_in_a_format(tmp_path):
    log = tmp_path / "access.log"
    atoms = "|".join(f"%({name})s" for name in ATOMS)
    literal = '{braces} "quotes" \\back\\slash 100%% \u00e9'
    server = ServerProcess("tests.apps:app", "--access-logfile", str(log),
                           "--access-logformat", f"{literal}|{atoms}")
    try:
        run_client("curl", "-s", "-u", "bob:pw", "-e", "http://r.example/", "-A", "agent/2",
                   f"{server.url}/status?code=404")
        line, = read_lines(log, 1)
        text, *values = line.split("|")
        assert text == literal.replace("%%", "%")
        got = dict(zip(ATOMS, values))
        assert (got["h"], got["l"], got["u"], got["m"], got["U"], got["q"]) == (
            "127.0.0.1", "-", "bob", "GET", "/status", "code=404")
        assert got["r"] == "GET /status?code=404 HTTP/1.1" and got["H"] == "HTTP/1.1"
        assert (got["s"], got["B"], got["b"], got["f"], got["a"]) == (
            "404", "0", "-", "http://r.example/", "agent/2")
        assert got["p"] == f"<{server.process.pid}>" and got["protocol"] == "HTTP/1.1"
        assert (got["stream"], got["delivered"], got["received"], got["outcome"]) == (
            "1", "0", "0", "complete")
        assert int(got["D"]) >= int(got["M"]) * 1000 and float(got["L"]) >= int(got["T"])
        assert re.fullmatch(r"\[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]", got["t"])
    finally:
        server.stop()


def test_an_unknown_atom_is_refused_by_name():
    result = subprocess.run([sys.executable, "-m", "fasth2", "--access-logformat", "%(h)s %(nope)s",
                             "tests.apps:app"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "%(nope)s" in result.stderr


@pytest.mark.parametrize("workers", [1, 2])
def test_sigusr1_reopens_the_file_after_logrotate(tmp_path, workers):
    log = tmp_path / "access.log"
    server = ServerProcess("tests.process_apps:app", "-w", str(workers),
                           "--access-logfile", str(log))
    try:
        if workers > 1:
            serving_workers(server, workers)  # (one still booting would not reopen)
        run_client("curl", "-s", f"{server.url}/pid?n=1")
        wait = time.monotonic() + 10
        while "n=1" not in (log.read_text() if log.exists() else "") and time.monotonic() < wait:
            time.sleep(0.05)
        log.rename(tmp_path / "access.log.1")  # what logrotate does
        server.signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while server.log.count("Received SIGUSR1") < workers and time.monotonic() < deadline:
            time.sleep(0.05)  # each worker says it reopens
        assert server.log.count("Received SIGUSR1") == workers
        for n in range(2, 6):  # any worker may answer: each must write to the new file
            run_client("curl", "-s", f"{server.url}/pid?n={n}")
        # (two workers write their own batches: in order each, interleaved in the file)
        assert sorted(line.split('"')[1] for line in read_lines(log, 4)) == [
            f"GET /pid?n={n} HTTP/1.1" for n in range(2, 6)]
        rotated = (tmp_path / "access.log.1").read_text()
        assert "/pid?n=1 " in rotated and "/pid?n=2" not in rotated
    finally:
        server.stop()
