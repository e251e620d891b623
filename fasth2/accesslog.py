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
import json
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


def _user(authorization: bytes) -> str:
    """The user of Basic authorization, as gunicorn logs it; "-" without one."""
    scheme, _, credentials = authorization.decode("latin-1").partition(" ")
    if scheme.lower() != "basic":
        return "-"
    try:
        return base64.b64decode(credentials, validate=True).decode("latin-1").partition(":")[0]
    except (binascii.Error, ValueError):
        return "-"


#: The wall-clock second last formatted, as a span of the monotonic clock (exchanges
#: carry monotonic times), and its text: one strftime a second, and a line of that
#: second only compares its start with the span.
_clock = [0.0, 0.0, ""]


def _start_time(exchange: "Exchange") -> str:
    """When the request started, by the wall clock (``started`` is monotonic)."""
    started = exchange.started
    if not _clock[0] <= started < _clock[1]:
        wall = time.time() - (time.monotonic() - started)
        second = int(wall)
        begins = started - (wall - second)
        _clock[:] = begins, begins + 1.0, time.strftime("[%d/%b/%Y:%H:%M:%S %z]",
                                                         time.localtime(second))
    return _clock[2]


def _duration(exchange: "Exchange") -> float:
    return max(0.0, (exchange.ended or time.monotonic()) - exchange.started)


def _response_header(exchange: "Exchange", name: bytes) -> str:
    for key, value in exchange.response_headers or ():
        if key == name:
            return value.decode("latin-1")
    return "-"


#: Each atom: a Python expression of the ended exchange ``e`` and its request head as
#: a dict of byte pairs, ``r``. The format becomes one generated function (see
#: ``compile_format``), so a line costs no call per atom: the frequent atoms are
#: written out inline (header text, version, status, ``Exchange.client``),
#: each call saved being some 2 % of a line.
_VERSION = "('HTTP/2' if (x := e.http_version) == '2' else 'HTTP/' + x)"


def _header(name: str) -> str:
    """The expression of request header ``name`` as text ("-" when absent)."""
    return f"('-' if (x := r.get({name})) is None else x.decode('latin-1'))"


ATOMS: dict[str, str] = {
    "h": "(e.forwarded_for or e.connection.client)",
    "l": "'-'",
    "u": "'-' if (x := r.get(b'authorization')) is None else _user(x)",
    "t": "(c[2] if c[0] <= e.started < c[1] else _start_time(e))",
    "r": _header("b':method'") + " + ' ' + " + _header("b':path'") + " + ' ' + " + _VERSION,
    "m": _header("b':method'"),
    "U": _header("b':path'") + ".partition('?')[0]",
    "q": _header("b':path'") + ".partition('?')[2]",
    "H": _VERSION,
    "s": "('-' if (x := e.response_headers) is None else x[0][1].decode('latin-1'))",
    "B": "e.bytes_sent",
    "b": "e.bytes_sent or '-'",
    "f": _header("b'referer'"),
    "a": _header("b'user-agent'"),
    "T": "int(_duration(e))",
    "D": "int(_duration(e) * 1_000_000)",
    "M": "int(_duration(e) * 1000)",
    "L": "f'{_duration(e):.6f}'",
    "p": "'<' + str(os.getpid()) + '>'",
    # fasth2's own
    "protocol": "e.protocol",
    "stream": "e.stream_id",
    "delivered": "e.bytes_sent",
    "received": "e.bytes_received",
    "outcome": "e.outcome or '-'",
}
_HELPERS = {"_user": _user, "_start_time": _start_time, "_duration": _duration,
            "_response_header": _response_header, "c": _clock, "os": os}

_ATOM = re.compile(r"%\((.*?)\)s|%%|%")


def _header_atom(key: str, names: list) -> str | None:
    """``{name}i`` (a request header) or ``{name}o`` (a response header)."""
    if not (key.startswith("{") and key[-2:] in ("}i", "}o")):
        return None
    names.append(key[1:-2].lower().encode("latin-1"))
    constant = f"names[{len(names) - 1}]"
    return _header(constant) if key[-1] == "i" else f"_response_header(e, {constant})"


def compile_format(text: str) -> Callable[["Exchange"], str]:
    """``text`` as a function of an ended exchange returning its line; ValueError
    naming the first atom (or ``%`` use) it does not know.

    The function is generated: one local per atom and an f-string, so that a line is
    a handful of attribute reads (a lambda per atom and ``%`` made the access log cost
    15 % of a small request's instructions; this, about half of that).
    """
    pieces, atoms, names = [], [], []
    position = 0
    for match in _ATOM.finditer(text):
        pieces.append(text[position:match.start()])
        position = match.end()
        if match.group(0) == "%%":
            pieces.append("%")
            continue
        key = match.group(1)
        atom = None if key is None else ATOMS.get(key) or _header_atom(key, names)
        if atom is None:
            what = f"unknown atom %({key})s" if key is not None else "a '%' without an atom"
            raise ValueError(f"bad access log format {text!r}: {what} (write '%%' for '%')")
        pieces.append((atom,))
        atoms.append(atom)
    pieces.append(text[position:])
    body, lines = [], ["def line(e):"]
    if any("r.get" in atom for atom in atoms):
        lines.append("    r = dict(e.headers)")
    for piece in pieces:
        if isinstance(piece, tuple):
            lines.append(f"    v{len(body)} = {piece[0]}")
            body.append(f"{{v{len(body)}}}")
        else:  # literal text: JSON's escapes are Python's; braces doubled for the f-string
            body.append(json.dumps(piece, ensure_ascii=False)[1:-1].replace("{", "{{")
                        .replace("}", "}}"))
    lines.append(f'    return f"{"".join(body)}"')
    namespace = dict(_HELPERS, names=names)
    exec("\n".join(lines), namespace)  # (the source is ours: atoms are this table's)
    return namespace["line"]


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
        #: The log line of an ended exchange.
        self.line: Callable[["Exchange"], str] = compile_format(format)
        self._writer = writer
        #: ``log.handlers`` when the writer is the only handler (never, without one).
        self._writer_alone = [writer] if writer is not None else None

    def __call__(self, exchange: "Exchange") -> None:
        """Log ``exchange`` (it has ended)."""
        if log.handlers == self._writer_alone and not log.filters and not log.disabled:
            self._writer.put(self.line(exchange))
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
