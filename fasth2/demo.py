"""The bundled demo: ``python -m fasth2 fasth2.demo:app``.

A plain WSGI app (no framework) with three routes: ``/`` shows a page, ``/echo``
echoes a POSTed body back, ``/stream?mib=N`` streams N MiB generated on the fly.
"""

from __future__ import annotations

import html
import json
from urllib.parse import parse_qs

from ._version import VERSION
from .speedups import BUILD

CHUNK = 64 * 1024
MAX_STREAM_MIB = 1024

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fasth2 demo</title></head>
<body>
<h1>fasth2 {version}</h1>
<p>Served over {protocol} by fasth2 ({build}) to {client}.</p>
<ul>
<li><code>POST /echo</code> echoes the request body back.</li>
<li><a href="/stream?mib=10"><code>GET /stream?mib=10</code></a> streams 10 MiB.</li>
<li><a href="/info"><code>GET /info</code></a> shows this request as JSON.</li>
</ul>
</body></html>
"""


def _page(environ: dict, start_response) -> list[bytes]:
    body = PAGE.format(
        version=VERSION, build=BUILD,
        protocol=html.escape(environ["SERVER_PROTOCOL"]),
        client=html.escape(environ.get("REMOTE_ADDR", "?")),
    ).encode()
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                              ("Content-Length", str(len(body)))])
    return [body]


def _echo(environ: dict, start_response):
    if environ["REQUEST_METHOD"] != "POST":
        return _error(start_response, "405 Method Not Allowed", "POST a body to /echo\n",
                      [("Allow", "POST")])
    length = environ.get("CONTENT_LENGTH")
    headers = [("Content-Type", environ.get("CONTENT_TYPE") or "application/octet-stream")]
    if length:
        headers.append(("Content-Length", length))
    start_response("200 OK", headers)
    stream = environ["wsgi.input"]
    return iter(lambda: stream.read(CHUNK), b"")


def _stream(environ: dict, start_response):
    query = parse_qs(environ["QUERY_STRING"])
    try:
        mib = int(query.get("mib", ["10"])[0])
    except ValueError:
        mib = -1
    if not 0 <= mib <= MAX_STREAM_MIB:
        return _error(start_response, "400 Bad Request",
                      f"mib must be a whole number from 0 to {MAX_STREAM_MIB}\n")
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(mib * 1024 * 1024))])
    block = bytes(range(256)) * (CHUNK // 256)
    return (block for _ in range(mib * 1024 * 1024 // CHUNK))


def _info(environ: dict, start_response) -> list[bytes]:
    shown = {k: v for k, v in environ.items() if isinstance(v, str)}
    body = json.dumps(shown, indent=2, sort_keys=True).encode() + b"\n"
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


def _error(start_response, status: str, text: str, extra: list | None = None) -> list[bytes]:
    body = text.encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                             ("Content-Length", str(len(body)))] + (extra or []))
    return [body]


ROUTES = {"/": _page, "/echo": _echo, "/stream": _stream, "/info": _info}


def app(environ: dict, start_response):
    """The demo WSGI application."""
    handler = ROUTES.get(environ["PATH_INFO"])
    if handler is None:
        return _error(start_response, "404 Not Found", "not found\n")
    return handler(environ, start_response)
