"""One server (a single process, or one worker): TLS, the thread pool, shutdown, the API.

``serve()`` is the awaitable core: listen (on ``config.binds``, or on sockets made
beforehand, see listeners.py), wait for the shutdown trigger, then shut down gracefully
(stop accepting, GOAWAY every connection, let in-flight streams finish within
``graceful_timeout``, close what remains); a retiring worker lets its connections go
idle first (``Server.retire``). ``run()`` wraps it in a uvloop event loop with signal
handlers, for scripts, the command line and each worker process.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
from email.utils import formatdate
from functools import partial
from typing import Awaitable, Callable

from .acceptor import SharedSocketAcceptor
from .accesslog import start_access_log, stop_access_log
from .config import Config
from .errors import StartupError
from .listeners import Listener, log_listening, open_listeners
from .memory import tune_allocator
from .metrics import Metrics, serve_process_metrics
from .proxy import TrustedPeers
from .selector import ProtocolSelector
from .speedups import warn_if_slow
from .tls import make_ssl_context, reload_certificates
from .twins import RequestCount, ResponseMemory, ThreadPool, WSGIGateway

log = logging.getLogger("fasth2.error")

REAP_INTERVAL = 1.0  # seconds between timeout checks (timeouts are this coarse)
#: Over the process's response budget, connections that sent no DATA for this long
#: (seconds) are shed, those holding the most first; checked this often meanwhile.
SHED_AFTER = 0.5
#: While every app thread is busy and calls queue, connections whose app calls have
#: waited this long (seconds) on a client that neither reads nor sends are shed,
#: checked when the next one would pass it (at most STUCK_AFTER / 2 apart, see
#: watch_threads). Short: every other client waits.
STUCK_AFTER = 0.25
#: Seconds between two such checks at the least (a check walks every stream), and the
#: wait after one that shed: the threads it freed take the next queued calls, which
#: may wait on their clients at once (a flood of stalled uploads over many connections).
RECHECK_AFTER = 0.01
#: A call that has waited this long (seconds) for a thread gets one: the connection
#: stuck longest on its client is shed, if stuck at least STUCK_MIN. Without it the
#: newest call waits until some stuck call passes STUCK_AFTER, and calls that started
#: together pass it together: threads came free in waves a quarter second apart.
QUEUE_PATIENCE = 0.02
STUCK_MIN = 0.1
#: A retiring worker closes a connection once it has been idle this long (seconds):
#: between a client's requests there is no lull this long, after its work there is.
RETIRE_IDLE = 1.0


def default_fields(server_header: bool = True) -> list[tuple[bytes, bytes]]:
    """The fields every final response gets unless the app set them itself: ``Date``
    (RFC 9110 §6.6.1: an origin server with a clock must send it), and ``Server``
    unless turned off."""
    fields = [(b"date", formatdate(usegmt=True).encode("ascii"))]
    if server_header:
        fields.append((b"server", b"fasth2"))
    return fields


def both(first: Callable | None, second: Callable | None) -> Callable | None:
    """One callable calling ``first`` then ``second`` (either may be None)."""
    if first is None or second is None:
        return first or second

    def call_both(argument) -> None:
        first(argument)
        second(argument)
    return call_both


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A uvloop loop when uvloop is installed, else asyncio's default."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class Server:
    """A running fasth2 server: its sockets, connections and thread pool."""

    def __init__(self, app: Callable, config: Config,
                 listeners: list[Listener] | None = None, gateway=None,
                 metrics: Metrics | None = None) -> None:
        self.app = app
        self.config = config
        self.loop = asyncio.get_running_loop()
        #: Sockets to serve; None: bind ``config.binds`` at start (and own them).
        self._listeners = listeners
        self._owns_listeners = listeners is None
        #: Requests started, and the count at which this worker recycles (``limit``,
        #: 0: never); both protocols add theirs.
        self.request_count = RequestCount(self._served_enough)
        self._stop = asyncio.Event()
        self._graceful = True
        self._retiring = False
        #: The TLS context every listener shares (certificates re-read into it on SIGHUP).
        self.ssl_context: ssl.SSLContext | None = None
        #: Called once when the server begins to stop (a worker tells its supervisor).
        self.on_stopping: Callable[[], None] | None = None
        tune_allocator()
        #: Live connections (their protocols), for graceful shutdown.
        self.connections: set = set()
        self.app_threads = ThreadPool(self.loop, config.threads, on_starved=self.watch_threads)
        self._thread_watch: asyncio.TimerHandle | None = None
        #: App calls one HTTP/2 connection may have running at once (see ThreadShare).
        self.thread_share = max(1, config.threads // 2)
        self._servers: list[asyncio.AbstractServer] = []
        self._reaper: asyncio.Task | None = None
        self._budget_watch: asyncio.TimerHandle | None = None
        #: Unsent response bytes, per connection and in total (see memory.py).
        self.response_memory = ResponseMemory(config.response_memory_per_connection,
                                              config.response_memory)
        #: What runs the app for the connections' exchanges (gateway.py); the WSGI
        #: gateway unless another is given.
        self.gateway = WSGIGateway(app, self) if gateway is None else gateway
        #: ``Date`` (remade every REAP_INTERVAL: once a second, not per request) and
        #: ``Server`` for the protocols to add to final responses.
        self.default_fields = default_fields(config.server_header)
        #: Whose forwarding headers are believed (--forwarded-allow-ips, proxy.py).
        self.trusted_peers = TrustedPeers(config.forwarded_allow_ips)
        #: Called with each exchange as it ends (the access log, metrics), or None.
        self.exchange_ended: Callable | None = None
        self._access_handler = None  # the access log's own handler (--access-logfile)
        #: Prometheus metrics (metrics.py), or None: given (a supervised worker's,
        #: which its supervisor serves), or made at start for --metrics-bind.
        self.metrics = metrics
        self._metrics_endpoint = None

    async def start(self) -> None:
        """Listen on every bind address (or the given listeners); StartupError if one is
        unusable."""
        context = self.ssl_context = make_ssl_context(self.config) if self.config.tls else None
        # Per process (a worker's, after the fork): the writer thread must live here.
        access_log, self._access_handler = start_access_log(self.config)
        if self.metrics is None and self.config.metrics_bind:
            self.metrics, self._metrics_endpoint = serve_process_metrics(self.config.metrics_bind)
        self.exchange_ended = both(access_log, self.metrics and self.metrics.exchange_ended)
        if self._listeners is None:
            self._listeners = open_listeners(
                self.config.binds, backlog=self.config.backlog,
                reuse_port=self.config.reuse_port, umask=self.config.umask)
            log_listening(self._listeners, context is not None)
        handshake_timeout = self.config.handshake_timeout if context else None
        factory = partial(ProtocolSelector, self)
        try:
            for listener in self._listeners:
                sock = listener.socket_for_worker()
                proxied = self.config.proxy_protocol
                if proxied or (self.config.workers > 1 and sock is listener.sock):
                    # Shared with the other workers: take turns (see acceptor.py); and
                    # PROXY headers are read before the loop gets the socket.
                    self._servers.append(SharedSocketAcceptor(
                        self.loop, sock, factory, context, handshake_timeout,
                        self.trusted_peers if proxied else None, self.config.handshake_timeout))
                    continue
                create = self.loop.create_unix_server if listener.is_unix else self.loop.create_server
                self._servers.append(await create(
                    factory, sock=sock, ssl=context,
                    ssl_handshake_timeout=handshake_timeout, backlog=self.config.backlog))
        except OSError as exc:
            await self.close_listeners()
            raise StartupError(f"cannot listen on {listener.label}: {exc.strerror}") from None
        self._reaper = self.loop.create_task(self._reap())

    def reopen_logs(self) -> None:
        """Open the access log file again (SIGUSR1, after logrotate moved it)."""
        if self._access_handler is not None:
            self._access_handler.reopen()

    def _served_enough(self) -> None:
        """The request count reached its limit (max requests): recycle."""
        log.info("Served %d requests (max requests): retiring this worker",
                 self.request_count.count)
        self.retire()

    def stop(self, graceful: bool = True) -> None:
        """Ask ``run_until_stopped`` to shut down: gracefully, or at once (no grace)."""
        self._retiring = False
        if not graceful:
            self._graceful = False
        self._begin_stopping()

    def retire(self) -> None:
        """Shut down as a worker whose successors already serve (reload, max requests).

        Clients need not hurry: an HTTP/2 connection is closed (GOAWAY) once it has
        been idle for RETIRE_IDLE, or at half the graceful timeout at the latest, and
        its streams then in flight get the rest. A client busy on a connection (a load
        generator, a proxy's pooled connection) is not cut in mid-run, so one that
        does not follow GOAWAY to a new connection (h2load does not) loses nothing.
        An HTTP/1.1 response in progress says ``connection: close`` (clients come
        back on a new connection); an idle HTTP/1.1 connection is closed once quiet.
        """
        if not self._stop.is_set():
            self._retiring = True
        self._begin_stopping()

    def _begin_stopping(self) -> None:
        if not self._stop.is_set():
            self._stop.set()
            if self.on_stopping is not None:
                self.on_stopping()

    @property
    def stopping(self) -> bool:
        """True once ``stop()`` or ``retire()`` has been called."""
        return self._stop.is_set()

    @property
    def retiring(self) -> bool:
        """True while stopping by ``retire()`` (until a ``stop()`` overrides it)."""
        return self._retiring

    async def run_until_stopped(self, trigger: Callable[[], Awaitable] | None = None) -> None:
        """Serve until ``stop()`` is called or ``trigger()`` returns, then shut down."""
        waiters = [self.loop.create_task(self._stop.wait())]
        if trigger is not None:
            waiters.append(self.loop.create_task(trigger()))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await self.shutdown()

    async def _reap(self) -> None:
        """Once a second, let every connection end itself if a timeout has passed."""
        while True:
            await asyncio.sleep(REAP_INTERVAL)
            self.default_fields = default_fields(self.config.server_header)
            if self.metrics is not None:
                self.metrics.update(self)
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
                self._shed(connection, "response memory", f"it holds "
                           f"{connection.held / 2**20:.1f} MiB of responses it does not read")
        if not memory.open:
            self._budget_watch = self.loop.call_later(SHED_AFTER, self.watch_budget)

    def watch_threads(self) -> None:
        """Every app thread is busy and calls queue for one (the pool calls this).

        Threads held by clients that do not read their responses (or do not send the
        bodies they announced) would otherwise starve everyone until the write-stall
        timeout: a few such connections against a streaming endpoint take the whole
        pool. So while calls queue, the connections with an app call stuck on their
        client for STUCK_AFTER or more are ended (HTTP/2 GOAWAY ENHANCE_YOUR_CALM), which
        frees their threads; the check comes back when the next stuck call would pass
        STUCK_AFTER, and soon after one that shed. A call that has waited QUEUE_PATIENCE
        for a thread does not wait for that: the connection stuck longest is shed for it,
        if stuck STUCK_MIN or more (else threads freed in waves, a quarter second apart,
        and a new client waited for the next one). "Stuck" is time with the transport
        paused, so a client reading slowly behind a full kernel send buffer can look
        stuck too: under saturation such readers were shed by either rule (README,
        "Under attack").
        """
        watch = self._thread_watch
        if watch is None:
            self._check_threads()
        elif watch.when() > self.loop.time() + QUEUE_PATIENCE:
            watch.cancel()  # a new call waits: it is owed a check within QUEUE_PATIENCE
            self._thread_watch = self.loop.call_later(QUEUE_PATIENCE, self._check_threads)

    def _check_threads(self) -> None:
        self._thread_watch = None
        pool = self.app_threads
        if not pool.starved:
            return
        now = self.loop.time()
        wait = STUCK_AFTER / 2  # (a call that starts now on a silent client is stuck at once)
        longest, longest_stuck = None, 0.0
        for connection in list(self.connections):
            stuck = connection.stuck_for(now)
            if stuck >= STUCK_AFTER:
                self._shed_stuck(connection, stuck)
                wait = 0.0
            elif stuck:
                wait = min(wait, STUCK_AFTER - stuck)
                if stuck > longest_stuck:
                    longest, longest_stuck = connection, stuck
        if wait and longest is not None:  # (nothing shed: one may be, for the newest call)
            waited = now - pool.newest_queued_at
            if waited >= QUEUE_PATIENCE and longest_stuck >= STUCK_MIN:
                self._shed_stuck(longest, longest_stuck)
                wait = 0.0
            else:
                wait = min(wait, max(QUEUE_PATIENCE - waited, STUCK_MIN - longest_stuck))
        self._thread_watch = self.loop.call_later(max(wait, RECHECK_AFTER), self._check_threads)

    def _shed_stuck(self, connection, stuck: float) -> None:
        self._shed(connection, "app threads",
                   f"its app calls wait on it ({stuck:.2f} s) while every thread is busy")

    def _shed(self, connection, budget: str, why: str) -> None:
        """End ``connection`` to free what it holds of ``budget`` (``why``: for the log)."""
        if self.metrics is not None:
            self.metrics.budget_exhausted(budget)
        connection.shed(why)

    @property
    def addresses(self) -> list:
        """The bound socket addresses (useful when a port was 0)."""
        return [sock.getsockname() for server in self._servers for sock in server.sockets]

    async def close_listeners(self) -> None:
        """Stop accepting new connections (other workers go on accepting on shared
        sockets; a unix socket's file goes only with the process that made it)."""
        for server in self._servers:
            server.close()
        self._servers.clear()
        for listener in self._listeners or ():
            listener.close(owner=self._owns_listeners)

    async def shutdown(self) -> None:
        """Stop accepting, GOAWAY everyone (a retiring worker: as each goes idle), wait
        for in-flight streams, then close."""
        if self._reaper is not None:
            self._reaper.cancel()
        await self.close_listeners()
        # Wait for every connection to close by itself: streams finish, the last bytes
        # drain to the client, and the client closes (or the short linger ends).
        now = self.loop.time()
        deadline = now + self.config.graceful_timeout
        leave_by = now + self.config.graceful_timeout / 2  # a retiring worker's GOAWAYs
        told: set = set()
        while self.connections and self._graceful and now < deadline:
            for connection in self.connections - told:
                if not self._retiring or now >= leave_by or connection.can_retire(now, RETIRE_IDLE):
                    told.add(connection)
                    connection.shutdown()
            await asyncio.sleep(0.05)
            now = self.loop.time()
        if self.connections:
            pending = sum(len(c.streams) for c in self.connections)
            if pending:
                log.warning("graceful timeout: aborting %d unfinished streams", pending)
            for connection in list(self.connections):
                connection.abort()
        # Threads blocked in an aborted stream wake with StreamAborted; an app stuck
        # elsewhere dies with the process (the app threads are daemon threads).
        self.app_threads.shutdown()
        if self._access_handler is not None:
            stop_access_log(self._access_handler)  # every line written out
        if self.metrics is not None:
            self.metrics.update(self)  # (a worker's last requests count too)
        if self._metrics_endpoint is not None:
            self._metrics_endpoint.stop()


async def serve(app: Callable, config: Config | None = None, *,
                shutdown_trigger: Callable[[], Awaitable] | None = None,
                listeners: list[Listener] | None = None,
                on_created: Callable[[Server], None] | None = None,
                on_started: Callable[[Server], None] | None = None,
                metrics: Metrics | None = None, **options) -> None:
    """Serve ``app`` until ``shutdown_trigger()`` returns, then shut down gracefully.

    ``config`` (or keyword options naming ``Config`` fields) sets the server up; without
    a trigger it serves until cancelled. ``listeners`` are sockets made beforehand (a
    worker's inherited ones); ``on_created`` is called before the server listens,
    ``on_started`` once it accepts; ``metrics``: see ``Server``.
    """
    config = (config or Config()).replace(**options) if options else (config or Config())
    warn_if_slow(log)
    server = Server(app, config, listeners, metrics=metrics)
    if on_created is not None:
        on_created(server)
    await server.start()
    if on_started is not None:
        on_started(server)
    await server.run_until_stopped(shutdown_trigger)


def run(app: Callable, config: Config | None = None, *,
        listeners: list[Listener] | None = None,
        on_started: Callable[[Server], None] | None = None,
        metrics: Metrics | None = None, **options) -> None:
    """Serve ``app`` until a signal stops it, with uvloop when available.

    SIGTERM and SIGINT stop it gracefully (a second one: at once), SIGQUIT at once,
    SIGUSR1 reopens the access log file.
    SIGHUP re-reads the TLS certificates (open connections keep theirs); without TLS it
    is logged and ignored: a single process has no workers to reload (with
    ``--workers``, the supervisor reloads them), and must not die of it.
    Raises StartupError when the server cannot start.
    """
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    handled = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGUSR1)

    def catch_signals(server: Server) -> None:
        # Before the "Listening on" line: whoever reads it may signal at once.
        for signum in handled:
            loop.add_signal_handler(signum, _on_signal, server, signum)

    try:
        loop.run_until_complete(serve(app, config, listeners=listeners, on_created=catch_signals,
                                      on_started=on_started, metrics=metrics, **options))
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        asyncio.set_event_loop(None)


def _on_signal(server: Server, signum: int) -> None:
    name = signal.Signals(signum).name
    if signum == signal.SIGUSR1:
        log.info("Received SIGUSR1: reopening the access log file")
        server.reopen_logs()
    elif signum == signal.SIGHUP and server.ssl_context is not None:
        log.info("Received SIGHUP: re-reading the certificates (a single process has no "
                 "workers to reload)")
        reload_certificates(server.ssl_context, server.config)
    elif signum == signal.SIGHUP:
        log.info("Received SIGHUP: a single process has no workers to reload; ignored")
    elif signum == signal.SIGQUIT or (server.stopping and not server.retiring):
        log.info("Received %s: stopping at once", name)
        server.stop(graceful=False)
    else:
        log.info("Received %s: shutting down gracefully", name)
        server.stop()
