"""Behind a proxy: whose forwarding headers to believe, and what they change.

Strategy: a connection from a trusted peer (``--forwarded-allow-ips``: addresses and
CIDR ranges, ``*`` for any; a unix socket's peer is trusted, as only processes allowed
to open its file reach it) may say who the client is. RFC 7239 ``Forwarded`` wins over
the ``X-Forwarded-*`` family when both are present. The client is the right-most hop
that is not itself trusted (walking from the nearest proxy outwards, so a client cannot
pose as anyone by writing a header of its own); the scheme, host and port are those
recorded for that hop (or the nearest proxy's, when the lists do not line up). What is
believed replaces ``REMOTE_ADDR`` (and ``REMOTE_PORT`` when given), ``wsgi.url_scheme``,
``HTTP_HOST``, ``SERVER_NAME`` and ``SERVER_PORT``. Headers from untrusted peers change
nothing. Werkzeug's ProxyFix counts a fixed number of hops and wraps the app; here the
decision is by address, per connection, and the access log sees the client too.
"""

from __future__ import annotations

import ipaddress
import re

_NetworkList = list[ipaddress.IPv4Network | ipaddress.IPv6Network]


class TrustedPeers:
    """The peers whose forwarding headers are believed."""

    def __init__(self, spec: str) -> None:
        items = [item.strip() for item in spec.split(",") if item.strip()]
        self.everyone = "*" in items
        self._networks: _NetworkList = []
        for item in items:
            if item == "*":
                continue
            try:
                self._networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"--forwarded-allow-ips: {item!r} is not an address or "
                                 "CIDR range") from None

    def trusts(self, address: str) -> bool:
        """True for an address (or a unix socket's unnamed peer, "") to believe."""
        if self.everyone or address == "":
            return True
        try:
            ip = ipaddress.ip_address(address.strip("[]"))
        except ValueError:
            return False  # "unknown", an obfuscated identifier: not an address we trust
        return any(ip in network for network in self._networks)


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",")]


_PAIR = re.compile(r'\s*([A-Za-z]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;,\s]*)\s*')


def parse_forwarded(value: str) -> list[dict[str, str]]:
    """RFC 7239 §4: the elements of a Forwarded field, each a dict of its parameters
    (names lower-cased, quotes removed). A malformed element is an empty dict."""
    elements = []
    for element in value.split(","):
        params: dict[str, str] = {}
        for pair in element.split(";"):
            match = _PAIR.fullmatch(pair)
            if match is None:
                if pair.strip():
                    params = {}
                    break
                continue
            text = match.group(2)
            if text.startswith('"'):
                text = re.sub(r"\\(.)", r"\1", text[1:-1])
            params[match.group(1).lower()] = text
        elements.append(params)
    return elements


def _node_address(node: str) -> tuple[str, str | None]:
    """``for=`` node (RFC 7239 §6): the address (IPv6 without brackets) and port."""
    if node.startswith("["):
        address, _, rest = node[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
        return address, port
    if node.count(":") == 1:
        address, _, port = node.partition(":")
        return address, port
    return node, None


def _client_index(hops: list[str], trusted: TrustedPeers) -> int:
    """The right-most hop not trusted (the left-most if every hop is)."""
    for index in range(len(hops) - 1, -1, -1):
        if not trusted.trusts(hops[index]):
            return index
    return 0


def _pick(values: list[str], index: int, hops: int) -> str:
    """The value recorded for hop ``index``, or the nearest proxy's (the last) when
    the list does not line up with the hops."""
    return values[index] if len(values) == hops else values[-1]


def apply_forwarding(environ: dict, trusted: TrustedPeers) -> str | None:
    """Apply what a trusted peer's forwarding headers say to ``environ``; return the
    client address (None if the headers named none)."""
    forwarded = environ.get("HTTP_FORWARDED")
    if forwarded is not None:
        elements = [element for element in parse_forwarded(forwarded) if element]
        if not elements:
            return None
        nodes = [_node_address(element.get("for", "unknown")) for element in elements]
        index = _client_index([address for address, _ in nodes], trusted)
        address, port = nodes[index]
        element = elements[index]
        proto, host, forwarded_port = element.get("proto"), element.get("host"), None
    else:
        forwarded_for = environ.get("HTTP_X_FORWARDED_FOR")
        if forwarded_for is None:
            hops = [environ["REMOTE_ADDR"]]  # only the scheme, host or port, perhaps
            index, address, port = 0, None, None
        else:
            hops = _split(forwarded_for)
            index = _client_index(hops, trusted)
            address, port = hops[index], None
        proto = _picked(environ, "HTTP_X_FORWARDED_PROTO", index, len(hops))
        host = _picked(environ, "HTTP_X_FORWARDED_HOST", index, len(hops))
        forwarded_port = _picked(environ, "HTTP_X_FORWARDED_PORT", index, len(hops))
    if address is not None and not _is_address(address):
        address = None  # "unknown", an obfuscated node: REMOTE_ADDR stays the peer's
    if address:
        environ["REMOTE_ADDR"] = address
        if port and port.isdigit():
            environ["REMOTE_PORT"] = port
    if proto is not None and proto.lower() in ("http", "https"):
        environ["wsgi.url_scheme"] = proto.lower()
    if host:
        environ["HTTP_HOST"] = host
        name, _, host_port = host.rpartition(":") if not host.endswith("]") else (host, "", "")
        if name and host_port.isdigit():
            environ["SERVER_NAME"], environ["SERVER_PORT"] = name.strip("[]"), host_port
        else:
            environ["SERVER_NAME"] = host.strip("[]")
            environ["SERVER_PORT"] = "443" if environ["wsgi.url_scheme"] == "https" else "80"
    if forwarded_port and forwarded_port.isdigit():
        environ["SERVER_PORT"] = forwarded_port
    return address or None


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


#: The environ keys that make a trusted peer's request worth a look.
FORWARDING_KEYS = ("HTTP_FORWARDED", "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO",
                   "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PORT")


def _picked(environ: dict, key: str, index: int, hops: int) -> str | None:
    value = environ.get(key)
    return None if value is None else _pick(_split(value), index, hops)


def apply_root_path(environ: dict, root_path: str) -> None:
    """``--root-path``: the app is mounted at ``root_path`` (the base environ's
    SCRIPT_NAME); a PATH_INFO under it loses the prefix."""
    path = environ["PATH_INFO"]
    if path == root_path or path.startswith(root_path + "/"):
        environ["PATH_INFO"] = path[len(root_path):]
