"""Accepting on a listening socket that several worker processes share, one at a time.

Strategy: the event loop's own server (``loop.create_server``) accepts every pending
connection each time the socket is readable. When workers share one socket, a burst of
connections (a proxy opening its pool, h2load starting) then lands on whichever worker
woke first: in ``bench/scaling.py`` with one h2load thread, 8 connections went all to
one of 2 workers in a third of the runs, halving the throughput. Here each readiness
event accepts one connection and goes back to the loop, so every worker woken by the
burst takes its turn. Each accepted socket becomes a transport through
``loop.connect_accepted_socket`` (TLS handshake included), as the loop's server would.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
from typing import Callable

from .proxy import TrustedPeers
from .proxyprotocol import ProxyHeaderError, read_header

log = logging.getLogger("fasth2.error")

#: accept() errors that mean "out of descriptors or memory": pause, do not spin.
_RESOURCE_ERRORS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
#: Seconds to stop accepting after such an error.
RESOURCE_PAUSE = 0.1


class SharedSocketAcceptor:
    """Accepts from ``sock`` one connection per loop iteration; ``close()`` stops."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket,
                 protocol_factory: Callable[..., asyncio.BaseProtocol],
                 ssl_context: ssl.SSLContext | None, handshake_timeout: float | None,
                 proxy_sources: TrustedPeers | None = None,
                 proxy_timeout: float = 10.0) -> None:
        """``proxy_sources``: every connection opens with a PROXY protocol header, from
        one of these peers (proxyprotocol.py); ``protocol_factory(peer=...)`` then gets
        the client it names."""
        self._loop = loop
        self._sock = sock
        self._factory = protocol_factory
        self._ssl = ssl_context
        self._handshake_timeout = handshake_timeout
        self._tcp = sock.family in (socket.AF_INET, socket.AF_INET6)
        self._proxy_sources = proxy_sources
        self._proxy_timeout = proxy_timeout
        self._closed = False
        loop.add_reader(sock.fileno(), self._accept_one)

    @property
    def sockets(self) -> list[socket.socket]:
        """The listening socket (as ``asyncio.Server.sockets`` gives them)."""
        return [] if self._closed else [self._sock]

    def _accept_one(self) -> None:
        try:
            connection, address = self._sock.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return  # another worker took it, or the client gave up
        except OSError as exc:
            if exc.errno not in _RESOURCE_ERRORS:
                raise
            log.warning("cannot accept connections: %s; pausing %.1f s", exc.strerror,
                        RESOURCE_PAUSE)
            self._loop.remove_reader(self._sock.fileno())
            self._loop.call_later(RESOURCE_PAUSE, self._resume)
            return
        connection.setblocking(False)
        if self._tcp:
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._proxy_sources is not None:
            setup = self._after_proxy_header(connection, address[0] if self._tcp else "")
        else:
            setup = self._loop.connect_accepted_socket(
                self._factory, connection, ssl=self._ssl,
                ssl_handshake_timeout=self._handshake_timeout)
        self._loop.create_task(setup).add_done_callback(_handshake_done)

    async def _after_proxy_header(self, connection: socket.socket, address: str) -> None:
        """Read the PROXY header (from a trusted peer only), then set the connection up
        with the client it names."""
        if not self._proxy_sources.trusts(address):
            log.warning("PROXY protocol: %s is not a trusted source (--forwarded-allow-ips); "
                        "closing", address)
            connection.close()
            return
        try:
            client = await read_header(self._loop, connection, self._proxy_timeout)
        except ProxyHeaderError as exc:
            log.warning("PROXY protocol from %s: %s; closing", address, exc)
            connection.close()
            return
        await self._loop.connect_accepted_socket(
            lambda: self._factory(peer=client), connection, ssl=self._ssl,
            ssl_handshake_timeout=self._handshake_timeout)

    def _resume(self) -> None:
        if not self._closed:
            self._loop.add_reader(self._sock.fileno(), self._accept_one)

    def close(self) -> None:
        """Stop accepting (the socket itself stays open: it is shared)."""
        if not self._closed:
            self._closed = True
            self._loop.remove_reader(self._sock.fileno())


def _handshake_done(task: asyncio.Task) -> None:
    """A TLS handshake that failed or timed out ends that connection, nothing more."""
    if not task.cancelled() and task.exception() is not None:
        log.debug("connection setup failed: %r", task.exception())
