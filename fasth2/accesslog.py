"""The access log: one line per request when its exchange ends, never blocking the loop.

Strategy: an ended ``Exchange`` (exchange.py) knows everything a line needs: the
request head, the status and response headers, the bytes delivered, the timing and
how it ended. ``AccessLog`` formats it with gunicorn's atoms (``%(h)s``, ``%(r)s``,
``%({user-agent}i)s``...) plus fasth2's own (``%(protocol)s``, ``%(stream)s``,
``%(delivered)s``, ``%(outcome)s``), computing only the atoms the format names, and
hands the line to the logger ``fasth2.access``, so that a logging configuration can
route it anywhere. The file handler fasth2 installs itself (``--access-logfile``) only
appends the line to a deque (given it directly while it is the logger's one handler);
a thread writes what gathered ten times a second, so a slow disk slows that thread,
not the event loop. The format is compiled once: each line computes just its atoms.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
import sys
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from .exchange import Exchange

#: gunicorn's default format (its ``access_log_format``).
DEFAULT_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'

log = logging.getLogger("fasth2.access")


def _text(value: bytes | None) -> str:
    return "-" if value is None else value.decode("latin-1")


def _user(exchange: "Exchange", request: dict) -> str:
    """The user of Basic authorization, as gunicorn logs it; "-" without one."""
    scheme, _, credentials = _text(request.get(b"authorization")).partition(" ")
    if scheme.lower() != "basic":
        return "-"
    try:
        return base64.b64decode(credentials, validate=True).decode("latin-1").partition(":")[0]
    except (binascii.Error, ValueError):
        return "-"


def _protocol_name(exchange: "Exchange", request: dict) -> str:
    return exchange.protocol


def _version(exchange: "Exchange", request: dict) -> str:
    return "HTTP/2" if exchange.http_version == "2" else "HTTP/" + exchange.http_version


def _request_line(exchange: "Exchange", request: dict) -> str:
    return (f"{_text(request.get(b':method'))} {_text(request.get(b':path'))} "
            f"{_version(exchange, request)}")


_clock = [0, ""]  # the last second formatted, and its text (one strftime a second)


def _start_time(exchange: "Exchange", request: dict) -> str:
    """When the request started, by the wall clock (``started`` is monotonic)."""
    second = int(time.time() - (time.monotonic() - exchange.started))
    if second != _clock[0]:
        _clock[:] = second, time.strftime("[%d/%b/%Y:%H:%M:%S %z]", time.localtime(second))
    return _clock[1]


def _duration(exchange: "Exchange") -> float:
    return max(0.0, (exchange.ended or time.monotonic()) - exchange.started)


#: Each atom: how to compute it from an ended exchange and its request headers (a
#: dict of the head's byte pairs).
ATOMS: dict[str, Callable[["Exchange", dict], object]] = {
    "h": lambda e, r: e.client,
    "l": lambda e, r: "-",
    "u": _user,
    "t": _start_time,
    "r": _request_line,
    "m": lambda e, r: _text(r.get(b":method")),
    "U": lambda e, r: _text(r.get(b":path")).partition("?")[0],
    "q": lambda e, r: _text(r.get(b":path")).partition("?")[2],
    "H": _version,
    "s": lambda e, r: e.status or "-",
    "B": lambda e, r: e.bytes_sent,
    "b": lambda e, r: e.bytes_sent or "-",
    "f": lambda e, r: _text(r.get(b"referer")),
    "a": lambda e, r: _text(r.get(b"user-agent")),
    "T": lambda e, r: int(_duration(e)),
    "D": lambda e, r: int(_duration(e) * 1_000_000),
    "M": lambda e, r: int(_duration(e) * 1000),
    "L": lambda e, r: f"{_duration(e):.6f}",
    "p": lambda e, r: f"<{os.getpid()}>",
    # fasth2's own
    "protocol": _protocol_name,
    "stream": lambda e, r: e.stream_id,
    "delivered": lambda e, r: e.bytes_sent,
    "received": lambda e, r: e.bytes_received,
    "outcome": lambda e, r: e.outcome or "-",
}

_ATOM = re.compile(r"%\((.*?)\)s|%%|%")


def _header_atom(key: str) -> Callable[["Exchange", dict], str] | None:
    """``{name}i`` (a request header) or ``{name}o`` (a response header)."""
    if not (key.startswith("{") and key[-2:] in ("}i", "}o")):
        return None
    name = key[1:-2].lower().encode("latin-1")
    if key[-1] == "i":
        return lambda e, r: _text(r.get(name))
    return lambda e, r: _text(dict(e.response_headers or ()).get(name))


def compile_format(text: str) -> tuple[str, list]:
    """``text`` as a positional template and the atoms that fill it, in order;
    ValueError naming the first atom (or ``%`` use) it does not know."""
    atoms = []

    def replace(match: re.Match) -> str:
        if match.group(0) == "%%":
            return "%%"
        key = match.group(1)
        atom = ATOMS.get(key) if key is not None else None
        if atom is None and key is not None:
            atom = _header_atom(key)
        if atom is None:
            what = f"unknown atom %({key})s" if key is not None else "a '%' without an atom"
            raise ValueError(f"bad access log format {text!r}: {what} (write '%%' for '%')")
        atoms.append(atom)
        return "%s"

    return _ATOM.sub(replace, text), atoms


def check_format(text: str) -> str:
    """``text`` if it is a valid access log format (see ``compile_format``)."""
    compile_format(text)
    return text


class AccessLog:
    """Formats ended exchanges and hands the lines to the ``fasth2.access`` logger.

    When the logger's only handler is the ``QueueWriter`` fasth2 installed
    (``--access-logfile``), the line goes to it directly: no LogRecord is made (a
    third of a line's cost), and nothing else could have seen one.
    """

    def __init__(self, format: str = DEFAULT_FORMAT, writer: "QueueWriter | None" = None) -> None:
        self.format = format
        self._template, self._atoms = compile_format(format)
        self._writer = writer

    def line(self, exchange: "Exchange") -> str:
        """The log line of ``exchange``."""
        request = dict(exchange.headers)
        return self._template % tuple([atom(exchange, request) for atom in self._atoms])

    def __call__(self, exchange: "Exchange") -> None:
        """Log ``exchange`` (it has ended)."""
        handlers = log.handlers
        writer = self._writer
        if writer is not None and len(handlers) == 1 and handlers[0] is writer \
                and not log.filters and not log.disabled:
            writer.put(self.line(exchange))
        elif log.isEnabledFor(logging.INFO):
            # Straight to the handlers: logging's search for the caller's source line
            # would cost more than the line itself.
            log.handle(logging.LogRecord(log.name, logging.INFO, __file__, 0,
                                         self.line(exchange), None, None))


def start_access_log(config) -> tuple[AccessLog | None, "QueueWriter | None"]:
    """This process's access log, and the handler fasth2 installed for it: a
    ``QueueWriter`` on ``config.access_logfile``. Without that file, the access log is
    on only if a logging configuration gave ``fasth2.access`` a handler of its own."""
    handler = None
    if config.access_logfile:
        handler = QueueWriter(config.access_logfile)
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False  # its lines are not error-log lines
    elif not log.handlers:
        return None, None
    return AccessLog(config.access_log_format, handler), handler


def stop_access_log(handler: "QueueWriter") -> None:
    """Write out the queued lines and take the handler away."""
    log.removeHandler(handler)
    handler.close()


#: Seconds between the writer thread's batches: the loop only appends to a deque.
WRITE_INTERVAL = 0.1
#: Lines kept waiting at most; past it (a disk slower than the traffic) new lines are
#: dropped and counted, rather than memory growing without bound.
MAX_WAITING = 100_000


class QueueWriter(logging.Handler):
    """A handler whose lines a writer thread appends to a file (``--access-logfile``):
    the caller only appends to a deque, the thread writes what gathered every
    WRITE_INTERVAL in one write. ``close`` writes what is left."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self._file = self._open()
        self._lines: deque[str] = deque()
        self._reopen = False
        self.dropped = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fasth2-access-log", daemon=True)
        self._thread.start()

    def _open(self):
        return sys.stdout if self.path == "-" else open(self.path, "a", encoding="utf-8")

    def put(self, line: str) -> None:
        """*Any thread*: queue a line."""
        if len(self._lines) < MAX_WAITING:
            self._lines.append(line)
        else:
            self.dropped += 1

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the record's message (the line itself; no formatter)."""
        self.put(record.getMessage())

    def reopen(self) -> None:
        """Open the file again at the next batch, e.g. after logrotate moved it."""
        self._reopen = True

    def _run(self) -> None:
        while not self._stop.wait(WRITE_INTERVAL):
            self._write()
        self._write()

    def _write(self) -> None:
        """Write what has gathered (in the writer thread, or at close)."""
        lines = self._lines
        batch = []
        try:
            while True:
                batch.append(lines.popleft())
        except IndexError:
            pass
        try:
            if self._reopen and self.path != "-":
                self._reopen = False
                self._file.close()
                self._file = self._open()
            if batch:
                self._file.write("\n".join(batch) + "\n")
                self._file.flush()
        except (OSError, ValueError):
            pass  # a full disk or a vanished folder: the server goes on

    def close(self) -> None:
        """Write out what is queued, then stop the thread."""
        if self.dropped:
            logging.getLogger("fasth2.error").warning(
                "access log: %d lines dropped (the disk was slower than the requests)",
                self.dropped)
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        if self._file is not sys.stdout:
            self._file.close()
        super().close()
