"""The one settings object: every option and limit of the server, with safe defaults.

A frozen dataclass, so a running server can never see a setting change under it; the
command line builds one, the programmatic API accepts one (or keyword arguments).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from .accesslog import DEFAULT_FORMAT as DEFAULT_ACCESS_FORMAT

if TYPE_CHECKING:
    import ssl

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class Config:
    """Settings and limits for one fasth2 server."""

    #: Addresses to listen on, each ``HOST:PORT`` (``[::1]:8000`` for IPv6).
    binds: tuple[str, ...] = ("127.0.0.1:8000",)
    #: PEM certificate chain and private key; both set means TLS with ALPN ``h2``.
    certfile: str | None = None
    keyfile: str | None = None
    #: Password of an encrypted ``keyfile``.
    keyfile_password: str | None = None
    #: PEM file of the CAs that client certificates must chain to.
    ca_certs: str | None = None
    #: Client certificates: ``none``, ``optional`` (checked if sent) or ``required``.
    cert_reqs: str = "none"
    #: OpenSSL cipher string for TLS 1.2 (None: ephemeral AEAD suites only).
    ciphers: str | None = None
    #: The oldest TLS version accepted: ``1.2`` or ``1.3``.
    tls_min_version: str = "1.2"
    #: ``factory(config) -> ssl.SSLContext`` for anything the options above do not
    #: cover; it replaces them (fasth2 only sets ALPN on the context it returns).
    ssl_context_factory: Callable[["Config"], "ssl.SSLContext"] | None = None
    #: Size of the thread pool that runs the WSGI application.
    threads: int = 8
    #: Run HTTP/1.1 app calls under Linux's SCHED_BATCH policy, so that waking their
    #: thread does not preempt the event loop (see threadpolicy.py); elsewhere: no effect.
    batch_scheduling: bool = True
    #: Seconds that in-flight streams get to finish after SIGTERM/SIGINT.
    graceful_timeout: float = 5.0
    #: Peers whose forwarding headers (Forwarded, X-Forwarded-*) are believed:
    #: addresses and CIDR ranges, comma-separated; ``*`` for any (see proxy.py).
    forwarded_allow_ips: str = "127.0.0.1,::1"
    #: Every connection opens with a PROXY protocol (v1 or v2) header from a peer of
    #: ``forwarded_allow_ips``, naming the client (see proxyprotocol.py).
    proxy_protocol: bool = False
    #: Where the app is mounted (SCRIPT_NAME), stripped from PATH_INFO; "" for none.
    root_path: str = ""
    #: Send ``Server: fasth2`` with every response (unless the app sets its own).
    server_header: bool = True
    #: Logging level name for the ``fasth2`` loggers.
    log_level: str = "info"
    #: The access log's file (``-``: stdout); None: no access log unless a logging
    #: configuration gives the ``fasth2.access`` logger a handler.
    access_logfile: str | None = None
    #: The access log's line: gunicorn's atoms and fasth2's own (see accesslog.py).
    access_log_format: str = DEFAULT_ACCESS_FORMAT
    #: The error log's file (None or ``-``: stderr), for the command line (logs.py).
    error_logfile: str | None = None
    #: A logging configuration file applied on top (logs.py), for the command line.
    log_config: str | None = None
    #: ``HOST:PORT`` serving Prometheus metrics at /metrics (needs prometheus_client);
    #: None: no metrics.
    metrics_bind: str | None = None
    #: Listen backlog handed to the kernel.
    backlog: int = 1024

    # The process model (see supervisor.py). Any of workers > 1, max_requests or
    # reload puts a supervisor in front of the worker processes.
    #: Worker processes, each a whole server (event loop, app threads, compiled paths).
    workers: int = 1
    #: Requests a worker serves before it is replaced gracefully; 0: never.
    max_requests: int = 0
    #: Up to this many more (random per worker), so that workers do not all restart
    #: at once.
    max_requests_jitter: int = 0
    #: Seconds a worker's event loop may go without running (blocked) before the
    #: supervisor kills and replaces it; 0: never.
    timeout: float = 30.0
    #: TCP binds: each worker listens on a socket of its own (SO_REUSEPORT) instead
    #: of sharing one; also lets separate servers share a port.
    reuse_port: bool = False
    #: Import the app once in the supervisor, before the workers start.
    preload: bool = False
    #: umask while unix sockets are created (it sets who may connect); None: as is.
    umask: int | None = None
    #: File the (supervisor's) process id is written to.
    pidfile: str | None = None
    #: Restart the workers when a Python file under ``reload_dirs`` changes
    #: (development; needs watchfiles).
    reload: bool = False
    #: Folders --reload watches; empty: the current folder.
    reload_dirs: tuple[str, ...] = ()

    #: SETTINGS_MAX_CONCURRENT_STREAMS advertised to clients.
    max_concurrent_streams: int = 100
    #: SETTINGS_MAX_HEADER_LIST_SIZE: the decoded request header list cap, in bytes.
    max_header_list_size: int = 64 * KIB
    #: SETTINGS_INITIAL_WINDOW_SIZE: the request body a stream may send before its app
    #: starts reading it (streams waiting for a thread hold at most this much each).
    initial_window_size: int = 64 * KIB
    #: The request-body window of a stream once its app reads: what it may buffer.
    stream_window_size: int = 1 * MIB
    #: The connection-level receive window. It only paces the client: it is credited
    #: back as DATA arrives (the stream windows bound what is buffered).
    connection_window_size: int = 4 * MIB
    #: SETTINGS_MAX_FRAME_SIZE we accept.
    max_frame_size: int = 16 * KIB
    #: Response bytes a stream may hold before the application's thread is paused.
    stream_buffer_size: int = 256 * KIB
    #: Transport write buffer high-water mark; above it the senders pause.
    write_buffer_high: int = 256 * KIB
    #: Response bytes (produced by the app, not yet sent) one HTTP/2 connection may hold
    #: before it starts no new app calls; its new streams wait for the client to read.
    response_memory_per_connection: int = 2 * MIB
    #: The same for the whole process: past it new app calls wait on every connection,
    #: and connections holding the most without reading are shed (ENHANCE_YOUR_CALM).
    #: What is held stays under this plus what the running calls produce (threads x
    #: their response size), plus the transports' write buffers.
    response_memory: int = 16 * MIB

    #: Requests one connection may make; then it is closed gracefully (GOAWAY). 0: no cap.
    max_requests_per_connection: int = 1_000_000
    #: Largest request body accepted (413 beyond it); None: unlimited (streaming apps).
    max_body_size: int | None = None
    #: Connections served at once; further ones are accepted and closed at once.
    max_connections: int = 10_000
    #: Seconds for a TLS handshake, and for a new connection's first bytes.
    handshake_timeout: float = 10.0
    #: Seconds an HTTP/1.1 request may take to send its headers (then 408).
    header_timeout: float = 10.0
    #: Seconds a connection may sit with no request in progress (keep-alive).
    idle_timeout: float = 60.0
    #: Seconds the client may leave our output unread before the connection is cut.
    write_stall_timeout: float = 30.0
    #: The misbehaviour budget (see limits.py): burst size and refill per second.
    glitch_budget: int = 1000
    glitch_refill: float = 100.0

    def __post_init__(self) -> None:
        if not self.binds:
            raise ValueError("at least one bind address is required")
        if self.threads < 1:
            raise ValueError("threads must be at least 1")
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        if self.max_requests < 0 or self.max_requests_jitter < 0 or self.timeout < 0:
            raise ValueError("max_requests, max_requests_jitter and timeout must not be negative")
        if self.graceful_timeout < 0:
            raise ValueError("graceful_timeout must not be negative")
        if self.max_concurrent_streams < 1:
            raise ValueError("max_concurrent_streams must be at least 1")
        for name in ("handshake_timeout", "header_timeout", "idle_timeout", "write_stall_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.max_body_size is not None and self.max_body_size < 0:
            raise ValueError("max_body_size must not be negative")
        if self.max_connections < 1 or self.max_requests_per_connection < 0:
            raise ValueError("max_connections must be at least 1, max_requests_per_connection >= 0")
        if (self.certfile is None) != (self.keyfile is None):
            raise ValueError("TLS needs both certfile and keyfile")
        if self.cert_reqs not in ("none", "optional", "required"):
            raise ValueError("cert_reqs must be none, optional or required")
        if self.cert_reqs != "none" and self.ca_certs is None and self.ssl_context_factory is None:
            raise ValueError(f"cert_reqs {self.cert_reqs} needs ca_certs (the CAs to check "
                             "client certificates against)")
        if self.tls_min_version not in ("1.2", "1.3"):
            raise ValueError("tls_min_version must be 1.2 or 1.3")
        if not 16 * KIB <= self.max_frame_size <= 16 * MIB - 1:
            raise ValueError("max_frame_size must be between 16384 and 16777215")
        if not 0 < self.initial_window_size <= 2**31 - 1:
            raise ValueError("initial_window_size must be between 1 and 2**31-1")
        if self.response_memory_per_connection < 1 or self.response_memory < 1:
            raise ValueError("response_memory and response_memory_per_connection must be positive")
        if not 0 < self.stream_window_size <= 2**31 - 1:
            raise ValueError("stream_window_size must be between 1 and 2**31-1")
        if not 65535 <= self.connection_window_size <= 2**31 - 1:
            raise ValueError("connection_window_size must be between 65535 and 2**31-1")

    @property
    def supervised(self) -> bool:
        """True when a supervisor runs worker processes (not one plain process)."""
        return self.workers > 1 or self.max_requests > 0 or self.reload

    @property
    def tls(self) -> bool:
        """True when the server speaks TLS."""
        return self.certfile is not None or self.ssl_context_factory is not None

    def replace(self, **changes) -> "Config":
        """Return a copy with some settings changed."""
        return dataclasses.replace(self, **changes)
