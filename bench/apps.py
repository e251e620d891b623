"""The applications every server in the comparison runs: the same routes, WSGI and ASGI.

``/`` answers the 13-byte hello world; ``/mib`` a 1 MiB body (``/mib-fresh``: a new
object each time, as the attack harness wants); ``/upload`` reads the
request body and answers its length; ``/stream-8mib`` (WSGI only, for the attack
harness) streams 8 MiB from a generator, holding an app thread while the client reads. uvicorn serves only ASGI, so it gets ``asgi_app``.
"""

from __future__ import annotations

HELLO = b"Hello, World!"
MIB = b"x" * (1024 * 1024)


def wsgi_app(environ, start_response):
    """The WSGI app: hello world, 1 MiB, or an upload sink."""
    path = environ["PATH_INFO"]
    if path == "/mib":
        body = MIB
    elif path == "/mib-fresh":  # a new 1 MiB object per call, as a rendered page would be
        body = b"y" * (1024 * 1024)
    elif path == "/stream-8mib":
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(8 * len(MIB)))])
        return (MIB for _ in range(8))
    elif path == "/upload":
        stream = environ["wsgi.input"]
        size = 0
        while chunk := stream.read(65536):
            size += len(chunk)
        body = str(size).encode()
    else:
        body = HELLO
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


async def asgi_app(scope, receive, send):
    """The same routes for ASGI servers."""
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/upload":
        size = 0
        more = True
        while more:
            message = await receive()
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        body = str(size).encode()
    else:
        body = MIB if path == "/mib" else HELLO
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
