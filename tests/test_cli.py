"""The command line: flags, app paths, one-line errors, and the programmatic API."""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from typing import Iterator

import httpx
import pytest

from fasth2 import Config, __version__
from fasth2.settings import load_settings

from fasth2.speedups import SLOW_BUILD_WARNING

from .helpers import LISTENING, ROOT, ServerProcess, run_client
from .test_processes import pid_over_new_connection, serving_workers


@contextlib.contextmanager
def serving(command: list[str], cwd) -> Iterator[tuple[subprocess.Popen, int]]:
    """Run a server command until its "Listening on" line; yield (process, port).

    On exit the server gets SIGTERM and must stop with status 0.
    """
    process = subprocess.Popen(command, cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        while True:
            line = process.stdout.readline()
            assert line, "the server exited before listening"
            match = LISTENING.search(line)
            if match:
                break
        yield process, int(match.group(3))
    finally:
        process.send_signal(signal.SIGTERM)
        process.output, _ = process.communicate(timeout=10)
    assert process.returncode == 0


def fasth2(*args: str, cwd=ROOT, env: dict | None = None, timeout: float = 20):
    """Run ``python -m fasth2`` to completion."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "fasth2", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout,
                          env={k: v for k, v in full_env.items() if v is not None})


@pytest.mark.parametrize("argv, field, value", [
    ([], "binds", ("127.0.0.1:8000",)),
    (["-b", "0.0.0.0:80"], "binds", ("0.0.0.0:80",)),
    (["-b", "127.0.0.1:1", "--bind", "[::1]:2"], "binds", ("127.0.0.1:1", "[::1]:2")),
    (["--threads", "3"], "threads", 3),
    (["--graceful-timeout", "2.5"], "graceful_timeout", 2.5),
    (["--log-level", "debug"], "log_level", "debug"),
    (["--max-concurrent-streams", "7"], "max_concurrent_streams", 7),
    (["--certfile", "c.pem", "--keyfile", "k.pem"], "certfile", "c.pem"),
    (["--max-requests-per-connection", "50"], "max_requests_per_connection", 50),
    (["--max-requests", "500"], "max_requests", 500),
    (["--keyfile-password", "pw"], "keyfile_password", "pw"),
    (["--ca-certs", "ca.pem", "--cert-reqs", "required"], "cert_reqs", "required"),
    (["--ca-certs", "ca.pem", "--cert-reqs", "1"], "cert_reqs", "optional"),
    (["--ca-certs", "ca.pem"], "ca_certs", "ca.pem"),
    (["--ciphers", "ECDHE+CHACHA20"], "ciphers", "ECDHE+CHACHA20"),
    (["--tls-min-version", "1.3"], "tls_min_version", "1.3"),
    (["--max-requests-jitter", "20"], "max_requests_jitter", 20),
    (["-w", "4"], "workers", 4),
    (["--workers", "3"], "workers", 3),
    (["-t", "12"], "timeout", 12.0),
    (["--timeout", "0"], "timeout", 0.0),
    (["--preload"], "preload", True),
    (["--reuse-port"], "reuse_port", True),
    (["--umask", "007"], "umask", 0o007),
    (["-m", "0o027"], "umask", 0o027),
    (["--pid", "/run/f.pid"], "pidfile", "/run/f.pid"),
    (["-p", "x.pid"], "pidfile", "x.pid"),
    (["--reload"], "reload", True),
    (["--reload-dir", "src", "--reload-dir", "lib"], "reload_dirs", ("src", "lib")),
    (["-b", "unix:/tmp/a.sock", "-b", "fd://3"], "binds", ("unix:/tmp/a.sock", "fd://3")),
    (["--max-body-size", "1024"], "max_body_size", 1024),
    (["--max-connections", "9"], "max_connections", 9),
    (["--idle-timeout", "2.5"], "idle_timeout", 2.5),
    (["--backlog", "64"], "backlog", 64),
    (["--handshake-timeout", "3"], "handshake_timeout", 3.0),
    (["--header-timeout", "4"], "header_timeout", 4.0),
    (["--write-stall-timeout", "5"], "write_stall_timeout", 5.0),
    (["--response-memory", "1000000"], "response_memory", 1_000_000),
    (["--response-memory-per-connection", "65536"], "response_memory_per_connection", 65536),
])
def test_flag_sets_config_field(argv, field, value):
    config = load_settings([*argv, "app:app"], environ={}).config
    assert getattr(config, field) == value


def test_defaults_are_documented_values():
    config = Config()
    assert config.binds == ("127.0.0.1:8000",) and config.graceful_timeout == 5.0
    assert config.max_concurrent_streams == 100 and config.max_header_list_size == 65536


@pytest.mark.parametrize("env, build", [({"FASTH2_NO_EXTENSIONS": None}, "compiled speedups"),
                                        ({"FASTH2_NO_EXTENSIONS": "1"}, "pure Python")])
def test_version_names_the_build(env, build):
    if build == "compiled speedups" and importlib.util.find_spec("fasth2._speedups") is None:
        pytest.skip("the compiled speedups are not built here")
    result = fasth2("--version", env=env)
    assert result.returncode == 0
    assert result.stdout.strip() == f"fasth2 {__version__} ({build})"


def test_the_version_is_the_installed_packages():
    assert importlib.metadata.version("fasth2") == __version__
    assert fasth2("--version").stdout.startswith(f"fasth2 {__version__} (")


def test_help_lists_every_option():
    result = fasth2("--help")
    for option in ("--bind", "--certfile", "--keyfile", "--threads", "--graceful-timeout",
                   "--log-level", "--version", "--max-concurrent-streams", "--max-requests",
                   "--max-body-size", "--max-connections", "--idle-timeout", "--backlog",
                   "--workers", "--max-requests-jitter", "--max-requests-per-connection",
                   "--timeout", "--preload", "--reuse-port", "--umask", "--pid", "--reload",
                   "--keyfile-password", "--ca-certs", "--cert-reqs", "--ciphers",
                   "--tls-min-version"):
        assert option in result.stdout


@pytest.mark.parametrize("app, message", [
    ("no_such_module:app", "fasth2: error: cannot import module 'no_such_module'"),
    ("tests.apps:nope", "fasth2: error: module 'tests.apps' has no attribute 'nope'"),
    ("tests.apps:CHUNK", "fasth2: error: 'tests.apps:CHUNK' is not callable"),
    (":app", "fasth2: error: invalid application path ':app'"),
])
def test_bad_app_path_is_one_line_error(app, message):
    result = fasth2("-b", "127.0.0.1:0", app)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(message)
    assert "Traceback" not in result.stderr


def test_missing_certificate_is_one_line_error(tmp_path):
    result = fasth2("-b", "127.0.0.1:0", "--certfile", str(tmp_path / "nope.pem"),
                    "--keyfile", str(tmp_path / "nope.key"), "tests.apps:app")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == \
        f"fasth2: error: certificate file '{tmp_path / 'nope.pem'}' not found"


def test_invalid_certificate_is_one_line_error(tmp_path):
    (tmp_path / "bad.pem").write_text("not a certificate")
    result = fasth2("-b", "127.0.0.1:0", "--certfile", str(tmp_path / "bad.pem"),
                    "--keyfile", str(tmp_path / "bad.pem"), "tests.apps:app")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("fasth2: error: cannot load certificate")


@pytest.mark.parametrize("argv, message", [
    (["--certfile", "c.pem"], "TLS needs both certfile and keyfile"),
    (["--cert-reqs", "required"], "cert_reqs required needs ca_certs"),
    (["--cert-reqs", "sometimes"], "'sometimes': expected none, optional or required"),
    (["-w", "0"], "workers must be at least 1"),
    (["--umask", "9z"], "'9z' is not an octal mask"),
])
def test_inconsistent_settings_are_usage_errors(argv, message):
    result = fasth2(*argv, "tests.apps:app")
    assert result.returncode == 2
    assert message in result.stderr


def test_busy_port_is_one_line_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = fasth2("-b", f"127.0.0.1:{port}", "tests.apps:app")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == \
        f"fasth2: error: cannot listen on 127.0.0.1:{port}: address already in use"


def test_factory_form(fresh_server):
    server = fresh_server("tests.apps:make_app()")
    with httpx.Client(http1=False, http2=True) as client:
        assert client.get(server.url + "/hello").text == "hello world\n"


def test_current_directory_is_importable(tmp_path):
    (tmp_path / "myproject.py").write_text(textwrap.dedent("""
        def application(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"from the current directory"]
    """))
    with serving([sys.executable, "-m", "fasth2", "-b", "127.0.0.1:0", "myproject"],
                 cwd=tmp_path) as (process, port):
        with httpx.Client(http1=False, http2=True) as client:
            assert client.get(f"http://127.0.0.1:{port}/").text == "from the current directory"


def test_several_binds(fresh_server):
    server = fresh_server("tests.apps:app", "-b", "127.0.0.1:0")
    deadline = time.monotonic() + 10
    while server.log.count("Listening on") < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    ports = [int(match.group(3)) for match in LISTENING.finditer(server.log)]
    assert len(ports) == 2 and ports[0] != ports[1]
    with httpx.Client(http1=False, http2=True) as client:
        for port in ports:
            assert client.get(f"http://127.0.0.1:{port}/hello").status_code == 200


def test_programmatic_run(tmp_path):
    script = tmp_path / "serve.py"
    script.write_text(textwrap.dedent("""
        import logging
        import fasth2
        from tests.apps import app
        logging.basicConfig(level=logging.INFO)
        fasth2.run(app, binds=("127.0.0.1:0",), threads=2)
        print("run returned")
    """))
    with serving([sys.executable, str(script)], cwd=ROOT) as (process, port):
        with httpx.Client(http1=False, http2=True) as client:
            assert client.get(f"http://127.0.0.1:{port}/hello").text == "hello world\n"
    assert "run returned" in process.output


def test_programmatic_server_api():
    """``Server`` inside a running loop: start, serve a request, shut down."""
    import asyncio

    import fasth2
    from tests.apps import app

    async def main():
        server = fasth2.Server(app, Config(binds=("127.0.0.1:0",)))
        await server.start()
        host, port = server.addresses[0][:2]
        async with httpx.AsyncClient(http1=False, http2=True) as client:
            response = await client.get(f"http://{host}:{port}/hello")
        await server.shutdown()
        return response

    response = asyncio.run(main())
    assert response.status_code == 200 and response.http_version == "HTTP/2"


#: Run the command line with the compiled module unimportable (as if never built).
WITHOUT_COMPILED = ("import sys; sys.modules['fasth2._speedups'] = None; "
                    "from fasth2.__main__ import main; sys.exit(main(sys.argv[1:]))")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_pure_build_nobody_chose_warns_once_at_start_up(workers):
    server = ServerProcess("tests.process_apps:app", "-w", workers,
                           env={"FASTH2_NO_EXTENSIONS": ""},
                           command=[sys.executable, "-c", WITHOUT_COMPILED])
    try:
        if workers == "2":
            serving_workers(server, 2)  # (each has started, and served)
        else:
            pid_over_new_connection(server.port)
        assert server.log.count(SLOW_BUILD_WARNING) == 1
        assert "(pure Python), app tests.process_apps:app" in server.log
    finally:
        assert server.stop() == 0


@pytest.mark.parametrize("how", ["chosen", "compiled"])
def test_a_chosen_or_compiled_build_does_not_warn(how):
    if how == "compiled" and importlib.util.find_spec("fasth2._speedups") is None:
        pytest.skip("the compiled speedups are not built here")
    server = ServerProcess("tests.apps:app",
                           env={"FASTH2_NO_EXTENSIONS": "1" if how == "chosen" else ""})
    try:
        assert run_client("curl", "-s", f"{server.url}/hello").stdout == b"hello world\n"
        assert "pure-Python build" not in server.log
    finally:
        assert server.stop() == 0
