"""Listening sockets, TLS, the thread pool, graceful shutdown, and the public API.

``serve()`` is the awaitable core: start listening, wait for the shutdown trigger, then
shut down gracefully (stop accepting, GOAWAY every connection, let in-flight streams
finish within ``graceful_timeout``, close what remains). ``run()`` wraps it in a uvloop
event loop with SIGTERM/SIGINT handlers, for scripts and the command line.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import ssl
from typing import Awaitable, Callable

from .config import Config
from .memory import ResponseMemory, tune_allocator
from .selector import ProtocolSelector
from .workers import WorkerPool

log = logging.getLogger("fasth2.error")

REAP_INTERVAL = 1.0  # seconds between timeout checks (timeouts are this coarse)
#: Over the process's response budget, connections that sent no DATA for this long
#: (seconds) are shed, those holding the most first; checked this often meanwhile.
SHED_AFTER = 0.5
#: While every app thread is busy and calls queue, connections whose app calls have
#: waited this long (seconds) on a client that neither reads nor sends are shed,
#: checked every STUCK_AFTER / 2 (see watch_threads). Short: every other client waits.
STUCK_AFTER = 0.25


class StartupError(Exception):
    """The server cannot start (bad certificate, busy port...); the message says why."""


def parse_bind(bind: str) -> tuple[str, int]:
    """``HOST:PORT`` (or ``[IPv6]:PORT``) into a (host, port) pair."""
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise StartupError(f"invalid bind address {bind!r}: expected HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def make_ssl_context(config: Config) -> ssl.SSLContext:
    """A server TLS context: TLS >= 1.2, AEAD ciphers, ALPN h2 then http/1.1, no compression."""
    for label, path in (("certificate", config.certfile), ("key", config.keyfile)):
        if not os.path.isfile(path):
            raise StartupError(f"{label} file {path!r} not found")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # RFC 9113 §9.2: no compression, no renegotiation, ephemeral AEAD suites for 1.2.
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    context.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20")
    try:
        context.load_cert_chain(config.certfile, config.keyfile)
    except ssl.SSLError as exc:
        raise StartupError(f"cannot load certificate {config.certfile!r} / key "
                           f"{config.keyfile!r}: {exc.reason or exc}") from None
    context.set_alpn_protocols(["h2", "http/1.1"])
    return context


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A uvloop loop when uvloop is installed, else asyncio's default."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class Server:
    """A running fasth2 server: its sockets, connections and thread pool."""

    def __init__(self, app: Callable, config: Config) -> None:
        self.app = app
        self.config = config
        self.loop = asyncio.get_running_loop()
        tune_allocator()
        #: Live connections (their protocols), for graceful shutdown.
        self.connections: set = set()
        self.workers = WorkerPool(self.loop, config.threads, on_starved=self.watch_threads)
        self._thread_watch: asyncio.TimerHandle | None = None
        #: App calls one HTTP/2 connection may have running at once (see ThreadShare).
        self.thread_share = max(1, config.threads // 2)
        self._servers: list[asyncio.AbstractServer] = []
        self._reaper: asyncio.Task | None = None
        self._budget_watch: asyncio.TimerHandle | None = None
        #: Unsent response bytes, per connection and in total (see memory.py).
        self.response_memory = ResponseMemory(config.response_memory_per_connection,
                                              config.response_memory)

    async def start(self) -> None:
        """Listen on every bind address; raise StartupError if one is unusable."""
        context = make_ssl_context(self.config) if self.config.tls else None
        scheme = "https" if context else "http"
        for bind in self.config.binds:
            host, port = parse_bind(bind)
            try:
                server = await self.loop.create_server(
                    lambda: ProtocolSelector(self), host, port, ssl=context,
                    ssl_handshake_timeout=self.config.handshake_timeout if context else None,
                    backlog=self.config.backlog, reuse_address=True)
            except OSError as exc:
                await self.close_listeners()
                reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
                raise StartupError(f"cannot listen on {bind}: {reason}") from None
            self._servers.append(server)
            for sock in server.sockets:
                address = sock.getsockname()
                shown = f"[{address[0]}]" if ":" in address[0] else address[0]
                log.info("Listening on %s://%s:%d", scheme, shown, address[1])
        self._reaper = self.loop.create_task(self._reap())

    async def _reap(self) -> None:
        """Once a second, let every connection end itself if a timeout has passed."""
        while True:
            await asyncio.sleep(REAP_INTERVAL)
            now = self.loop.time()
            for connection in list(self.connections):
                connection.check_timeouts(now)

    def watch_budget(self) -> None:
        """The process went over its response budget: every SHED_AFTER while it stays
        over, end the connections that hold the most without taking any of it (no DATA
        sent for SHED_AFTER), until under it."""
        if self._budget_watch is not None:  # (called again by a thread: one timer)
            self._budget_watch.cancel()
            self._budget_watch = None
        memory = self.response_memory
        now = self.loop.time()
        for connection in memory.largest():
            if memory.open:
                return
            if now - connection.last_progress >= SHED_AFTER:
                connection.shed(f"it holds {connection.held / 2**20:.1f} MiB of responses "
                                "it does not read")
        if not memory.open:
            self._budget_watch = self.loop.call_later(SHED_AFTER, self.watch_budget)

    def watch_threads(self) -> None:
        """Every app thread is busy and calls queue for one (the pool calls this).

        Threads held by clients that do not read their responses (or do not send the
        bodies they announced) would otherwise starve everyone until the write-stall
        timeout: a few such connections against a streaming endpoint take the whole
        pool. So while calls queue, every STUCK_AFTER / 2, the connections with an app
        call stuck on their client for STUCK_AFTER or more are ended (HTTP/2 GOAWAY
        ENHANCE_YOUR_CALM), which frees their threads. A client that reads, however
        slowly, makes progress and keeps its connection.
        """
        if self._thread_watch is None:
            self._check_threads()

    def _check_threads(self) -> None:
        self._thread_watch = None
        if not self.workers.starved:
            return
        now = self.loop.time()
        for connection in list(self.connections):
            if connection.stuck_for(now) >= STUCK_AFTER:
                connection.shed("its app calls wait on it while every thread is busy")
        self._thread_watch = self.loop.call_later(STUCK_AFTER / 2, self._check_threads)

    @property
    def addresses(self) -> list[tuple]:
        """The bound socket addresses (useful when a port was 0)."""
        return [sock.getsockname() for server in self._servers for sock in server.sockets]

    async def close_listeners(self) -> None:
        """Stop accepting new connections."""
        for server in self._servers:
            server.close()
        self._servers.clear()

    async def shutdown(self) -> None:
        """Stop accepting, GOAWAY everyone, wait for in-flight streams, then close."""
        if self._reaper is not None:
            self._reaper.cancel()
        await self.close_listeners()
        for connection in list(self.connections):
            connection.shutdown()
        # Wait for every connection to close by itself: streams finish, the last bytes
        # drain to the client, and the client closes (or the short linger ends).
        deadline = self.loop.time() + self.config.graceful_timeout
        while self.connections and self.loop.time() < deadline:
            await asyncio.sleep(0.05)
        if self.connections:
            pending = sum(len(c.streams) for c in self.connections)
            if pending:
                log.warning("graceful timeout: aborting %d unfinished streams", pending)
            for connection in list(self.connections):
                connection.abort()
        # Threads blocked in an aborted stream wake with StreamAborted; an app stuck
        # elsewhere dies with the process (the workers are daemon threads).
        self.workers.shutdown()


async def serve(app: Callable, config: Config | None = None, *,
                shutdown_trigger: Callable[[], Awaitable] | None = None,
                **options) -> None:
    """Serve ``app`` until ``shutdown_trigger()`` returns, then shut down gracefully.

    ``config`` (or keyword options naming ``Config`` fields) sets the server up; without
    a trigger it serves until cancelled.
    """
    config = (config or Config()).replace(**options) if options else (config or Config())
    server = Server(app, config)
    await server.start()
    try:
        if shutdown_trigger is None:
            await asyncio.Event().wait()
        else:
            await shutdown_trigger()
    finally:
        await server.shutdown()


def run(app: Callable, config: Config | None = None, **options) -> None:
    """Serve ``app`` until SIGTERM or SIGINT, with uvloop when available.

    Raises StartupError when the server cannot start.
    """
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    stop = asyncio.Event()

    def request_stop(signum: int) -> None:
        log.info("Received %s: shutting down gracefully", signal.Signals(signum).name)
        stop.set()

    def ignore_hangup() -> None:
        # SIGHUP reloads workers under a supervisor; a single process has none to
        # reload, and must not die of it (its default action).
        log.info("Received SIGHUP: a single process has no workers to reload; ignored")

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, request_stop, signum)
    loop.add_signal_handler(signal.SIGHUP, ignore_hangup)
    try:
        loop.run_until_complete(serve(app, config, shutdown_trigger=stop.wait, **options))
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(signum)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        asyncio.set_event_loop(None)
