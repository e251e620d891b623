"""Listening sockets: bind addresses parsed, bound once, shared by every worker.

Strategy: fasth2 makes its listening sockets itself instead of letting the event loop
make them, for three reasons. A supervisor binds once and its worker processes inherit
the sockets over fork, so a reload never closes the port. Sockets can come from
elsewhere: a descriptor (``fd://N``) or systemd socket activation (``LISTEN_FDS``).
And with ``reuse_port`` each worker can have a socket of its own on the same port
(SO_REUSEPORT: the kernel spreads connections across them by a hash); the supervisor
then keeps one bound but not listening, which holds the port (and fixes port 0) while
taking no connections itself.

Bind address forms, as gunicorn writes them: ``HOST:PORT`` (``[::1]:PORT`` for IPv6),
``unix:/path/to.sock`` and ``fd://N``.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import stat
from dataclasses import dataclass

from .errors import StartupError

log = logging.getLogger("fasth2.error")

#: systemd passes activated sockets from this descriptor on (sd_listen_fds(3)).
SYSTEMD_FIRST_FD = 3


@dataclass(frozen=True)
class BindAddress:
    """One parsed bind address: ``kind`` is ``tcp``, ``unix`` or ``fd``."""

    kind: str
    host: str = ""
    port: int = 0
    path: str = ""
    fd: int = -1


def parse_bind(text: str) -> BindAddress:
    """``HOST:PORT``, ``[IPv6]:PORT``, ``unix:PATH`` or ``fd://N`` into a BindAddress."""
    if text.startswith("unix:"):
        path = text[len("unix:"):]
        if path.startswith("//"):  # unix:///run/x.sock, the URL spelling
            path = path[2:]
        if not path:
            raise StartupError(f"invalid bind address {text!r}: expected unix:/path/to.sock")
        return BindAddress("unix", path=path)
    if text.startswith("fd://"):
        number = text[len("fd://"):]
        if not number.isdigit():
            raise StartupError(f"invalid bind address {text!r}: expected fd://N")
        return BindAddress("fd", fd=int(number))
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host or int(port) > 65535:
        raise StartupError(f"invalid bind address {text!r}: expected HOST:PORT, "
                           "unix:/path or fd://N")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return BindAddress("tcp", host=host, port=int(port))


class Listener:
    """One listening socket, with what it was made from.

    ``close()`` in the process that made it also removes a unix socket's file; a worker
    only drops its inherited copy (``close(owner=False)``).
    """

    def __init__(self, sock: socket.socket, label: str, *, unix_path: str | None = None,
                 per_worker: bool = False, backlog: int = 1024) -> None:
        self.sock = sock
        #: How the user named it (the bind address, or "systemd socket N").
        self.label = label
        #: The file of a unix socket this process created (removed at close).
        self.unix_path = unix_path
        #: Each worker listens on a socket of its own (SO_REUSEPORT); this one only
        #: holds the address.
        self.per_worker = per_worker
        self.backlog = backlog

    @property
    def is_unix(self) -> bool:
        """True for a unix domain socket."""
        return self.sock.family == socket.AF_UNIX

    def url(self, tls: bool) -> str:
        """Where clients reach it: ``http://127.0.0.1:8000``, ``unix:/run/x.sock``."""
        address = self.sock.getsockname()
        if self.is_unix:
            shown = address if isinstance(address, str) else address.decode(errors="replace")
            return f"unix:{shown or '(unnamed)'}"
        host = f"[{address[0]}]" if self.sock.family == socket.AF_INET6 else address[0]
        return f"{'https' if tls else 'http'}://{host}:{address[1]}"

    def socket_for_worker(self) -> socket.socket:
        """The socket one worker accepts on: the shared one, or with ``reuse_port`` a
        new one of its own on the same address."""
        if not self.per_worker:
            return self.sock
        sock = socket.socket(self.sock.family, socket.SOCK_STREAM)
        try:
            _set_reuse(sock, reuse_port=True)
            sock.bind(self.sock.getsockname())
            sock.listen(self.backlog)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        return sock

    def close(self, owner: bool = True) -> None:
        """Close the socket; the owner also removes the unix socket file it made."""
        self.sock.close()
        if owner and self.unix_path is not None:
            try:
                os.unlink(self.unix_path)
            except FileNotFoundError:
                pass


def open_listeners(binds: tuple[str, ...], *, backlog: int = 1024, reuse_port: bool = False,
                   listen: bool = True, umask: int | None = None,
                   environ: dict | None = None) -> list[Listener]:
    """Bind every address (or take systemd's sockets); StartupError if one fails.

    ``listen=False`` (a supervisor with ``reuse_port``) binds TCP sockets without
    listening: the workers listen on sockets of their own (``socket_for_worker``).
    """
    environ = os.environ if environ is None else environ
    listeners: list[Listener] = []
    try:
        activated = systemd_sockets(environ)
        if activated:
            log.info("Using %d socket(s) from systemd socket activation", len(activated))
            for index, sock in enumerate(activated):
                listeners.append(_adopt(sock, f"systemd socket {SYSTEMD_FIRST_FD + index}", backlog))
            return listeners
        for text in binds:
            address = parse_bind(text)
            if address.kind == "fd":
                sock = _socket_from_fd(address.fd, text)
                listeners.append(_adopt(sock, text, backlog))
            elif address.kind == "unix":
                listeners.append(_bind_unix(address.path, text, backlog, umask))
            else:
                listeners.extend(_bind_tcp(address, text, backlog, reuse_port, listen))
    except BaseException:
        for listener in listeners:
            listener.close()
        raise
    return listeners


def systemd_sockets(environ) -> list[socket.socket]:
    """The sockets systemd passed this process (LISTEN_FDS for LISTEN_PID), if any.

    The variables are removed once read so that the app's own child processes do not
    take the sockets for theirs (what sd_listen_fds(3) does with unset_environment).
    """
    count = environ.get("LISTEN_FDS")
    if count is None:
        return []
    pid = environ.get("LISTEN_PID")
    for name in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
        environ.pop(name, None)
    if pid is not None and pid != str(os.getpid()):
        return []  # meant for another process (our parent, say)
    if not count.isdigit():
        raise StartupError(f"LISTEN_FDS={count!r} is not a number of sockets")
    return [_socket_from_fd(fd, f"systemd socket {fd}")
            for fd in range(SYSTEMD_FIRST_FD, SYSTEMD_FIRST_FD + int(count))]


def _socket_from_fd(fd: int, label: str) -> socket.socket:
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise StartupError(f"cannot use {label}: descriptor {fd} is not a socket "
                           f"({exc.strerror})") from None
    if sock.type != socket.SOCK_STREAM:
        sock.detach()
        raise StartupError(f"cannot use {label}: descriptor {fd} is not a stream socket")
    return sock


def _adopt(sock: socket.socket, label: str, backlog: int) -> Listener:
    """A socket made by someone else: listen on it if its maker did not."""
    if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        try:
            sock.listen(backlog)
        except OSError as exc:
            raise StartupError(f"cannot listen on {label}: {exc.strerror}") from None
    sock.setblocking(False)
    return Listener(sock, label, backlog=backlog)


def _bind_unix(path: str, label: str, backlog: int, umask: int | None) -> Listener:
    _remove_stale_unix_socket(path, label)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # The umask decides the socket file's mode, and with it who may connect.
    previous = os.umask(umask) if umask is not None else None
    try:
        sock.bind(path)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot listen on {label}: {exc.strerror}") from None
    finally:
        if previous is not None:
            os.umask(previous)
    sock.setblocking(False)
    return Listener(sock, label, unix_path=path, backlog=backlog)


def _remove_stale_unix_socket(path: str, label: str) -> None:
    """A socket file left by a server that died is removed; a live one is in use."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise StartupError(f"cannot listen on {label}: {path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        os.unlink(path)  # nobody listens: stale
        return
    except OSError:
        return  # let bind() report it
    finally:
        probe.close()
    raise StartupError(f"cannot listen on {label}: address already in use")


def _bind_tcp(address: BindAddress, label: str, backlog: int, reuse_port: bool,
              listen: bool) -> list[Listener]:
    try:
        infos = socket.getaddrinfo(address.host or None, address.port, socket.AF_UNSPEC,
                                   socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise StartupError(f"cannot listen on {label}: {exc.strerror}") from None
    listeners = []
    seen = set()
    try:
        for family, kind, proto, _, sockaddr in infos:
            if (family, sockaddr) in seen:
                continue
            seen.add((family, sockaddr))
            sock = socket.socket(family, kind, proto)
            listeners.append(Listener(sock, label, per_worker=reuse_port and not listen,
                                      backlog=backlog))
            _set_reuse(sock, reuse_port)
            if family == socket.AF_INET6:
                # One socket per family, as asyncio does: the IPv4 one takes IPv4.
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(sockaddr)
            if listen:
                sock.listen(backlog)
            sock.setblocking(False)
    except OSError as exc:
        for listener in listeners:
            listener.close()
        reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise StartupError(f"cannot listen on {label}: {reason}") from None
    return listeners


def _set_reuse(sock: socket.socket, reuse_port: bool) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)


def log_listening(listeners: list[Listener], tls: bool) -> None:
    """One "Listening on ..." line per socket (the tests read the port from it)."""
    for listener in listeners:
        log.info("Listening on %s", listener.url(tls))

