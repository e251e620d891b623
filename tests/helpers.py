"""Test helpers: a real fasth2 server in a subprocess, and a raw-frame HTTP/2 client.

The server is started exactly as a user starts it (``python -m fasth2 ... module:app``)
on 127.0.0.1 port 0; the bound port is read from its "Listening on" log line.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from hpack import Decoder, Encoder
from hyperframe.frame import (DataFrame, Frame, GoAwayFrame, HeadersFrame, RstStreamFrame,
                              SettingsFrame, WindowUpdateFrame)

ROOT = Path(__file__).resolve().parent.parent
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
LISTENING = re.compile(r"Listening (?:on|at:) (https?)://(\S+):(\d+)")  # (gunicorn: "at:")


class ServerProcess:
    """``python -m fasth2`` running in a subprocess, with its log captured (or another
    ``command`` taking the same bind flags: gunicorn with fasth2's worker class)."""

    def __init__(self, app: str | None = "tests.apps:app", *args: str, env: dict | None = None,
                 binds: tuple[str, ...] = ("127.0.0.1:0",), pass_fds: tuple[int, ...] = (),
                 shell_prefix: str = "", command: list[str] | None = None) -> None:
        self.events_file = Path(os.environ.get("TMPDIR", "/tmp")) / f"fasth2-events-{os.getpid()}-{id(self)}"
        self.events_file.write_text("")
        full_env = dict(os.environ, FASTH2_TEST_EVENTS=str(self.events_file), PYTHONUNBUFFERED="1")
        full_env.update(env or {})
        bind_flags = [flag for bind in binds for flag in ("-b", bind)]
        command = [*(command or [sys.executable, "-m", "fasth2"]), *bind_flags, *args,
                   *([app] if app else [])]  # (None: the app is named by a config file)
        if shell_prefix:  # e.g. "exec 3<&7; LISTEN_PID=$$ LISTEN_FDS=1" (systemd's way)
            command = ["bash", "-c", f"{shell_prefix} exec {shlex.join(command)}"]
        self.process = subprocess.Popen(command, cwd=ROOT, env=full_env, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        pass_fds=pass_fds)
        self.lines: list[str] = []
        self._listening = threading.Event()
        self.port = 0
        self.scheme = "http"
        threading.Thread(target=self._read_log, daemon=True).start()
        if not self._listening.wait(15):
            self.stop()
            raise RuntimeError("server did not start:\n" + self.log)

    def _read_log(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)
            match = LISTENING.search(line)
            if match and not self._listening.is_set():
                self.scheme, self.port = match.group(1), int(match.group(3))
                self._listening.set()

    @property
    def log(self) -> str:
        """Everything the server printed so far."""
        return "".join(self.lines)

    @property
    def url(self) -> str:
        """The base URL (for TLS, with host ``localhost`` to match the certificate)."""
        host = "localhost" if self.scheme == "https" else "127.0.0.1"
        return f"{self.scheme}://{host}:{self.port}"

    def log_count(self, text: str, timeout: float = 5) -> int:
        """How often ``text`` is in the log, waiting (up to ``timeout``) for a first one.

        The log reaches us through a pipe and a reader thread, so a line the server
        wrote before it answered may still be on its way when the answer arrives. Once
        one is seen, a short pause lets any duplicate arrive too.
        """
        deadline = time.monotonic() + timeout
        while text not in self.log and time.monotonic() < deadline:
            time.sleep(0.02)
        if text in self.log:
            time.sleep(0.2)
        return self.log.count(text)

    def events(self) -> list[str]:
        """Lines the app recorded (see ``tests.apps.record``)."""
        return self.events_file.read_text().splitlines()

    def wait_for_event(self, line: str, timeout: float = 10) -> bool:
        """Wait until the app records ``line``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if line in self.events():
                return True
            time.sleep(0.02)
        return False

    def rss_kib(self) -> int:
        """The server process's resident set size, in KiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def signal(self, signum: int = signal.SIGTERM) -> None:
        """Send a signal to the server."""
        self.process.send_signal(signum)

    def stop(self) -> int:
        """Stop the server (SIGTERM, then SIGKILL) and return its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.events_file.unlink(missing_ok=True)
        return self.process.returncode


class RawClient:
    """An HTTP/2 client speaking raw frames, for protocol edge cases.

    It sends whatever frames a test builds (valid or not) and parses what comes back
    with hyperframe, decoding header blocks with its own HPACK decoder.
    """

    def __init__(self, port: int, *, preface: bool = True, settings: dict | None = None,
                 auto_window: bool = True) -> None:
        #: Return every DATA frame's bytes to the stream and connection windows as read.
        self.auto_window = auto_window
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.encoder = Encoder()
        self.decoder = Decoder()
        self.buffer = b""
        self.frames: list[Frame] = []
        if preface:
            settings_frame = SettingsFrame(0)
            settings_frame.settings = settings or {}
            self.send(PREFACE + settings_frame.serialize())

    def send(self, data: bytes | Frame) -> None:
        """Send raw bytes or a frame."""
        self.sock.sendall(data.serialize() if isinstance(data, Frame) else data)

    def headers_frame(self, stream_id: int, headers: list, *, end_stream: bool = True,
                      end_headers: bool = True) -> HeadersFrame:
        """A HEADERS frame with ``headers`` HPACK-encoded."""
        flags = (["END_STREAM"] if end_stream else []) + (["END_HEADERS"] if end_headers else [])
        frame = HeadersFrame(stream_id, flags=flags)
        frame.data = self.encoder.encode(headers)
        return frame

    def request(self, stream_id: int, path: str = "/hello", method: str = "GET",
                end_stream: bool = True, extra: list | None = None) -> None:
        """Send a request's HEADERS."""
        headers = [(":method", method), (":scheme", "http"), (":authority", "localhost"),
                   (":path", path)] + (extra or [])
        self.send(self.headers_frame(stream_id, headers, end_stream=end_stream))

    def read_frame(self, timeout: float = 10) -> Frame | None:
        """The next frame, or None when the server closed the connection."""
        self.sock.settimeout(timeout)
        while True:
            if len(self.buffer) >= 9:
                frame, length = Frame.parse_frame_header(memoryview(self.buffer[:9]))
                if len(self.buffer) >= 9 + length:
                    frame.parse_body(memoryview(self.buffer[9:9 + length]))
                    self.buffer = self.buffer[9 + length:]
                    if isinstance(frame, HeadersFrame):
                        frame.decoded = self.decoder.decode(frame.data, raw=True)
                    elif isinstance(frame, DataFrame) and self.auto_window:
                        self._return_window(frame)
                    self.frames.append(frame)
                    return frame
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                return None
            if not data:
                return None
            self.buffer += data

    def wait_for(self, predicate, timeout: float = 10) -> Frame | None:
        """Read frames until one satisfies ``predicate``; None if the connection ends."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frame = self.read_frame(max(0.01, deadline - time.monotonic()))
            if frame is None:
                return None
            if predicate(frame):
                return frame
        raise TimeoutError("no matching frame")

    def expect_goaway(self, timeout: float = 10) -> GoAwayFrame:
        """Read until a GOAWAY arrives; fail if the connection ends without one."""
        frame = self.wait_for(lambda f: isinstance(f, GoAwayFrame), timeout)
        assert frame is not None, "connection closed without GOAWAY"
        return frame

    def expect_reset(self, stream_id: int, timeout: float = 10) -> RstStreamFrame:
        """Read until RST_STREAM for ``stream_id`` arrives."""
        frame = self.wait_for(
            lambda f: isinstance(f, (RstStreamFrame, GoAwayFrame)) and
            (f.stream_id == stream_id or isinstance(f, GoAwayFrame)), timeout)
        assert isinstance(frame, RstStreamFrame), f"expected RST_STREAM, got {frame}"
        return frame

    def _return_window(self, frame: DataFrame) -> None:
        size = frame.flow_controlled_length
        try:
            if size and "END_STREAM" not in frame.flags:
                self.send(WindowUpdateFrame(frame.stream_id, window_increment=size).serialize() +
                          WindowUpdateFrame(0, window_increment=size).serialize())
            elif size:
                self.send(WindowUpdateFrame(0, window_increment=size))
        except (BrokenPipeError, ConnectionResetError):
            # The server has ended the connection (after its GOAWAY): there is no window
            # to return, and what it sent before is still ours to read.
            pass

    def read_response(self, stream_id: int, timeout: float = 10) -> tuple[dict, bytes]:
        """Read one whole response: (headers as a dict, body)."""
        headers: dict = {}
        body = bytearray()
        deadline = time.monotonic() + timeout
        earlier = [f for f in self.frames if f.stream_id == stream_id]  # read by wait_for
        while time.monotonic() < deadline:
            if earlier:
                frame = earlier.pop(0)
            else:
                frame = self.read_frame(max(0.01, deadline - time.monotonic()))
            assert frame is not None, "connection closed mid-response"
            if frame.stream_id != stream_id:
                continue
            if isinstance(frame, HeadersFrame):
                headers.update({k.decode(): v.decode() for k, v in frame.decoded})
            elif isinstance(frame, DataFrame):
                body += frame.data
            elif isinstance(frame, RstStreamFrame):
                raise AssertionError(f"stream {stream_id} reset: {frame.error_code}")
            if "END_STREAM" in frame.flags:
                return headers, bytes(body)
        raise TimeoutError(f"stream {stream_id} did not finish")

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


def raw_exchange(port: int, request: bytes, timeout: float = 10) -> bytes:
    """Send raw bytes, read until the server closes; return everything it sent."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply


def read_lines(path: Path, count: int, timeout: float = 10) -> list[str]:
    """A log file's lines once there are at least ``count`` (the writer thread is quick,
    not synchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def run_client(*command: str, timeout: float = 60, input: bytes | None = None) -> subprocess.CompletedProcess:
    """Run a command-line client (nghttp, curl, h2load) and return its completed process."""
    return subprocess.run(command, capture_output=True, timeout=timeout, input=input)
