"""RFC 9112 rules for an HTTP/1.x request head that httptools (llhttp) does not enforce.

They run once the request line and headers are all parsed, before the app is called:
``check_head`` names what is wrong with a head (a status and a reason for the client),
and ``origin_form`` turns an absolute-form target into the path and authority the
environ is built from. llhttp already refuses malformed request lines and header
syntax; these are the semantic rules on top: the version, the Host field, framing that
HTTP/1.0 cannot carry, and which request-target forms are served.
"""

from __future__ import annotations

import re

from .errors import BadRequest

# RFC 3986 authority as RFC 9112 §3.2 allows it in Host: reg-name or IPv4 (letters,
# digits and the sub-delims/unreserved/pct-encoded characters) or an IP literal in
# brackets, then an optional port. No userinfo (RFC 9110 §4.2.4 forbids it in http(s)).
_AUTHORITY = re.compile(
    rb"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]*)?")
_SCHEME = re.compile(rb"[A-Za-z][A-Za-z0-9+\-.]*")
#: A match if a Host field's value is an authority (RFC 9112 §3.2), else None.
host_is_valid = _AUTHORITY.fullmatch


def check_head(version: str, hosts: list, fields: dict) -> None:
    """Raise BadRequest unless the head's version and fields are acceptable.

    ``hosts`` holds the values of its Host fields, ``fields`` the framing fields
    http1.py picked out of its headers.
    """
    if not version.startswith("1."):
        # HTTP/2.0 or 0.9 on an HTTP/1 request line: we speak 1.0 and 1.1 there.
        raise BadRequest(505, "HTTP Version Not Supported")
    if len(hosts) > 1:
        raise BadRequest(400, "Bad Request: more than one Host field")  # RFC 9112 §3.2
    if hosts and not host_is_valid(hosts[0]):
        raise BadRequest(400, "Bad Request: invalid Host field")
    if not hosts and version != "1.0":
        raise BadRequest(400, "Bad Request: no Host field")
    if version == "1.0" and b"transfer-encoding" in fields:
        # RFC 9112 §6.1: a 1.0 message cannot have been chunked by a 1.1 sender, so its
        # framing is faulty (a smuggling attempt, or a proxy's mistake).
        raise BadRequest(400, "Bad Request: Transfer-Encoding in an HTTP/1.0 request")


def origin_form(method: bytes, target: bytes) -> tuple[bytes, bytes | None]:
    """Return (path-and-query, authority or None) for the request-target ``target``.

    Origin form (``/a?b``) is served as it is, less any ``#fragment`` a careless client
    sent; absolute form (``http://host:port/a?b``, RFC 9112 §3.2.2) gives its path ("/"
    if empty) and its authority, which replaces the Host field; ``*`` stays ``*`` for
    OPTIONS (the gateway answers it). Anything else raises BadRequest.
    """
    if target[:1] == b"/":
        return (target.partition(b"#")[0] if b"#" in target else target), None
    if target == b"*" and method == b"OPTIONS":
        return target, None
    scheme, sep, rest = target.partition(b"://")
    if sep and _SCHEME.fullmatch(scheme):
        rest = rest.partition(b"#")[0]
        cut = min((i for i in (rest.find(b"/"), rest.find(b"?")) if i != -1), default=len(rest))
        authority, path = rest[:cut], rest[cut:]
        if authority and _AUTHORITY.fullmatch(authority):
            return (path if path[:1] == b"/" else b"/" + path), authority
    raise BadRequest(400, "Bad Request: invalid request-target")
