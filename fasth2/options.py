"""The option table: every setting the command line, the environment and a config file
can give, each mapped onto one ``Config`` field.

Strategy: one row per option (its flags, the field it sets, how text becomes a value,
its help). The argparse flags, the ``FASTH2_*`` environment variables and the keys of
``--config fasth2.toml`` are all generated from these rows (see settings.py), so an
option cannot exist in one of them and be forgotten in another; a test checks that
every ``Config`` field but the programmatic ``ssl_context_factory`` has a row. Names
follow gunicorn's flags where gunicorn has the option (``--access-logformat``,
``--pid``, ``--umask``); a row's key and environment name come from its long flag.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .accesslog import check_format
from .proxy import TrustedPeers

#: How a row takes values: one value, a switch (``--x/--no-x``), or a repeatable flag.
VALUE, SWITCH, LIST = "value", "switch", "list"

#: Environment variables read as options carry this prefix.
ENV_PREFIX = "FASTH2_"


@dataclass(frozen=True)
class Option:
    """One option: its flags (the long name last), the ``Config`` field it sets, how a
    string becomes its value, and its help (``{default}`` is the field's default)."""

    flags: tuple[str, ...]
    field: str
    help: str
    parse: Callable[[str], Any] = str
    kind: str = VALUE
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    group: str | None = None

    @property
    def name(self) -> str:
        """The long name without dashes: the config file's key (``access-logfile``)."""
        return self.flags[-1][2:]

    @property
    def env(self) -> str:
        """The environment variable (``FASTH2_ACCESS_LOGFILE``)."""
        return ENV_PREFIX + self.name.upper().replace("-", "_")


# -- parsers: text (a flag, an environment variable, a string in the file) to a value.
# Each raises ValueError with a message that makes sense after the option's name.

def whole_number(text: str) -> int:
    """An integer such as ``8`` or ``1_048_576``."""
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None


def seconds(text: str) -> float:
    """A number of seconds, such as ``2.5``."""
    try:
        return float(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a number of seconds") from None


def switch(text: str) -> bool:
    """A yes/no value as environment variables spell it: 1/0, true/false, yes/no, on/off."""
    word = text.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{text!r} is not one of 1/0, true/false, yes/no, on/off")


def octal_mask(text: str) -> int:
    """A umask: octal (``007``, ``0o027``) or hexadecimal with ``0x``."""
    try:
        return int(text, 0) if text[:2].lower() in ("0o", "0x") else int(text, 8)
    except ValueError:
        raise ValueError(f"{text!r} is not an octal mask such as 007") from None


def cert_reqs(text: str) -> str:
    """none, optional or required; gunicorn's ssl.CERT_* numbers 0/1/2 too."""
    names = ("none", "optional", "required")
    if text.isdigit() and int(text) < len(names):
        return names[int(text)]
    if text not in names:
        raise ValueError(f"{text!r}: expected none, optional or required")
    return text


def peer_list(text: str) -> str:
    """Addresses and CIDR ranges, or ``*``: checked now, kept as written."""
    TrustedPeers(text)
    return text


def mount_point(text: str) -> str:
    """A --root-path: kept without its trailing slash (``/app/`` is ``/app``)."""
    return text.rstrip("/")


_TLS, _H2, _PROXY, _PROCESSES, _LOGGING = ("TLS", "HTTP/2 and memory", "behind a proxy",
                                           "processes", "logging and metrics")

#: Every option, in --help order.
OPTIONS: tuple[Option, ...] = (
    Option(("-b", "--bind"), "binds", "address to listen on, repeatable: HOST:PORT, "
           "unix:PATH or fd://N (default {default})", kind=LIST, metavar="HOST:PORT"),
    Option(("--threads",), "threads", "threads running the app in each worker process "
           "(default {default})", whole_number, metavar="N"),
    Option(("--batch-scheduling",), "batch_scheduling", "run HTTP/1.1 app calls under "
           "Linux's SCHED_BATCH policy: waking their thread does not preempt the event "
           "loop, which holds the GIL (default: on)", switch, SWITCH),
    Option(("--graceful-timeout",), "graceful_timeout", "time in-flight requests get after "
           "SIGTERM/SIGINT (default {default})", seconds, metavar="SECONDS"),
    Option(("--max-concurrent-streams",), "max_concurrent_streams", "HTTP/2 streams a client "
           "may have open at once (default {default})", whole_number, metavar="N"),
    Option(("--max-requests-per-connection",), "max_requests_per_connection", "requests per "
           "connection before a graceful close, 0 for no cap (default {default})",
           whole_number, metavar="N"),
    Option(("--max-body-size",), "max_body_size", "largest request body accepted, larger "
           "gets 413 (default: no limit)", whole_number, metavar="BYTES"),
    Option(("--max-connections",), "max_connections", "connections served at once "
           "(default {default})", whole_number, metavar="N"),
    Option(("--idle-timeout",), "idle_timeout", "close connections idle this long "
           "(default {default})", seconds, metavar="SECONDS"),
    Option(("--handshake-timeout",), "handshake_timeout", "time allowed for a TLS handshake "
           "and a new connection's first bytes (default {default})", seconds, metavar="SECONDS"),
    Option(("--header-timeout",), "header_timeout", "time allowed for an HTTP/1.1 request's "
           "headers, then 408 (default {default})", seconds, metavar="SECONDS"),
    Option(("--write-stall-timeout",), "write_stall_timeout", "time allowed to a client that "
           "stops reading (default {default})", seconds, metavar="SECONDS"),
    Option(("--backlog",), "backlog", "listen backlog (default {default})", whole_number,
           metavar="N"),
    Option(("--server-header",), "server_header", "send 'Server: fasth2' unless the app "
           "sets a Server field (default: on; Date is always sent)", switch, SWITCH),

    Option(("--certfile",), "certfile", "PEM certificate (chain): serve h2 over TLS",
           metavar="FILE", group=_TLS),
    Option(("--keyfile",), "keyfile", "PEM private key for --certfile", metavar="FILE",
           group=_TLS),
    Option(("--keyfile-password",), "keyfile_password", "password of an encrypted "
           "--keyfile (visible to ps: prefer a key file readable by the server's user alone)",
           metavar="PASSWORD", group=_TLS),
    Option(("--ca-certs",), "ca_certs", "PEM CAs that client certificates must chain to",
           metavar="FILE", group=_TLS),
    Option(("--cert-reqs",), "cert_reqs", "client certificates: none (default), optional "
           "(checked if sent) or required (mutual TLS); gunicorn's 0/1/2 too", cert_reqs,
           metavar="{none,optional,required}", group=_TLS),
    Option(("--ciphers",), "ciphers", "OpenSSL cipher string for TLS 1.2 (default: ECDHE "
           "with AES-GCM or ChaCha20)", metavar="STRING", group=_TLS),
    Option(("--tls-min-version",), "tls_min_version", "oldest TLS version accepted "
           "(default {default})", choices=("1.2", "1.3"), group=_TLS),

    Option(("--response-memory",), "response_memory", "unsent response bytes the whole "
           "process may hold before new app calls wait (default {default})", whole_number,
           metavar="BYTES", group=_H2),
    Option(("--response-memory-per-connection",), "response_memory_per_connection",
           "unsent response bytes one HTTP/2 connection may hold before its new app calls "
           "wait (default {default})", whole_number, metavar="BYTES", group=_H2),
    Option(("--max-header-list-size",), "max_header_list_size", "largest decoded request "
           "header list (SETTINGS_MAX_HEADER_LIST_SIZE, default {default})", whole_number,
           metavar="BYTES", group=_H2),
    Option(("--initial-window-size",), "initial_window_size", "request body a stream may "
           "send before its app reads (SETTINGS_INITIAL_WINDOW_SIZE, default {default})",
           whole_number, metavar="BYTES", group=_H2),
    Option(("--stream-window-size",), "stream_window_size", "request body a stream may "
           "buffer once its app reads (default {default})", whole_number, metavar="BYTES",
           group=_H2),
    Option(("--connection-window-size",), "connection_window_size", "the connection's "
           "receive window (default {default})", whole_number, metavar="BYTES", group=_H2),
    Option(("--max-frame-size",), "max_frame_size", "largest frame accepted "
           "(SETTINGS_MAX_FRAME_SIZE, default {default})", whole_number, metavar="BYTES",
           group=_H2),
    Option(("--stream-buffer-size",), "stream_buffer_size", "response bytes a stream may "
           "hold before its app's thread waits (default {default})", whole_number,
           metavar="BYTES", group=_H2),
    Option(("--write-buffer-high",), "write_buffer_high", "the transport's write buffer "
           "high-water mark (default {default})", whole_number, metavar="BYTES", group=_H2),
    Option(("--glitch-budget",), "glitch_budget", "the misbehaviour budget of a connection "
           "before it is closed (default {default})", whole_number, metavar="N", group=_H2),
    Option(("--glitch-refill",), "glitch_refill", "misbehaviour budget regained per second "
           "(default {default})", seconds, metavar="N", group=_H2),

    Option(("--forwarded-allow-ips",), "forwarded_allow_ips", "peers whose Forwarded / "
           "X-Forwarded-* headers (and PROXY headers) are believed: addresses and CIDR "
           "ranges, or '*' (default {default})", peer_list, metavar="IPS", group=_PROXY),
    Option(("--proxy-protocol",), "proxy_protocol", "every connection opens with a PROXY "
           "protocol v1/v2 header (HAProxy's send-proxy), from a peer of "
           "--forwarded-allow-ips", switch, SWITCH, group=_PROXY),
    Option(("--root-path",), "root_path", "the app's mount point behind a proxy: "
           "SCRIPT_NAME, stripped from PATH_INFO", mount_point, metavar="PATH", group=_PROXY),

    Option(("-w", "--workers"), "workers", "worker processes (default {default})",
           whole_number, metavar="N", group=_PROCESSES),
    Option(("--max-requests",), "max_requests", "restart a worker gracefully after about N "
           "requests, 0 for never (default {default})", whole_number, metavar="N",
           group=_PROCESSES),
    Option(("--max-requests-jitter",), "max_requests_jitter", "add up to N (random) to "
           "--max-requests per worker, so that they do not restart together (default "
           "{default})", whole_number, metavar="N", group=_PROCESSES),
    Option(("-t", "--timeout"), "timeout", "kill and replace a worker whose event loop has "
           "not run for this long, 0 for never (default {default})", seconds,
           metavar="SECONDS", group=_PROCESSES),
    Option(("--preload",), "preload", "import the app once in the supervisor before "
           "starting workers", switch, SWITCH, group=_PROCESSES),
    Option(("--reuse-port",), "reuse_port", "SO_REUSEPORT: a socket per worker on TCP "
           "binds (the kernel spreads connections), and a port other servers may share",
           switch, SWITCH, group=_PROCESSES),
    Option(("-m", "--umask"), "umask", "umask (octal) for unix sockets: who may connect "
           "(default: the process's)", octal_mask, metavar="MASK", group=_PROCESSES),
    Option(("-p", "--pid"), "pidfile", "write the (supervisor's) process id to FILE",
           metavar="FILE", group=_PROCESSES),
    Option(("--reload",), "reload", "restart the workers when a Python file changes "
           "(development; needs fasth2[reload])", switch, SWITCH, group=_PROCESSES),
    Option(("--reload-dir",), "reload_dirs", "a folder --reload watches, repeatable "
           "(default: the current one)", kind=LIST, metavar="DIR", group=_PROCESSES),

    Option(("--log-level",), "log_level", "logging level (default {default})",
           choices=("critical", "error", "warning", "info", "debug"), group=_LOGGING),
    Option(("--error-logfile",), "error_logfile", "write the error log to FILE (default "
           "'-': stderr)", metavar="FILE", group=_LOGGING),
    Option(("--log-config",), "log_config", "a logging configuration applied after "
           "fasth2's own: dictConfig as .json or .toml, else the ini format of fileConfig "
           "(loggers: fasth2.error, fasth2.access)", metavar="FILE", group=_LOGGING),
    Option(("--access-logfile",), "access_logfile", "write the access log to FILE ('-': "
           "stdout); off by default", metavar="FILE", group=_LOGGING),
    Option(("--access-logformat",), "access_log_format", "the access log's line, with "
           "gunicorn's atoms (%(h)s, %(r)s, %(s)s, %({header}i)s...) and fasth2's: "
           "%(protocol)s, %(stream)s, %(delivered)s, %(received)s, %(outcome)s (default "
           "'{default}')", check_format, metavar="FORMAT", group=_LOGGING),
    Option(("--metrics-bind",), "metrics_bind", "serve Prometheus metrics at "
           "http://HOST:PORT/metrics (needs fasth2[metrics]; with workers, the supervisor "
           "serves their sum); off by default", metavar="HOST:PORT", group=_LOGGING),
)

#: Config fields no option sets: only the programmatic API can (a callable).
PROGRAMMATIC_ONLY = frozenset({"ssl_context_factory"})

BY_NAME = {option.name: option for option in OPTIONS}
