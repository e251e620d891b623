"""The PROXY protocol (HAProxy's, v1 text and v2 binary): the real client of a connection
that a load balancer passed on at layer 4.

Strategy: with ``--proxy-protocol`` every connection must open with a PROXY header,
before TLS and before HTTP; the acceptor (acceptor.py) reads it off the socket first,
peeking so that not one byte past the header is taken from the TLS or HTTP stream, then
hands the socket to the loop as usual with the client's address for ConnectionInfo. A
peer outside ``--forwarded-allow-ips``, a malformed header, or none within the handshake
timeout closes the connection with one log line. ``UNKNOWN`` (v1) and ``LOCAL`` (v2, a
balancer's health check) keep the peer's own address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import struct

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_MAX = 107  # the longest v1 line, CRLF included (the specification's figure)
V2_FAMILIES = {0x11: (4, socket.AF_INET), 0x12: (4, socket.AF_INET),   # TCP4, UDP4
               0x21: (16, socket.AF_INET6), 0x22: (16, socket.AF_INET6)}  # TCP6, UDP6


class ProxyHeaderError(Exception):
    """The connection did not open with a valid PROXY header."""


def parse_header(data: bytes) -> tuple[int, tuple[str, int] | None] | None:
    """``(length, client)`` of the PROXY header at the start of ``data``: its length
    in bytes and the client's (address, port), None for UNKNOWN/LOCAL; None if
    ``data`` is too short to tell yet. ProxyHeaderError if it is no PROXY header."""
    if data.startswith(V2_SIGNATURE[:len(data)]) and len(data) < 16:
        return None
    if data.startswith(V2_SIGNATURE):
        return _parse_v2(data)
    if b"PROXY "[:len(data)] == data[:6] and len(data) < 6:
        return None
    if not data.startswith(b"PROXY "):
        raise ProxyHeaderError("no PROXY protocol header")
    end = data.find(b"\r\n", 0, V1_MAX)
    if end == -1:
        if len(data) >= V1_MAX:
            raise ProxyHeaderError("PROXY v1 line too long")
        return None
    return end + 2, _parse_v1(data[:end])


def _parse_v1(line: bytes) -> tuple[str, int] | None:
    parts = line.split(b" ")
    if len(parts) >= 2 and parts[1] == b"UNKNOWN":
        return None
    if len(parts) != 6 or parts[1] not in (b"TCP4", b"TCP6"):
        raise ProxyHeaderError(f"bad PROXY v1 line {line[:V1_MAX]!r}")
    try:
        source = ipaddress.ip_address(parts[2].decode("ascii"))
        ipaddress.ip_address(parts[3].decode("ascii"))
        port = int(parts[4])
        if not 0 <= port <= 65535 or not 0 <= int(parts[5]) <= 65535:
            raise ValueError("port out of range")
    except (ValueError, UnicodeDecodeError):
        raise ProxyHeaderError(f"bad PROXY v1 line {line!r}") from None
    if (source.version == 4) != (parts[1] == b"TCP4"):
        raise ProxyHeaderError(f"PROXY v1 address of the wrong family: {line!r}")
    return str(source), port


def _parse_v2(data: bytes) -> tuple[int, tuple[str, int] | None] | None:
    version_command, family, length = struct.unpack_from("!BBH", data, 12)
    if version_command >> 4 != 2 or version_command & 0x0F > 1:
        raise ProxyHeaderError(f"bad PROXY v2 version/command 0x{version_command:02x}")
    total = 16 + length
    if len(data) < total:
        return None
    if version_command & 0x0F == 0 or family not in V2_FAMILIES:  # LOCAL, or UNSPEC/unix
        return total, None
    size, address_family = V2_FAMILIES[family]
    if length < 2 * size + 4:
        raise ProxyHeaderError("PROXY v2 addresses cut short")
    source = socket.inet_ntop(address_family, data[16:16 + size])
    port, = struct.unpack_from("!H", data, 16 + 2 * size)
    return total, (source, port)  # (the TLVs after the addresses are not needed)


async def read_header(loop: asyncio.AbstractEventLoop, sock: socket.socket,
                      timeout: float) -> tuple[str, int] | None:
    """Take the PROXY header off ``sock`` (non-blocking) and return its client (None:
    keep the peer's address). Peeks, so that the bytes after the header stay in the
    socket for TLS or HTTP. ProxyHeaderError if there is no valid header in time."""
    deadline = loop.time() + timeout
    while True:
        try:
            data = sock.recv(16 + 65535, socket.MSG_PEEK)
        except BlockingIOError:
            data = None
        except OSError as exc:
            raise ProxyHeaderError(f"connection failed: {exc.strerror}") from None
        if data == b"":
            raise ProxyHeaderError("closed before a PROXY header")
        parsed = parse_header(data) if data else None
        if parsed is not None:
            length, client = parsed
            sock.recv(length)  # exactly the header: it is there already
            return client
        left = deadline - loop.time()
        if left <= 0:
            raise ProxyHeaderError("no PROXY header in time")
        if data is None:
            await _readable(loop, sock, left)
        else:  # part of it: peeking again at once would find the same bytes
            await asyncio.sleep(0.005)


async def _readable(loop: asyncio.AbstractEventLoop, sock: socket.socket, timeout: float) -> None:
    """Wait until ``sock`` has bytes (or ``timeout`` passes)."""
    ready = loop.create_future()
    loop.add_reader(sock.fileno(), lambda: ready.done() or ready.set_result(None))
    try:
        await asyncio.wait_for(ready, timeout)
    except asyncio.TimeoutError:
        pass
    finally:
        loop.remove_reader(sock.fileno())
