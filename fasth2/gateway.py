"""The WSGI gateway: what a connection's exchanges need to reach a WSGI app.

Strategy: the protocols know nothing of WSGI. For each request they make an
``Exchange`` (exchange.py) and hand it here twice: ``begin`` as soon as its head is
in (the request body needs a receiver from the first byte), and ``run`` when its app
call may start (at once on HTTP/2; in turn on HTTP/1.1, whose responses go out in
order, so that an answer given here cannot overtake an earlier one). ``run`` builds
the environ, answers what no app should see (a target no environ can hold: 400; a
declared body over the limit: 413), and puts the app call on the thread pool, where
``run_app`` (wsgi.py) answers through a ``ThreadHandOff``.
An ASGI gateway would offer the same two calls and await instead.
"""

from __future__ import annotations

from threading import get_ident
from typing import TYPE_CHECKING, Callable

from .errors import BadRequest
from .events import Response
from .limits import declared_too_large
from .proxy import FORWARDING_KEYS, apply_forwarding, apply_root_path
from .speedups import build_environ, encode_response_headers
from .threadpolicy import BATCH_THREADS, use_batch_policy
from .twins import EMPTY_BODY, LoopInbox, RequestBody, ThreadHandOff, ThreadShare, run_app
from .wsgi import base_environ

if TYPE_CHECKING:
    from .exchange import Exchange
    from .server import Server


_SERVER_PROTOCOLS = {"2": "HTTP/2", "1.1": "HTTP/1.1", "1.0": "HTTP/1.0"}


def refuse(exchange: "Exchange", status: int, reason: str) -> None:
    """On the loop: answer with ``status`` and a one-line text body, no app involved."""
    body = (reason + "\n").encode()
    headers = encode_response_headers(f"{status} {reason}", [
        ("content-type", "text/plain"), ("content-length", str(len(body)))])
    exchange.reserve(len(body))
    exchange.send(Response(headers, body, True))


def run_app_batched(app: Callable, environ: dict, handoff) -> None:
    """``run_app`` for an HTTP/1.x call (``--batch-scheduling``): under SCHED_BATCH unless
    its request body is still arriving (see threadpolicy.py)."""
    batch = environ["wsgi.input"].ended
    if (get_ident() in BATCH_THREADS) != batch:  # (most calls: no change, no Python call)
        use_batch_policy(batch)
    run_app(app, environ, handoff)


def run_app_promptly(app: Callable, environ: dict, handoff) -> None:
    """``run_app`` for an HTTP/2 call (``--batch-scheduling``): under the default
    policy (see threadpolicy.py)."""
    if get_ident() in BATCH_THREADS:
        use_batch_policy(False)
    run_app(app, environ, handoff)


class WSGIGateway:
    """Runs one WSGI app for the exchanges of every connection of a server."""

    __slots__ = ("app", "server", "inbox")

    def __init__(self, app: Callable, server: "Server") -> None:
        self.app = app
        self.server = server
        #: What the app threads hand to the loop (responses, body consumption).
        self.inbox = LoopInbox(server.loop.call_soon_threadsafe)

    def for_connection(self, connection, budget_owner=None) -> "WSGIConnection":
        """The gateway's side of one connection. ``budget_owner`` (an HTTP/2
        connection) gets a bounded share of the thread pool and is held to its
        response budget (see threadpool.ThreadShare); without one, calls go to the
        pool directly (HTTP/1.1 has one at a time)."""
        return WSGIConnection(self, connection, budget_owner)


class WSGIConnection:
    """The WSGI gateway's side of one connection: its base environ, and (HTTP/2) its
    share of the thread pool (``share``, a ThreadShare, whose ``running``, ``open``,
    ``waiting`` and ``resume`` this passes on: what the protocol and the response budget
    use). Without one (HTTP/1.1), calls go to the pool directly."""

    # (a ThreadShare held, not inherited: compiled, both are extension types, and one
    # module's cannot derive from another's here, see _gateway_c.pxd)
    __slots__ = ("server", "app", "config", "environ", "_root_path", "share", "_forwarding",
                 "_inbox", "_run_on_loop", "_run_app", "_pool", "_buffer_size",
                 "_http_version")

    def __init__(self, gateway: WSGIGateway, connection, budget_owner) -> None:
        server = self.server = gateway.server
        self.share = None if budget_owner is None else ThreadShare(
            server.app_threads, server.thread_share, server.response_memory, budget_owner)
        self.app = gateway.app
        self.config = server.config
        # (read once: a connection's calls reach them without two lookups each)
        self._pool = server.app_threads
        self._buffer_size = self.config.stream_buffer_size
        self.environ = base_environ(connection, self.config.workers > 1)
        # The version most of this connection's requests have: their environ's
        # SERVER_PROTOCOL is the base's, no key to set (HTTP/1.0 requests set theirs).
        self._http_version = "1.1" if budget_owner is None else "2"
        self.environ["SERVER_PROTOCOL"] = _SERVER_PROTOCOLS[self._http_version]
        self.environ["SCRIPT_NAME"] = self._root_path = self.config.root_path
        #: Whose forwarding headers to believe, if this peer's (see proxy.py).
        self._forwarding = server.trusted_peers if server.trusted_peers.trusts(connection.client) \
            else None
        self._inbox = gateway.inbox
        self._run_on_loop = self._inbox.post
        #: How an app call runs: its thread's scheduling policy (see threadpolicy.py).
        self._run_app = run_app if not self.config.batch_scheduling \
            else run_app_batched if self.share is None else run_app_promptly

    @property
    def running(self) -> int:
        """App calls of this connection running (see ThreadShare)."""
        return self.share.running

    @property
    def open(self) -> bool:
        """False while no new app call of this connection may start (see ThreadShare)."""
        return self.share.open

    @open.setter
    def open(self, value: bool) -> None:
        self.share.open = value

    @property
    def waiting(self) -> bool:
        """True while app calls wait for room (see ThreadShare)."""
        return self.share.waiting

    def resume(self) -> None:
        """The share (or the gate) is open again: start the waiting calls."""
        self.share.resume()

    def begin(self, exchange: "Exchange", has_body: bool) -> None:
        """A request head arrived: give the exchange its body's receiver
        (``wsgi.input``), which takes body bytes from now on."""
        # Consumption goes to the wire, not the exchange: the body (which the exchange
        # holds) then refers to nothing that refers back to it.
        exchange.body = RequestBody(self._run_on_loop, exchange.wire.credit) if has_body \
            else EMPTY_BODY

    def run(self, exchange: "Exchange", order: tuple = (), has_body: bool | None = None) -> bool:
        """The exchange's app call may start: build its environ and put the call on the
        thread pool, now (True) or once this connection's share has room (False;
        waiting calls go lowest ``order`` first). What no app should see is answered
        here instead (False): a target no environ holds (400), a declared body over
        the limit (413). ``has_body`` given: ``begin`` first, in the same call (for
        HTTP/2, whose app calls start as their heads arrive)."""
        if has_body is not None:
            exchange.body = RequestBody(self._run_on_loop, exchange.wire.credit) if has_body \
                else EMPTY_BODY
        body = exchange.body
        try:
            environ = build_environ(exchange.headers, self.environ)
        except BadRequest as exc:
            refuse(exchange, exc.status, exc.reason)
            return False
        if exchange.http_version != self._http_version:
            environ["SERVER_PROTOCOL"] = _SERVER_PROTOCOLS.get(exchange.http_version) \
                or "HTTP/" + exchange.http_version
        environ["wsgi.input"] = body
        environ["fasth2.request_trailers"] = body.trailers
        if self._forwarding is not None:
            for key in FORWARDING_KEYS:  # (a loop: Cython cannot compile a generator here)
                if key in environ:
                    exchange.forwarded_for = apply_forwarding(environ, self._forwarding)
                    break
        if self._root_path:
            apply_root_path(environ, self._root_path)
        length = environ.get("CONTENT_LENGTH")  # (most requests have none: no call)
        if length is not None and declared_too_large(length, self.config.max_body_size):
            refuse(exchange, 413, "Content Too Large")
            return False
        handoff = ThreadHandOff(exchange, self._inbox, self._buffer_size)
        if self.share is None:
            self._pool.submit_args(self._run_app, (self.app, environ, handoff))
            return True
        return self.share.start(self._run_app, self.app, environ, handoff, order=order)
