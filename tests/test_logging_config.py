"""Logging set-up from the command line: ``--error-logfile`` and ``--log-config``
(dictConfig as JSON or TOML, or the ini format), routing fasth2.error and fasth2.access."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .helpers import ROOT, ServerProcess, run_client


def wait_for_text(path: Path, text: str, timeout: float = 10) -> str:
    """The file's content once it holds ``text`` (or at the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        content = path.read_text() if path.exists() else ""
        if text in content or time.monotonic() > deadline:
            return content
        time.sleep(0.05)


def routing_config(kind: str, access_file: Path) -> str:
    """A logging configuration sending fasth2.access to ``access_file`` as
    ``ACCESS <line>``, in ``kind`` (json, toml or ini)."""
    if kind == "json":
        return json.dumps({
            "formatters": {"access": {"format": "ACCESS %(message)s"}},
            "handlers": {"access": {"class": "logging.FileHandler", "filename": str(access_file),
                                    "formatter": "access"}},
            "loggers": {"fasth2.access": {"handlers": ["access"], "level": "INFO",
                                          "propagate": False}},
        })
    if kind == "toml":
        return (f'[formatters.access]\nformat = "ACCESS %(message)s"\n'
                f'[handlers.access]\nclass = "logging.FileHandler"\nfilename = "{access_file}"\n'
                f'formatter = "access"\n'
                f'[loggers."fasth2.access"]\nhandlers = ["access"]\nlevel = "INFO"\npropagate = false\n')
    # (fileConfig always redoes the root logger: it keeps an error log on stderr here)
    return ("[loggers]\nkeys=root,access\n[handlers]\nkeys=access,console\n"
            "[formatters]\nkeys=access\n"
            "[logger_root]\nhandlers=console\nlevel=INFO\n"
            "[handler_console]\nclass=StreamHandler\nargs=(sys.stderr,)\n"
            "[logger_access]\nqualname=fasth2.access\nhandlers=access\nlevel=INFO\npropagate=0\n"
            f"[handler_access]\nclass=FileHandler\nformatter=access\nargs=('{access_file}',)\n"
            "[formatter_access]\nformat=ACCESS %(message)s\n")


@pytest.mark.parametrize("kind", ["json", "toml", "ini"])
def test_a_log_config_routes_the_access_log(tmp_path, kind):
    access_file = tmp_path / "access.log"
    config = tmp_path / f"logging.{kind}"
    config.write_text(routing_config(kind, access_file))
    server = ServerProcess("tests.apps:app", "--log-config", str(config))
    try:
        run_client("curl", "-s", "-A", "probe/1", f"{server.url}/hello")
        content = wait_for_text(access_file, "probe/1")
        assert content.startswith('ACCESS 127.0.0.1 - - [') and '"GET /hello HTTP/1.1" 200 12' in content
        assert "probe/1" not in server.log  # not on the error log
        assert "Listening on" in server.log  # which is as it was
    finally:
        server.stop()


def test_the_error_log_goes_to_its_file(tmp_path):
    error_file = tmp_path / "error.log"
    socket_path = tmp_path / "fasth2.sock"
    process = subprocess.Popen(
        [sys.executable, "-m", "fasth2", "-b", f"unix:{socket_path}", "--error-logfile",
         str(error_file), "tests.apps:app"], cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    try:
        content = wait_for_text(error_file, "Listening on")
        assert "Listening on unix:" in content
        assert content.splitlines()[0].startswith("[")  # the default format
        result = run_client("curl", "-s", "--unix-socket", str(socket_path), "http://x/hello")
        assert result.stdout == b"hello world\n"
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=15)
    assert "shutting down gracefully" in error_file.read_text()
    assert output == ""  # nothing on stderr or stdout


@pytest.mark.parametrize("content, message", [
    ("{not json", "cannot apply the logging configuration"),
    ('{"handlers": {"h": {"class": "no.such.Handler"}}}', "cannot apply the logging configuration"),
])
def test_a_bad_log_config_is_an_error_at_start(tmp_path, content, message):
    config = tmp_path / "logging.json"
    config.write_text(content)
    result = subprocess.run([sys.executable, "-m", "fasth2", "--log-config", str(config),
                             "tests.apps:app"], cwd=ROOT, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 1
    assert message in result.stderr and str(config) in result.stderr


def test_a_missing_ini_log_config_is_an_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "fasth2", "--log-config",
                             str(tmp_path / "nope.ini"), "tests.apps:app"], cwd=ROOT,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "no such file" in result.stderr
